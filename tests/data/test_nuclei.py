"""simulate_nuclei: determinism, ground truth consistency, sizes, crowding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellscale.data import Sample, simulate_nuclei
from cellscale.errors import InvalidArgumentError


def _touching_pairs(labels: np.ndarray) -> int:
    pairs = set()
    for a, b in ((labels[1:, :], labels[:-1, :]), (labels[:, 1:], labels[:, :-1])):
        m = (a != b) & (a > 0) & (b > 0)
        pairs |= set(
            zip(np.minimum(a[m], b[m]).tolist(), np.maximum(a[m], b[m]).tolist(), strict=True)
        )
    return len(pairs)


def test_same_seed_same_sample_other_seed_differs():
    a = simulate_nuclei(shape=(128, 128), seed=7)
    b = simulate_nuclei(shape=(128, 128), seed=7)
    c = simulate_nuclei(shape=(128, 128), seed=8)
    np.testing.assert_array_equal(a.image.data, b.image.data)
    np.testing.assert_array_equal(a.labels["nuclei"], b.labels["nuclei"])
    assert a.cells.equals(b.cells) and a.params == b.params
    assert not np.array_equal(a.image.data, c.image.data)


def test_types_axes_and_labels_match_the_table():
    s = simulate_nuclei(shape=(160, 200), seed=1, diameter=14, density=0.3)
    assert isinstance(s, Sample) and s.kind == "nuclei"
    assert s.image.axes == "yx" and s.image.shape == (160, 200) and s.image.dtype == np.uint16
    assert s.image.channel_names == ("DNA",)
    lab = s.labels["nuclei"]
    assert lab.dtype == np.uint32 and lab.shape == (160, 200)
    ids = set(np.unique(lab).tolist()) - {0}
    assert ids == set(s.cells["label"].tolist())
    assert s.cells["label"].tolist() == list(range(1, len(s.cells) + 1))
    for col in ("y", "x", "diameter", "kind", "cell_cycle", "brightness"):
        assert col in s.cells
    # Each centre in the table lies in (or right next to) its own nucleus.
    yy = np.clip(np.rint(s.cells["y"]).astype(int), 0, 159)
    xx = np.clip(np.rint(s.cells["x"]).astype(int), 0, 199)
    assert (lab[yy, xx] == s.cells["label"].to_numpy()).mean() > 0.95
    # Camera offset near 100 ADU on the dark background.
    assert 80 < np.percentile(s.image.data[lab == 0], 5) < 130


def test_uint8_export_has_a_dark_background():
    s = simulate_nuclei(shape=(128, 128), seed=3, dtype="uint8", background=0.02)
    assert s.image.dtype == np.uint8
    assert np.median(s.image.data[s.labels["nuclei"] == 0]) < 25


def test_measured_diameters_stay_in_the_requested_range():
    s = simulate_nuclei(shape=(384, 384), seed=2, diameter=(14, 22), density=0.15, clustering=0.0)
    lab = s.labels["nuclei"]
    idx = s.cells.loc[s.cells["kind"] == "interphase", "label"].to_numpy()
    area = ndi.sum_labels(np.ones_like(lab), lab, idx)
    d = 2 * np.sqrt(area / np.pi)
    # Nuclei cut by the border or flattened by a neighbour lose area, hence the tolerance.
    inner = (
        (
            (s.cells.set_index("label").loc[idx, ["y", "x"]] > 12)
            & (s.cells.set_index("label").loc[idx, ["y", "x"]] < 372)
        )
        .all(1)
        .to_numpy()
    )
    d = d[inner]
    assert d.size > 20
    assert 14 <= np.median(d) <= 22
    assert np.mean((d >= 14 * 0.85) & (d <= 22 * 1.1)) > 0.9
    typical = s.params["resolved"]["diameter"]
    assert 14 <= typical <= 22


def test_fixed_typical_diameter_and_per_cell_variation():
    s = simulate_nuclei(shape=(384, 384), seed=4, diameter=16, density=0.12, diameter_cv=0.2)
    lab = s.labels["nuclei"]
    idx = s.cells.loc[s.cells["kind"] == "interphase", "label"].to_numpy()
    d = 2 * np.sqrt(ndi.sum_labels(np.ones_like(lab), lab, idx) / np.pi)
    assert 13 < np.median(d) < 19
    assert 0.1 < np.std(np.log(d)) < 0.4


def test_crowded_images_have_touching_nuclei_sparse_ones_few():
    crowded = simulate_nuclei(shape=(256, 256), seed=5, diameter=18, density=0.55)
    sparse = simulate_nuclei(shape=(256, 256), seed=5, diameter=18, density=0.04, clustering=0.0)
    n_c, n_s = len(crowded.cells), len(sparse.cells)
    assert _touching_pairs(crowded.labels["nuclei"]) > 0.5 * n_c
    assert _touching_pairs(sparse.labels["nuclei"]) < 0.2 * max(n_s, 1) + 1
    assert (crowded.labels["nuclei"] > 0).mean() > 0.35


def test_mitotic_and_apoptotic_nuclei_are_small_and_bright():
    s = simulate_nuclei(
        shape=(512, 512),
        seed=6,
        diameter=20,
        density=0.25,
        mitotic_fraction=0.15,
        apoptotic_fraction=0.08,
        snr=50,
        defocus_fraction=0.0,
    )
    lab, img = s.labels["nuclei"], s.image.data.astype(float)
    kinds = s.cells["kind"].to_numpy()
    labels = s.cells["label"].to_numpy()
    mean = ndi.mean(img, lab, labels)
    area = ndi.sum_labels(np.ones_like(lab), lab, labels)
    inter = kinds == "interphase"
    for kind in ("metaphase", "anaphase", "apoptotic"):
        sel = kinds == kind
        assert sel.sum() >= 3, kind
        assert np.median(mean[sel]) > 1.3 * np.median(mean[inter]), kind
        assert np.median(area[sel]) < 0.7 * np.median(area[inter]), kind
    # Anaphase plates come in pairs (a partner may fall outside the image: sister 0).
    ana = s.cells[s.cells["kind"] == "anaphase"].set_index("label")
    paired = ana[ana["sister"] > 0]
    assert len(paired) >= 0.7 * len(ana)
    assert (ana.loc[paired["sister"], "sister"].to_numpy() == paired.index.to_numpy()).all()


def test_higher_snr_gives_less_noise():
    def noise(snr):
        s = simulate_nuclei(
            shape=(192, 192),
            seed=9,
            diameter=16,
            density=0.1,
            snr=snr,
            vignetting=0,
            haze=0,
            background=0.05,
        )
        img = s.image.data.astype(float)
        bg = ndi.binary_erosion(s.labels["nuclei"] == 0, iterations=6)
        hp = img - ndi.uniform_filter(img, 5)
        signal = np.median(img[s.labels["nuclei"] > 0]) - np.median(img[bg])
        return signal / hp[bg].std()

    assert noise(60) > 3 * noise(5)


@pytest.mark.parametrize(
    "bad", [dict(diameter=(30, 10)), dict(density=0.9), dict(shape=(4, 4)), dict(dtype="float64")]
)
def test_bad_options_raise_clear_errors(bad):
    with pytest.raises(InvalidArgumentError):
        simulate_nuclei(**bad)
