"""Decode 3-D labels from averaged per-plane maps: seeds, a 3-D watershed, tidy objects.

Step 3 of :mod:`cellscale.segment._volume`: the mask is ``foreground >`` the
card's threshold; seeds are local maxima, at least :data:`SEED_SPACING`
diameters apart, of the centre map times the smoothed intensity; they grow
by a 3-D watershed; each object keeps, in each xy column, the voxels at least
:data:`Z_FRACTION` of the column's brightest (:func:`trim_columns`), then its
largest part with holes filled (:func:`tidy_objects`).
"""

from __future__ import annotations

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.segment._postprocess import CENTRE_MIN_DISTANCE, relabel_sequential

__all__ = ["PEAK_MIN", "SEED_SPACING", "SMOOTH", "Z_FRACTION", "instances_from_maps_3d",
           "tidy_objects", "trim_columns"]

#: Seeds lie at least this many object diameters apart. Simulated seeds 100-107, pooled
#: F1@0.5: nuclei model v1, xy planes: 0.80 at 0.5, 0.89 at 0.65, 0.87 at 0.8, 0.82 at 1.0;
#: model v2: xy planes 0.875 at 0.5, 0.859 at 0.65, 0.838 at 0.8; three views 0.925 at 0.5,
#: 0.915 at 0.65.
SEED_SPACING = 0.5
#: Sigma, in object diameters, of the smoothing of the intensity that weights the seeds.
SMOOTH = 0.15
#: Least seed score (centre map times smoothed, clipped intensity).
PEAK_MIN = 0.2
#: Fraction of a column's brightest an object's voxel needs (:func:`trim_columns`).
Z_FRACTION = 0.6


def instances_from_maps_3d(
    foreground: np.ndarray,
    distance: np.ndarray,
    centre: np.ndarray | None = None,
    *,
    intensity: np.ndarray | None = None,
    diameter: float | None = None,
    anisotropy: float = 1.0,
    foreground_threshold: float = 0.5,
    seed_threshold: float = 0.5,
    min_size: int = 16,
) -> np.ndarray:
    """3-D labels from averaged per-plane maps: seeds grown by a 3-D watershed.

    With ``intensity`` and ``diameter`` (the default path of
    :func:`segment_volume`), seeds are the local maxima, at least
    :data:`SEED_SPACING` diameters apart (in µm: ``/ anisotropy`` planes),
    of ``centre`` (smoothed by half a voxel) times the intensity smoothed at
    :data:`SMOOTH` diameters and clipped to 1 at its 99th percentile in the
    mask, above :data:`PEAK_MIN`; they grow by a watershed of ``-(distance +
    intensity / 2)`` in the mask, and each object then keeps, in each xy
    column, the voxels at least :data:`Z_FRACTION` of the column's brightest
    (above background), which puts its ends where its z profile falls
    (:func:`trim_columns`), and keeps its largest part, holes filled
    (:func:`tidy_objects`). Without them, seeds are the 3-D components of
    ``centre > seed_threshold & distance >``
    :data:`~cellscale.segment._postprocess.CENTRE_MIN_DISTANCE`, as in 2-D;
    per-plane maps join nuclei stacked in z that way, which the peaks avoid.

    Parameters
    ----------
    foreground, distance : ndarray of float, shape (z, y, x)
        Foreground probability and normalised distance to the boundary, in [0, 1].
    centre : ndarray of float, shape (z, y, x), optional
        Centre map. Without it seeds come from ``distance > seed_threshold``.
    intensity : ndarray of float, shape (z, y, x), optional
        The normalised stack (one channel) the maps came from.
    diameter : float, optional
        Typical xy diameter of the objects in pixels of these maps.
    anisotropy : float
        z step over xy pixel size of the maps.
    foreground_threshold, seed_threshold : float
        As for :func:`~cellscale.segment.instances_from_maps`.
    min_size : int
        Objects with fewer voxels are dropped.

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
        0 = background; objects numbered 1 .. n.

    Examples
    --------
    >>> import numpy as np
    >>> zz, yy, xx = np.mgrid[:8, :20, :30]
    >>> a = np.clip(1 - np.sqrt((zz - 4) ** 2 + (yy - 10) ** 2 + (xx - 8) ** 2) / 6, 0, 1)
    >>> b = np.clip(1 - np.sqrt((zz - 4) ** 2 + (yy - 10) ** 2 + (xx - 20) ** 2) / 6, 0, 1)
    >>> dist = np.maximum(a, b)
    >>> labels = instances_from_maps_3d((dist > 0).astype(float), dist, min_size=4)
    >>> int(labels.max())
    2
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    fg = np.asarray(foreground)
    dist = np.asarray(distance)
    for name, other in (("distance", dist), ("centre", centre), ("intensity", intensity)):
        if fg.ndim != 3 or (other is not None and np.shape(other) != fg.shape):
            raise InvalidImageError(f"expected 3-D maps (z, y, x) of one shape, got foreground "
                                    f"{fg.shape} and {name} {np.shape(other)}")
    for name, value in (("foreground_threshold", foreground_threshold),
                        ("seed_threshold", seed_threshold)):
        if not 0.0 < float(value) < 1.0:
            raise InvalidArgumentError(f"{name} must lie in (0, 1), got {value}")
    mask = fg > foreground_threshold
    if not mask.any():
        return np.zeros(fg.shape, np.uint32)
    if centre is not None and intensity is not None and diameter:
        seeds, surface = _peak_seeds(mask, dist, centre, intensity, float(diameter),
                                     float(anisotropy))
        labels = watershed(surface, seeds, mask=mask)
        labels = trim_columns(labels, intensity, background=_background(intensity, fg))
        return relabel_sequential(tidy_objects(labels), min_size=int(min_size))
    if centre is None:
        seed_mask = mask & (dist > seed_threshold)
    else:
        seed_mask = mask & (centre > seed_threshold) & (dist > CENTRE_MIN_DISTANCE)
    seeds, n_seeds = ndi.label(seed_mask)
    labels = watershed(-dist, seeds, mask=mask).astype(np.int64, copy=False)
    left = mask & (labels == 0)
    if left.any():
        extra, _ = ndi.label(left)
        np.copyto(labels, extra + n_seeds, where=extra > 0)
    return relabel_sequential(labels, min_size=int(min_size))


def _smooth_intensity(intensity: np.ndarray, mask: np.ndarray, diameter: float,
                      anisotropy: float) -> np.ndarray:
    from scipy import ndimage as ndi

    sigma = SMOOTH * diameter
    smooth = ndi.gaussian_filter(np.asarray(intensity, np.float32),
                                 (sigma / anisotropy, sigma, sigma), mode="nearest")
    top = float(np.percentile(smooth[mask], 99))
    return np.clip(smooth / max(top, 1e-6), 0.0, 1.0)


def _peak_seeds(mask: np.ndarray, dist: np.ndarray, centre: np.ndarray, intensity: np.ndarray,
                diameter: float, anisotropy: float) -> tuple[np.ndarray, np.ndarray]:
    """Seeds at bright object centres, and the surface the watershed floods."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    bright = _smooth_intensity(intensity, mask, diameter, anisotropy)
    score = ndi.gaussian_filter(np.asarray(centre, np.float32), (0.5 / anisotropy, 0.5, 0.5)) * bright
    side = max(1, int(SEED_SPACING * diameter)) | 1
    footprint = np.ones((max(1, int(SEED_SPACING * diameter / anisotropy)) | 1, side, side), bool)
    peaks = peak_local_max(score, footprint=footprint, labels=mask.astype(np.int32),
                           threshold_abs=PEAK_MIN, exclude_border=False)
    seeds = np.zeros(mask.shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    return seeds, -(np.asarray(dist, np.float32) + 0.5 * bright)


def _background(intensity: np.ndarray, foreground: np.ndarray) -> float:
    """Median intensity where the network sees background (0 when it sees none)."""
    outside = foreground < 0.1
    return float(np.median(intensity[outside])) if outside.any() else 0.0


#: 4-connectivity within a plane and none across planes: holes are filled plane by plane.
_PLANE = np.array([[[0, 0, 0], [0, 0, 0], [0, 0, 0]],
                   [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
                   [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], bool)


def tidy_objects(labels: np.ndarray) -> np.ndarray:
    """Keep each object's largest 6-connected part, with its holes filled (in 3-D, then per plane).

    Trimming columns (:func:`trim_columns`) can leave an object's dim
    outskirts as separate bits (out-of-focus light in other planes) and
    holes where a dark nucleolus sat; neither is part of a nucleus.

    Parameters
    ----------
    labels : ndarray of int, shape (z, y, x)

    Returns
    -------
    ndarray of int64, shape (z, y, x)
        Not renumbered; an object's holes are filled only where no other object is.
    """
    from scipy import ndimage as ndi

    lab = np.asarray(labels).astype(np.int64, copy=False)
    out = np.zeros(lab.shape, np.int64)
    for index, box in enumerate(ndi.find_objects(lab), start=1):
        if box is None:
            continue
        mine = lab[box] == index
        parts, n = ndi.label(mine)
        if n > 1:
            mine = parts == 1 + int(np.argmax(np.bincount(parts.ravel())[1:]))
        mine = ndi.binary_fill_holes(ndi.binary_fill_holes(mine), structure=_PLANE)
        mine &= (lab[box] == 0) | (lab[box] == index)
        out[box][mine] = index
    return out


def trim_columns(labels: np.ndarray, intensity: np.ndarray, *, background: float = 0.0,
                 fraction: float | None = None) -> np.ndarray:
    """Keep, in each xy column of each object, voxels at least ``fraction`` of its brightest.

    A 2-D network shown one plane of a blurred stack sees a nucleus in planes
    above and below it (the PSF is longer in z), so objects built from
    per-plane maps reach too far in z. A blurred edge lies where the signal
    has fallen about half-way, so each object keeps, column by column, the
    voxels whose intensity (smoothed by one voxel, less ``background``) is at
    least ``fraction`` (default :data:`Z_FRACTION`) of the column's maximum
    within the object.

    Parameters
    ----------
    labels : ndarray of int, shape (z, y, x)
    intensity : ndarray of float, shape (z, y, x)
    background : float
        Intensity of the background, subtracted first.
    fraction : float, optional
        Default :data:`Z_FRACTION`.

    Returns
    -------
    ndarray of int64, shape (z, y, x)
        The labels with the dim ends of each column removed (not renumbered).
    """
    from scipy import ndimage as ndi

    fraction = Z_FRACTION if fraction is None else float(fraction)
    smooth = ndi.gaussian_filter(np.asarray(intensity, np.float32), 1.0, mode="nearest")
    _, ny, nx = labels.shape
    where = np.flatnonzero(labels)
    own = np.asarray(labels).reshape(-1)[where].astype(np.int64)
    value = smooth.reshape(-1)[where] - np.float32(background)
    _, group = np.unique(own * (ny * nx) + where % (ny * nx), return_inverse=True)
    top = np.full(int(group.max()) + 1 if group.size else 0, -np.inf, np.float32)
    np.maximum.at(top, group, value)
    keep = value >= fraction * top[group]
    out = np.zeros(labels.size, np.int64)
    out[where[keep]] = own[keep]
    return out.reshape(labels.shape)
