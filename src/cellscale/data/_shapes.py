"""Shapes and textures of nuclei, drawn on small patches, many at once.

A nucleus is described by a *field* on a small square patch: the normalised
radial coordinate ``rho / r(theta)``, below 1 inside the nucleus. The contour
``r(theta)`` is an ellipse of the requested area deformed by random radial
harmonics, blebs and indentations, so contours are irregular and not elliptic.
Keeping the field (not only the mask) lets a renderer split the pixels shared by
touching nuclei along a flat boundary (the pixel goes to the nucleus it lies
deeper in).

All randomness of one nucleus is a fixed-length vector of uniforms. The public
one-nucleus functions draw it from a generator; renderers draw it for thousands
of nuclei at once by hashing ``(seed, shape_seed)`` (:func:`cell_uniforms`), so a
nucleus is the same whichever window of a huge image draws it, and the work is
vectorised over nuclei of the same patch size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "NUCLEUS_KINDS",
    "cell_uniforms",
    "contours",
    "draw_nuclei_batch",
    "hash_uniforms",
    "nucleus_field",
    "nucleus_patch",
    "nucleus_texture",
    "patch_half_size",
]

#: Kinds of nuclei the simulator draws; they differ in shape, texture and brightness.
NUCLEUS_KINDS = ("interphase", "prophase", "metaphase", "anaphase", "apoptotic")
_CODE = {k: i for i, k in enumerate(NUCLEUS_KINDS)}
#: Mean texture value inside the mask, per kind (condensed chromatin is brighter).
_KIND_BRIGHTNESS = np.array([1.0, 1.5, 2.2, 2.2, 2.6], np.float32)

_N_THETA = 128
_N_U = 160  # uniforms per nucleus
_THETA = np.linspace(0.0, 2 * np.pi, _N_THETA, endpoint=False)
_K_LOW = np.arange(2, 9)
_K_HIGH = np.arange(9, 20)
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


# -- hashing: random numbers that depend only on keys ------------------------------
def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_uniforms(keys: np.ndarray, n: int, *, salt: int = 0) -> np.ndarray:
    """Uniform numbers in (0, 1), ``n`` per key, that depend only on key and salt.

    Parameters
    ----------
    keys : numpy.ndarray of int, shape (m,)
        One key per row (e.g. a hashed ``(seed, shape_seed)``).
    n : int
        Numbers per key.
    salt : int
        Distinguishes independent streams for the same keys.

    Returns
    -------
    numpy.ndarray of float64, shape (m, n)
    """
    k = _splitmix(
        np.asarray(keys).astype(np.uint64) ^ _splitmix(np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
    )
    with np.errstate(over="ignore"):
        z = _splitmix(
            k[:, None]
            + np.arange(1, n + 1, dtype=np.uint64)[None, :] * np.uint64(0xD1B54A32D192ED03)
        )
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2**53)


def cell_uniforms(seed: int, shape_seeds: np.ndarray) -> np.ndarray:
    """The random vector of each nucleus, a function of ``(seed, shape_seed)`` only.

    Returns
    -------
    numpy.ndarray of float64, shape (len(shape_seeds), 160)
    """
    keys = _cell_keys(seed, shape_seeds)
    return hash_uniforms(keys, _N_U, salt=1)


def _cell_keys(seed: int, shape_seeds: np.ndarray) -> np.ndarray:
    s = _splitmix(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF))
    return _splitmix(np.asarray(shape_seeds, np.int64).astype(np.uint64) ^ s)


def _normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)


def patch_half_size(radius, elongation=1.0, irregularity=0.1):
    """Half-width in pixels of a patch that holds any nucleus with these parameters.

    Works on numbers or arrays (then returns an int array). A conservative bound
    used by renderers to decide which nuclei touch a window.
    """
    a = np.asarray(radius, float) * np.sqrt(np.maximum(np.asarray(elongation, float), 1.0))
    half = np.ceil(a * (1.0 + 4.0 * np.asarray(irregularity, float) + 0.35)).astype(np.int64) + 2
    return int(half) if half.ndim == 0 else half


# -- batched core ------------------------------------------------------------------
def _wrap(d):
    return np.mod(d + np.pi, 2 * np.pi) - np.pi


def _harmonics(amp, phase, k):
    """sum_k amp_k cos(k theta + phase_k) at ``_THETA``, as two small matrix products."""
    kt = k[:, None] * _THETA[None, :]
    return (amp * np.cos(phase)) @ np.cos(kt) - (amp * np.sin(phase)) @ np.sin(kt)


def _contours(u, radius, elongation, angle, irregularity, code):
    """Contour radius at ``_N_THETA`` angles for n nuclei, shape (n, T)."""
    e = np.maximum(elongation, 1e-3)[:, None]
    a, b = np.sqrt(e), 1.0 / np.sqrt(e)
    t = _THETA[None, :] - angle[:, None]
    r = a * b / np.sqrt((b * np.cos(t)) ** 2 + (a * np.sin(t)) ** 2)
    irr = np.maximum(irregularity, 0.0)
    amp = irr[:, None] * 1.1 / _K_LOW[None, :] ** 1.1 * _normal(u[:, 0:7], u[:, 7:14])
    log_r = _harmonics(amp, 2 * np.pi * u[:, 14:21], _K_LOW)
    inter = code == 0
    # Blebs (outward bumps), up to two, and an indentation (bean/kidney shapes, folds).
    for j, p in enumerate((np.minimum(1.5 * irr, 0.7), np.minimum((1.5 * irr) ** 2 / 2, 0.3))):
        on = np.flatnonzero((u[:, 21 + j] < p) & inter)
        if on.size:
            d = _wrap(_THETA[None, :] - 2 * np.pi * u[on, 23 + j, None])
            w = 0.12 + 0.18 * u[on, 25 + j, None]
            log_r[on] += (0.08 + 0.14 * u[on, 27 + j, None]) * np.exp(-0.5 * (d / w) ** 2)
    on = np.flatnonzero((u[:, 29] < np.minimum(2.0 * irr, 0.6)) & inter)
    if on.size:
        d = _wrap(_THETA[None, :] - 2 * np.pi * u[on, 30, None])
        w = 0.25 + 0.35 * u[on, 31, None]
        log_r[on] -= (0.08 + 0.22 * u[on, 32, None]) * np.exp(-0.5 * (d / w) ** 2)
    # Mitotic chromosomes stick out of the plate: a rough, spiky edge.
    mit = np.flatnonzero((code == 2) | (code == 3))
    if mit.size:
        amp_h = 0.05 * _normal(u[mit, 33:44], u[mit, 44:55])
        log_r[mit] += _harmonics(amp_h, 2 * np.pi * u[mit, 55:66], _K_HIGH)
    r = r * np.exp(log_r)
    area = np.pi * np.mean(r**2, axis=1, keepdims=True)
    return r * (radius[:, None] * np.sqrt(np.pi / area))


def _grid(half: int):
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    return yy, xx


def _fields(r_theta, half, dy, dx):
    """Normalised radius on (n, 2h+1, 2h+1) patches."""
    yy, xx = _grid(half)
    yy = yy[None] - dy[:, None, None].astype(np.float32)
    xx = xx[None] - dx[:, None, None].astype(np.float32)
    rho = np.hypot(yy, xx)
    pos = np.mod(np.arctan2(yy, xx), 2 * np.pi) * np.float32(_N_THETA / (2 * np.pi))
    i0 = np.floor(pos).astype(np.intp)
    frac = pos - i0
    i0 %= _N_THETA
    r = np.minimum(r_theta, half - 1.0).astype(np.float32)  # never cut by the patch edge
    n = r.shape[0]
    flat = i0.reshape(n, -1)
    r0 = np.take_along_axis(r, flat, axis=1).reshape(i0.shape)
    r1 = np.take_along_axis(r, (flat + 1) % _N_THETA, axis=1).reshape(i0.shape)
    return rho / np.maximum(r0 * (1 - frac) + r1 * frac, 1e-3)


def _apoptotic_field(u, radius, half, dy, dx):
    """Karyorrhexis: 1-6 round dense fragments packed within ``radius``."""
    yy, xx = _grid(half)
    n_frag = 1 + int(u[66] * 6)
    field = np.full(yy.shape, np.inf, np.float32)
    for i in range(n_frag):
        fr = radius * (0.35 + 0.3 * u[67 + i]) / n_frag**0.25
        if i == 0:
            oy = ox = 0.0
        else:
            ang = 2 * np.pi * u[73 + i]
            dist = (0.4 + 0.6 * u[79 + i]) * max(radius - fr, 0.0)
            oy, ox = dist * np.sin(ang), dist * np.cos(ang)
        f = np.hypot(yy - (dy + oy), xx - (dx + ox)) / max(fr, 0.5)
        np.minimum(field, f, out=field)
    return field


def _unit_noise(noise, sigma):
    """Smooth white noise (n, P, P) with per-patch unit standard deviation."""
    out = ndi.gaussian_filter(noise, (0, sigma, sigma), mode="wrap", truncate=3.0)
    out -= out.mean(axis=(1, 2), keepdims=True)
    out /= np.maximum(out.std(axis=(1, 2), keepdims=True), 1e-6)
    return out


def _textures(u, field, mask, code, radius, white, contrast=None, foci=None):
    """Relative DNA intensity on (n, P, P) patches; mean inside = kind brightness.

    ``contrast`` (n,) scales the chromatin texture (default 1); ``foci`` (n,) is
    the typical number of bright chromocentres (default 1.5).
    """
    n, p, _ = field.shape
    half = p // 2
    u = u.astype(np.float32)
    radius = np.asarray(radius, np.float32)
    f = np.clip(field, 0.0, 1.0)
    f2 = f * f
    coarse = _unit_noise(white, max(half / 5.25, 1.0))
    fine = _unit_noise(white[:, ::-1], max(half / 15.0, 0.7))
    condensed = np.flatnonzero(code > 0)
    grain = _unit_noise(white[condensed, :, ::-1], 0.85) if condensed.size else None
    c = lambda a: a[:, None, None]  # noqa: E731
    tex = np.empty_like(f)
    inter = code == 0
    # Interphase: dome (thicker centre), chromatin at two scales, heterochromatin rim.
    dome = np.sqrt(1.0 - f2)
    tex[:] = 0.6 + 0.4 * dome
    contrast = np.ones(n, np.float32) if contrast is None else np.asarray(contrast, np.float32)
    foci = np.full(n, 1.5, np.float32) if foci is None else np.asarray(foci, np.float32)
    tex *= np.clip(1.0 + c(contrast * (0.12 + 0.18 * u[:, 90])) * coarse, 0.2, None)
    tex *= np.clip(1.0 + c(contrast * (0.1 + 0.15 * u[:, 91])) * fine, 0.2, None)
    tex *= 1.0 + c(0.15 * u[:, 92]) * np.clip((f - 0.7) / 0.3, 0.0, 1.0) ** 2
    yy, xx = _grid(half)
    two = np.float32(2.0)
    n_nucleoli = np.floor(u[:, 93] * 4)
    for j in range(3):
        on = inter & (j < n_nucleoli)
        if not on.any():
            continue
        fr, ang = 0.5 * np.sqrt(u[:, 94 + j]), 2 * np.pi * u[:, 97 + j]
        cy, cx = fr * radius * np.sin(ang), fr * radius * np.cos(ang)
        s = radius * (0.09 + 0.09 * u[:, 100 + j])
        depth = (0.2 + 0.25 * u[:, 103 + j]) * on
        d2 = (yy[None] - c(cy)) ** 2 + (xx[None] - c(cx)) ** 2
        tex *= 1.0 - c(depth) * np.exp(-d2 / c(two * s * s))
    n_foci = np.minimum(np.floor(foci * 2.0 * u[:, 106] ** 2 * (0.5 + u[:, 107])), 8)
    chromo = np.flatnonzero(inter & (n_foci > 0))
    if chromo.size:
        uc = u[chromo]
        count = n_foci[chromo]
        rc = radius[chromo]
        for j in range(int(count.max())):
            on = j < count
            fr, ang = 0.75 * np.sqrt(uc[:, 108 + j]), 2 * np.pi * uc[:, 120 + j]
            cy, cx = fr * rc * np.sin(ang), fr * rc * np.cos(ang)
            s = (0.6 + 0.6 * uc[:, 132 + j]) * np.maximum(1.0, rc / 9.0)
            amp = (0.3 + 0.5 * uc[:, 144 + min(j, 11)]) * on
            d2 = (yy[None] - c(cy)) ** 2 + (xx[None] - c(cx)) ** 2
            tex[chromo] += c(amp) * np.exp(-d2 / c(two * s * s))
    # Mitotic and apoptotic: condensed, granular or dense.
    tex = tex.astype(np.float32, copy=False)
    for kcode, base, contrast in ((1, 0.7, 0.35), (2, 0.75, 0.3), (3, 0.75, 0.3), (4, 0.8, 0.05)):
        sel = code[condensed] == kcode
        if sel.any():
            idx = condensed[sel]
            t = base + (1 - base) * np.sqrt(1.0 - f2[idx])
            tex[idx] = t * np.clip(1.0 + contrast * grain[sel], 0.3, None)
    np.clip(tex, 0.05, None, out=tex)
    tex *= mask
    inside = np.maximum(mask.sum(axis=(1, 2)), 1)
    scale = _KIND_BRIGHTNESS[code] / np.maximum(tex.sum(axis=(1, 2)) / inside, 1e-6)
    tex *= c(scale.astype(np.float32))
    return tex


def contours(u, radius, elongation, angle, irregularity, code):
    """Contour radii (n, 128) of n nuclei and the patch half-size each needs (n,).

    ``u`` are the nuclei's uniforms (:func:`cell_uniforms`), the other
    arguments arrays of shape (n,); ``code`` indexes :data:`NUCLEUS_KINDS`.
    The half-size is the smallest that holds the nucleus for any sub-pixel
    centre offset, so it is a property of the nucleus alone.
    """
    r = _contours(u, radius, elongation, angle, irregularity, code)
    half = np.ceil(r.max(axis=1) + 0.75).astype(np.int64) + 1
    apo = code == 4
    half[apo] = np.ceil(radius[apo] + 0.75).astype(np.int64) + 1
    return r, half


def draw_nuclei_batch(u, r_theta, radius, code, dy, dx, half, white, contrast=None, foci=None):
    """Fields and textures of n nuclei that share the patch half-size ``half``.

    ``u`` (n, 160) uniforms; ``r_theta`` their :func:`contours`; ``radius``
    (n,) equivalent radii; ``dy, dx`` sub-pixel centre offsets; ``white``
    (n, 2h+1, 2h+1) white noise in (0, 1); ``contrast`` and ``foci`` (n,) see
    :func:`nucleus_texture`. Returns ``(field, texture)``, both float32
    (n, 2h+1, 2h+1).
    """
    field = _fields(r_theta, half, dy, dx)
    for i in np.flatnonzero(code == 4):
        field[i] = _apoptotic_field(u[i], float(radius[i]), half, float(dy[i]), float(dx[i]))
    mask = field <= 1.0
    tex = _textures(u, field, mask, code, radius, (white - 0.5).astype(np.float32), contrast, foci)
    return field, tex


def _check_kind(kind: str) -> int:
    if kind not in _CODE:
        raise ValueError(
            f"unknown nucleus kind {kind!r}; valid kinds are {', '.join(NUCLEUS_KINDS)}"
        )
    return _CODE[kind]


# -- public one-nucleus API ----------------------------------------------------------
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
        :func:`patch_half_size` of the parameters).
    """
    code = _check_kind(kind)
    u = rng.random((1, _N_U))
    arr = lambda v: np.array([float(v)])  # noqa: E731
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
