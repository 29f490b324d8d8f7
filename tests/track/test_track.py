"""`cellscale.track.track`: linking, divisions, gaps, split repair, CTC validity, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellscale.data import simulate_movie
from cellscale.data._ctc import (
    check_lineage,
    lineage_from_labels,
    read_ctc,
    split_track_gaps,
    write_ctc_result,
)
from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.track import score_tracking, track, tracks_table
from cellscale.track._lap import solve_links

pytest.importorskip("ctc_metrics")


def shuffle_ids(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Renumber the cells of every frame at random: ids then say nothing about identity."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(labels)
    for t in range(labels.shape[0]):
        ids = np.unique(labels[t])
        ids = ids[ids > 0]
        lut = np.zeros(int(labels.max()) + 1, labels.dtype)
        lut[ids] = rng.permutation(ids.size) + 1
        out[t] = lut[labels[t]]
    return out


@pytest.fixture(scope="module")
def movie():
    # The fixed division of earlier simulator versions (divisions of every geometry: test_division_models.py).
    return simulate_movie(shape=(128, 128), n_frames=16, seed=7, division_rate=0.08, dropout_rate=0.02,
                          density=0.25, division_model="anaphase")


@pytest.fixture(scope="module")
def tracked(movie):
    return track(shuffle_ids(movie.labels["nuclei"]))


@pytest.fixture(scope="module")
def scores(movie, tracked):
    return score_tracking(*tracked, movie.labels["nuclei"], movie.lineage, tolerance=1)


def test_shuffled_ground_truth_is_tracked_almost_perfectly(movie, scores):
    gt, lineage = movie.labels["nuclei"], movie.lineage
    assert scores["valid"] == 1 and scores["DET"] == 1.0
    assert scores["TRA"] >= 0.99
    # Identity by frame (each frame's ids taken as tracks) is what a broken linker gives.
    naive = shuffle_ids(gt)
    naive_labels, naive_lineage = split_track_gaps(naive, lineage_from_labels(naive), max_gap=0)
    assert score_tracking(naive_labels, naive_lineage, gt, lineage)["TRA"] < 0.9


def test_divisions_are_found(movie, scores):
    n_true = int((movie.lineage["parent"].value_counts() >= 2).sum())
    assert n_true >= 4
    assert n_true - 1 <= scores["divisions_true"] <= n_true  # one at the last frame may not count
    assert scores["division_f1"] >= 0.9  # 8 of 9 found, none false; one more miss fails
    assert scores["fp_div"] == 0
    _, plain = track(shuffle_ids(movie.labels["nuclei"]), divisions=False)
    assert plain.loc[plain.parent > 0, "parent"].value_counts().max() == 1  # gap links only


def test_output_is_consistent_and_a_valid_ctc_result(tracked, tmp_path):
    labels, lineage = tracked
    assert labels.dtype == np.uint32
    assert list(lineage.columns) == ["label", "begin", "end", "parent"]
    check_lineage(labels, lineage)
    write_ctc_result(labels, lineage, tmp_path / "01_RES")
    back, back_lineage = read_ctc(tmp_path / "01_RES")
    np.testing.assert_array_equal(back, labels)
    pd.testing.assert_frame_equal(back_lineage, lineage)


def _disk(shape: tuple[int, int], y: float, x: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - y) ** 2 + (xx - x) ** 2 <= r**2


def test_a_cell_missed_for_two_frames_keeps_its_lineage():
    frames = np.zeros((8, 64, 96), np.uint16)
    for t in range(8):
        for k, y in enumerate((10, 32, 54)):  # three cells moving right, 4 px a frame
            frames[t][_disk((64, 96), y, 12 + 4 * t + 3 * k, 5)] = 1 + (t * 7 + k) % 5  # ids change
    frames[3:5, 20:44] = 0  # the middle cell is missed in frames 3 and 4
    labels, lineage = track(frames)
    after = lineage[lineage.begin == 5].iloc[0]
    before = lineage[lineage.label == labels[2, 32, 12 + 8 + 3]].iloc[0]
    assert (before.begin, before.end) == (0, 2)
    assert after.parent == before.label and after.end == 7
    assert len(lineage) == 4
    _, unlinked = track(frames, max_gap=1)
    assert (unlinked.parent == 0).all() and len(unlinked) == 4


def test_a_textbook_division():
    shape = (64, 64)
    frames = np.zeros((6, *shape), np.uint16)
    for t in range(3):
        frames[t][_disk(shape, 32, 30 + t, 8)] = 5
    for t in range(3, 6):
        d = 7 + 1.5 * (t - 3)
        frames[t][_disk(shape, 32 - d, 32, 5.5)] = 2
        frames[t][_disk(shape, 32 + d, 32, 5.5)] = 3
    _labels, lineage = track(frames)
    assert lineage.values.tolist() == [[1, 0, 2, 0], [2, 3, 5, 1], [3, 3, 5, 1]]


def test_an_over_segmented_cell_is_not_a_division():
    shape = (64, 64)
    frames = np.zeros((6, *shape), np.uint16)
    for t in range(6):
        frames[t][_disk(shape, 32, 20 + 3 * t, 8)] = 1
    frames[3][(frames[3] == 1) & (np.arange(64)[:, None] > 32)] = 2  # cut in two halves in one frame
    labels, lineage = track(frames)
    assert lineage.values.tolist() == [[1, 0, 5, 0]]
    assert set(np.unique(labels[3])) == {0, 1}
    _, kept = track(frames, repair_splits=False)
    assert len(kept) > 1


def test_a_cell_partly_hidden_for_a_frame_keeps_its_track():
    # A cell whose visible part shrinks five-fold for one frame (dim, hidden by a
    # neighbour, or under-segmented) is still the same cell: the size term of a link is capped.
    shape = (48, 48)
    frames = np.zeros((6, *shape), np.uint16)
    for t in range(6):
        frames[t][_disk(shape, 24, 16 + t, 7)] = 1 + t % 2
    frames[3][(frames[3] > 0) & ~_disk(shape, 24, 19, 3)] = 0  # only its core is seen
    assert 0 < (frames[3] > 0).sum() < 0.25 * (frames[2] > 0).sum()
    _, lineage = track(frames)
    assert lineage.values.tolist() == [[1, 0, 5, 0]]


def test_many_cells_keep_their_identity():
    # 900 disks on a grid, random-walking, ids shuffled each frame (the vectorised relabelling path).
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[-4:5, -4:5]
    disk = yy**2 + xx**2 <= 16
    dy, dx = yy[disk], xx[disk]
    centres = np.stack(np.meshgrid(np.arange(30), np.arange(30), indexing="ij"), -1).reshape(-1, 2) * 16 + 12
    frames = np.zeros((5, 496, 496), np.uint32)
    who = np.zeros((5, 900), np.int64)  # the frame's id of each cell
    for t in range(5):
        pos = centres + rng.integers(-2, 3, centres.shape)
        ids = rng.permutation(900) + 1
        who[t] = ids
        frames[t, (pos[:, :1] + dy).ravel(), (pos[:, 1:] + dx).ravel()] = np.repeat(ids, dy.size)
    out, lineage = track(frames)
    assert len(lineage) == 900 and (lineage.parent == 0).all()
    assert (lineage.begin == 0).all() and (lineage.end == 4).all()
    track_of = np.zeros((5, 901), np.int64)  # frame, input id -> output track
    for t in range(5):
        track_of[t][frames[t].ravel()] = out[t].ravel()
    for t in range(1, 5):  # cell k has id who[t][k] in frame t: same track as in frame 0
        np.testing.assert_array_equal(track_of[t][who[t]], track_of[0][who[0]])
    check_lineage(out, lineage)


def test_cells_entering_and_leaving_get_their_own_tracks():
    frames = np.zeros((10, 48, 48), np.uint16)
    for t in range(10):
        x = -2 + 7 * t  # enters at the left edge in frame 0 and has left by frame 9
        frames[t][_disk((48, 48), 24, x, 6)] = 3
    frames[7:, 5:10, 5:10] = 4  # appears late, stays
    _, lineage = track(frames)
    assert sorted(map(tuple, lineage[["begin", "end", "parent"]].values.tolist())) == [(0, 7, 0), (7, 9, 0)]
    frames[0] = 0  # an empty first frame: motion statistics start from the next
    _, lineage = track(frames)
    assert sorted(map(tuple, lineage[["begin", "end", "parent"]].values.tolist())) == [(1, 7, 0), (7, 9, 0)]


def test_tracks_table_for_napari(tracked):
    labels, lineage = tracked
    table = tracks_table(labels, lineage)
    assert list(table.columns) == ["track_id", "t", "y", "x", "area", "parent"]
    assert len(table) == sum(len(np.unique(f)) - 1 for f in labels)
    children = lineage[lineage.parent > 0]
    got = table.drop_duplicates("track_id").set_index("track_id")["parent"]
    assert (got.loc[children.label].values == children.parent.values).all()


def test_linear_assignment_prefers_global_optimum():
    # Greedy would link 0 -> 0 (cost 1) and leave 1 unlinked; the LAP links both.
    link = solve_links(2, 2, np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([1.0, 1.5, 1.2]), 3.0, 3.0)
    assert link.tolist() == [1, 0]
    assert solve_links(1, 1, np.array([0]), np.array([0]), np.array([10.0]), 3.0, 3.0).tolist() == [-1]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 8, 8), np.float32), "must hold integers.*float32"),
        (np.zeros((4, 8, 8), bool), "must hold integers.*bool"),
        (np.zeros((1, 8, 8), np.uint16), "at least 2 frames, got 1"),
        (np.zeros((8, 8), np.uint16), "axes 'tyx' or 'tzyx'"),
        (np.full((3, 8, 8), -1, np.int32), "labels must be >= 0"),
    ],
)
def test_bad_labels_are_refused_with_a_clear_message(bad, message):
    with pytest.raises(InvalidImageError, match=message):
        track(bad, source="movie.tif")
    with pytest.raises(InvalidImageError, match="^movie.tif: "):
        track(bad, source="movie.tif")


def test_bad_image_and_options():
    labels = np.zeros((3, 8, 8), np.uint16)
    with pytest.raises(InvalidImageError, match=r"image has shape \(2, 8, 8\).*\(3, 8, 8\)"):
        track(labels, image=np.zeros((2, 8, 8)))
    with pytest.raises(InvalidArgumentError, match="max_gap"):
        track(labels, max_gap=-1)
    with pytest.raises(InvalidArgumentError, match="max_distance"):
        track(labels, max_distance=0)


def test_empty_frames_are_fine():
    labels = np.zeros((4, 16, 16), np.uint16)
    labels[2, 3:6, 3:6] = 4
    out, lineage = track(labels)
    assert lineage.values.tolist() == [[1, 2, 2, 0]]
    assert out[2, 4, 4] == 1


def test_division_f1_of_a_movie_without_divisions():
    # py-ctcmetrics gives no BC score when the ground truth has no division (this crashed).
    movie = np.zeros((4, 32, 32), np.uint16)
    for t in range(4):
        movie[t, 4 + t : 9 + t, 4:9] = 1
    labels, lineage = track(movie)
    scores = score_tracking(labels, lineage, movie, lineage)
    assert scores["TRA"] == 1.0 and np.isnan(scores["division_f1"]) and scores["fp_div"] == 0
    # One false division: F1 0, not undefined.
    gt = np.zeros((4, 32, 32), np.uint16)
    gt[:, 4:9, 4:9], gt[:, 20:25, 20:25], gt[:, 20:25, 4:9] = 1, 2, 3
    res = gt.copy()
    res[2:][gt[2:] == 2], res[2:][gt[2:] == 3] = 5, 6
    gt_lineage = pd.DataFrame({"label": [1, 2, 3], "begin": [0] * 3, "end": [3] * 3, "parent": [0] * 3})
    res_lineage = pd.DataFrame({"label": [1, 2, 3, 5, 6], "begin": [0, 0, 0, 2, 2], "end": [3, 1, 1, 3, 3],
                                "parent": [0, 0, 0, 2, 2]})
    scores = score_tracking(res, res_lineage, gt, gt_lineage)
    assert scores["division_f1"] == 0.0 and scores["fp_div"] == 1
