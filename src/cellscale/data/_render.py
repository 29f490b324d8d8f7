"""Render a table of nuclei into any window of the image plane.

Each nucleus is drawn on its own small patch from a generator seeded by
``(seed, shape_seed)``, so a nucleus looks the same whichever window renders it;
this is what makes chunked rendering of huge images agree with in-memory
rendering. Where nuclei overlap, a pixel goes to the nucleus it lies deeper in
(smaller normalised radius ``rho / r(theta)``; ties to the higher label), which
splits touching nuclei along a flat boundary as in crowded cultures. The result
does not depend on the order cells are rendered in. Nuclei with the same patch
size are drawn together, vectorised, and pasted together
(:class:`~cellscale.data._canvas.MinCanvas`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellscale.data._canvas import MinCanvas, pad_for, patch_candidates
from cellscale.data._features import (
    N_FEATURE_U,
    extra_half,
    feature_arrays,
    mark_features,
    shape_fields,
)
from cellscale.data._hashing import _cell_keys, hash_uniforms
from cellscale.data._shapes import (
    _N_U,
    NUCLEUS_KINDS,
    _apoptotic_field,
    _fields,
    _textures,
    contours,
    patch_half_size,
)

_KIND_CODE = {k: i for i, k in enumerate(NUCLEUS_KINDS)}

__all__ = ["NUCLEUS_COLUMNS", "cell_extent", "cells_in_window", "render_nuclei"]

#: Columns :func:`render_nuclei` reads from the cells table.
NUCLEUS_COLUMNS = (
    "label",
    "y",
    "x",
    "radius",
    "elongation",
    "angle",
    "irregularity",
    "brightness",
    "kind",
    "shape_seed",
)


def cell_extent(cells: pd.DataFrame) -> np.ndarray:
    """Half-width (pixels) of the patch each nucleus of ``cells`` is drawn on."""
    if len(cells) == 0:
        return np.zeros(0, np.int64)
    radius = cells["radius"].to_numpy(float)
    elongation = cells["elongation"].to_numpy(float)
    feat = feature_arrays(cells)
    half = np.atleast_1d(
        patch_half_size(radius, elongation, cells["irregularity"].to_numpy(float))
    )
    return half + extra_half(radius, elongation, feat["bend"], feat["lobes"])


def cells_in_window(
    cells: pd.DataFrame, y0: int, y1: int, x0: int, x1: int, extent: np.ndarray | None = None
) -> np.ndarray:
    """Boolean index of the cells whose patch overlaps rows ``[y0, y1)``, columns ``[x0, x1)``."""
    if extent is None:
        extent = cell_extent(cells)
    y = np.rint(cells["y"].to_numpy(float))
    x = np.rint(cells["x"].to_numpy(float))
    return (y + extent >= y0) & (y - extent < y1) & (x + extent >= x0) & (x - extent < x1)


def render_nuclei(
    shape: tuple[int, int],
    cells: pd.DataFrame,
    *,
    offset: tuple[int, int] = (0, 0),
    seed: int = 0,
    return_field: bool = False,
    additive: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw nuclei into a window of the image plane.

    Parameters
    ----------
    shape : (int, int)
        Size ``(rows, columns)`` of the window, pixels.
    cells : pandas.DataFrame
        One row per nucleus with columns :data:`NUCLEUS_COLUMNS`: ``label``
        (int > 0), ``y``, ``x`` (centre in full-image pixels), ``radius``
        (equivalent-disc radius, pixels), ``elongation`` (>= 1), ``angle``
        (radians), ``irregularity`` (see :func:`~cellscale.data._nucleus.nucleus_field`),
        ``brightness`` (multiplies the texture), ``kind`` (one of
        :data:`~cellscale.data._shapes.NUCLEUS_KINDS`) and ``shape_seed`` (int);
        optional ``texture`` (chromatin contrast, default 1) and ``foci``
        (typical number of chromocentres, default 1.5), see
        :func:`~cellscale.data._nucleus.nucleus_texture`; optional features
        ``bend``, ``lobes``, ``speckle``, ``nucleoli``, ``holes`` (0 = none, see
        :mod:`cellscale.data._features`). Rows whose patch misses the window are
        skipped.
    offset : (int, int)
        Full-image coordinates of the window's top-left pixel. Default (0, 0).
    seed : int
        Mixed with each row's ``shape_seed``; shape and texture of a nucleus
        depend only on ``(seed, shape_seed)`` and its row.
    return_field : bool
        Also return the per-pixel normalised radius of the winning nucleus
        (``inf`` on background), used to place things inside nuclei.
    additive : bool
        Where nuclei overlap, add their signals (one lies above the other in a
        projection) instead of showing only the winner's. Labels are the same
        either way. Default False.

    Returns
    -------
    intensity : numpy.ndarray of float32, shape ``shape``
        Clean DNA-stain signal (``brightness`` x texture; 0 on background).
    labels : numpy.ndarray of uint32, shape ``shape``
        Instance labels, 0 = background.
    field : numpy.ndarray of float32, shape ``shape``
        Only when ``return_field``.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame(dict(label=[1, 2], y=[20.0, 20.0], x=[15.0, 30.0], radius=8.0,
    ...     elongation=1.2, angle=0.3, irregularity=0.1, brightness=1.0,
    ...     kind="interphase", shape_seed=[11, 12]))
    >>> intensity, labels = render_nuclei((40, 48), cells, seed=0)
    >>> sorted(set(labels.ravel().tolist()))
    [0, 1, 2]
    """
    h, w = int(shape[0]), int(shape[1])
    oy, ox = int(offset[0]), int(offset[1])
    canvas = None
    if len(cells):
        missing = [c for c in NUCLEUS_COLUMNS if c not in cells.columns]
        if missing:
            raise ValueError(
                f"cells table lacks column(s) {missing}; needs {list(NUCLEUS_COLUMNS)}"
            )
        extent = cell_extent(cells)
        sel = cells_in_window(cells, oy, oy + h, ox, ox + w, extent)
        if sel.any():
            canvas, total = _draw((h, w), oy, ox, int(seed), cells.loc[sel], additive=additive)
    if canvas is None:
        canvas, total = MinCanvas((h, w), values=True), None
    intensity, labels = canvas.values(), canvas.labels()
    if total is not None:
        intensity = np.ascontiguousarray(canvas._crop(total))
    if return_field:
        return intensity, labels, canvas.scores()
    return intensity, labels


def _draw(shape, oy, ox, seed, cells, max_pixels=1 << 18, additive=False):
    lab = cells["label"].to_numpy(np.int64)
    y = cells["y"].to_numpy(float) - oy
    x = cells["x"].to_numpy(float) - ox
    iy, ix = np.rint(y).astype(np.int64), np.rint(x).astype(np.int64)
    dy, dx = y - iy, x - ix
    radius = cells["radius"].to_numpy(float)
    elong = cells["elongation"].to_numpy(float)
    angle = cells["angle"].to_numpy(float)
    irr = cells["irregularity"].to_numpy(float)
    bright = cells["brightness"].to_numpy(np.float32)
    contrast = (
        cells["texture"].to_numpy(np.float32)
        if "texture" in cells
        else np.ones(len(cells), np.float32)
    )
    foci = (
        cells["foci"].to_numpy(np.float32)
        if "foci" in cells
        else np.full(len(cells), 1.5, np.float32)
    )
    kinds = cells["kind"].astype(str).to_numpy()
    bad = sorted(set(kinds) - set(NUCLEUS_KINDS))
    if bad:
        raise ValueError(
            f"unknown nucleus kind(s) {bad}; valid kinds are {', '.join(NUCLEUS_KINDS)}"
        )
    code = np.array([_KIND_CODE[k] for k in kinds], np.int64)
    keys = _cell_keys(seed, cells["shape_seed"].to_numpy(np.int64))
    u = hash_uniforms(keys, _N_U, salt=1)
    r_theta, halves = contours(u, radius, elong, angle, irr, code)
    feat = feature_arrays(cells)
    halves = halves + extra_half(radius, elong, feat["bend"], feat["lobes"])
    has_feat = (
        (feat["bend"] != 0) | (feat["lobes"] > 0) | (feat["speckle"] > 0)
        | (feat["nucleoli"] != 0) | (feat["holes"] > 0)
    )
    uf = hash_uniforms(keys, N_FEATURE_U, salt=3) if has_feat.any() else None
    canvas = MinCanvas(shape, pad=pad_for(shape, iy, ix, halves), values=True)
    total = np.zeros(canvas._key.size, np.float64) if additive else None
    for half in np.unique(halves):
        idx = np.flatnonzero(halves == half)
        p = 2 * int(half) + 1
        step = max(1, max_pixels // (p * p))
        for b0 in range(0, idx.size, step):
            b = idx[b0 : b0 + step]
            white = hash_uniforms(keys[b], p * p, salt=2).reshape(b.size, p, p)
            white = (white - 0.5).astype(np.float32)
            field = _fields(r_theta[b], int(half), dy[b], dx[b])
            for i in np.flatnonzero(code[b] == 4):
                k = b[i]
                field[i] = _apoptotic_field(u[k], float(radius[k]), int(half), dy[k], dx[k])
            fb = np.flatnonzero(has_feat[b])
            if fb.size:
                f = {name: v[b] for name, v in feat.items()}
                shape_fields(
                    field, r_theta[b], int(half), dy[b], dx[b], radius[b], elong[b],
                    angle[b], f["bend"], f["lobes"], uf[b],
                )  # fmt: skip
            inside = field <= 1.0
            tex = _textures(u[b], field, inside, code[b], radius[b], white, contrast[b], foci[b])
            if fb.size:
                sub = {name: v[fb] for name, v in f.items()}
                tex[fb] = mark_features(
                    tex[fb], inside[fb], radius[b][fb], sub["speckle"], sub["nucleoli"],
                    sub["holes"], uf[b][fb], white[fb],
                )  # fmt: skip
            origin = canvas.index(iy[b] - half, ix[b] - half)
            j, index = patch_candidates(inside, origin, canvas.stride)
            tex = tex[inside] * bright[b][j]
            canvas.add(index, field[inside], lab[b][j], tex)
            if total is not None:
                np.add.at(total, index, tex)
    return canvas, (None if total is None else total.astype(np.float32))
