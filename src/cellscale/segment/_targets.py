"""The maps a perfect network would output for a label image: training's targets.

:func:`maps_from_labels` gives the foreground and distance maps,
:func:`centre_from_labels` the centre map; :mod:`cellscale.segment._postprocess`
decodes the same definitions back into instances.
"""

from __future__ import annotations

import numpy as np

from cellscale.errors import InvalidImageError

__all__ = ["CENTRE_SIGMA", "centre_from_labels", "maps_from_labels"]

#: Width of the centre blob: Gaussian sigma over the object's radius sqrt(area / pi).
CENTRE_SIGMA = 0.5
#: An object's centre point lies where its normalised distance is at least this.
_CENTRE_DEPTH = 0.5


def maps_from_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The foreground and distance maps a perfect network would output.

    Parameters
    ----------
    labels : ndarray of int, shape (y, x)
        Instance labels, 0 = background; ids need not be consecutive.

    Returns
    -------
    foreground : ndarray of float32, shape (y, x)
        1 inside objects, 0 outside.
    distance : ndarray of float32, shape (y, x)
        For a pixel of object ``i``: its Euclidean distance to the nearest
        pixel that is not inside ``i``, divided by the largest such distance
        in ``i`` (1 at the object's centre, small at its edge); 0 on background.

    Notes
    -----
    Computed with one distance transform of the whole image after removing
    the boundaries between touching objects: a pixel with a 4-neighbour of a
    different object counts as outside for that transform (so both sides of a
    contact get 0, and distances next to a contact are one pixel shorter than
    an isolated object's would be). Outside the image counts as inside the
    object (objects cut by the image border are taken to continue past it).
    An object made only of contact pixels gets 0 everywhere.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((7, 7), np.uint8); lab[1:6, 1:6] = 3
    >>> fg, dist = maps_from_labels(lab)
    >>> float(fg.sum()), float(dist[3, 3]), round(float(dist[1, 1]), 4)
    (25.0, 1.0, 0.3333)
    """
    lab = _check_labels(labels)
    fg = lab > 0
    inner = fg.copy()
    for axis in (0, 1):
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis], tail[axis] = slice(1, None), slice(None, -1)
        a, b = tuple(head), tuple(tail)
        contact = (lab[a] != lab[b]) & fg[a] & fg[b]
        inner[a] &= ~contact
        inner[b] &= ~contact
    from scipy import ndimage as ndi

    edt = ndi.distance_transform_edt(inner)
    distance = np.zeros(lab.shape, np.float32)
    if fg.any():
        ids, inverse = np.unique(lab[fg], return_inverse=True)
        values = edt[fg]
        peak = np.zeros(ids.size)
        np.maximum.at(peak, inverse, values)
        scale = np.divide(1.0, peak, out=np.zeros_like(peak), where=peak > 0)
        distance[fg] = values * scale[inverse]
    return fg.astype(np.float32), distance


def centre_from_labels(labels: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
    """The centre map a perfect network would output: one blob per object.

    Parameters
    ----------
    labels : ndarray of int, shape (y, x)
        Instance labels, 0 = background.
    distance : ndarray of float, shape (y, x), optional
        The distance map of ``labels`` (:func:`maps_from_labels`); computed
        when not given.

    Returns
    -------
    ndarray of float32, shape (y, x)
        Inside object ``i``: ``exp(-r² / (2 s²))``, where ``r`` is the
        distance to the object's centre point and ``s`` is
        :data:`CENTRE_SIGMA` times its radius ``sqrt(area / pi)``; 0 outside
        objects. The centre point is the pixel nearest the object's centroid
        among those at least halfway in (normalised distance >= 0.5), so it
        lies well inside even a curved or concave object. The blob is
        measured in straight lines, so it is one connected peak unless the
        object folds back within its reach (a U whose arms nearly touch);
        seeds taken from it neither split lobed or curved objects nor join
        touching ones.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((9, 9), np.uint8); lab[1:8, 1:8] = 1
    >>> c = centre_from_labels(lab)
    >>> float(c[4, 4]), bool(c[1, 1] < 0.2), float(c[0, 0])
    (1.0, True, 0.0)
    """
    lab = _check_labels(labels)
    dist = maps_from_labels(lab)[1] if distance is None else np.asarray(distance)
    if dist.shape != lab.shape:
        raise InvalidImageError(
            f"distance map has shape {dist.shape} but the labels have {lab.shape}"
        )
    out = np.zeros(lab.shape, np.float32)
    fg = lab > 0
    if not fg.any():
        return out
    yy, xx = np.nonzero(fg)
    _, inverse = np.unique(lab[fg], return_inverse=True)
    n = int(inverse.max()) + 1
    area = np.bincount(inverse, minlength=n).astype(np.float64)
    cy = np.bincount(inverse, yy, n) / area
    cx = np.bincount(inverse, xx, n) / area
    off2 = (yy - cy[inverse]) ** 2 + (xx - cx[inverse]) ** 2
    deep = dist[fg] >= _CENTRE_DEPTH
    # An object with no deep pixel (all contact) takes its pixel nearest the centroid.
    has_deep = np.bincount(inverse, deep, n) > 0
    rank = np.where(deep | ~has_deep[inverse], off2, np.inf)
    order = np.lexsort((rank, inverse))
    first = order[np.r_[0, np.flatnonzero(np.diff(inverse[order])) + 1]]
    sigma2 = (CENTRE_SIGMA**2) * area / np.pi
    r2 = (yy - yy[first][inverse]) ** 2 + (xx - xx[first][inverse]) ** 2
    out[fg] = np.exp(-r2 / (2.0 * sigma2[inverse]))
    return out


def _check_labels(labels: np.ndarray) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.size == 0:
        raise InvalidImageError(f"expected a 2-D label image (y, x), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer) and lab.dtype != bool:
        raise InvalidImageError(f"labels must be integers (0 = background), got {lab.dtype}")
    if lab.dtype.kind == "i" and lab.min() < 0:
        raise InvalidImageError("labels must be >= 0")
    return lab
