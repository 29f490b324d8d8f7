"""Whole-cell territories of tissue: a power diagram with wavy, bounded cells.

Each cell has a normalised irregular radius ``f`` (1 on its nominal membrane):
an ellipse of area ``pi R^2`` deformed by radial harmonics 2-5. A pixel goes to
the cell with the lowest power distance ``R^2 (f^2 - 1)`` among the cells with
``f <= reach``, ties to the higher label (:class:`~cellscale.data._canvas.MinCanvas`).
``f`` is computed only where a cheap bound (the ellipse radius and the largest
possible harmonic deformation) allows ``f <= reach``, which skips most of each
cell's square patch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellscale.data._canvas import MinCanvas, pad_for
from cellscale.data._hashing import _cell_keys, hash_uniforms

__all__ = ["render_territories"]

#: Harmonic orders of the membrane's waviness.
_ORDERS = np.arange(2, 6)


def _territory_harmonics(
    seed: int, shape_seeds: np.ndarray, irregularity: np.ndarray
) -> np.ndarray:
    """Complex coefficients (n, 4) of harmonics 2..5 of each cell's log-radius."""
    u = hash_uniforms(_cell_keys(seed ^ 0x7E77, shape_seeds), 12, salt=3)
    amp = (
        irregularity[:, None]
        * 1.1
        / _ORDERS**1.1
        * np.sqrt(-2.0 * np.log(u[:, :4]))
        * np.cos(2 * np.pi * u[:, 4:8])
    )
    return amp * np.exp(-1j * 2 * np.pi * u[:, 8:12])


def _row_spans(half, y, x, c, s, e2, lim):
    """Per cell and patch row, the columns that may hold pixels with ``rho_e <= lim``.

    ``rho_e^2 = along^2 / e2 + across^2 e2`` is a quadratic in the column
    coordinate; its solution interval, widened by a pixel, is a superset of the
    pixels the exact float32 test keeps. Returns ``(lo, hi)``, each (n, 2h+1),
    inclusive patch columns (``hi < lo`` for an empty row).
    """
    c, s, e2 = c[:, None], s[:, None], e2[:, None]
    yy = np.arange(-half, half + 1)[None, :] - y[:, None]
    a = c * c / e2 + s * s * e2
    b = 2.0 * yy * c * s * (e2 - 1.0 / e2)
    q = yy * yy * (s * s / e2 + c * c * e2) - lim[:, None] ** 2
    disc = b * b - 4.0 * a * q
    root = np.sqrt(np.maximum(disc, 0.0))
    shift = half + x[:, None]
    lo = np.maximum(np.ceil((-b - root) / (2.0 * a) + shift - 1.0), 0)
    hi = np.minimum(np.floor((-b + root) / (2.0 * a) + shift + 1.0), 2 * half)
    hi = np.where(disc < 0, lo - 1, hi)
    return lo.astype(np.int64), hi.astype(np.int64)


def _candidates(half, y, x, elongation, angle, coef, radius, reach, origin, stride):
    """Pixels of n cells' (2h+1)² patches with ``f <= reach``, and their scores.

    ``origin`` is the flat canvas index of each patch's top-left pixel and
    ``stride`` the canvas row stride. Returns ``(cell, index, score)``: the cell
    (index into the inputs), the pixel's flat canvas index and ``R^2 (f^2 - 1)``
    (float32). The float32 arithmetic per pixel is that of the whole-patch
    formula, so the result does not depend on which pixels are skipped.
    """
    n, p = y.size, 2 * half + 1
    c, s = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    e = np.sqrt(np.maximum(elongation, 1.0)).astype(np.float32)
    y32, x32 = y.astype(np.float32), x.astype(np.float32)
    # |log r| <= sum_k |c_k|, so f <= reach needs rho_e <= R reach exp(sum_k |c_k|);
    # the 1e-3 margin covers float32 rounding.
    lim = radius * reach * np.exp(np.abs(coef).sum(1)) * (1 + 1e-3)
    lo, hi = _row_spans(
        half,
        y32.astype(float),
        x32.astype(float),
        c.astype(float),
        s.astype(float),
        e.astype(float) ** 2,
        lim,
    )
    # One entry per (cell, patch row) with candidate columns lo .. hi.
    width = np.maximum(hi - lo + 1, 0).ravel()
    pair = np.repeat(np.arange(n * p), width)
    col = (lo.ravel() - (np.cumsum(width) - width))[pair] + np.arange(pair.size)
    g = np.arange(-half, half + 1, dtype=np.float32)
    row_y = (g[None, :] - y32[:, None]).ravel()  # the patch row's y offset, per entry
    row_base = (origin[:, None] + np.arange(p)[None, :] * stride).ravel()
    index = row_base[pair] + col
    per_cell = width.reshape(n, p).sum(1)

    def each(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, per_cell)

    yy, xx = row_y[pair], g[col] - each(x32)
    cc, ss, ee = each(c), each(s), each(e)
    # Image rows grow downwards: the long axis at ``angle`` is (cos, -sin) in (x, y).
    along = xx * cc - yy * ss
    across = xx * ss + yy * cc
    rho_e = np.sqrt((along / ee) ** 2 + (across * ee) ** 2)
    rho = np.sqrt(xx * xx + yy * yy) + np.float32(1e-6)
    inv = np.float32(1.0) / rho
    z = np.empty(rho.shape, np.complex64)  # unit direction (x + iy) / rho
    parts = z.view(np.float32).reshape(-1, 2)
    np.multiply(xx, inv, out=parts[:, 0])
    np.multiply(yy, inv, out=parts[:, 1])
    zk = z * z
    log_r = np.zeros(rho.shape, np.float32)
    harmonics = coef.astype(np.complex64)
    for k in range(_ORDERS.size):
        log_r += (each(harmonics[:, k]) * zk).real
        zk *= z
    f = rho_e * np.exp(-log_r) / each(radius.astype(np.float32))
    ok = f <= each(reach.astype(np.float32))
    f = f[ok]
    score = each((radius**2).astype(np.float32))[ok] * (f * f - 1.0)
    return each(np.arange(n))[ok], index[ok], score


def render_territories(
    shape: tuple[int, int], cells: pd.DataFrame, *, offset: tuple[int, int] = (0, 0), seed: int = 0
) -> np.ndarray:
    """Whole-cell labels of a window: a power diagram with irregular, bounded cells.

    ``cells`` needs ``label, y, x, radius, elongation, angle, irregularity,
    reach, shape_seed``. A pixel goes to the cell minimising ``R^2 (f^2 - 1)``
    among cells with ``f <= reach`` (``f`` the normalised radius of an ellipse
    of area ``pi R^2`` deformed by harmonics 2-5, ``R`` the radius); ties to the
    higher label. Each cell's shape depends only on ``(seed, shape_seed)`` and
    its row, so any window agrees with the whole.
    """
    h, w = int(shape[0]), int(shape[1])
    oy, ox = int(offset[0]), int(offset[1])
    if not len(cells):
        return np.zeros((h, w), np.uint32)
    radius_all = cells["radius"].to_numpy(float)
    elong_all = np.maximum(cells["elongation"].to_numpy(float), 1.0)
    irr_all = cells["irregularity"].to_numpy(float)
    # exp(sum |a_k|) bounds the harmonics; |a_k| < 4 sigma_k almost surely.
    bound = np.exp(irr_all * 4 * 1.1 * np.sum(1.0 / _ORDERS**1.1))
    reach_all = cells["reach"].to_numpy(float)
    ext = np.ceil(radius_all * np.sqrt(elong_all) * bound * reach_all).astype(int) + 2
    cy_all, cx_all = np.rint(cells["y"].to_numpy(float)), np.rint(cells["x"].to_numpy(float))
    sel = (
        (cy_all + ext >= oy)
        & (cy_all - ext < oy + h)
        & (cx_all + ext >= ox)
        & (cx_all - ext < ox + w)
    )
    if not sel.any():
        return np.zeros((h, w), np.uint32)
    sub = cells.loc[sel]
    lab = sub["label"].to_numpy(np.int64)
    y, x = sub["y"].to_numpy(float) - oy, sub["x"].to_numpy(float) - ox
    iy, ix = np.rint(y).astype(np.int64), np.rint(x).astype(np.int64)
    dy, dx = y - iy, x - ix
    radius = radius_all[sel]
    reach = sub["reach"].to_numpy(np.float32)
    elong, angle = elong_all[sel], sub["angle"].to_numpy(float)
    coef = _territory_harmonics(seed, sub["shape_seed"].to_numpy(np.int64), irr_all[sel])
    # The exact reach of each cell: |log r| <= sum_k |c_k|.
    halves = (
        np.ceil(radius * np.sqrt(elong) * np.exp(np.abs(coef).sum(1)) * reach + 0.75).astype(
            np.int64
        )
        + 1
    )
    canvas = MinCanvas((h, w), pad=pad_for((h, w), iy, ix, halves))
    for half in np.unique(halves):
        idx = np.flatnonzero(halves == half)
        p = 2 * int(half) + 1
        step = max(1, (1 << 21) // (p * p))
        for b0 in range(0, idx.size, step):
            b = idx[b0 : b0 + step]
            origin = canvas.index(iy[b] - half, ix[b] - half)
            j, index, score = _candidates(
                int(half),
                dy[b],
                dx[b],
                elong[b],
                angle[b],
                coef[b],
                radius[b],
                reach[b],
                origin,
                canvas.stride,
            )
            canvas.add(index, score, lab[b][j])
    return canvas.labels()
