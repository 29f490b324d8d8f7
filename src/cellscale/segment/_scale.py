"""Bring objects to the sizes a network segments best, as Cellpose does with its diameter.

A model is trained over a range of object diameters (its card's
``inputs.diameter_range``, 8-40 px for the shipped models), but is most
accurate in the middle of it: ``benchmarks/working_range.py`` measures the
shipped ``nuclei`` model (session 5), never resized, at F1@0.5 0.92-0.98
for 12-30 px nuclei and 0.78-0.92 at 8 and 40 px (0.87-0.96 with the
resizing below). So when objects are smaller than
:data:`SWEET_SPOT` ``[0]`` pixels, the image is enlarged (linear
interpolation) to bring their median diameter to that size; when they are
larger than ``[1]``, it is shrunk to bring them to :data:`LARGE_TARGET`
(20 px, the middle of the range, rather than the edge: 40 px nuclei then
score 0.87-0.94 instead of 0.80-0.82 when shrunk to 30 px). The image is
segmented there and the labels are mapped back to the original grid
(nearest neighbour).

The diameter comes from the user, or is estimated from a first pass at the
image's own scale (the median equivalent diameter of the objects found): no
second pass is run when it lies in the sweet spot, the usual case.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LARGE_TARGET", "MIN_OBJECTS", "SWEET_SPOT", "median_diameter", "median_diameter_of",
           "rescale_image", "resize_labels", "resize_map", "scale_for"]

#: Object diameters (pixels) segmented at the image's own size.
SWEET_SPOT = (12.0, 30.0)
#: Diameter (pixels) that objects larger than the sweet spot are shrunk to.
LARGE_TARGET = 20.0
#: Fewest objects for a first-pass diameter estimate to be trusted.
MIN_OBJECTS = 5
#: Resizing by less than this relative amount is not worth a second pass.
TOLERANCE = 0.08


def median_diameter(*labels: np.ndarray) -> float | None:
    """Area-weighted median equivalent diameter ``sqrt(4 area / pi)`` of the objects
    (:func:`median_diameter_of`), or None if too few.

    Several label images (regions of one image) pool their objects.
    """
    return median_diameter_of(np.concatenate(
        [np.bincount(np.asarray(lab).ravel())[1:] for lab in labels]))


def median_diameter_of(areas: np.ndarray, min_objects: int = MIN_OBJECTS) -> float | None:
    """Area-weighted median equivalent diameter of objects of these pixel ``areas``.

    The diameter of the object that holds the median foreground pixel, so
    that specks (many, but little area) do not pull a size estimate down as
    they pull down a plain median. None if there are fewer than ``min_objects``.

    >>> round(median_diameter_of(np.array([4] * 30 + [1200] * 10)), 1)
    39.1
    """
    areas = np.asarray(areas, np.float64)
    areas = np.sort(areas[areas > 0])
    if areas.size < min_objects:
        return None
    cumulative = np.cumsum(areas)
    middle = areas[int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))]
    return float(np.sqrt(4.0 * middle / np.pi))


def scale_for(
    diameter: float, sweet: tuple[float, float] = SWEET_SPOT, large: float = LARGE_TARGET
) -> float:
    """Resize factor for objects of ``diameter`` pixels (1.0: segment at the image's size).

    Below ``sweet[0]`` objects are enlarged to ``sweet[0]`` (not when within
    :data:`TOLERANCE` of it); above ``sweet[1]`` they are shrunk to ``large``.
    A first-pass estimate a little above ``sweet[1]`` usually means larger
    objects that came out fragmented, so there is no tolerance on that side
    (measured: 40 px nuclei score 0.82-0.87 with it, 0.87-0.94 without).

    >>> scale_for(40.0), scale_for(20.0), scale_for(11.5), scale_for(8.0)
    (0.5, 1.0, 1.0, 1.5)
    """
    if diameter <= 0:
        raise ValueError(f"diameter must be positive, got {diameter}")
    if diameter > sweet[1]:
        return large / diameter
    if diameter < sweet[0] * (1.0 - TOLERANCE):
        return sweet[0] / diameter
    return 1.0


def rescale_image(data: np.ndarray, scale: float) -> np.ndarray:
    """Resize a ``(C, H, W)`` float image by ``scale`` (bilinear; area-averaged when shrinking).

    Shrinking integrates, as a camera with larger pixels would: by
    ``f = floor(1 / scale)`` first, as means of ``f x f`` blocks (cheap even
    for ``scale = 1/16``), then a Gaussian low-pass for the remaining factor
    (< 2) and linear interpolation. Output pixel ``i`` samples the input at
    ``(i + 0.5) * H / out_h - 0.5``, pixel centres aligned, in every case.
    Edges are repeated. NumPy only: the values of ``scipy.ndimage``'s
    ``gaussian_filter`` and ``affine_transform(order=1, mode="nearest")``,
    without the 0.3 s its import costs every ``cellscale segment`` that
    estimates a size.
    """
    c, h, w = data.shape
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    f = max(1, int(1.0 / scale + 1e-9)) if scale < 1 else 1
    data = np.asarray(data, dtype=np.float32)
    if f > 1:
        data = _block_mean(data, f)
    rest = (h / out_h / f, w / out_w / f)  # block pixels per output pixel
    for axis, r in ((1, rest[0]), (2, rest[1])):
        if r > 1.0:
            data = _gaussian(data, 0.5 * (r - 1.0), axis)
    # Output centre i lies at (i + 0.5) * step in input pixels, i.e. at
    # (i + 0.5) * step / f - 0.5 in block coordinates (block j is centred at (j + 0.5) * f).
    return _linear(data, (_linear_axis(data.shape[1], out_h, rest[0]),
                          _linear_axis(data.shape[2], out_w, rest[1])))


def _block_mean(data: np.ndarray, f: int) -> np.ndarray:
    """Means of ``f x f`` blocks of a ``(C, H, W)`` image; the last blocks padded by repeating edges."""
    c, h, w = data.shape
    ph, pw = -(-h // f) * f, -(-w // f) * f
    if (ph, pw) != (h, w):
        data = np.pad(data, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
    return data.reshape(c, ph // f, f, pw // f, f).mean(axis=(2, 4), dtype=np.float32)


def _gaussian(data: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Gaussian smoothing along one axis, edges repeated (``scipy.ndimage.gaussian_filter1d``'s
    kernel: truncated at 4 sigma)."""
    radius = int(4.0 * sigma + 0.5)
    if radius < 1:
        return data
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    pad = [(0, 0)] * data.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(data, pad, mode="edge")
    n = data.shape[axis]
    window = [slice(None)] * data.ndim
    out = np.zeros_like(data)
    for k, weight in enumerate(kernel):
        window[axis] = slice(k, k + n)
        out += weight * padded[tuple(window)]
    return out


def resize_map(data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Linear resize of one float map to ``shape`` (pixel centres aligned, as :func:`rescale_image`).

    Separable: rows, then columns, each output sample the weighted pair of
    its two nearest input samples (edges repeated); the values of
    ``scipy.ndimage.zoom(order=1, mode="nearest", grid_mode=True)``, faster.
    """
    d = np.asarray(data, dtype=np.float32)
    return _linear(d[None], (_linear_axis(d.shape[0], shape[0]),
                             _linear_axis(d.shape[1], shape[1])))[0]


Axis = tuple[np.ndarray, np.ndarray, np.ndarray]


def _linear(data: np.ndarray, axes: tuple[Axis, Axis]) -> np.ndarray:
    """Separable linear sampling of a ``(C, H, W)`` float32 image at :func:`_linear_axis` positions.

    The axis whose pass leaves the smaller intermediate image goes first.
    """
    rows, cols = axes
    if len(rows[0]) * data.shape[2] <= data.shape[1] * len(cols[0]):
        return _along(_along(data, rows, 1), cols, 2)
    return _along(_along(data, cols, 2), rows, 1)


def _along(data: np.ndarray, axis_samples: Axis, axis: int) -> np.ndarray:
    """Linear samples of ``data`` along one axis (1: rows, 2: columns), in place where possible."""
    left, right, weight = axis_samples
    shape = (-1, 1) if axis == 1 else (-1,)
    out = np.take(data, left, axis=axis)
    out *= (1.0 - weight).reshape(shape)
    other = np.take(data, right, axis=axis)
    other *= weight.reshape(shape)
    out += other
    return out


def _linear_axis(n_in: int, n_out: int, step: float | None = None) -> Axis:
    """Left and right input indices and the right one's weight of each output sample.

    Output sample ``i`` lies at ``(i + 0.5) * step - 0.5`` input pixels
    (``step`` defaults to ``n_in / n_out``), clamped to the input.
    """
    step = n_in / n_out if step is None else step
    pos = np.clip((np.arange(n_out) + 0.5) * step - 0.5, 0.0, n_in - 1)
    left = np.floor(pos).astype(np.intp)
    return left, np.minimum(left + 1, n_in - 1), (pos - left).astype(np.float32)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label image to ``shape`` (pixel centres aligned)."""
    h, w = labels.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.intp), w - 1)
    return labels[rows[:, None], cols[None, :]]
