"""Divisions that are hard to see: cut by the edge of the field, or with a daughter missed for a frame."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data._ctc import check_lineage
from cellscale.track import track
from cellscale.track._divisions import division_costs, find_late_divisions

SHAPE = (64, 64)


def _disk(y: float, x: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (yy - y) ** 2 + (xx - x) ** 2 <= r**2


def _movie(n: int, cells: dict[int, list[tuple[float, float, float] | None]]) -> np.ndarray:
    """``cells[k][t] = (y, x, r)`` (None: not seen); every frame renumbers its cells (ids carry nothing)."""
    frames = np.zeros((n, *SHAPE), np.uint16)
    for t in range(n):
        seen = [(k, c[t]) for k, c in cells.items() if c[t] is not None]
        for rank, (_, (y, x, r)) in enumerate(seen):
            frames[t][_disk(y, x, r)] = 1 + (rank + 3 * t) % len(seen)
    return frames


def _bystander(n: int) -> list[tuple[float, float, float] | None]:
    return [(50.0, 50.0, 7.0)] * n  # an uncut cell far away: the movie's typical size


def _lineage_at(labels: np.ndarray, lineage, t: int, y: int, x: int):
    return lineage.set_index("label").loc[int(labels[t, y, x])]


def test_a_division_cut_by_the_edge_of_the_field():
    # The mother straddles the left edge; one daughter lands inside, the other
    # mostly outside (a sliver a quarter of her sister's size).
    mother = [(24.0, 3.0, 8.0)] * 3 + [None] * 3
    inner = [None] * 3 + [(24.0, 10.0, 5.5)] * 3
    outer = [None] * 3 + [(24.0, -2.5, 5.5)] * 3
    frames = _movie(6, {0: mother, 1: inner, 2: outer, 3: _bystander(6)})
    labels, lineage = track(frames)
    check_lineage(labels, lineage)
    mum = _lineage_at(labels, lineage, 0, 24, 2)
    a, b = _lineage_at(labels, lineage, 3, 24, 10), _lineage_at(labels, lineage, 3, 24, 0)
    assert (mum.begin, mum.end) == (0, 2)
    assert a.parent == b.parent == labels[0, 24, 2] and a.begin == b.begin == 3


def test_a_daughter_missed_for_a_frame_is_still_a_daughter():
    mother = [(32.0, 30.0, 8.0)] * 3 + [None] * 4
    first = [None] * 3 + [(25.0, 31.0, 5.5), (24.0, 31.0, 5.5), (23.0, 31.0, 5.5), (22.0, 31.0, 5.5)]
    late = [None] * 4 + [(40.0, 31.0, 5.5), (41.0, 31.0, 5.5), (42.0, 31.0, 5.5)]  # missed at frame 3
    frames = _movie(7, {0: mother, 1: first, 2: late, 3: _bystander(7)})
    labels, lineage = track(frames)
    check_lineage(labels, lineage)
    mum = labels[0, 32, 30]
    a, b = _lineage_at(labels, lineage, 3, 25, 31), _lineage_at(labels, lineage, 4, 40, 31)
    assert (a.parent, a.begin) == (mum, 3)
    assert (b.parent, b.begin) == (mum, 4)
    assert (lineage.parent == mum).sum() == 2


def test_a_division_whose_last_mother_frame_was_missed():
    mother = [(32.0, 30.0, 8.0)] * 3 + [None] * 4
    up = [None] * 4 + [(23.0, 31.0, 5.5), (22.0, 31.0, 5.5), (21.0, 31.0, 5.5)]
    down = [None] * 4 + [(41.0, 31.0, 5.5), (42.0, 31.0, 5.5), (43.0, 31.0, 5.5)]
    frames = _movie(7, {0: mother, 1: up, 2: down, 3: _bystander(7)})
    labels, lineage = track(frames)
    mum = labels[0, 32, 30]
    kids = lineage[lineage.parent == mum]
    assert sorted(kids.begin.tolist()) == [4, 4] and len(kids) == 2
    _, plain = track(frames, divisions=False)
    assert (plain.parent[plain.parent > 0].value_counts() <= 1).all()


@pytest.mark.parametrize(("sister_lasts", "late_cut", "found"), [(True, False, True), (False, False, False),
                                                            (True, True, False)])
def test_when_a_late_daughter_counts(sister_lasts, late_cut, found):
    # Mother (0) at frame 0, a cell (1) at frame 1 that she is linked to, and a
    # cell (3) that starts at frame 2. If 1 goes on to frame 2 (as 2), 1 and 3
    # are sisters, 3 missed at frame 1. If 1 ends at frame 1, 3 is more likely
    # 1 seen again than her sister; if 3 touches the edge of the field, she may
    # just have entered it.
    frame_of = np.array([0, 1, 2, 2])
    pos = np.array([[30.0, 30.0], [24.0, 31.0], [23.0, 31.0], [37.0, 30.0]])
    area = np.array([150.0, 90.0, 90.0, 80.0])
    nxt = np.array([1, 2 if sister_lasts else -1, -1, -1])
    prv = np.array([-1, 0, 1 if sister_lasts else -1, -1])
    border = np.array([False, False, False, late_cut])
    got = find_late_divisions(frame_of, pos, area, border, nxt, prv, np.zeros(4, bool), np.zeros(4, bool),
                              drift=np.zeros((2, 2)), sigma=1.0, max_gap=3, max_cost=1.5, typical=14.0)
    assert got == ([(0, 1, 3)] if found else [])


def test_cut_cells_are_judged_by_what_can_be_seen_of_them():
    off1, off2 = np.array([[0.0, 6.0]]), np.array([[0.0, -6.0]])
    one = np.ones(1, bool)
    none = np.zeros(1, bool)

    def cost(a1, c1, a2, c2, am=200.0, cm=none):
        return float(division_costs(np.array([am]), cm, off1, np.array([a1]), c1, off2, np.array([a2]), c2,
                                    1.0, typical=16.0)[0])

    textbook = cost(100.0, none, 100.0, none)
    assert textbook < 0.8
    # A sister a quarter of the other's size: unlikely when both are whole,
    # fine when she is cut by the edge (she may be mostly outside the field).
    assert cost(100.0, none, 25.0, none) > 1.5 > cost(100.0, none, 25.0, one)
    # The cut explains a sister looking small, not looking large.
    assert cost(100.0, none, 400.0, one) == pytest.approx(cost(100.0, none, 400.0, none) + 0.4)
    # A cut mother looks small: daughters larger than what is seen of her are fine.
    assert cost(150.0, none, 150.0, none, am=150.0, cm=one) < 1.5 < cost(150.0, none, 150.0, none, am=150.0)
