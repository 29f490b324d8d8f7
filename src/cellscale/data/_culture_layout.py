"""Where cultured cells go and what shape they have (the cells table of ``simulate_culture``).

Centres are placed by random sequential addition
(:func:`~cellscale.data._layout.place_discs`): epithelial cells pack into
colonies (regions of a smooth random field covering ``density`` of the image),
the other kinds spread over the dish, in clumps when ``clustering`` > 0. Each
cell is a territory of :func:`~cellscale.data._territories.render_territories`
(an irregular ellipse of area ``pi R^2``; epithelial cells reach further, so a
colony fills with polygons meeting at flat membranes). Fibroblasts are long
spindles with one to three thin processes (extra territory rows with the
cell's label), rods are capsules, chains of discs (:func:`territory_rows`).
Every cell but a rod has an off-centre nucleus, clipped to its cell when
rendered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cellscale.data._layout import place_discs
from cellscale.data._optics import smooth_field_at
from cellscale.data._tissue_layout import _quantile_threshold

__all__ = ["CELL_SHAPES", "culture_table", "territory_rows"]

#: Cell shapes drawn by ``simulate_culture`` (``mixed`` mixes the first three).
CELL_SHAPES = ("epithelial", "fibroblast", "round", "rod")
#: Per shape: elongation range (long/short axis; rods use length/width instead),
#: irregularity range, reach (radii), nucleus/cell radius range.
_GEOMETRY: dict[
    str, tuple[tuple[float, float], tuple[float, float], float, tuple[float, float]]
] = {
    "epithelial": ((1.0, 1.5), (0.05, 0.12), 1.3, (0.3, 0.45)),
    "fibroblast": ((3.0, 7.0), (0.04, 0.1), 1.05, (0.3, 0.42)),
    "round": ((1.0, 1.25), (0.01, 0.05), 1.0, (0.5, 0.75)),
    "rod": ((2.0, 8.0), (0.0, 0.02), 1.0, (0.0, 0.0)),
}
#: Disc packing used by the placement (cells per pixel x cell area, within colonies).
_PACKING = {"epithelial": 1.3, "fibroblast": 0.9, "round": 1.0, "rod": 1.0}
#: Placement overlap (fraction of the sum of conflict radii).
_OVERLAP = {"epithelial": 0.35, "fibroblast": 0.1, "round": 0.15, "rod": 0.1, "mixed": 0.2}


def _conflict_radius(kind: np.ndarray, radius: np.ndarray, elongation: np.ndarray) -> np.ndarray:
    """Radius of the disc a cell occupies when placed: elongated cells, part of their length."""
    long = radius * np.sqrt(elongation)
    return np.where(kind == 1, 0.45 * long, np.where(kind == 3, 0.6 * long, radius))


def culture_table(shape: tuple[int, int], seed: int, p: dict[str, Any]) -> pd.DataFrame:
    """Global cells table of a culture image: one row per cell (nucleus columns included).

    ``p`` holds the resolved options: ``shape_kind``, ``diameter`` (rod length for
    rods), ``diameter_cv``, ``rod_width``, ``density``, ``clustering``,
    ``stain_spread`` (std of the log of the per-cell stain level).
    """
    kinds = [p["shape_kind"]] if p["shape_kind"] != "mixed" else list(CELL_SHAPES[:3])
    codes = np.array([CELL_SHAPES.index(k) for k in kinds])
    r0 = p["diameter"] / 2.0
    if p["shape_kind"] == "rod":
        # A rod of length L and width W: an ellipse of area pi L W / 4.
        r0 = float(np.sqrt(p["diameter"] * p["rod_width"]) / 2.0)
    area = np.pi * r0**2
    epithelial = p["shape_kind"] == "epithelial"
    scale = 2.0 * r0
    t_colony = _quantile_threshold(min(p["density"] / 0.9, 0.98))

    def count(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        if epithelial:
            colony = smooth_field_at(y, x, seed=seed + 21, scale=scale * 6) > t_colony
            return np.where(colony, _PACKING["epithelial"] / area, 0.0)
        return np.full(np.shape(y), p["density"] * _PACKING[kinds[0]] / area)

    def weight(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        f = smooth_field_at(y, x, seed=seed + 22, scale=scale * 4)
        return np.exp(p["clustering"] * 2.0 * f)

    def attributes(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        n = y.size
        k = codes[rng.integers(0, codes.size, n)] if n else np.zeros(0, int)
        r = r0 * np.exp(rng.normal(0.0, p["diameter_cv"], n))
        e_lo = np.array([_GEOMETRY[CELL_SHAPES[c]][0][0] for c in range(4)])[k]
        e_hi = np.array([_GEOMETRY[CELL_SHAPES[c]][0][1] for c in range(4)])[k]
        if p["shape_kind"] == "rod":
            e = np.clip(p["diameter"] / p["rod_width"] * np.exp(rng.normal(0, 0.2, n)), 1.5, 12)
        else:
            e = e_lo + (e_hi - e_lo) * rng.random(n)
        return np.column_stack([_conflict_radius(k, r, e), r, e, k])

    y, x, attr = place_discs(
        shape,
        seed=seed,
        count_per_pixel=count,
        draw_attributes=attributes,
        overlap=_OVERLAP[p["shape_kind"]],
        weight=weight if p["clustering"] > 0 and not epithelial else None,
    )
    n = y.size
    radius, elongation, code = attr[:, 1], attr[:, 2], attr[:, 3].astype(int)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xC017])
    kind = np.array(CELL_SHAPES, dtype=object)[code]
    geo = lambda i: np.array([_GEOMETRY[c][i] for c in CELL_SHAPES], dtype=object)[code]  # noqa: E731
    irr = np.array([lo + (hi - lo) * u for (lo, hi), u in zip(geo(1), rng.random(n))])
    # Elongated cells align with their neighbours (a smooth direction field).
    flow = np.pi * smooth_field_at(y, x, seed=seed + 23, scale=scale * 5)
    angle = np.mod(flow + rng.normal(0.0, 0.4, n), np.pi)
    loose = elongation < 1.6
    angle[loose] = rng.uniform(0, np.pi, int(loose.sum()))
    reach = geo(2).astype(float)
    ratio = np.array([lo + (hi - lo) * u for (lo, hi), u in zip(geo(3), rng.random(n))])
    n_radius = radius * ratio
    off = 0.4 * (radius - n_radius) * np.sqrt(rng.random(n))
    oa = rng.uniform(0, 2 * np.pi, n)
    fibro = code == 1
    # A fibroblast's nucleus is an oval along the cell, near its middle.
    n_elong = np.where(fibro, rng.uniform(1.5, 2.5, n), rng.uniform(1.0, 1.4, n))
    n_angle = np.where(fibro, angle, rng.uniform(0, np.pi, n))
    has_nucleus = code != 3
    table = pd.DataFrame(
        {
            "label": np.arange(1, n + 1, dtype=np.int64),
            "y": y,
            "x": x,
            "diameter": np.where(code == 3, 2.0 * radius * np.sqrt(elongation), 2.0 * radius),
            "shape_kind": kind,
            "radius": radius,
            "elongation": elongation,
            "angle": angle,
            "irregularity": irr,
            "reach": reach,
            "has_nucleus": has_nucleus,
            "nucleus_y": np.where(has_nucleus, y + off * np.sin(oa), np.nan),
            "nucleus_x": np.where(has_nucleus, x + off * np.cos(oa), np.nan),
            "nucleus_diameter": np.where(has_nucleus, 2.0 * n_radius, 0.0),
            "nucleus_elongation": n_elong,
            "nucleus_angle": n_angle,
            "nucleus_irregularity": rng.uniform(0.03, 0.12, n),
            "dna": np.exp(rng.normal(0.0, 0.25, n)).astype(np.float32),
            "stain": np.exp(rng.normal(0.0, p["stain_spread"], n)).astype(np.float32),
            "phase": np.exp(rng.normal(0.0, 0.2, n)).astype(np.float32),
            "shape_seed": np.arange(1, n + 1, dtype=np.int64),
        }
    )
    table["shape_kind"] = table["shape_kind"].astype("category")
    return table


def _rows(label, y, x, radius, elongation, angle, irregularity, shape_seed) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": label,
            "y": y,
            "x": x,
            "radius": radius,
            "elongation": elongation,
            "angle": angle,
            "irregularity": irregularity,
            "reach": 1.0,
            "shape_seed": shape_seed,
        }
    )


def _processes(fib: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One to three thin processes per fibroblast (see :func:`territory_rows`)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xF1B0])
    m = len(fib)
    n_proc = rng.integers(1, 4, m)
    idx = np.repeat(np.arange(m), n_proc)
    k = idx.size
    first = np.r_[0, np.cumsum(n_proc)[:-1]]
    j = np.arange(k) - first[idx]  # index of the process within its cell
    r = fib["radius"].to_numpy(float)[idx]
    long = r * np.sqrt(fib["elongation"].to_numpy(float)[idx])
    side = np.where(j % 2 == 0, 0.0, np.pi)  # alternate ends of the cell
    theta = fib["angle"].to_numpy(float)[idx] + side + rng.normal(0.0, 0.25, k)
    rp = r * rng.uniform(0.3, 0.5, k)
    ep = rng.uniform(6.0, 16.0, k)
    reach_p = rp * np.sqrt(ep)  # half length of the process
    d = 0.7 * long + 0.6 * reach_p
    # Image rows grow downwards: direction ``theta`` is (cos, -sin) in (x, y).
    label = fib["label"].to_numpy(np.int64)[idx]
    return _rows(
        label,
        fib["y"].to_numpy(float)[idx] - d * np.sin(theta),
        fib["x"].to_numpy(float)[idx] + d * np.cos(theta),
        rp,
        ep,
        np.mod(theta, np.pi),
        0.03,
        label * 8 + 1 + j + 10_000_000,
    )


def _capsules(rods: pd.DataFrame) -> pd.DataFrame:
    """Rods as capsules: chains of discs of the rod's width, at most 0.3 widths apart."""
    r = rods["radius"].to_numpy(float)
    e = rods["elongation"].to_numpy(float)
    length, width = 2.0 * r * np.sqrt(e), 2.0 * r / np.sqrt(e)
    span = np.maximum(length - width, 0.0)
    n = np.ceil(span / (0.3 * width)).astype(np.int64) + 1
    idx = np.repeat(np.arange(len(rods)), n)
    first = np.r_[0, np.cumsum(n)[:-1]]
    j = np.arange(idx.size) - first[idx]
    t = np.where(n[idx] > 1, j / np.maximum(n[idx] - 1, 1) - 0.5, 0.0) * span[idx]
    theta = rods["angle"].to_numpy(float)[idx]
    label = rods["label"].to_numpy(np.int64)[idx]
    return _rows(
        label,
        rods["y"].to_numpy(float)[idx] - t * np.sin(theta),
        rods["x"].to_numpy(float)[idx] + t * np.cos(theta),
        width[idx] / 2.0,
        1.0,
        0.0,
        0.0,
        label * 64 + j + 20_000_000,
    )


def territory_rows(cells: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Rows for :func:`~cellscale.data._territories.render_territories` (several per cell).

    Most cells are one row (an irregular ellipse). Each fibroblast adds one to
    three processes: thin ellipses (width 0.3-0.5 of the cell radius, elongation
    6-16) starting inside the cell's end and pointing out within about 0.3 rad
    of its long axis, so the cell tapers into long points. A rod is a capsule
    (round ends, even width): a chain of discs with its label.
    """
    cols = ["label", "y", "x", "radius", "elongation", "angle", "irregularity", "reach"]
    kind = cells["shape_kind"].astype(str).to_numpy()
    parts = [cells.loc[kind != "rod", cols + ["shape_seed"]]]
    if (kind == "fibroblast").any():
        parts.append(_processes(cells[kind == "fibroblast"], seed))
    if (kind == "rod").any():
        parts.append(_capsules(cells[kind == "rod"]))
    return pd.concat(parts, ignore_index=True)
