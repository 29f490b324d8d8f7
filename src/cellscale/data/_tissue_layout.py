"""Where tissue cells go and what they are: regions, cell types, geometry, marker levels.

Cells are packed as in tissue: seeded centres (random sequential addition with
overlap, :func:`~cellscale.data._layout.place_discs`) are denser in epithelial
islands and lymphoid aggregates, sparse in stroma and absent from lumens; the
regions are thresholds of smooth random fields. Each cell gets a type from its
region's mix, a size and shape from its type, an irregular off-centre nucleus,
and per-marker levels (the ground truth in ``cells``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cellscale.data._layout import place_discs
from cellscale.data._optics import smooth_field_at

if TYPE_CHECKING:
    from cellscale.data._tissue import TissueOptions

__all__ = ["CELL_TYPES", "MARKERS", "tissue_table"]

#: Marker name -> compartment it stains, in the order markers are added.
MARKERS: dict[str, str] = {
    "CD45": "membrane",
    "panCK": "cytoplasm",
    "Ki67": "nucleus",
    "CD3": "membrane",
    "CD68": "cytoplasm",
    "CD20": "membrane",
    "aSMA": "cytoplasm",
    "CD8": "membrane",
    "CD31": "membrane",
    "Vimentin": "cytoplasm",
    "ECad": "membrane",
    "FOXP3": "nucleus",
    "HLA-DR": "membrane",
    "CD4": "membrane",
    "PD-L1": "membrane",
}

#: Cell type -> marker -> (mean level when positive, fraction of cells positive).
CELL_TYPES: dict[str, dict[str, tuple[float, float]]] = {
    "tumor": {
        "panCK": (1.0, 0.97),
        "ECad": (0.8, 0.9),
        "Ki67": (1.0, 0.35),
        "PD-L1": (0.5, 0.3),
        "HLA-DR": (0.3, 0.2),
        "Vimentin": (0.3, 0.05),
    },
    "T_cytotoxic": {"CD45": (0.8, 1.0), "CD3": (1.0, 0.97), "CD8": (1.0, 0.95), "Ki67": (1.0, 0.1)},
    "T_helper": {
        "CD45": (0.8, 1.0),
        "CD3": (1.0, 0.97),
        "CD4": (0.8, 0.95),
        "FOXP3": (1.0, 0.15),
        "Ki67": (1.0, 0.08),
    },
    "B_cell": {"CD45": (0.8, 1.0), "CD20": (1.0, 0.97), "HLA-DR": (0.7, 0.9), "Ki67": (1.0, 0.15)},
    "macrophage": {
        "CD45": (0.5, 0.95),
        "CD68": (1.0, 0.95),
        "HLA-DR": (0.6, 0.7),
        "PD-L1": (0.4, 0.3),
        "CD4": (0.25, 0.5),
    },
    "fibroblast": {"Vimentin": (1.0, 0.95), "aSMA": (0.7, 0.6), "Ki67": (1.0, 0.03)},
    "endothelial": {"CD31": (1.0, 0.95), "Vimentin": (0.5, 0.8)},
}
_TYPES = tuple(CELL_TYPES)
#: Per type: cell radius (px at ~0.5 µm/px), its spread (std of log), elongation range,
#: nucleus/cell radius ratio range, reach (how far a cell may extend, in radii).
_GEOMETRY = {
    "tumor": (10.5, 0.18, (1.0, 1.5), (0.45, 0.6), 1.65),
    "T_cytotoxic": (5.5, 0.1, (1.0, 1.2), (0.72, 0.82), 1.3),
    "T_helper": (5.5, 0.1, (1.0, 1.2), (0.72, 0.82), 1.3),
    "B_cell": (5.8, 0.1, (1.0, 1.2), (0.72, 0.82), 1.3),
    "macrophage": (9.5, 0.2, (1.0, 1.8), (0.4, 0.5), 1.3),
    "fibroblast": (8.0, 0.2, (2.5, 4.5), (0.45, 0.55), 1.2),
    "endothelial": (7.5, 0.2, (2.0, 3.5), (0.45, 0.55), 1.2),
}
#: Region -> cell-type mix (types left out of ``cell_types`` are dropped, the rest
#: renormalised).
_MIX = {
    "epithelium": {"tumor": 0.9, "T_cytotoxic": 0.05, "T_helper": 0.02, "macrophage": 0.03},
    "border": {
        "tumor": 0.25,
        "T_cytotoxic": 0.25,
        "T_helper": 0.15,
        "macrophage": 0.2,
        "fibroblast": 0.15,
    },
    "stroma": {
        "fibroblast": 0.45,
        "macrophage": 0.15,
        "T_cytotoxic": 0.1,
        "T_helper": 0.1,
        "B_cell": 0.05,
        "endothelial": 0.15,
    },
    "aggregate": {"B_cell": 0.5, "T_helper": 0.3, "T_cytotoxic": 0.15, "macrophage": 0.05},
}
_REGIONS = ("epithelium", "border", "stroma", "aggregate", "lumen")


def _quantile_threshold(fraction: float) -> float:
    """Threshold t with P(F > t) ~= fraction for the unit-variance random field."""
    from scipy.special import ndtri

    return float(-ndtri(np.clip(fraction, 1e-4, 1 - 1e-4)))


@dataclass
class _Regions:
    seed: int
    scale: float
    t_epi: float
    t_lumen: float
    t_agg: float
    border: float

    def at(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Region index (into ``_REGIONS``) at points."""
        epi = smooth_field_at(y, x, seed=self.seed + 11, scale=self.scale * 30)
        lum = smooth_field_at(y, x, seed=self.seed + 12, scale=self.scale * 10)
        agg = smooth_field_at(y, x, seed=self.seed + 13, scale=self.scale * 8)
        out = np.full(np.shape(y), 2, np.int8)  # stroma
        out[agg > self.t_agg] = 3
        out[np.abs(epi - self.t_epi) < self.border] = 1
        out[epi >= self.t_epi + self.border] = 0
        out[lum > self.t_lumen] = 4
        return out


def tissue_table(opts: TissueOptions, p: dict[str, Any]) -> pd.DataFrame:
    """Global table of cells (positions, types, geometry, nuclei, marker levels)."""
    seed = opts.seed
    types = [t for t in _TYPES if t in p["cell_types"]]
    scale = p["scale"]
    regions = _Regions(seed, 10.5 * scale, p["t_epi"], p["t_lumen"], p["t_agg"], 0.08)
    mix = np.zeros((len(_REGIONS), len(_TYPES)))
    for ri, name in enumerate(_REGIONS[:4]):
        for t, f in _MIX[name].items():
            if t in types:
                mix[ri, _TYPES.index(t)] = f
    for ri in range(4):
        if mix[ri].sum() == 0:  # no allowed type for this region: use the allowed ones evenly
            mix[ri, [_TYPES.index(t) for t in types]] = 1.0
    mix[:4] /= mix[:4].sum(1, keepdims=True)
    r_type = np.array([_GEOMETRY[t][0] for t in _TYPES]) * scale
    mean_area = mix[:4] @ (np.pi * r_type**2)
    packing = np.array([1.25, 1.1, 0.55, 1.25, 0.0])  # cells per pixel x mean cell area

    def count(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        reg = regions.at(y, x)
        out = np.zeros(reg.shape)
        ok = reg < 4
        out[ok] = packing[reg[ok]] / mean_area[reg[ok]]
        return out

    def attributes(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        n = y.size
        reg = regions.at(y, x) if n else np.zeros(0, np.int8)
        reg = np.minimum(reg, 3)
        cum = np.cumsum(mix[reg], axis=1) if n else np.zeros((0, len(_TYPES)))
        t = (rng.random(n)[:, None] > cum).sum(1) if n else np.zeros(0, int)
        t = np.minimum(t, len(_TYPES) - 1)
        spread = np.array([_GEOMETRY[k][1] for k in _TYPES])
        r = r_type[t] * np.exp(rng.normal(0.0, 1.0, n) * spread[t])
        return np.column_stack([r, t, reg])

    y, x, attr = place_discs(
        opts.shape, seed=seed, count_per_pixel=count, draw_attributes=attributes, overlap=0.32
    )
    n = y.size
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x7155])
    radius, tcode, reg = attr[:, 0], attr[:, 1].astype(int), attr[:, 2].astype(int)
    tname = np.array(_TYPES, dtype=object)[tcode]
    e_lo = np.array([_GEOMETRY[k][2][0] for k in _TYPES])[tcode]
    e_hi = np.array([_GEOMETRY[k][2][1] for k in _TYPES])[tcode]
    elongation = e_lo + (e_hi - e_lo) * rng.random(n)
    # Elongated stromal cells follow the fibre direction (a smooth field).
    fibre = np.pi * smooth_field_at(y, x, seed=seed + 14, scale=regions.scale * 6)
    angle = np.mod(fibre + rng.normal(0.0, 0.35, n), np.pi)
    round_ = elongation < 1.6
    angle[round_] = rng.uniform(0, np.pi, int(round_.sum()))
    reach = np.array([_GEOMETRY[k][4] for k in _TYPES])[tcode]
    # Nucleus: a fraction of the cell, off centre, elongated like the cell.
    n_lo = np.array([_GEOMETRY[k][3][0] for k in _TYPES])[tcode]
    n_hi = np.array([_GEOMETRY[k][3][1] for k in _TYPES])[tcode]
    n_radius = radius * (n_lo + (n_hi - n_lo) * rng.random(n))
    off = 0.55 * (radius - n_radius) * np.sqrt(rng.random(n))
    oa = rng.uniform(0, 2 * np.pi, n)
    n_y, n_x = y + off * np.sin(oa), x + off * np.cos(oa)
    n_elong = 1.0 + (elongation - 1.0) * rng.uniform(0.6, 1.0, n)
    table = pd.DataFrame(
        {
            "label": np.arange(1, n + 1, dtype=np.int64),
            "y": y,
            "x": x,
            "diameter": 2.0 * radius,
            "cell_type": tname,
            "region": np.array(_REGIONS, dtype=object)[reg],
            "radius": radius,
            "elongation": elongation,
            "angle": angle,
            "irregularity": rng.uniform(0.04, 0.1, n),
            "reach": reach,
            "nucleus_y": n_y,
            "nucleus_x": n_x,
            "nucleus_diameter": 2.0 * n_radius,
            "nucleus_elongation": n_elong,
            "nucleus_irregularity": rng.uniform(0.04, 0.12, n),
            "dna": np.exp(rng.normal(0.0, 0.2, n)).astype(np.float32),
            "membrane": (
                np.exp(rng.normal(0.0, 0.25, n)) * np.where(tname == "tumor", 1.3, 0.8)
            ).astype(np.float32),
        }
    )
    for m in p["markers"]:
        level = np.zeros(n, np.float32)
        for t in _TYPES:
            if m in CELL_TYPES[t]:
                mean, frac = CELL_TYPES[t][m]
                sel = tcode == _TYPES.index(t)
                k = int(sel.sum())
                pos = rng.random(k) < frac
                level[sel] = pos * mean * np.exp(rng.normal(0.0, 0.35, k))
        table[m] = level
    table["shape_seed"] = table["label"]
    for col in ("cell_type", "region"):  # categories keep million-row tables small
        table[col] = table[col].astype("category")
    return table
