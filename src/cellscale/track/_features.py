"""Per-frame object features and frame-to-frame overlaps, from label images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellscale.errors import InvalidImageError

__all__ = ["Frame", "check_inputs", "frame_features", "overlaps"]

#: Largest label-pair key space counted with ``np.bincount`` (else ``np.unique``).
_BINCOUNT_LIMIT = 50_000_000


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


def check_inputs(labels: object, image: object | None, source: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
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
    flat = labels.ravel()
    if flat.size == 0 or not flat.any():
        return Frame(np.zeros(0, np.int64), np.zeros((0, labels.ndim)), np.zeros(0),
                     None if image is None else np.zeros(0), np.zeros(0, bool))
    top = int(flat.max())
    fg = np.flatnonzero(flat)
    lab = flat[fg].astype(np.intp)
    counts = np.bincount(lab, minlength=top + 1)
    ids = np.flatnonzero(counts)
    ids = ids[ids > 0]
    area = counts[ids].astype(np.float64)
    coords = np.unravel_index(fg, labels.shape)
    pos = np.stack([np.bincount(lab, weights=c, minlength=top + 1)[ids] for c in coords], axis=1) / area[:, None]
    intensity = None
    if image is not None:
        values = np.asarray(image, dtype=np.float64).ravel()[fg]
        intensity = np.bincount(lab, weights=values, minlength=top + 1)[ids] / area
    edge = np.zeros(top + 1, bool)
    for axis in range(labels.ndim):
        edge[np.take(labels, 0, axis=axis).ravel()] = True
        edge[np.take(labels, -1, axis=axis).ravel()] = True
    return Frame(ids.astype(np.int64), pos, area, intensity, edge[ids])


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
    empty = np.zeros(0, np.intp)
    if len(fa) == 0 or len(fb) == 0:
        return empty, empty, np.zeros(0)
    fa_flat, fb_flat = a.ravel(), b.ravel()
    both = np.flatnonzero((fa_flat != 0) & (fb_flat != 0))
    if both.size == 0:
        return empty, empty, np.zeros(0)
    la = fa_flat[both].astype(np.int64)
    lb = fb_flat[both].astype(np.int64)
    nb = int(fb.labels[-1]) + 1
    space = (int(fa.labels[-1]) + 1) * nb
    if space <= _BINCOUNT_LIMIT:
        counts = np.bincount(la * nb + lb, minlength=space)
        keys = np.flatnonzero(counts)
        inter = counts[keys].astype(np.float64)
    else:
        keys, c = np.unique(la * nb + lb, return_counts=True)
        inter = c.astype(np.float64)
    i = np.searchsorted(fa.labels, keys // nb)
    j = np.searchsorted(fb.labels, keys % nb)
    iou = inter / (fa.area[i] + fb.area[j] - inter)
    return i.astype(np.intp), j.astype(np.intp), iou
