"""Extra nucleus features for domain randomisation: bent and lobed shapes, speckles,
signed nucleoli and vacuoles.

Each nucleus carries these in optional columns of the cells table (``bend``,
``lobes``, ``speckle``, ``nucleoli``, ``holes``; 0 = none), and their randomness
comes from hashing ``(seed, shape_seed)`` like the rest of its shape
(:mod:`cellscale.data._shapes`), so a nucleus is the same in every window that
draws it. A nucleus whose columns are all 0 is drawn exactly as without them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from cellscale.data._shapes import fields_at

__all__ = ["FEATURE_COLUMNS", "extra_half", "feature_arrays", "mark_features", "shape_fields"]

#: Optional per-nucleus columns read by the renderer, with their neutral values.
FEATURE_COLUMNS = {"bend": 0.0, "lobes": 0, "speckle": 0.0, "nucleoli": 0.0, "holes": 0}
#: Uniforms per nucleus used by the features.
N_FEATURE_U = 40
_MAX_LOBES = 5
_MAX_MARKS = 4


def feature_arrays(cells: pd.DataFrame) -> dict[str, np.ndarray]:
    """The feature columns of ``cells`` as float arrays (neutral values where absent)."""
    n = len(cells)
    return {
        k: (cells[k].to_numpy(np.float64) if k in cells else np.full(n, float(v)))
        for k, v in FEATURE_COLUMNS.items()
    }


def _lobe_geometry(u: np.ndarray, radius: np.ndarray, lobes: np.ndarray, angle: np.ndarray):
    """Centres (n, L, 2) and radii (n, L) of the lobes of lobed nuclei (L = _MAX_LOBES).

    Lobes are discs on a gently curved chain through the centre, spaced 1.5 lobe
    radii apart, so neighbours overlap and the nucleus narrows between them; the
    nucleus' centre lies inside the middle lobe(s). Unused lobes have radius 0.
    """
    n = radius.size
    k = np.clip(lobes, 2, _MAX_LOBES)
    rl = radius / np.sqrt(k) * 1.12
    j = np.arange(_MAX_LOBES)[None, :]
    t = (j - (k[:, None] - 1) / 2.0) * 1.5 * rl[:, None]
    curve = (u[:, 0:1] - 0.5) * 1.2 / (k[:, None] * rl[:, None])
    along, perp = t, curve * t**2
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    cx = along * ca - perp * sa
    cy = along * sa + perp * ca
    radii = rl[:, None] * (0.85 + 0.3 * u[:, 1 : 1 + _MAX_LOBES])
    radii = np.where(j < k[:, None], radii, 0.0)
    return np.stack([cy, cx], axis=-1), radii.reshape(n, _MAX_LOBES)


def extra_half(
    radius: np.ndarray, elongation: np.ndarray, bend: np.ndarray, lobes: np.ndarray
) -> np.ndarray:
    """Pixels a bent or lobed nucleus may reach beyond its plain patch (int, per nucleus)."""
    long = np.asarray(radius, float) * np.sqrt(np.maximum(np.asarray(elongation, float), 1.0))
    bent = np.abs(np.asarray(bend, float)) * long * 1.3
    k = np.clip(np.asarray(lobes, float), 2, _MAX_LOBES)
    rl = np.asarray(radius, float) / np.sqrt(k) * 1.12
    lobed = np.where(np.asarray(lobes) > 0, ((k - 1) * 0.75 + 1.15) * rl * 1.3, 0.0)
    return np.ceil(np.maximum(bent, lobed)).astype(np.int64)


def shape_fields(
    field: np.ndarray,
    r_theta: np.ndarray,
    half: int,
    dy: np.ndarray,
    dx: np.ndarray,
    radius: np.ndarray,
    elongation: np.ndarray,
    angle: np.ndarray,
    bend: np.ndarray,
    lobes: np.ndarray,
    uf: np.ndarray,
) -> np.ndarray:
    """Replace, in place, the fields of bent and lobed nuclei of a batch.

    A bent nucleus is its plain contour sheared across its long axis by
    ``bend * along**2 / L`` (``L`` the half long axis): a banana or kidney
    shape of the same area. A lobed nucleus is a chain of ``lobes`` overlapping
    discs (segmented nuclei, e.g. of neutrophils). ``field`` is (n, P, P) with
    ``P = 2 * half + 1``; other arrays are per nucleus.
    """
    g = np.arange(-half, half + 1, dtype=np.float32)
    c = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731
    bent = np.flatnonzero((bend != 0) & (lobes == 0))
    if bent.size:
        yy = g[None, :, None] - c(dy[bent])
        xx = g[None, None, :] - c(dx[bent])
        ca, sa = c(np.cos(angle[bent])), c(np.sin(angle[bent]))
        along = xx * ca + yy * sa
        perp = -xx * sa + yy * ca
        long = c(radius[bent] * np.sqrt(np.maximum(elongation[bent], 1.0)))
        perp = perp - c(bend[bent]) * along**2 / long
        field[bent] = fields_at(r_theta[bent], half, along * sa + perp * ca, along * ca - perp * sa)
    lob = np.flatnonzero(lobes > 0)
    if lob.size:
        centres, radii = _lobe_geometry(uf[lob], radius[lob], lobes[lob], angle[lob])
        yy = g[None, :, None] - c(dy[lob])
        xx = g[None, None, :] - c(dx[lob])
        out = np.full((lob.size, field.shape[1], field.shape[2]), np.inf, np.float32)
        for j in range(_MAX_LOBES):
            on = radii[:, j] > 0
            if not on.any():
                continue
            f = np.hypot(yy[on] - c(centres[on, j, 0]), xx[on] - c(centres[on, j, 1]))
            out[on] = np.minimum(out[on], f / c(np.maximum(radii[on, j], 0.5)))
        field[lob] = out
    return field


def mark_features(
    tex: np.ndarray,
    mask: np.ndarray,
    radius: np.ndarray,
    speckle: np.ndarray,
    nucleoli: np.ndarray,
    holes: np.ndarray,
    uf: np.ndarray,
    white: np.ndarray,
) -> np.ndarray:
    """Add speckles, signed nucleoli and vacuoles to the textures of a batch, in place.

    Parameters
    ----------
    tex : numpy.ndarray of float32, shape (n, P, P)
        Textures (relative intensity, 0 outside the nucleus).
    mask : numpy.ndarray of bool, shape (n, P, P)
    radius : numpy.ndarray, shape (n,)
        Equivalent radius, pixels.
    speckle : numpy.ndarray, shape (n,)
        Amplitude of fine bright chromatin speckles (0 none, 1 clear, 3 heavy).
    nucleoli : numpy.ndarray, shape (n,)
        Contrast of 1-4 round nucleoli: < 0 dark (-0.9 nearly black), > 0 bright.
    holes : numpy.ndarray, shape (n,)
        Number of sharp-edged dark vacuoles (0-4).
    uf : numpy.ndarray, shape (n, N_FEATURE_U)
        The nuclei's feature uniforms.
    white : numpy.ndarray of float32, shape (n, P, P)
        White noise in (-0.5, 0.5), the nuclei's own.
    """
    n, p, _ = tex.shape
    half = p // 2
    g = np.arange(-half, half + 1, dtype=np.float32)
    c = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731

    def dist(cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        return np.sqrt((g[None, :, None] - c(cy)) ** 2 + (g[None, None, :] - c(cx)) ** 2)

    sp = np.flatnonzero(speckle > 0)
    if sp.size:
        # Small separate dots (chromocentres): the upper tail of smooth noise.
        sigma = float(np.clip(np.median(radius[sp]) / 20.0, 0.7, 2.5))
        noise = ndi.gaussian_filter(white[sp, ::-1, ::-1], (0, sigma, sigma), mode="wrap")
        noise /= np.maximum(noise.std(axis=(1, 2), keepdims=True), 1e-6)
        tex[sp] *= 1.0 + c(speckle[sp]) * np.clip(noise - 1.0, 0.0, None)
    for j in range(_MAX_MARKS):
        on = np.flatnonzero((nucleoli != 0) & (j < 1 + np.floor(uf[:, 8] * _MAX_MARKS)))
        if on.size:
            ro, uo = radius[on], uf[on]
            fr, ang = 0.55 * np.sqrt(uo[:, 9 + j]), 2 * np.pi * uo[:, 13 + j]
            d = dist(fr * ro * np.sin(ang), fr * ro * np.cos(ang))
            s = ro * (0.07 + 0.1 * uo[:, 17 + j])
            amp = np.clip(nucleoli[on] * (0.6 + 0.4 * uo[:, 21 + j]), -0.95, None)
            tex[on] *= 1.0 + c(amp) * np.exp(-0.5 * (d / c(s)) ** 2)
        on = np.flatnonzero(j < holes)
        if on.size:
            ro, uo = radius[on], uf[on]
            fr, ang = 0.5 * np.sqrt(uo[:, 25 + j]), 2 * np.pi * uo[:, 29 + j]
            d = dist(fr * ro * np.sin(ang), fr * ro * np.cos(ang))
            s = np.maximum(ro * (0.15 + 0.2 * uo[:, 33 + j]), 1.5)
            depth = 0.6 + 0.35 * uo[:, 37 + min(j, 2)]
            edge = np.clip((c(s) - d) / 1.5 + 0.5, 0.0, 1.0)
            tex[on] *= 1.0 - c(depth) * edge
    tex *= mask
    return tex
