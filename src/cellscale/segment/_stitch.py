"""Stitching label images segmented chunk by chunk into one label image.

The method (the classic one of chunked instance segmentation, e.g.
StarDist's ``predict_instances_big``):

1. every chunk is segmented over its *region* (core + halo) independently;
2. a chunk keeps the objects whose centroid lies in its *core*
   (:func:`keep_core_objects`); cores tile the plane, so each object is kept
   by exactly one chunk as long as the chunks agree, up to a pixel, on where
   its centroid is — they do when the halo holds the object and the context
   the model needs around it;
3. kept objects get global ids: chunk ``k``'s ids are ``offset[k] + 1 ..
   offset[k] + n[k]`` with ``offset`` the running total of ``n``;
4. each core of the output is filled from the objects kept by its own chunk
   and, where those leave background, by its 8 neighbours' kept objects
   that reach into it (:func:`assemble_core`). An object kept by a chunk
   therefore appears whole, once, even where it crosses a seam.

Assumption: objects are smaller than the halo (at most ``max_diameter``
across); larger objects may be cut at the region's edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cellscale.segment._plan import Chunk, ChunkPlan

__all__ = ["assemble_core", "chunk_offsets", "keep_core_objects"]


def keep_core_objects(labels: np.ndarray, chunk: Chunk) -> tuple[np.ndarray, int]:
    """The objects of a region's labels whose centroid lies in the chunk's core.

    Parameters
    ----------
    labels : ndarray of int, shape (h, w) or (z, h, w)
        Labels of the chunk's region (0 = background); a stack's objects are
        kept by their y/x centroid.
    chunk : Chunk
        The chunk; ``labels`` covers ``chunk.region`` in y and x.

    Returns
    -------
    kept : ndarray of uint32, same shape as ``labels``
        The kept objects numbered ``1 .. n`` in the order of their original ids,
        0 elsewhere.
    n : int
        Number of kept objects.

    Examples
    --------
    >>> from cellscale.segment._plan import plan_chunks
    >>> lab = np.zeros((8, 8), np.uint32); lab[0:2, 2:5] = 4; lab[5:8, 5:8] = 9
    >>> chunk = plan_chunks((8, 8), chunk_size=4, halo=4).at(0, 0)
    >>> kept, n = keep_core_objects(lab, chunk)
    >>> n, int(kept[0, 3]), int(kept[6, 6])
    (1, 1, 0)
    """
    labels = np.asarray(labels)
    if labels.shape[-2:] != tuple(chunk.region_shape):
        raise ValueError(f"labels of shape {labels.shape} do not cover the region "
                         f"{chunk.region_shape} of chunk {chunk.index}")
    flat = labels.ravel().astype(np.int64, copy=False)
    top = int(flat.max()) if flat.size else 0
    if top == 0:
        return np.zeros(labels.shape, np.uint32), 0
    h, w = labels.shape[-2:]
    count = np.bincount(flat, minlength=top + 1).astype(np.float64)
    lead = (1,) * (labels.ndim - 2)
    rows = np.broadcast_to(np.arange(h, dtype=np.float64).reshape(*lead, h, 1),
                           labels.shape).ravel()
    cols = np.broadcast_to(np.arange(w, dtype=np.float64).reshape(*lead, 1, w),
                           labels.shape).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(flat, weights=rows, minlength=top + 1) / count + chunk.region[0]
        cx = np.bincount(flat, weights=cols, minlength=top + 1) / count + chunk.region[2]
    y0, y1, x0, x1 = chunk.core
    fy, fx = np.floor(cy), np.floor(cx)
    keep = (count > 0) & (fy >= y0) & (fy < y1) & (fx >= x0) & (fx < x1)
    keep[0] = False
    lut = np.zeros(top + 1, np.uint32)
    n = int(keep.sum())
    lut[keep] = np.arange(1, n + 1, dtype=np.uint32)
    return lut[flat].reshape(labels.shape), n


def chunk_offsets(counts: Sequence[int]) -> np.ndarray:
    """Global id offsets: ``offset[k] = sum(counts[:k])`` (int64)."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def assemble_core(
    plan: ChunkPlan,
    chunk: Chunk,
    kept: Callable[[Chunk], np.ndarray],
    offsets: Sequence[int],
) -> np.ndarray:
    """The stitched labels of one core.

    Parameters
    ----------
    plan : ChunkPlan
        The plan the chunks belong to.
    chunk : Chunk
        The core to fill.
    kept : callable
        ``kept(c)`` returns chunk ``c``'s kept objects over its region, numbered
        ``1 .. n`` (as from :func:`keep_core_objects`).
    offsets : sequence of int
        Global id offset of each chunk, in plan order.

    Returns
    -------
    ndarray of uint32, shape of the core
        Global ids; the chunk's own objects win any pixel they cover, then
        neighbours' objects fill the background they leave, in grid order.
    """
    cy0, cy1, cx0, cx1 = chunk.core
    out = np.zeros((cy1 - cy0, cx1 - cx0), np.uint32)
    order = [chunk, *plan.neighbours(chunk)]
    for other in order:
        ry0, ry1, rx0, rx1 = other.region
        y0, y1, x0, x1 = max(cy0, ry0), min(cy1, ry1), max(cx0, rx0), min(cx1, rx1)
        if y0 >= y1 or x0 >= x1:
            continue
        labels = kept(other)[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
        offset = np.uint32(offsets[other.index[0] * plan.grid[1] + other.index[1]])
        target = out[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
        fill = (labels > 0) & (target == 0)
        target[fill] = labels[fill] + offset
    return out
