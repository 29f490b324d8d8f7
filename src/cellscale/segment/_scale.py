"""Bring objects to the sizes a network segments best, as Cellpose does with its diameter.

A model is trained over a range of object diameters (its card's
``inputs.diameter_range``, 8-40 px for the shipped models), but is most
accurate in the middle of it: ``benchmarks/working_range.py`` measures the
shipped ``nuclei`` model at F1@0.5 0.89-0.97 for 12-30 px nuclei and
0.77-0.89 at 8 and 40 px, recovered to 0.95-0.98 by resizing the image so
nuclei measure 12-30 px. So when objects are smaller than
:data:`SWEET_SPOT` ``[0]`` or larger than ``[1]`` pixels, the image is
resized (linear interpolation) to bring their median diameter to the nearest
end of the sweet spot, segmented there, and the labels are mapped back to
the original grid (nearest neighbour).

The diameter comes from the user, or is estimated from a first pass at the
image's own scale (the median equivalent diameter of the objects found): no
second pass is run when it lies in the sweet spot, the usual case.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_OBJECTS", "SWEET_SPOT", "median_diameter", "rescale_image", "resize_labels",
           "scale_for"]

#: Object diameters (pixels) at which the shipped models are most accurate.
SWEET_SPOT = (12.0, 30.0)
#: Fewest objects for a first-pass diameter estimate to be trusted.
MIN_OBJECTS = 5
#: Resizing by less than this relative amount is not worth a second pass.
TOLERANCE = 0.08


def median_diameter(labels: np.ndarray) -> float | None:
    """Median equivalent diameter ``sqrt(4 area / pi)`` of the objects, or None if too few."""
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    if areas.size < MIN_OBJECTS:
        return None
    return float(np.sqrt(4.0 * np.median(areas) / np.pi))


def scale_for(diameter: float, sweet: tuple[float, float] = SWEET_SPOT) -> float:
    """Resize factor that brings ``diameter`` into ``sweet`` (1.0 when already inside).

    >>> scale_for(40.0), scale_for(20.0), scale_for(8.0)
    (0.75, 1.0, 1.5)
    """
    if diameter <= 0:
        raise ValueError(f"diameter must be positive, got {diameter}")
    target = min(max(diameter, sweet[0]), sweet[1])
    scale = target / diameter
    return 1.0 if abs(scale - 1.0) < TOLERANCE else scale


def rescale_image(data: np.ndarray, scale: float) -> np.ndarray:
    """Resize a ``(C, H, W)`` float image by ``scale`` (bilinear; area-averaged when shrinking)."""
    from scipy import ndimage as ndi

    c, h, w = data.shape
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    if scale < 1:
        # Low-pass before decimating, as a camera with larger pixels would integrate.
        sigma = 0.5 * (1.0 / scale - 1.0)
        data = ndi.gaussian_filter(data, (0, sigma, sigma), mode="nearest")
    return np.stack([
        ndi.zoom(data[i], (out_h / h, out_w / w), order=1, mode="nearest", grid_mode=True)
        for i in range(c)
    ]).astype(np.float32, copy=False)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label image to ``shape`` (pixel centres aligned)."""
    h, w = labels.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.intp), w - 1)
    return labels[rows[:, None], cols[None, :]]
