"""Pixel geometry of the labelling tools: bounding boxes, brush strokes, lines.

Coordinates are pixel indices: ``(y, x) = (2.0, 3.0)`` is the centre of the
pixel in row 2, column 3; a point lies in an image of shape ``(h, w)`` when
``-0.5 <= y <= h - 0.5`` and ``-0.5 <= x <= w - 0.5``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from cellscale.errors import InvalidArgumentError

__all__ = ["Box", "boxes_of", "check_point", "check_points", "line_mask", "stroke_mask", "union"]

#: ``(y0, x0, y1, x1)``: rows ``y0 .. y1 - 1``, columns ``x0 .. x1 - 1``.
Box = tuple[int, int, int, int]


def union(a: Box, b: Box) -> Box:
    """The smallest box holding both."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def boxes_of(block: np.ndarray, y0: int = 0, x0: int = 0) -> dict[int, Box]:
    """The bounding box of every nonzero label in ``block``, offset by ``(y0, x0)``.

    Examples
    --------
    >>> b = np.array([[0, 3], [3, 0], [0, 9]], dtype=np.uint32)
    >>> boxes_of(b, 10, 20)
    {3: (10, 20, 12, 22), 9: (12, 21, 13, 22)}
    """
    if block.size == 0:
        return {}
    top = int(block.max())
    if top == 0:
        return {}
    if top <= 4 * block.size + 1024:
        slices = ndimage.find_objects(block.astype(np.int64, copy=False) if top > 2**31 - 1
                                      else block.astype(np.int32, copy=False))
        values = range(1, len(slices) + 1)
    else:  # sparse huge values: number the distinct values 1 .. k first
        distinct, inverse = np.unique(block, return_inverse=True)
        slices = ndimage.find_objects(inverse.reshape(block.shape).astype(np.int32) + 1)
        values = [int(v) for v in distinct]
    out = {}
    for value, sl in zip(values, slices):
        if sl is not None and value != 0:
            out[int(value)] = (sl[0].start + y0, sl[1].start + x0, sl[0].stop + y0, sl[1].stop + x0)
    return out


def check_point(point: Any, shape: tuple[int, int], what: str = "point") -> tuple[float, float]:
    """A ``(y, x)`` point as floats, refused when not two finite numbers inside the image."""
    try:
        y, x = (float(v) for v in point)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"a {what} is a pair (y, x) of numbers, got {point!r}") from None
    h, w = shape
    if not (math.isfinite(y) and math.isfinite(x)) or not (
            -0.5 <= y <= h - 0.5 and -0.5 <= x <= w - 0.5):
        raise InvalidArgumentError(
            f"{what} (y={y:g}, x={x:g}) lies outside the image of {h} x {w} pixels "
            f"(y must be in -0.5 .. {h - 0.5:g}, x in -0.5 .. {w - 0.5:g})")
    return y, x


def check_points(points: Any, shape: tuple[int, int], *, least: int = 1,
                 what: str = "point") -> np.ndarray:
    """Points as a float array of shape (n, 2), each checked by :func:`check_point`."""
    if isinstance(points, np.ndarray) and points.ndim == 2:
        points = points.tolist()
    if not isinstance(points, Sequence) or isinstance(points, (str, bytes)):
        raise InvalidArgumentError(f"{what}s must be a list of (y, x) pairs, got {points!r}")
    if len(points) < least:
        raise InvalidArgumentError(f"expected at least {least} {what}(s), got {len(points)}")
    return np.array([check_point(p, shape, what) for p in points], dtype=np.float64).reshape(-1, 2)


def _rounded(v: float, size: int) -> int:
    return min(max(int(math.floor(v + 0.5)), 0), size - 1)


def stroke_mask(points: np.ndarray, radius: float, shape: tuple[int, int]
                ) -> tuple[Box, np.ndarray]:
    """The pixels within ``radius`` of a polyline (discs swept along it), and their box.

    The pixel under each point is always included, however small the radius.

    Returns
    -------
    box : Box
        Clipped to the image.
    mask : ndarray of bool, shape (box height, box width)
    """
    h, w = shape
    r = float(radius)
    lo = np.floor(points.min(axis=0) - r).astype(int)
    hi = np.ceil(points.max(axis=0) + r).astype(int) + 1
    box = (max(lo[0], 0), max(lo[1], 0), min(hi[0], h), min(hi[1], w))
    mask = np.zeros((box[2] - box[0], box[3] - box[1]), bool)
    segments = list(zip(points[:-1], points[1:])) or [(points[0], points[0])]
    for p, q in segments:
        sy0 = max(int(math.floor(min(p[0], q[0]) - r)), box[0])
        sx0 = max(int(math.floor(min(p[1], q[1]) - r)), box[1])
        sy1 = min(int(math.ceil(max(p[0], q[0]) + r)) + 1, box[2])
        sx1 = min(int(math.ceil(max(p[1], q[1]) + r)) + 1, box[3])
        yy = np.arange(sy0, sy1, dtype=np.float64)[:, None]
        xx = np.arange(sx0, sx1, dtype=np.float64)[None, :]
        d = q - p
        length2 = float(d @ d)
        if length2 == 0.0:
            dist2 = (yy - p[0]) ** 2 + (xx - p[1]) ** 2
        else:
            t = np.clip(((yy - p[0]) * d[0] + (xx - p[1]) * d[1]) / length2, 0.0, 1.0)
            dist2 = (yy - p[0] - t * d[0]) ** 2 + (xx - p[1] - t * d[1]) ** 2
        mask[sy0 - box[0]:sy1 - box[0], sx0 - box[1]:sx1 - box[1]] |= dist2 <= r * r
    for p in points:
        mask[_rounded(p[0], h) - box[0], _rounded(p[1], w) - box[1]] = True
    return box, mask


def line_mask(points: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """The 8-connected one-pixel polyline through ``points``, within ``box``.

    An 8-connected line separates 4-connected regions, so cutting an object's
    pixels along it leaves 4-connected parts on either side.
    """
    from skimage.draw import line

    h, w = shape
    mask = np.zeros((box[2] - box[0], box[3] - box[1]), bool)
    ends = [(_rounded(p[0], h), _rounded(p[1], w)) for p in points]
    for (ay, ax), (by, bx) in zip(ends[:-1], ends[1:]):
        rr, cc = line(ay, ax, by, bx)
        keep = (rr >= box[0]) & (rr < box[2]) & (cc >= box[1]) & (cc < box[3])
        mask[rr[keep] - box[0], cc[keep] - box[1]] = True
    return mask


def rounded_point(point: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
    """The pixel under a checked point."""
    return _rounded(point[0], shape[0]), _rounded(point[1], shape[1])
