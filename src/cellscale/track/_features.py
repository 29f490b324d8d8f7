"""Per-frame object features and frame-to-frame overlaps, from label images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellscale.errors import InvalidImageError

__all__ = ["Frame", "check_inputs", "diameter", "frame_features", "movie_features", "overlaps"]

#: Largest label-pair key space counted with ``np.bincount`` (else ``np.unique``).
_BINCOUNT_LIMIT = 50_000_000


def diameter(area: np.ndarray, ndim: int) -> np.ndarray:
    """Equivalent diameter of objects of the given area (2-D) or volume (3-D)."""
    if ndim == 3:
        return np.cbrt(6.0 * area / np.pi)
    return 2.0 * np.sqrt(area / np.pi)


@dataclass
class Frame:
    """The objects of one frame.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        Object labels as they are in the input frame (sorted).
    pos : ndarray of float64, shape (n, d)
        Centroids, pixels, in the frame's axis order (``y, x`` or ``z, y, x``).
    area : ndarray of float64, shape (n,)
        Pixels (voxels) per object.
    intensity : ndarray of float64, shape (n,) or None
        Mean image intensity per object, when an image was given.
    border : ndarray of bool, shape (n,) or None
        Whether the object touches the edge of the field (it may be cut off).
    """

    labels: np.ndarray
    pos: np.ndarray
    area: np.ndarray
    intensity: np.ndarray | None = None
    border: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.size)


def check_inputs(
    labels: object, image: object | None, source: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a label movie (and its image) for tracking.

    Parameters
    ----------
    labels : array-like, shape (t, y, x) or (t, z, y, x), integer
        One label image per frame, 0 = background.
    image : array-like, same shape as ``labels``, optional
        The intensity movie the labels were made from.
    source : str, optional
        File named in error messages.

    Returns
    -------
    labels, image : ndarray
        ``labels`` as a NumPy integer array; ``image`` as an array or None.

    Raises
    ------
    InvalidImageError
        Not 3-D/4-D, fewer than two frames, non-integer (float, bool) or
        negative labels, or an image whose shape differs from the labels'.
    """
    where = f"{source}: " if source else ""
    arr = np.asarray(labels)
    if arr.ndim not in (3, 4):
        raise InvalidImageError(
            f"{where}expected label images with axes 'tyx' or 'tzyx', got an array of shape {arr.shape}"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidImageError(
            f"{where}label images must hold integers (0 = background, one value per cell), "
            f"got dtype {arr.dtype}; a float or boolean mask is not a segmentation "
            f"(label it first, e.g. with 'cellscale segment' or skimage.measure.label)"
        )
    if arr.shape[0] < 2:
        raise InvalidImageError(
            f"{where}tracking needs at least 2 frames, got {arr.shape[0]} (shape {arr.shape}); "
            f"is the time axis first?"
        )
    if arr.size and arr.min() < 0:
        raise InvalidImageError(f"{where}labels must be >= 0, found {int(arr.min())}")
    img = None
    if image is not None:
        img = np.asarray(image)
        if img.shape != arr.shape:
            raise InvalidImageError(
                f"{where}the image has shape {img.shape} but the labels have shape {arr.shape}; "
                f"they must match frame for frame"
            )
    return arr, img


def frame_features(labels: np.ndarray, image: np.ndarray | None = None) -> Frame:
    """Centroid, size and mean intensity of every object in one frame.

    Parameters
    ----------
    labels : ndarray, shape (y, x) or (z, y, x), integer
    image : ndarray, same shape, optional

    Returns
    -------
    Frame
    """
    return _features(labels, image)[0]


def _features(labels: np.ndarray, image: np.ndarray | None) -> tuple[Frame, np.ndarray, np.ndarray]:
    """``frame_features`` plus the flat indices of the foreground and their labels."""
    flat = labels.ravel()
    fg = np.nonzero(flat != 0)[0]  # a boolean mask's nonzero is much faster than an integer array's
    if fg.size == 0:
        empty = Frame(np.zeros(0, np.int64), np.zeros((0, labels.ndim)), np.zeros(0),
                      None if image is None else np.zeros(0), np.zeros(0, bool))
        return empty, fg, np.zeros(0, np.intp)
    lab = flat[fg].astype(np.intp)
    top = int(lab.max())
    counts = np.bincount(lab, minlength=top + 1)
    ids = np.flatnonzero(counts)
    area = counts[ids].astype(np.float64)
    if labels.ndim == 2:  # x = i mod width, and y from the sum of flat indices i = width * y + x
        width = labels.shape[1]
        sum_x = np.bincount(lab, weights=fg % width, minlength=top + 1)[ids]
        sum_i = np.bincount(lab, weights=fg, minlength=top + 1)[ids]
        pos = np.stack([(sum_i - sum_x) / width, sum_x], axis=1) / area[:, None]
    else:
        coords = np.unravel_index(fg, labels.shape)
        pos = np.stack([np.bincount(lab, weights=c, minlength=top + 1)[ids] for c in coords],
                       axis=1) / area[:, None]
    intensity = None
    if image is not None:
        values = np.asarray(image, dtype=np.float64).ravel()[fg]
        intensity = np.bincount(lab, weights=values, minlength=top + 1)[ids] / area
    edge = np.zeros(top + 1, bool)
    for axis in range(labels.ndim):
        edge[np.take(labels, 0, axis=axis).ravel()] = True
        edge[np.take(labels, -1, axis=axis).ravel()] = True
    return Frame(ids.astype(np.int64), pos, area, intensity, edge[ids]), fg, lab


def movie_features(
    labels: np.ndarray, image: np.ndarray | None = None, *, with_overlaps: bool = True
) -> tuple[list[Frame], list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]]:
    """Features of every frame and overlaps of every consecutive pair, in one pass.

    Parameters
    ----------
    labels : ndarray, shape (t, y, x) or (t, z, y, x), integer
    image : ndarray, same shape, optional
    with_overlaps : bool, default True
        Also compute the overlaps (else a list of None).

    Returns
    -------
    frames : list of Frame, length t
    overlaps : list, length t - 1
        ``(i, j, iou)`` of frames ``t`` and ``t + 1``, as returned by :func:`overlaps`.
    """
    frames: list[Frame] = []
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    prev: tuple[Frame, np.ndarray, np.ndarray] | None = None
    for t in range(labels.shape[0]):
        cur = _features(labels[t], None if image is None else image[t])
        frames.append(cur[0])
        if prev is not None:
            pairs.append(_overlaps(prev[0], prev[1], prev[2], labels[t].ravel(), cur[0]) if with_overlaps else None)
        prev = cur
    return frames, pairs


def overlaps(a: np.ndarray, b: np.ndarray, fa: Frame, fb: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel overlaps of the objects of two consecutive frames.

    Parameters
    ----------
    a, b : ndarray, same shape, integer
        Label images of frames ``t`` and ``t + 1``.
    fa, fb : Frame
        Their features (object order defines the returned indices).

    Returns
    -------
    i, j : ndarray of intp
        Indices into ``fa`` and ``fb`` of each overlapping pair.
    iou : ndarray of float64
        Intersection over union of each pair.
    """
    fg = np.nonzero(a.ravel() != 0)[0]
    return _overlaps(fa, fg, a.ravel()[fg].astype(np.intp), b.ravel(), fb)


def _overlaps(fa: Frame, fg_a: np.ndarray, lab_a: np.ndarray, b_flat: np.ndarray,
              fb: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, np.intp)
    if len(fa) == 0 or len(fb) == 0:
        return empty, empty, np.zeros(0)
    lb = b_flat[fg_a]
    keep = lb != 0
    if not keep.any():
        return empty, empty, np.zeros(0)
    # Objects as 0..n-1 (not their labels) keep the pair key space small.
    lut_a = np.zeros(int(fa.labels[-1]) + 1, np.int64)
    lut_a[fa.labels] = np.arange(len(fa))
    lut_b = np.zeros(int(fb.labels[-1]) + 1, np.int64)
    lut_b[fb.labels] = np.arange(len(fb))
    nb = len(fb)
    key = lut_a[lab_a[keep]] * nb + lut_b[lb[keep]]
    space = len(fa) * nb
    if space <= _BINCOUNT_LIMIT:
        counts = np.bincount(key, minlength=space)
        keys = np.flatnonzero(counts)
        inter = counts[keys].astype(np.float64)
    else:
        keys, c = np.unique(key, return_counts=True)
        inter = c.astype(np.float64)
    i, j = keys // nb, keys % nb
    iou = inter / (fa.area[i] + fb.area[j] - inter)
    return i.astype(np.intp), j.astype(np.intp), iou
