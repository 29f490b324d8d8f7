"""A classical nucleus segmentation: threshold, distance transform, seeds, watershed.

The baseline every deep model must beat, and a segmentation that needs no
model file. Steps, for one DNA channel:

1. percentile normalisation (1 - 99.8) and Gaussian smoothing (``sigma=1``);
2. foreground: Otsu's threshold splits the pixels into background and
   nuclei; the mask keeps pixels brighter than halfway between the two
   classes' medians (half maximum, which follows blurred edges better than
   Otsu's value itself), holes filled;
3. the typical nucleus radius ``r``: the median, over mask components of at
   least 20 pixels, of the component's largest distance to the background
   (or ``diameter / 2`` when given);
4. a seed function: the distance transform smoothed by ``0.15 r``, divided
   by ``r``, plus the Laplacian-of-Gaussian blob response at ``sigma = 0.7 r``
   (scaled to its 95th percentile in the mask), which splits touching
   nuclei the distance transform sees as one;
5. seeds at its local maxima at least ``0.4 r`` apart, a watershed of its
   negative inside the mask, and objects under ``max(8, 0.1 pi r²)`` pixels dropped.

On simulated nuclei (:func:`cellscale.data.simulate_nuclei`, 512², seeds
0-9 with default options and 100-103 at density 0.5) it scores F1@0.5 0.84
and mean AP@0.5:0.95 0.44 pooled over the 14 images; the crowded images
are the hard part (F1 0.73-0.95).
"""

from __future__ import annotations

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.segment._normalise import normalise
from cellscale.segment._postprocess import relabel_sequential

__all__ = ["segment_classical"]


def segment_classical(image: np.ndarray, *, diameter: float | None = None) -> np.ndarray:
    """Segment nuclei in one DNA channel without a network.

    Parameters
    ----------
    image : ndarray, shape (y, x)
        DNA stain (DAPI, Hoechst, ...), any real dtype, finite values.
    diameter : float, optional
        Typical nucleus diameter in pixels; estimated from the image when None.

    Returns
    -------
    ndarray of uint32, shape (y, x)
        Nuclei numbered 1 .. n, 0 = background. All zeros for a constant image.

    Raises
    ------
    InvalidImageError
        If ``image`` is not 2-D or holds NaN or infinite values.
    InvalidArgumentError
        If ``diameter`` is not a positive number.

    Examples
    --------
    >>> from cellscale.data import simulate_nuclei
    >>> sample = simulate_nuclei(shape=(128, 128), seed=1, diameter=16, density=0.2)
    >>> labels = segment_classical(sample.image.data)
    >>> labels.dtype.name, bool(labels.max() > 0)
    ('uint32', True)
    """
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidImageError(f"expected a 2-D image (y, x), got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidImageError("image holds NaN or infinite values")
    if diameter is not None and not (np.isfinite(diameter) and diameter > 0):
        raise InvalidArgumentError(f"diameter must be a positive number of pixels, got {diameter}")
    from scipy import ndimage as ndi

    x = normalise(arr[None])[0]
    empty = np.zeros(arr.shape, np.uint32)
    if not x.any():
        return empty
    smooth = ndi.gaussian_filter(x, 1.0)
    mask = _foreground(smooth)
    if not mask.any():
        return empty
    comps, n_comps = ndi.label(mask)
    dist = ndi.distance_transform_edt(mask)
    radius = diameter / 2 if diameter is not None else _typical_radius(dist, comps, n_comps)
    score = ndi.gaussian_filter(dist, max(1.0, 0.15 * radius)) / radius
    blob = -ndi.gaussian_laplace(x, max(1.0, 0.7 * radius))
    scale = np.percentile(blob[mask], 95)
    if scale > 0:
        score += blob / scale
    labels = _seeded_watershed(score, mask, comps, min_distance=max(2, int(0.4 * radius)))
    return relabel_sequential(labels, min_size=max(8, int(0.1 * np.pi * radius**2)))


def _foreground(smooth: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_otsu

    if smooth.max() <= smooth.min():
        return np.zeros(smooth.shape, bool)
    otsu = threshold_otsu(smooth)
    low, high = smooth[smooth <= otsu], smooth[smooth > otsu]
    if low.size == 0 or high.size == 0:
        return np.zeros(smooth.shape, bool)
    level = 0.5 * (np.median(low) + np.median(high))
    from scipy import ndimage as ndi

    return ndi.binary_fill_holes(smooth > level)


def _typical_radius(dist: np.ndarray, comps: np.ndarray, n_comps: int) -> float:
    from scipy import ndimage as ndi

    peaks = ndi.maximum(dist, comps, np.arange(1, n_comps + 1))
    sizes = np.bincount(comps.ravel(), minlength=n_comps + 1)[1:]
    big = np.asarray(peaks)[sizes >= 20]
    return max(2.0, float(np.median(big))) if big.size else 3.0


def _seeded_watershed(score: np.ndarray, mask: np.ndarray, comps: np.ndarray, *,
                      min_distance: int) -> np.ndarray:
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    peaks = peak_local_max(score, min_distance=min_distance, labels=comps, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-score, markers, mask=mask)
