"""Shapes and textures of nuclei, drawn on small patches, many at once.

A nucleus is described by a *field* on a small square patch: the normalised
radial coordinate ``rho / r(theta)``, below 1 inside the nucleus. The contour
``r(theta)`` is an ellipse of the requested area deformed by random radial
harmonics, blebs and indentations, so contours are irregular and not elliptic.
Keeping the field (not only the mask) lets a renderer split the pixels shared by
touching nuclei along a flat boundary (the pixel goes to the nucleus it lies
deeper in).

All randomness of one nucleus is a fixed-length vector of uniforms. The public
one-nucleus functions (:mod:`cellscale.data._nucleus`) draw it from a generator;
renderers draw it for thousands of nuclei at once by hashing ``(seed,
shape_seed)`` (:func:`cell_uniforms`), so a nucleus is the same whichever window
of a huge image draws it, and the work is vectorised over nuclei of the same
patch size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cellscale.data._hashing import _cell_keys, hash_uniforms

__all__ = [
    "NUCLEUS_KINDS",
    "cell_uniforms",
    "contours",
    "draw_nuclei_batch",
    "fields_at",
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


def cell_uniforms(seed: int, shape_seeds: np.ndarray) -> np.ndarray:
    """The random vector of each nucleus, a function of ``(seed, shape_seed)`` only.

    Returns
    -------
    numpy.ndarray of float64, shape (len(shape_seeds), 160)
    """
    keys = _cell_keys(seed, shape_seeds)
    return hash_uniforms(keys, _N_U, salt=1)


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
    return fields_at(r_theta, half, yy, xx)


def fields_at(r_theta, half, yy, xx):
    """Normalised radius ``rho / r(theta)`` at patch offsets ``yy, xx`` (n, P, P) from
    each nucleus' centre; contours are capped at ``half - 1`` pixels."""
    rho = np.hypot(yy, xx)
    pos = np.mod(np.arctan2(yy, xx), 2 * np.pi) * np.float32(_N_THETA / (2 * np.pi))
    i0 = np.floor(pos).astype(np.intp)
    frac = pos - i0
    i0 %= _N_THETA
    r = np.minimum(r_theta, half - 1.0).astype(np.float32).ravel()  # never cut by the patch edge
    row = (np.arange(i0.shape[0]) * _N_THETA)[:, None, None]
    i1 = i0 + 1
    i1[i1 == _N_THETA] = 0
    r0, r1 = r[i0 + row], r[i1 + row]
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
    """Smooth white noise (n, P, P) with per-patch unit standard deviation.

    Wide smoothing (``sigma > 8``, only nuclei over ~60 px across) filters every
    ``k``-th sample and interpolates back, as fast as a narrow filter.
    """
    if sigma > 8.0:
        k = int(sigma // 4)
        p = noise.shape[1]
        small = ndi.gaussian_filter(
            noise[:, ::k, ::k] * np.float32(k), (0, sigma / k, sigma / k), mode="wrap", truncate=3.0
        )
        m = small.shape[1]
        out = ndi.zoom(small, (1, p / m, p / m), order=1, mode="grid-wrap", grid_mode=True)
        out = out[:, :p, :p].astype(np.float32)
        out -= out.mean(axis=(1, 2), keepdims=True)
        out /= np.maximum(out.std(axis=(1, 2), keepdims=True), 1e-6)
        return out
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
    c = lambda a: a[:, None, None]
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
    g = np.arange(-half, half + 1, dtype=np.float32)  # patch coordinates, both axes

    def dist2(cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        """Squared distance of every patch pixel to (cy, cx) of each nucleus, (n, P, P)."""
        return (g[None, :, None] - c(cy)) ** 2 + (g[None, None, :] - c(cx)) ** 2

    two = np.float32(2.0)
    n_nucleoli = np.floor(u[:, 93] * 4)
    for j in range(3):
        on = np.flatnonzero(inter & (j < n_nucleoli))
        if not on.size:
            continue
        uo, ro = u[on], radius[on]
        fr, ang = 0.5 * np.sqrt(uo[:, 94 + j]), 2 * np.pi * uo[:, 97 + j]
        cy, cx = fr * ro * np.sin(ang), fr * ro * np.cos(ang)
        s = ro * (0.09 + 0.09 * uo[:, 100 + j])
        depth = 0.2 + 0.25 * uo[:, 103 + j]
        tex[on] *= 1.0 - c(depth) * np.exp(-dist2(cy, cx) / c(two * s * s))
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
            tex[chromo] += c(amp) * np.exp(-dist2(cy, cx) / c(two * s * s))
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
    :func:`~cellscale.data._nucleus.nucleus_texture`. Returns ``(field, texture)``, both float32
    (n, 2h+1, 2h+1).
    """
    field = _fields(r_theta, half, dy, dx)
    for i in np.flatnonzero(code == 4):
        field[i] = _apoptotic_field(u[i], float(radius[i]), half, float(dy[i]), float(dx[i]))
    mask = field <= 1.0
    tex = _textures(u, field, mask, code, radius, (white - 0.5).astype(np.float32), contrast, foci)
    return field, tex
