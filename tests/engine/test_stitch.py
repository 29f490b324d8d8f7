"""Chunk plans and label stitching, on label images whose true answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk

from cellscale.engine import assemble_core, chunk_offsets, halo_for, keep_core_objects, plan_chunks
from cellscale.errors import InvalidArgumentError
from cellscale.metrics import match_instances


def _discs(shape: tuple[int, int], n: int, seed: int, radius: tuple[int, int] = (4, 12)) -> np.ndarray:
    """Non-overlapping discs (later ones never overwrite earlier ones)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint32)
    for k in range(1, n + 1):
        r = int(rng.integers(*radius))
        cy, cx = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        rr, cc = disk((cy, cx), r, shape=shape)
        free = labels[rr, cc] == 0
        labels[rr[free], cc[free]] = k
    return labels


def _stitch(truth: np.ndarray, chunk_size: int, halo: int, seed: int = 0) -> np.ndarray:
    """Segment each region by cropping the truth (ids scrambled per chunk), then stitch."""
    plan = plan_chunks(truth.shape, chunk_size=chunk_size, halo=halo)
    rng = np.random.default_rng(seed)
    kept, counts = {}, []
    for chunk in plan.chunks:
        y0, y1, x0, x1 = chunk.region
        crop = truth[y0:y1, x0:x1]
        scramble = np.concatenate([[0], rng.permutation(int(truth.max())) + 1]).astype(np.uint32)
        labels, n = keep_core_objects(scramble[crop], chunk)
        kept[chunk.index] = labels
        counts.append(n)
    offsets = chunk_offsets(counts)
    out = np.zeros(truth.shape, np.uint32)
    for chunk in plan.chunks:
        y0, y1, x0, x1 = chunk.core
        out[y0:y1, x0:x1] = assemble_core(plan, chunk, lambda c: kept[c.index], offsets)
    return out


def test_plan_cores_tile_the_plane_and_regions_add_the_halo():
    plan = plan_chunks((1000, 700), chunk_size=256, halo=48)
    cover = np.zeros((1000, 700), int)
    for c in plan.chunks:
        y0, y1, x0, x1 = c.core
        cover[y0:y1, x0:x1] += 1
        ry0, ry1, rx0, rx1 = c.region
        assert (ry0, rx0) == (max(y0 - 48, 0), max(x0 - 48, 0))
        assert (ry1, rx1) == (min(y1 + 48, 1000), min(x1 + 48, 700))
        assert y0 % 256 == 0 and x0 % 256 == 0
    assert (cover == 1).all()
    assert plan.grid == (4, 3) and len(plan.neighbours(plan.at(1, 1))) == 8
    assert len(plan.neighbours(plan.at(0, 0))) == 3


def test_plan_refuses_chunks_smaller_than_the_halo():
    with pytest.raises(InvalidArgumentError, match="at least the halo"):
        plan_chunks((1000, 1000), chunk_size=32, halo=64)
    assert halo_for(40, context=24, size_multiple=16) == 64


@pytest.mark.parametrize("chunk_size", [64, 100, 256])
def test_stitching_reproduces_every_object_once(chunk_size):
    truth = _discs((300, 420), 260, seed=chunk_size)
    stitched = _stitch(truth, chunk_size, halo=32)
    # The same partition of the pixels, object for object: nothing cut, doubled or lost.
    result = match_instances(truth, stitched, thresholds=[0.999])
    n = len(np.unique(truth)) - 1
    assert result.tp[0] == n and result.fp[0] == 0 and result.fn[0] == 0
    assert len(np.unique(stitched)) - 1 == n
    assert ((stitched > 0) == (truth > 0)).all()


def test_objects_bigger_than_the_halo_are_cut():
    # The documented assumption: with a halo smaller than the objects, stitching can cut them.
    truth = _discs((300, 300), 30, seed=3, radius=(30, 40))
    stitched = _stitch(truth, 64, halo=8)
    result = match_instances(truth, stitched, thresholds=[0.999])
    assert result.fp[0] + result.fn[0] > 0


def test_keep_core_objects_keeps_by_centroid():
    plan = plan_chunks((20, 20), chunk_size=10, halo=10)
    labels = np.zeros((20, 20), np.uint32)
    labels[8:12, 2:5] = 5   # centroid y = 9.5 -> core row 0
    labels[9:13, 12:15] = 7  # centroid y = 10.5 -> core row 1
    kept_top, n_top = keep_core_objects(labels, plan.at(0, 0))
    kept_right, n_right = keep_core_objects(labels, plan.at(1, 1))
    assert n_top == 1 and kept_top[10, 3] == 1 and kept_top[10, 13] == 0
    assert n_right == 1 and kept_right[10, 13] == 1
