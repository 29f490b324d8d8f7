"""The live-cell movie simulator: tracks, lineage, events and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data._ctc import check_lineage
from cellscale.data._movie import simulate_movie
from cellscale.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def movie():
    return simulate_movie(shape=(160, 160), n_frames=24, seed=2, defocus_rate=0.1, dropout_rate=0.01)


def test_axes_and_types(movie):
    assert movie.kind == "movie"
    assert movie.image.axes == "tyx" and movie.image.shape == (24, 160, 160)
    assert movie.image.dtype == np.uint16 and movie.image.time_interval == 600.0
    labels = movie.labels["nuclei"]
    assert labels.shape == (24, 160, 160) and labels.dtype == np.uint32
    assert list(movie.lineage.columns) == ["label", "begin", "end", "parent"]


def test_lineage_matches_labels_exactly(movie):
    labels, lineage = movie.labels["nuclei"], movie.lineage
    check_lineage(labels, lineage)  # every track in every frame begin..end, nowhere else
    ends = dict(zip(lineage.label, lineage.end))
    for row in lineage[lineage.parent > 0].itertuples():
        assert ends[row.parent] < row.begin <= ends[row.parent] + 1 + movie.params["max_gap"]


def test_divisions_entries_exits_and_events(movie):
    lineage, events = movie.lineage, movie.tables["events"]
    kids = lineage[lineage.parent > 0].groupby("parent")
    divisions = [p for p, g in kids if len(g) == 2]
    assert len(divisions) >= 1
    ends = dict(zip(lineage.label, lineage.end))
    begins = dict(zip(lineage.label, lineage.begin))
    div = events[events.event == "division"]
    for row in div[(div.daughter1 > 0) & (div.daughter2 > 0)].itertuples():
        assert ends[row.label] <= row.t  # == unless the mother was out of view at the end
        assert begins[row.daughter1] >= row.t + 1 and begins[row.daughter2] >= row.t + 1
    # Daughters show up the next frame, or (a late division) the one after; or later, when missed.
    firsts = [begins[d] - ends[p] for p, g in kids if len(g) == 2 for d in g.label]
    assert np.mean(np.isin(firsts, (1, 2))) > 0.7
    n = movie.image.shape[0]
    assert ((lineage.begin > 0) & (lineage.parent == 0)).any()  # entered the field
    died = set(events.loc[events.event == "death", "label"])
    divided = set(lineage.parent)
    left = lineage[(lineage.end < n - 1) & ~lineage.label.isin(died | divided)]
    assert len(left) >= 1  # left the field
    assert {"division", "dropout", "defocus"} <= set(events.event)


def test_dropouts_are_gaps_linked_by_parent(movie):
    lineage, events = movie.lineage, movie.tables["events"]
    labels = movie.labels["nuclei"]
    for row in events[events.event == "dropout"].itertuples():
        assert not (labels[row.t] == row.label).any()
        children = lineage[lineage.parent == row.label]
        if row.t + 1 < labels.shape[0] and (labels[row.t + 1] > 0).any() and len(children) == 1:
            assert children.begin.iloc[0] > row.t


def test_cells_table_agrees_with_labels(movie):
    cells, labels = movie.cells, movie.labels["nuclei"]
    for t in (0, 11, 23):
        expected = set(np.unique(labels[t])) - {0}
        assert set(cells.loc[cells.t == t, "label"]) == expected
    row = cells[cells.t == 11].iloc[0]
    y, x = np.nonzero(labels[11] == row.label)
    assert abs(y.mean() - row.y) < 4 and abs(x.mean() - row.x) < 4


def test_nuclei_are_brighter_and_bleach(movie):
    img = movie.image.data.astype(float)
    labels = movie.labels["nuclei"]
    fg, bg = img[0][labels[0] > 0], img[0][labels[0] == 0]
    assert fg.mean() - bg.mean() > 3 * bg.std()
    defocus = set(movie.tables["events"].query("event == 'defocus'").t)
    focus = [t for t in range(img.shape[0]) if t not in defocus]
    signal = [img[t][labels[t] > 0].mean() - img[t][labels[t] == 0].mean() for t in (focus[0], focus[-1])]
    assert signal[1] < signal[0]


def test_deterministic_from_seed():
    a = simulate_movie(shape=(64, 64), n_frames=6, seed=11)
    b = simulate_movie(shape=(64, 64), n_frames=6, seed=11)
    c = simulate_movie(shape=(64, 64), n_frames=6, seed=12)
    np.testing.assert_array_equal(a.image.data, b.image.data)
    np.testing.assert_array_equal(a.labels["nuclei"], b.labels["nuclei"])
    assert a.lineage.equals(b.lineage)
    assert not np.array_equal(a.image.data, c.image.data)


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError):
        simulate_movie(n_frames=0)
    with pytest.raises(InvalidArgumentError):
        simulate_movie(persistence=1.0)


def test_division_models_vary_and_are_saved():
    models = [simulate_movie(shape=(64, 64), n_frames=2, seed=k).params["division_model"] for k in range(8)]
    assert len({m["mitosis"] for m in models}) >= 2
    areas = [m["daughter_area"] for m in models]
    assert all(0.4 <= a <= 1.0 for a in areas) and max(areas) - min(areas) > 0.2
    assert {m["late"] == 0.0 for m in models} == {True, False}


def _division_geometry(sample):
    """Per division: (sum of daughters' areas / mother's last area, first frame gap)."""
    labels, lineage = sample.labels["nuclei"], sample.lineage
    ends, begins = dict(zip(lineage.label, lineage.end)), dict(zip(lineage.label, lineage.begin))
    out = []
    for p, g in lineage[lineage.parent > 0].groupby("parent"):
        if len(g) == 2 and len({begins[d] for d in g.label}) == 1:
            t = begins[g.label.iloc[0]]
            kids = sum(int((labels[t] == d).sum()) for d in g.label)
            out.append((kids / max(int((labels[ends[p]] == p).sum()), 1), t - ends[p]))
    return np.array(out)


def test_a_division_model_is_followed():
    common = {"shape": (160, 160), "n_frames": 24, "seed": 4, "division_rate": 0.06}
    small = _division_geometry(simulate_movie(**common, division_model={"daughter_area": 0.45, "mitosis": "none"}))
    large = _division_geometry(simulate_movie(**common, division_model={"daughter_area": 0.95, "late": 1.0}))
    assert len(small) >= 3 and len(large) >= 3
    assert np.median(small[:, 0]) < 1.1 and np.median(large[:, 0]) > 1.5
    assert (small[:, 1] == 1).all() and (large[:, 1] == 2).all()
    with pytest.raises(InvalidArgumentError, match="mitosis one of"):
        simulate_movie(shape=(32, 32), n_frames=2, division_model={"mitosis": "squash"})
    with pytest.raises(InvalidArgumentError, match="'random', 'anaphase' or a dict"):
        simulate_movie(shape=(32, 32), n_frames=2, division_model="telophase")
