"""One nucleus at a time: its field, mask and texture, from a random generator.

The same shapes and textures the renderers draw many at once
(:mod:`cellscale.data._shapes`), for one nucleus whose randomness comes from a
``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cellscale.data._shapes import (
    _CODE,
    _N_U,
    NUCLEUS_KINDS,
    _apoptotic_field,
    _fields,
    _textures,
    contours,
)

__all__ = ["nucleus_field", "nucleus_patch", "nucleus_texture"]


def _check_kind(kind: str) -> int:
    if kind not in _CODE:
        raise ValueError(
            f"unknown nucleus kind {kind!r}; valid kinds are {', '.join(NUCLEUS_KINDS)}"
        )
    return _CODE[kind]


def nucleus_field(
    rng: np.random.Generator,
    *,
    radius: float,
    elongation: float = 1.0,
    angle: float = 0.0,
    irregularity: float = 0.1,
    kind: str = "interphase",
    center_offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Normalised radial coordinate of one nucleus on a square patch.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same shape.
    radius : float
        Radius in pixels of the disc with the same area as the nucleus.
    elongation : float
        Ratio of the long to the short axis of the underlying ellipse (>= 1);
        area is kept. Default 1.0.
    angle : float
        Orientation of the long axis, radians counter-clockwise from +x (image
        rows grow downwards). Default 0.
    irregularity : float
        Relative amplitude of contour deformations (radial harmonics 2-8, blebs,
        indentations); 0 gives an ellipse, 0.1 a typical cultured-cell nucleus,
        0.3 a very irregular one. Default 0.1.
    kind : str
        One of :data:`NUCLEUS_KINDS`. ``"apoptotic"`` nuclei are a cluster of
        small round fragments; mitotic kinds have a rough, spiky edge.
    center_offset : (float, float)
        Sub-pixel position of the nucleus centre relative to the patch centre.

    Returns
    -------
    numpy.ndarray of float32, shape (2h+1, 2h+1)
        ``rho / r(theta)``; pixels with value <= 1 are inside. ``h`` is the
        smallest half-size that holds the contour (at most
        :func:`~cellscale.data._shapes.patch_half_size` of the parameters).
    """
    code = _check_kind(kind)
    u = rng.random((1, _N_U))
    arr = lambda v: np.array([float(v)])
    r, half = contours(
        u, arr(radius), arr(elongation), arr(angle), arr(irregularity), np.array([code])
    )
    half = int(half[0])
    if code == 4:
        return _apoptotic_field(u[0], float(radius), half, *map(float, center_offset))
    return _fields(r, half, arr(center_offset[0]), arr(center_offset[1]))[0]


def nucleus_patch(
    rng: np.random.Generator,
    *,
    radius: float,
    elongation: float = 1.0,
    angle: float = 0.0,
    irregularity: float = 0.1,
    kind: str = "interphase",
) -> np.ndarray:
    """Mask of one irregular nucleus, centred in a tight odd-sized patch.

    Parameters are those of :func:`nucleus_field` (``radius`` in pixels,
    ``angle`` in radians).

    Returns
    -------
    numpy.ndarray of bool, shape (2h+1, 2h+1)
        True inside the nucleus; cropped symmetrically to the smallest odd size
        that holds the mask, so the centre stays the centre.

    Examples
    --------
    >>> import numpy as np
    >>> m = nucleus_patch(np.random.default_rng(0), radius=10, elongation=1.3, irregularity=0.15)
    >>> m.shape[0] % 2 == 1 and m.dtype == bool
    True
    >>> bool(0.85 < m.sum() / (np.pi * 10**2) < 1.15)
    True
    """
    mask = (
        nucleus_field(
            rng,
            radius=radius,
            elongation=elongation,
            angle=angle,
            irregularity=irregularity,
            kind=kind,
        )
        <= 1.0
    )
    half = mask.shape[0] // 2
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask[half : half + 1, half : half + 1]
    need = int(max(np.abs(ys - half).max(), np.abs(xs - half).max()))
    return mask[half - need : half + need + 1, half - need : half + need + 1]


def nucleus_texture(
    rng: np.random.Generator,
    mask: np.ndarray,
    *,
    kind: str = "interphase",
    field: np.ndarray | None = None,
    contrast: float = 1.0,
    foci: float = 1.5,
) -> np.ndarray:
    """Relative DNA-stain intensity inside one nucleus.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    mask : numpy.ndarray of bool, shape (h, w)
        The nucleus, e.g. from :func:`nucleus_patch`, roughly centred.
    kind : str
        One of :data:`NUCLEUS_KINDS`. Interphase: a dome profile (thicker
        centre), chromatin texture at two scales, darker nucleoli, in a quarter
        of nuclei bright chromocentres, a brighter heterochromatin rim; mean 1.
        Prophase: granular condensing chromatin, mean 1.5. Metaphase/anaphase:
        compact high-contrast chromosomes, mean 2.2. Apoptotic: dense, mean 2.6.
    field : numpy.ndarray, optional
        The nucleus' :func:`nucleus_field` (same shape as ``mask``) for the dome
        profile; when None a distance transform of ``mask`` is used.
    contrast : float
        Strength of the chromatin texture (1 = typical; 0.5 smooth, as HeLa; 2
        clumpy, as Drosophila Kc167). Default 1.
    foci : float
        Typical number of bright chromocentres per nucleus (0 = none; mouse
        cells 3-8). Default 1.5.

    Returns
    -------
    numpy.ndarray of float32, same shape as ``mask``
        Relative intensity, > 0 inside the mask (mean given above), 0 outside.
    """
    code = _check_kind(kind)
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape, np.float32)
    if field is None:
        d = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        field = np.where(mask, 1.0 - d / max(float(d.max()), 1.0), 2.0)
    side = max(mask.shape)
    side += 1 - side % 2
    pad = [(0, side - mask.shape[0]), (0, side - mask.shape[1])]
    m = np.pad(mask, pad)[None]
    f = np.pad(np.asarray(field, np.float32), pad, constant_values=2.0)[None]
    u = rng.random((1, _N_U))
    radius = np.array([np.sqrt(mask.sum() / np.pi)])
    white = (rng.random(m.shape) - 0.5).astype(np.float32)
    tex = _textures(
        u, f, m, np.array([code]), radius, white, np.array([contrast]), np.array([foci])
    )[0]
    return tex[: mask.shape[0], : mask.shape[1]]
