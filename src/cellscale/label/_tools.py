"""The pixel work of the tools that decide a shape: splitting an object, adding a cell.

Both work inside a bounding box and return masks of that box; the
:class:`~cellscale.label.EditSession` turns them into undoable edits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from cellscale.label._geometry import Box, line_mask, rounded_point, stroke_mask

__all__ = ["MIN_PART_FRACTION", "MIN_PART_PIXELS", "MIN_REGION_PIXELS", "REACH", "add_cell_mask",
           "holding", "split_parts"]

#: Parts of a split smaller than this fraction of the object join their neighbours.
MIN_PART_FRACTION = 0.02
#: ... or smaller than this many pixels.
MIN_PART_PIXELS = 4
#: Fewest pixels of a region of the model's map that ``add_cell`` takes as the object.
MIN_REGION_PIXELS = 4
#: ``add_cell`` looks for the object within this many typical diameters of the click: a
#: click anywhere on an object up to 1.25 typical diameters across reaches its far side.
REACH = 1.25


def split_parts(mask: np.ndarray, points: np.ndarray, box: Box,
                shape: tuple[int, int]) -> np.ndarray | None:
    """Parts ``1 .. n`` (n >= 2) of an object cut by a polyline; None when it cannot be split.

    Parameters
    ----------
    mask : ndarray of bool, shape (h, w)
        The object's pixels within ``box``.
    points : ndarray of float, shape (n, 2)
        The line, in image coordinates (at least two points).
    box : Box
        Where ``mask`` lies in the image of ``shape``.

    Returns
    -------
    ndarray of int32, shape (h, w) or None
        0 off the object; every object pixel in one part.

    Examples
    --------
    >>> m = np.ones((5, 9), bool)
    >>> parts = split_parts(m, np.array([[-0.5, 4.0], [4.5, 4.0]]), (0, 0, 5, 9), (5, 9))
    >>> int(parts.max()), np.bincount(parts.ravel()).tolist()
    (2, [0, 25, 20])
    """
    total = int(mask.sum())
    pieces, n = ndimage.label(mask & ~line_mask(points, box, shape))
    if n >= 2:
        sizes = np.bincount(pieces.ravel())[1:]
        big = np.flatnonzero(sizes >= max(MIN_PART_PIXELS, MIN_PART_FRACTION * total)) + 1
        if len(big) >= 2:
            seeds = np.zeros(mask.shape, np.int32)
            for i, value in enumerate(big, start=1):
                seeds[pieces == value] = i
            # the line's pixels and crumbs join the nearest part
            _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
            return np.where(mask, seeds[iy, ix], 0).astype(np.int32)
    markers = np.zeros(mask.shape, np.int32)
    _, (ny, nx) = ndimage.distance_transform_edt(~mask, return_indices=True)
    for i, end in enumerate((points[0], points[-1]), start=1):
        py, px = rounded_point((float(end[0]), float(end[1])), shape)
        py = min(max(py - box[0], 0), mask.shape[0] - 1)
        px = min(max(px - box[1], 0), mask.shape[1] - 1)
        sy, sx = int(ny[py, px]), int(nx[py, px])  # the nearest object pixel
        if markers[sy, sx]:
            return None
        markers[sy, sx] = i
    from skimage.segmentation import watershed

    parts = watershed(-ndimage.distance_transform_edt(mask), markers, mask=mask)
    # a part of the object that no seed reaches (disjoint pieces) goes to the nearest part
    stray = mask & (parts == 0)
    if stray.any():
        _, (iy, ix) = ndimage.distance_transform_edt(parts == 0, return_indices=True)
        parts = np.where(mask, parts[iy, ix], 0)
    if len(np.unique(parts[mask])) < 2:
        return None
    return parts.astype(np.int32)


def add_cell_mask(labels: np.ndarray, maps: Mapping[str, np.ndarray], point: tuple[float, float],
                  diameter: float) -> tuple[Box, np.ndarray, str]:
    """The pixels of a new object clicked at ``point`` (a background pixel).

    With a ``"prob"`` map above 0.5 at the click, within :data:`REACH`
    ``* diameter`` of the click (a disc 2.5 typical diameters across) and on
    background pixels only:

    - with ``"distance"`` (and ``"centre"``) maps too: the object under the
      click when the model's maps are decoded there
      (:func:`cellscale.segment.instances_from_maps`, the decoder every
      segmentation uses), so two touching nuclei the model missed are told apart;
    - otherwise, or when the decoder finds no object under the click: the
      4-connected region of ``prob > 0.5`` holding the click.

    Holes are filled. Without maps, or when that leaves fewer than
    :data:`MIN_REGION_PIXELS`: the background pixels of a disc of diameter
    ``diameter`` connected to the click.

    Returns
    -------
    box : Box
    mask : ndarray of bool, shape of ``box``
    source : {"maps", "prob", "disc"}
        What shaped the object.
    """
    shape = (int(labels.shape[0]), int(labels.shape[1]))
    iy, ix = rounded_point(point, shape)
    centre = np.array([point], dtype=np.float64)
    prob = maps.get("prob")
    if prob is not None and prob[iy, ix] > 0.5:
        box, disc = stroke_mask(centre, REACH * float(diameter), shape)
        window = (slice(box[0], box[2]), slice(box[1], box[3]))
        y, x = iy - box[0], ix - box[1]
        free = (labels[window] == 0) & disc
        fg = np.where(free, prob[window], np.float32(0))
        region, source = holding(fg > 0.5, y, x), "prob"
        if "distance" in maps:
            from cellscale.segment import instances_from_maps

            ctr = maps.get("centre")
            objects = instances_from_maps(fg, maps["distance"][window], min_size=0,
                                          centre=None if ctr is None else ctr[window])
            if objects[y, x]:
                region, source = objects == objects[y, x], "maps"
        region = ndimage.binary_fill_holes(region) & free
        if int(region.sum()) >= MIN_REGION_PIXELS:
            return box, region, source
    box, disc = stroke_mask(centre, max(float(diameter) / 2, 0.5), shape)
    free = labels[box[0]:box[2], box[1]:box[3]] == 0
    return box, holding(disc & free, iy - box[0], ix - box[1]), "disc"


def holding(mask: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 4-connected component of ``mask`` that holds pixel ``(y, x)``."""
    if not mask[y, x]:
        return np.zeros_like(mask)
    pieces, _ = ndimage.label(mask)
    return pieces == pieces[y, x]
