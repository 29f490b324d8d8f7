"""Tests of cellscale.metrics.match_instances on hand-worked cases and a brute-force reference."""

from __future__ import annotations

import dataclasses
import doctest
import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.metrics import DEFAULT_THRESHOLDS, MatchResult, _matching, aggregate, match_instances


def _box(shape, *boxes):
    """Label image with box ``i`` (slices) labelled by its given id."""
    out = np.zeros(shape, dtype=np.int32)
    for label, sl in boxes:
        out[sl] = label
    return out


# --------------------------------------------------------------------------- hand-worked cases


def test_identical_labels_score_one_everywhere():
    lab = _box((30, 30), (1, np.s_[0:5, 0:5]), (2, np.s_[10:20, 10:12]), (3, np.s_[25:30, 0:30]))
    r = match_instances(lab, lab)
    assert r.n_true == r.n_pred == 3
    assert r.thresholds.tolist() == list(DEFAULT_THRESHOLDS)
    assert r.tp.tolist() == [3] * 10 and r.fp.tolist() == [0] * 10 and r.fn.tolist() == [0] * 10
    for scores in (r.precision, r.recall, r.f1, r.average_precision, r.mean_matched_iou):
        np.testing.assert_array_equal(scores, 1.0)
    assert r.mean_ap == 1.0


def test_shifted_square_matches_at_one_third():
    # 10x10 squares overlapping in a 10x5 strip: |A&B| = 50, |A|B| = 150, IoU = 1/3.
    true = _box((10, 20), (1, np.s_[0:10, 0:10]))
    pred = _box((10, 20), (4, np.s_[0:10, 5:15]))
    r = match_instances(true, pred, thresholds=(0.3, 1 / 3, 0.34, 0.5))
    assert r.tp.tolist() == [1, 1, 0, 0]  # IoU >= t: 1/3 >= 1/3 counts, 1/3 < 0.34
    assert r.fp.tolist() == [0, 0, 1, 1]
    assert r.fn.tolist() == [0, 0, 1, 1]
    assert r.f1_at(0.3) == 1.0 and r.f1_at(0.5) == 0.0
    t_ids, p_ids, ious = r.pairs(0.3)
    assert t_ids.tolist() == [1] and p_ids.tolist() == [4]
    assert ious[0] == pytest.approx(1 / 3)
    assert r.mean_matched_iou[0] == pytest.approx(1 / 3)
    assert np.isnan(r.mean_matched_iou[3])


def test_threshold_is_inclusive_at_exact_ratios():
    # One row: true [0, 20) (20 px), pred [0, 11) (11 px): IoU = 11/20 = 0.55 exactly,
    # which as a double equals the threshold literal 0.55, so it matches at 0.55, not 0.6.
    true = np.zeros((1, 20), np.int32)
    true[0, :] = 1
    pred = np.zeros_like(true)
    pred[0, :11] = 1
    r = match_instances(true, pred)
    assert r.tp[:3].tolist() == [1, 1, 0]
    assert r.pairs(0.55)[2].tolist() == [0.55]


def test_split_object_into_halves_ties_at_exactly_half():
    # One true 10x10 (100 px) split into two 10x5 preds: each IoU = 50/100 = 0.5 exactly.
    # At t = 0.5 both pairs are candidates (IoU >= t) but only one can match:
    # TP=1, FP=1, FN=0 -> precision 1/2, recall 1, F1 = 2/(2+1) = 2/3, AP = 1/(1+1+0) = 1/2.
    # At t = 0.55 nothing matches: TP=0, FP=2, FN=1.
    true = _box((10, 10), (1, np.s_[:, 0:10]))
    pred = _box((10, 10), (1, np.s_[:, 0:5]), (2, np.s_[:, 5:10]))
    r = match_instances(true, pred)
    assert (r.tp[0], r.fp[0], r.fn[0]) == (1, 1, 0)
    assert r.precision[0] == 0.5 and r.recall[0] == 1.0
    assert r.f1_at(0.5) == pytest.approx(2 / 3)
    assert r.ap_at(0.5) == 0.5
    assert (r.tp[1], r.fp[1], r.fn[1]) == (0, 2, 1)
    t_ids, p_ids, ious = r.pairs(0.5)
    assert t_ids.tolist() == [1] and p_ids.tolist()[0] in (1, 2) and ious.tolist() == [0.5]


def test_uneven_split_matches_larger_piece():
    # True 10x10; preds 10x7 (IoU 70/100 = 0.7) and 10x3 (IoU 30/100 = 0.3).
    true = _box((10, 10), (5, np.s_[:, :]))
    pred = _box((10, 10), (1, np.s_[:, 0:7]), (2, np.s_[:, 7:10]))
    r = match_instances(true, pred, thresholds=(0.3, 0.5, 0.7, 0.75))
    # t=0.3: both candidates, one true -> TP 1 (IoU 0.7 chosen, larger total IoU), FP 1.
    assert r.tp.tolist() == [1, 1, 1, 0]
    assert r.fp.tolist() == [1, 1, 1, 2]
    assert r.pairs(0.3)[1].tolist() == [1]
    assert r.mean_matched_iou[:3] == pytest.approx([0.7, 0.7, 0.7])


def test_merged_objects():
    # True 10x12 (120 px) and 10x8 (80 px) merged into one 10x20 pred (200 px):
    # IoU 120/200 = 0.6 and 80/200 = 0.4.
    true = _box((10, 20), (1, np.s_[:, 0:12]), (2, np.s_[:, 12:20]))
    pred = _box((10, 20), (9, np.s_[:, :]))
    r = match_instances(true, pred, thresholds=(0.4, 0.5, 0.6, 0.65))
    assert r.tp.tolist() == [1, 1, 1, 0]
    assert r.fn.tolist() == [1, 1, 1, 2]
    assert r.fp.tolist() == [0, 0, 0, 1]
    assert r.pairs(0.4)[0].tolist() == [1]  # the 0.6 pair wins over the 0.4 pair
    # t=0.5: precision 1/1, recall 1/2, F1 = 2/(2+0+1) = 2/3, AP = 1/(1+0+1) = 1/2.
    assert r.precision[1] == 1.0 and r.recall[1] == 0.5
    assert r.f1[1] == pytest.approx(2 / 3) and r.average_precision[1] == 0.5


def test_missing_and_extra_objects():
    a = (1, np.s_[0:5, 0:5])
    b = (2, np.s_[10:15, 10:15])
    c = (3, np.s_[0:5, 10:15])
    missing = match_instances(_box((20, 20), a, b), _box((20, 20), a))
    # TP 1, FP 0, FN 1: precision 1, recall 1/2, F1 2/3, AP 1/2.
    assert (missing.tp[0], missing.fp[0], missing.fn[0]) == (1, 0, 1)
    assert missing.precision[0] == 1.0 and missing.recall[0] == 0.5
    assert missing.f1[0] == pytest.approx(2 / 3) and missing.average_precision[0] == 0.5
    extra = match_instances(_box((20, 20), a, b), _box((20, 20), a, b, c))
    # TP 2, FP 1, FN 0: precision 2/3, recall 1, F1 4/5, AP 2/3.
    assert (extra.tp[0], extra.fp[0], extra.fn[0]) == (2, 1, 0)
    assert extra.precision[0] == pytest.approx(2 / 3) and extra.recall[0] == 1.0
    assert extra.f1[0] == pytest.approx(0.8) and extra.average_precision[0] == pytest.approx(2 / 3)


def test_relabelling_is_invariant():
    rng = np.random.default_rng(0)
    true = _random_labels(rng, (40, 40), 12)
    pred = _random_labels(rng, (40, 40), 12)
    perm = rng.permutation(np.arange(1, 200))
    lut = np.concatenate(([0], perm))  # keeps background 0
    base = match_instances(true, pred, thresholds=(0.1, 0.3, 0.5))
    moved = match_instances(lut[true], lut[pred], thresholds=(0.1, 0.3, 0.5))
    for name in ("tp", "fp", "fn", "sum_matched_iou"):
        np.testing.assert_allclose(getattr(base, name), getattr(moved, name))
    t0, p0, _ = base.pairs(0.5)
    t1, p1, _ = moved.pairs(0.5)
    assert sorted(zip(lut[t0].tolist(), lut[p0].tolist())) == sorted(zip(t1.tolist(), p1.tolist()))


@pytest.mark.parametrize(
    ("dtype", "ids"),
    [
        (np.uint16, (3, 1000, 65535)),
        (np.int64, (7, 10**12, 2**40)),  # too sparse for a lookup table: sorted path
        (np.uint64, (1, 2**63 + 5, 2**64 - 1)),
    ],
)
def test_non_consecutive_ids(dtype, ids):
    boxes = [np.s_[0:4, 0:4], np.s_[5:9, 5:9], np.s_[0:4, 5:9]]
    true = np.zeros((10, 10), dtype=dtype)
    pred = np.zeros((10, 10), dtype=dtype)
    for i, sl in zip(ids, boxes):
        true[sl] = i
    pred[boxes[0]] = ids[2]
    pred[boxes[1]] = ids[0]
    r = match_instances(true, pred)
    assert (r.n_true, r.n_pred) == (3, 2)
    assert r.tp[0] == 2 and r.fn[0] == 1 and r.fp[0] == 0
    t_ids, p_ids, _ = r.pairs(0.5)
    assert t_ids.tolist() == [ids[0], ids[1]] and p_ids.tolist() == [ids[2], ids[0]]


def test_3d_shifted_cube():
    # 4x4x4 cubes (64 voxels) shifted by 1 in z: overlap 3*4*4 = 48, union 80, IoU 0.6.
    true = np.zeros((8, 6, 6), dtype=np.uint32)
    pred = np.zeros_like(true)
    true[0:4, 1:5, 1:5] = 1
    pred[1:5, 1:5, 1:5] = 2
    r = match_instances(true, pred, thresholds=(0.6, 0.65))
    assert r.tp.tolist() == [1, 0]
    assert r.pairs(0.6)[2].tolist() == [0.6]


def test_below_half_optimal_beats_greedy():
    # One row of pixels, x from 0:
    #   true A = [0, 10) (10 px), true B = [10, 13) (3 px)
    #   pred Y = [0, 4)  (4 px),  pred X = [4, 13)  (9 px)
    # IoU(A, X) = 6/13 = 0.46, IoU(A, Y) = 4/10 = 0.4, IoU(B, X) = 3/9 = 1/3, B-Y no overlap.
    # At t = 0.3 greedy (best IoU first) takes A-X and strands B and Y: 1 pair.
    # The optimal assignment takes A-Y and B-X: 2 pairs, TP 2, FP 0, FN 0.
    # At t = 0.35 only A-X and A-Y qualify; one pair, the larger IoU A-X (6/13).
    true = np.zeros((1, 16), dtype=np.uint8)
    true[0, 0:10] = 1  # A
    true[0, 10:13] = 2  # B
    pred = np.zeros_like(true)
    pred[0, 0:4] = 1  # Y
    pred[0, 4:13] = 2  # X
    r = match_instances(true, pred, thresholds=(0.3, 0.35))
    assert r.tp.tolist() == [2, 1]
    assert r.fp.tolist() == [0, 1] and r.fn.tolist() == [0, 1]
    t_ids, p_ids, ious = r.pairs(0.3)
    assert dict(zip(t_ids.tolist(), p_ids.tolist())) == {1: 1, 2: 2}
    np.testing.assert_allclose(ious, [0.4, 1 / 3])
    t_ids, p_ids, ious = r.pairs(0.35)
    assert (t_ids.tolist(), p_ids.tolist()) == ([1], [2])
    assert ious[0] == pytest.approx(6 / 13)


# --------------------------------------------------------------------------- empty cases


def test_both_empty_scores_one():
    empty = np.zeros((8, 8), dtype=np.uint16)
    r = match_instances(empty, empty)
    assert (r.n_true, r.n_pred) == (0, 0)
    assert r.tp.tolist() == [0] * 10
    for scores in (r.precision, r.recall, r.f1, r.average_precision):
        np.testing.assert_array_equal(scores, 1.0)
    assert r.mean_ap == 1.0
    assert np.isnan(r.mean_matched_iou).all()  # no matched pair to average
    assert r.pairs(0.5)[0].size == 0


def test_zero_size_arrays_are_empty_images():
    r = match_instances(np.zeros((0, 5), np.int32), np.zeros((0, 5), np.int32))
    assert r.n_true == r.n_pred == 0 and r.f1_at(0.5) == 1.0


@pytest.mark.parametrize("side", ["true", "pred"])
def test_one_side_empty_scores_zero(side):
    lab = _box((8, 8), (1, np.s_[0:3, 0:3]), (2, np.s_[4:8, 4:8]))
    empty = np.zeros_like(lab)
    r = match_instances(lab, empty) if side == "pred" else match_instances(empty, lab)
    for scores in (r.precision, r.recall, r.f1, r.average_precision):
        np.testing.assert_array_equal(scores, 0.0)
    assert r.mean_ap == 0.0
    if side == "pred":
        assert r.fn.tolist() == [2] * 10 and r.fp.tolist() == [0] * 10
    else:
        assert r.fp.tolist() == [2] * 10 and r.fn.tolist() == [0] * 10


# --------------------------------------------------------------------------- errors


def test_shape_mismatch_is_rejected():
    with pytest.raises(InvalidImageError, match=r"same shape.*\(4, 4\).*\(4, 5\)"):
        match_instances(np.zeros((4, 4), int), np.zeros((4, 5), int))


@pytest.mark.parametrize(
    ("arr", "message"),
    [
        (np.zeros((4, 4), np.float32), "integer label image"),
        (np.zeros((4, 4), bool), "integer label image"),
        (np.zeros(16, np.int32), "2-D"),
        (np.zeros((2, 2, 2, 2), np.int32), "2-D"),
        (np.full((4, 4), -1, np.int32), "negative"),
    ],
)
def test_bad_label_images_are_rejected(arr, message):
    good = np.zeros(arr.shape, np.int32)
    with pytest.raises(InvalidImageError, match=message):
        match_instances(arr, good)
    with pytest.raises(ValueError, match=message):  # also a ValueError
        match_instances(good, arr)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), (), [[0.5]], "high"])
def test_bad_thresholds_are_rejected(bad):
    lab = np.ones((3, 3), np.int32)
    with pytest.raises(InvalidArgumentError, match="threshold"):
        match_instances(lab, lab, thresholds=bad)


def test_scalar_and_unsorted_thresholds():
    lab = np.ones((3, 3), np.int32)
    assert match_instances(lab, lab, thresholds=0.7).thresholds.tolist() == [0.7]
    r = match_instances(lab, lab, thresholds=[0.9, 0.1, 0.9])
    assert r.thresholds.tolist() == [0.1, 0.9]
    with pytest.raises(InvalidArgumentError, match="not computed"):
        r.f1_at(0.5)
    with pytest.raises(InvalidArgumentError, match="not computed"):
        _ = r.mean_ap


# --------------------------------------------------------------------------- result object


def test_result_is_frozen_and_serialisable():
    lab = _box((6, 6), (1, np.s_[0:3, 0:3]))
    r = match_instances(lab, np.zeros_like(lab))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.n_true = 5  # type: ignore[misc]
    with pytest.raises(ValueError):
        r.tp[0] = 3
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["tp"] == [0] * 10 and d["fn"] == [1] * 10 and d["mean_ap"] == 0.0
    assert d["mean_matched_iou"] == [None] * 10
    assert "TP/(TP+FP+FN)" in d["definition"]


def test_aggregate_sums_counts_and_recomputes_ratios():
    a = _box((10, 10), (1, np.s_[0:4, 0:4]), (2, np.s_[5:9, 5:9]))
    b = _box((10, 10), (1, np.s_[0:4, 0:4]))
    r1 = match_instances(a, a)  # TP 2
    r2 = match_instances(a, b)  # TP 1, FN 1
    r3 = match_instances(np.zeros_like(a), b)  # FP 1
    total = aggregate([r1, r2, r3])
    # TP 3, FP 1, FN 1: precision 3/4, recall 3/4, F1 6/8, AP 3/5.
    assert (total.tp[0], total.fp[0], total.fn[0]) == (3, 1, 1)
    assert (total.n_true, total.n_pred, total.n_images) == (4, 4, 3)
    assert total.precision[0] == 0.75 and total.recall[0] == 0.75
    assert total.f1[0] == 0.75 and total.ap_at(0.5) == pytest.approx(0.6)
    assert total.mean_matched_iou[0] == 1.0
    assert aggregate([total, r1]).tp[0] == 5  # aggregates aggregate
    with pytest.raises(InvalidArgumentError, match="pairs are not kept"):
        total.pairs(0.5)
    assert aggregate([match_instances(np.zeros_like(a), np.zeros_like(a))]).f1[0] == 1.0


def test_aggregate_rejects_bad_input():
    lab = np.ones((3, 3), np.int32)
    with pytest.raises(InvalidArgumentError, match="at least one"):
        aggregate([])
    with pytest.raises(InvalidArgumentError, match="same thresholds"):
        aggregate([match_instances(lab, lab), match_instances(lab, lab, thresholds=0.5)])
    with pytest.raises(InvalidArgumentError, match="MatchResult"):
        aggregate([match_instances(lab, lab), {"tp": [1]}])  # type: ignore[list-item]


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(_matching, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failures == 0


# --------------------------------------------------------------------------- brute-force reference


def _random_labels(rng, shape, n):
    """Blobby label image: random boxes of random ids painted in order (later ones on top)."""
    out = np.zeros(shape, dtype=np.int32)
    for label in rng.choice(np.arange(1, 200), size=n, replace=False):
        corner = [rng.integers(0, s - 2) for s in shape]
        size = [rng.integers(2, max(3, s // 3)) for s in shape]
        out[tuple(slice(c, c + w) for c, w in zip(corner, size))] = label
    return out


def _reference(true, pred, thresholds):
    """Dense IoU matrix by explicit loops, then dense optimal assignment per threshold."""
    t_ids = [i for i in np.unique(true) if i != 0]
    p_ids = [j for j in np.unique(pred) if j != 0]
    iou = np.zeros((len(t_ids), len(p_ids)))
    for a, i in enumerate(t_ids):
        for b, j in enumerate(p_ids):
            inter = np.sum((true == i) & (pred == j))
            union = np.sum((true == i) | (pred == j))
            iou[a, b] = inter / union
    out = []
    k = min(len(t_ids), len(p_ids))
    for t in thresholds:
        ok = iou >= t
        if k == 0:
            out.append((0, 0.0))
            continue
        # Each candidate is worth 1 + a bonus < 1/k: most pairs first, then most IoU.
        rows, cols = linear_sum_assignment(-(ok * (1 + iou / (k + 1))))
        keep = ok[rows, cols]
        out.append((int(keep.sum()), float(iou[rows, cols][keep].sum())))
    return out, iou, t_ids, p_ids


@pytest.mark.parametrize("seed", range(40))
def test_matches_dense_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = (24, 24) if seed % 5 else (6, 10, 10)
    true = _random_labels(rng, shape, int(rng.integers(0, 25)))
    pred = _random_labels(rng, shape, int(rng.integers(0, 25)))
    thresholds = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
    r = match_instances(true, pred, thresholds=thresholds)
    expected, iou, t_ids, p_ids = _reference(true, pred, thresholds)
    assert (r.n_true, r.n_pred) == (len(t_ids), len(p_ids))
    for i, (t, (tp, iou_sum)) in enumerate(zip(thresholds, expected)):
        assert r.tp[i] == tp, f"threshold {t}"
        assert r.sum_matched_iou[i] == pytest.approx(iou_sum), f"threshold {t}"
        t_m, p_m, iou_m = r.pairs(t)
        assert len(set(t_m.tolist())) == len(t_m) == len(set(p_m.tolist())) == tp
        for a, b, v in zip(t_m, p_m, iou_m):
            assert v >= t
            assert v == pytest.approx(iou[t_ids.index(a), p_ids.index(b)])
    assert isinstance(r, MatchResult)
