"""EditSession: every tool, its bounding box, its errors, and undo/redo sequences."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.label import EditSession, Patch


def _disc(shape, cy, cx, r) -> np.ndarray:
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _scene(shape=(64, 80)) -> np.ndarray:
    """Four objects: two apart, and two touching discs that share label 3."""
    labels = np.zeros(shape, np.uint32)
    labels[5:15, 5:15] = 1
    labels[_disc(shape, 50, 60, 6)] = 2
    labels[_disc(shape, 30, 25, 8) | _disc(shape, 30, 40, 8)] = 3
    labels[55:60, 5:12] = 7
    return labels


def test_paint_a_stroke_inside_its_box():
    s = EditSession(np.zeros((20, 30), np.uint32))
    patch = s.paint([(5, 5), (5, 15)], 2, 4)
    assert patch.bbox == (3, 3, 8, 18)
    np.testing.assert_array_equal(patch.data, s.labels[3:8, 3:18])
    assert s.labels[5, 5:16].tolist() == [4] * 11 and s.labels[5, 18] == 0
    assert s.labels[3, 10] == 4 and s.labels[2, 10] == 0
    assert s.edits[-1]["op"] == "paint" and s.edits[-1]["bbox"] == [3, 3, 8, 18]


def test_paint_over_background_only():
    labels = _scene()
    s = EditSession(labels)
    s.paint([(10, 10), (10, 25)], 3, 9, overwrite=False)
    assert (s.labels[labels == 1] == 1).all()
    assert s.labels[10, 20] == 9


def test_erase_everything_or_one_label():
    labels = _scene()
    s = EditSession(labels)
    s.erase([(30, 25), (30, 40)], 20, label=3)
    assert not (s.labels == 3).any() and (s.labels[labels == 1] == 1).all()
    s.erase([(10, 10)], 3)
    assert s.labels[10, 10] == 0 and s.labels[5, 5] == 1


def test_fill_an_object_and_an_enclosed_hole():
    labels = _scene()
    labels[8:12, 8:12] = 0  # a hole in object 1
    s = EditSession(labels)
    patch = s.fill(9, 9, 1)
    assert patch.bbox == (8, 8, 12, 12) and (s.labels[5:15, 5:15] == 1).all()
    s.fill(6, 6, 5)  # the object takes the new label; nothing else does
    assert (s.labels[5:15, 5:15] == 5).all() and (s.labels == 5).sum() == 100
    big = s.fill(0, 0, 8)  # the background: everything 4-connected to the corner
    assert big.bbox == (0, 0, 64, 80) and s.labels[0, 0] == 8 and s.labels[30, 30] == 3


def test_delete_and_merge():
    labels = _scene()
    s = EditSession(labels)
    patch = s.delete(2)
    assert not (s.labels == 2).any() and patch.bbox == (44, 54, 57, 67)
    s.merge(1, 7)  # apart: b's pixels become a
    assert (s.labels[labels == 7] == 1).all() and not (s.labels == 7).any()
    assert s.edits[-1]["labels"] == [1, 7]
    assert s.box(1) == (5, 5, 60, 15)


def test_split_two_touching_discs_along_a_line():
    labels = _scene()
    s = EditSession(labels)
    s.split(3, [(15, 32.5), (45, 32.5)])
    left, right = _disc(labels.shape, 30, 25, 8), _disc(labels.shape, 30, 40, 8)
    new = sorted(set(np.unique(s.labels[left | right])) - {0})
    assert len(new) == 2 and 3 not in new and min(new) == 8  # new labels, after the largest
    assert (s.labels[left | right] > 0).all()  # no pixel lost to the line
    for disc in (left, right):
        values, counts = np.unique(s.labels[disc], return_counts=True)
        assert counts.max() / disc.sum() > 0.9
    assert s.edits[-1]["op"] == "split" and s.edits[-1]["labels"] == new


def test_split_without_cutting_seeds_a_watershed_from_the_line_ends():
    labels = _scene()
    s = EditSession(labels)
    s.split(3, [(30, 25), (30, 40)])  # centre to centre: cuts nothing
    left, right = _disc(labels.shape, 30, 25, 8), _disc(labels.shape, 30, 40, 8)
    a, b = int(s.labels[30, 25]), int(s.labels[30, 40])
    assert a != b and {a, b} == {8, 9}
    assert (s.labels[left & ~right] == a).mean() > 0.95
    assert (s.labels[right & ~left] == b).mean() > 0.95


def test_split_refuses_a_line_that_cannot_split():
    s = EditSession(_scene())
    with pytest.raises(InvalidArgumentError, match="does not split label 1"):
        s.split(1, [(9, 9), (9.2, 9.1)])
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        s.split(1, [(9, 9)])
    assert not s.can_undo


def test_add_cell_without_maps_is_a_disc_of_the_median_diameter():
    labels = np.zeros((64, 64), np.uint32)
    labels[_disc(labels.shape, 10, 10, 5)] = 1
    labels[_disc(labels.shape, 50, 50, 5)] = 2
    s = EditSession(labels)
    d = s.median_diameter()
    assert 9.5 < d < 11.5
    s.add_cell(30, 30)
    new = s.labels == 3
    assert abs(new.sum() - np.pi * d * d / 4) < 0.2 * new.sum() and new[30, 30]
    assert s.edits[-1]["source"] == "disc"


def test_add_cell_follows_the_probability_map_on_background_only():
    labels = np.zeros((64, 64), np.uint32)
    labels[_disc(labels.shape, 20, 20, 5)] = 1
    prob = np.zeros((64, 64), np.float32)
    target = _disc(labels.shape, 40, 40, 7) & ~_disc(labels.shape, 40, 40, 2)  # with a hole
    prob[target] = 0.9
    prob[_disc(labels.shape, 20, 20, 7)] = 0.9  # the labelled object's halo
    prob[0:64, 63] = 0.9  # a far-away structure touching the target via a thin bridge
    prob[40, 40:64] = 0.9
    s = EditSession(labels, {"prob": prob})
    s.add_cell(36, 40)
    new = s.labels == 2
    assert s.edits[-1]["source"] == "prob"
    assert new[_disc(labels.shape, 40, 40, 7)].all()  # hole filled
    assert not new[:, 63].any()  # limited to twice the diameter
    assert (s.labels[labels == 1] == 1).all()


def test_add_cell_on_an_object_is_refused():
    s = EditSession(_scene())
    with pytest.raises(InvalidArgumentError, match="on object 1; click on background"):
        s.add_cell(9, 9)


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.paint([(5, 5)], 2, 0), "0 is background"),
    (lambda s: s.paint([(5, 5)], 2, -3), "0 is background"),
    (lambda s: s.paint([(5, 5)], 2, 2**32), r"1 \.\. 4294967295"),
    (lambda s: s.paint([(5, 5)], 2, 1.5), "positive integer"),
    (lambda s: s.paint([(5, 5)], 2, True), "positive integer"),
    (lambda s: s.paint([(5, 5)], 0, 1), "radius"),
    (lambda s: s.paint([(5, 5)], float("nan"), 1), "radius"),
    (lambda s: s.paint([(70, 5)], 2, 1), r"outside the image of 64 x 80"),
    (lambda s: s.paint([(5, -1)], 2, 1), "outside the image"),
    (lambda s: s.paint([(5, float("inf"))], 2, 1), "outside the image"),
    (lambda s: s.paint([], 2, 1), "at least 1"),
    (lambda s: s.paint([(1, 2, 3)], 2, 1), r"pair \(y, x\)"),
    (lambda s: s.paint("ab", 2, 1), "list of"),
    (lambda s: s.erase([(5, 5)], 2, label=42), "label 42 is not in the image"),
    (lambda s: s.delete(42), "label 42 is not in the image"),
    (lambda s: s.delete(0), "0 is background"),
    (lambda s: s.merge(1, 42), "label 42"),
    (lambda s: s.merge(1, 1), "itself"),
    (lambda s: s.split(42, [(0, 0), (5, 5)]), "label 42"),
    (lambda s: s.fill(100, 5, 1), "outside"),
    (lambda s: s.add_cell(-2, 5), "outside"),
])
def test_bad_arguments_are_refused_and_change_nothing(call, message):
    labels = _scene()
    s = EditSession(labels)
    with pytest.raises(InvalidArgumentError, match=message):
        call(s)
    np.testing.assert_array_equal(s.labels, labels)
    assert not s.can_undo and s.edits == []


def test_bad_sessions_are_refused():
    with pytest.raises(InvalidImageError, match=r"\(y, x\)"):
        EditSession(np.zeros((2, 3, 4), np.uint32))
    with pytest.raises(InvalidImageError, match="integers"):
        EditSession(np.zeros((3, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="map 'prob' has shape"):
        EditSession(np.zeros((3, 4), np.uint32), {"prob": np.zeros((4, 3))})


def test_the_session_works_on_a_copy_and_forgets_saved_edits():
    labels = _scene()
    s = EditSession(labels)
    s.delete(1)
    assert (labels == 1).any()
    assert len(s.edits) == 1
    s.mark_saved()
    assert s.edits == [] and s.can_undo
    s.undo()
    assert [e["op"] for e in s.edits] == ["undo"]


def test_an_edit_that_changes_nothing_is_no_undo_step():
    s = EditSession(_scene())
    s.fill(9, 9, 1)
    assert not s.can_undo and s.edits == []


def test_new_label_and_patch_json():
    s = EditSession(_scene())
    assert s.new_label() == 8
    p = s.paint([(1, 70)], 1, s.new_label())
    record = p.to_json()
    assert record["dtype"] == "<u4" and (record["h"], record["w"]) == p.data.shape
    back = Patch.from_json(record)
    assert back.bbox == p.bbox and np.array_equal(back.data, p.data)
    assert s.new_label() == 9


def _random_op(s: EditSession, rng: np.random.Generator) -> None:
    h, w = s.shape
    present = sorted(set(np.unique(s.labels)) - {0})

    def point():
        return (float(rng.uniform(0, h - 1)), float(rng.uniform(0, w - 1)))

    op = rng.integers(0, 8)
    try:
        if op == 0:
            s.paint([point() for _ in range(rng.integers(1, 4))], float(rng.uniform(0.5, 6)),
                    int(rng.integers(1, 12)))
        elif op == 1:
            label = int(rng.choice(present)) if present and rng.random() < 0.5 else None
            s.erase([point(), point()], float(rng.uniform(1, 5)), label)
        elif op == 2:
            s.fill(*point(), int(rng.integers(1, 12)))
        elif op == 3 and present:
            s.delete(int(rng.choice(present)))
        elif op == 4 and len(present) >= 2:
            a, b = rng.choice(present, 2, replace=False)
            s.merge(int(a), int(b))
        elif op == 5 and present:
            s.split(int(rng.choice(present)), [point(), point()])
        elif op == 6:
            s.add_cell(*point())
        elif op == 7 and s.can_undo:
            s.undo()
    except InvalidArgumentError:
        pass  # e.g. a line that does not split, a click on an object


@pytest.mark.parametrize("seed", range(6))
def test_random_edits_undo_to_the_original_and_redo_to_the_end(seed):
    rng = np.random.default_rng(seed)
    original = _scene()
    prob = np.clip(rng.normal(0.5, 0.3, original.shape), 0, 1).astype(np.float32)
    s = EditSession(original, {"prob": prob})
    mirror = original.copy()  # what a browser holds, updated from the patches only
    for _ in range(40):
        before = len(s._undo), len(s._redo)
        _random_op(s, rng)
        if (len(s._undo), len(s._redo)) != before:
            last = s._undo[-1] if len(s._undo) > before[0] or not s._redo else s._redo[-1]
            Patch(last.y0, last.x0, s.labels[last.y0:last.y0 + last.after.shape[0],
                                             last.x0:last.x0 + last.after.shape[1]]).apply(mirror)
        np.testing.assert_array_equal(mirror, s.labels)
        for value in set(np.unique(s.labels)) - {0}:  # every object lies within its box
            y0, x0, y1, x1 = s.box(int(value))
            inside = np.zeros(s.shape, bool)
            inside[y0:y1, x0:x1] = True
            assert not ((s.labels == value) & ~inside).any()
    final = s.labels.copy()
    states = []
    while s.can_undo:
        states.append(s.labels.copy())
        patch = s.undo()
        patch.apply(mirror)
        np.testing.assert_array_equal(mirror, s.labels)
    assert s.undo() is None
    np.testing.assert_array_equal(s.labels, original)
    while s.can_redo:
        patch = s.redo()
        patch.apply(mirror)
        np.testing.assert_array_equal(s.labels, states.pop())
    assert s.redo() is None
    np.testing.assert_array_equal(s.labels, final)
    np.testing.assert_array_equal(mirror, final)


def test_a_new_edit_clears_redo():
    s = EditSession(_scene())
    s.delete(1)
    s.undo()
    assert s.can_redo
    s.delete(2)
    assert not s.can_redo and s.redo() is None


def test_undo_memory_is_bounded():
    s = EditSession(np.zeros((100, 100), np.uint32), max_undo_bytes=100_000)
    for i in range(10):
        s.fill(0, 0, i + 1)  # each step keeps two 40 kB blocks
    assert len(s._undo) == 1
    s.undo()
    assert (s.labels == 9).all()


def test_a_removed_label_is_unknown_afterwards():
    s = EditSession(_scene())
    s.delete(1)
    with pytest.raises(InvalidArgumentError, match="label 1 is not in the image"):
        s.delete(1)
    s.erase([(50, 60)], 10, label=2)  # erased away entirely
    with pytest.raises(InvalidArgumentError, match="label 2 is not in the image"):
        s.merge(3, 2)
    s.undo()
    s.merge(3, 2)  # back after undo
    assert not (s.labels == 2).any()


def test_add_cell_decodes_the_maps_under_the_click():
    """Two touching blobs in the maps, neither labelled: the click gets only its own."""
    shape = (48, 64)
    left, right = _disc(shape, 24, 24, 8), _disc(shape, 24, 38, 8)
    prob = (left | right).astype(np.float32)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    dist = np.zeros(shape, np.float32)
    for cy, cx, disc in ((24, 24, left), (24, 38, right)):
        d = np.clip(1 - np.hypot(yy - cy, xx - cx) / 8, 0, 1)
        dist = np.where(disc, np.maximum(dist, d), dist)
    dist[:, 31] = np.minimum(dist[:, 31], 0.05)
    centre = np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 8) + np.exp(-((yy - 24) ** 2 + (xx - 38) ** 2) / 8)
    labels = np.zeros(shape, np.uint32)
    labels[2:6, 2:6] = 1  # an object for the median diameter
    s = EditSession(labels, {"prob": prob, "distance": dist, "centre": centre.astype(np.float32)},
                    diameter=16)
    s.add_cell(24, 22)
    new = s.labels == 2
    assert s.edits[-1]["source"] == "maps"
    assert new[left & (xx < 30)].all() and not new[right & (xx > 32)].any()
    s.undo()
    only_prob = EditSession(labels, {"prob": prob}, diameter=16)
    only_prob.add_cell(24, 22)
    assert only_prob.edits[-1]["source"] == "prob"
    assert (only_prob.labels == 2)[right & (xx > 32)].mean() > 0.5  # the neighbour joins in
