"""Multiplexed images of tissue sections (DNA, membrane and marker channels).

Cells are packed as in tissue: seeded centres (random sequential addition with
overlap, denser in epithelial islands and lymphoid aggregates, sparse in stroma,
none in lumens) grow into a power diagram with wavy membranes (each pixel goes
to the cell with the lowest power distance ``R^2 (f^2 - 1)``, ``f`` the cell's
normalised irregular radius, within a reach of ``f <= reach``), which fills
epithelium and leaves extracellular space in stroma. Each cell has an
irregular nucleus, off centre and clipped to the cell. Markers are drawn in
their compartment (membrane, cytoplasm, nucleus) at per-cell levels that
depend on the cell type; the levels are the ground truth in ``cells``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import ndimage as ndi

import cellscale
from cellscale.data._chunked import render_scene, use_chunks
from cellscale.data._layout import place_discs
from cellscale.data._nuclei import _validated
from cellscale.data._optics import (
    acquire,
    background_field,
    blur_halo,
    photons_for_snr,
    smooth_field_at,
    vignetting_field,
)
from cellscale.data._render import render_nuclei
from cellscale.data._sample import Sample
from cellscale.data._shapes import _cell_keys, hash_uniforms
from cellscale.io import Image

__all__ = ["CELL_TYPES", "MARKERS", "TissueOptions", "simulate_tissue"]

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
_COMPARTMENTS = ("membrane", "cytoplasm", "nucleus")


class TissueOptions(BaseModel):
    """Options of :func:`simulate_tissue`; None draws a value per image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: tuple[int, int] = (512, 512)
    """Image size (rows, columns), pixels; each side 32 .. 200,000."""
    seed: int = 0
    """Seed; the sample is a function of the options only."""
    n_markers: int = Field(4, ge=0, le=len(MARKERS))
    """Number of marker channels, taken in order from ``MARKERS`` (CD45, panCK, Ki67, CD3, ...)."""
    markers: tuple[str, ...] | None = None
    """Explicit marker names (overrides ``n_markers``)."""
    cell_types: tuple[str, ...] | None = None
    """Cell types present (default all of ``CELL_TYPES``)."""
    scale: float | None = None
    """Cell size relative to the defaults (a tumour cell ~21 px across); default drawn in
    0.8 .. 1.2."""
    epithelium_fraction: float | None = None
    """Fraction of the area in epithelial islands; default drawn in 0.25 .. 0.55."""
    lumen_fraction: float | None = None
    """Fraction of the area without cells (lumens, tears); default drawn in 0.02 .. 0.12."""
    snr: float | None = None
    """Signal-to-noise ratio of the DNA channel (as in ``simulate_nuclei``); markers vary
    around it; default drawn log-uniformly in 5 .. 60."""
    psf_sigma: float | None = None
    """Gaussian PSF sigma, pixels; default drawn in 0.8 .. 1.5."""
    dtype: Literal["uint16", "uint8"] = "uint16"
    """Camera data type."""
    chunked: bool | None = None
    """Render lazily with Dask chunks; default when the image exceeds 4096² pixels."""
    chunk_size: int = Field(2048, ge=256, le=16384)
    """Chunk side for lazy rendering, pixels."""

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(32 <= s <= 200_000 for s in v):
            raise ValueError(f"each side of shape must be in 32 .. 200000, got {v}")
        return v

    @field_validator("markers")
    @classmethod
    def _markers(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            bad = [m for m in v if m not in MARKERS]
            if bad or len(set(v)) != len(v):
                raise ValueError(
                    f"unknown or repeated marker(s) {bad or list(v)}; "
                    f"valid markers are {', '.join(MARKERS)}"
                )
        return v

    @field_validator("cell_types")
    @classmethod
    def _types(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            bad = [t for t in v if t not in CELL_TYPES]
            if bad or not v:
                raise ValueError(
                    f"unknown cell type(s) {bad}; valid types are {', '.join(CELL_TYPES)}"
                )
        return v


def _draw(
    rng: np.random.Generator, value: float | None, lo: float, hi: float, log: bool = False
) -> float:
    if value is not None:
        return float(value)
    if log:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


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


def _territory_harmonics(
    seed: int, shape_seeds: np.ndarray, irregularity: np.ndarray
) -> np.ndarray:
    """Complex coefficients (n, 4) of harmonics 2..5 of each cell's log-radius."""
    u = hash_uniforms(_cell_keys(seed ^ 0x7E77, shape_seeds), 12, salt=3)
    k = np.arange(2, 6)
    amp = (
        irregularity[:, None]
        * 1.1
        / k**1.1
        * np.sqrt(-2.0 * np.log(u[:, :4]))
        * np.cos(2 * np.pi * u[:, 4:8])
    )
    return amp * np.exp(-1j * 2 * np.pi * u[:, 8:12])


def _territory_fields(y, x, half, elongation, angle, coef):
    """Normalised irregular radius ``f`` (1 on the membrane) on (n, 2h+1, 2h+1) patches."""
    g = np.arange(-half, half + 1, dtype=np.float32)
    yy = g[None, :, None] - y[:, None, None].astype(np.float32)
    xx = g[None, None, :] - x[:, None, None].astype(np.float32)
    c, s = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    e = np.sqrt(np.maximum(elongation, 1.0)).astype(np.float32)
    # Image rows grow downwards: the long axis at ``angle`` is (cos, -sin) in (x, y).
    along = xx * c[:, None, None] - yy * s[:, None, None]
    across = xx * s[:, None, None] + yy * c[:, None, None]
    rho_e = np.sqrt((along / e[:, None, None]) ** 2 + (across * e[:, None, None]) ** 2)
    rho = np.sqrt(xx * xx + yy * yy) + np.float32(1e-6)
    z = (xx + 1j * yy) / rho  # unit direction, complex64
    zk = z * z
    log_r = np.zeros(rho.shape, np.float32)
    for k in range(4):
        log_r += (coef[:, k, None, None].astype(np.complex64) * zk).real
        zk = zk * z
    return rho_e * np.exp(-log_r)


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
    labels = np.zeros((h, w), np.uint32)
    score = np.full((h, w), np.inf, np.float32)
    if not len(cells):
        return labels
    radius_all = cells["radius"].to_numpy(float)
    elong_all = np.maximum(cells["elongation"].to_numpy(float), 1.0)
    irr_all = cells["irregularity"].to_numpy(float)
    # exp(sum |a_k|) bounds the harmonics; |a_k| < 4 sigma_k almost surely.
    bound = np.exp(irr_all * 4 * 1.1 * np.sum(1.0 / np.arange(2, 6) ** 1.1))
    ext = (
        np.ceil(radius_all * np.sqrt(elong_all) * bound * cells["reach"].to_numpy(float)).astype(
            int
        )
        + 2
    )
    cy_all, cx_all = np.rint(cells["y"].to_numpy(float)), np.rint(cells["x"].to_numpy(float))
    sel = (
        (cy_all + ext >= oy)
        & (cy_all - ext < oy + h)
        & (cx_all + ext >= ox)
        & (cx_all - ext < ox + w)
    )
    if not sel.any():
        return labels
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
    for half in np.unique(halves):
        idx = np.flatnonzero(halves == half)
        p = 2 * int(half) + 1
        step = max(1, (1 << 21) // (p * p))
        for b0 in range(0, idx.size, step):
            b = idx[b0 : b0 + step]
            f = _territory_fields(dy[b], dx[b], int(half), elong[b], angle[b], coef[b]) / radius[
                b, None, None
            ].astype(np.float32)
            sc = (radius[b, None, None] ** 2).astype(np.float32) * (f * f - 1.0)
            for j, i in enumerate(b):
                y0, x0 = iy[i] - half, ix[i] - half
                py0, px0 = max(0, -y0), max(0, -x0)
                py1, px1 = p - max(0, y0 + p - h), p - max(0, x0 + p - w)
                if py1 <= py0 or px1 <= px0:
                    continue
                win = (slice(y0 + py0, y0 + py1), slice(x0 + px0, x0 + px1))
                fj = f[j, py0:py1, px0:px1]
                s = sc[j, py0:py1, px0:px1]
                cur = score[win]
                take = (fj <= reach[i]) & ((s < cur) | ((s == cur) & (lab[i] > labels[win])))
                cur[take] = s[take]
                labels[win][take] = lab[i]
    return labels


def _pixel_white(shape: tuple[int, int], offset: tuple[int, int], seed: int) -> np.ndarray:
    """White noise in (-0.5, 0.5) defined by global pixel coordinates (any window agrees)."""
    h, w = shape
    yy = np.arange(offset[0], offset[0] + h, dtype=np.int64)[:, None] + 1_000_000
    xx = np.arange(offset[1], offset[1] + w, dtype=np.int64)[None, :] + 1_000_000
    keys = (yy * 4_000_003 + xx).ravel()
    return hash_uniforms(keys, 1, salt=seed * 7919 + 5).reshape(h, w).astype(np.float32) - 0.5


def _smooth_unit(white: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to unit std (exact away from the edges, 3 sigma)."""
    out = ndi.gaussian_filter(white, sigma, mode="constant", truncate=3.0)
    r = int(3.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    return out / np.float32(np.sqrt(1 / 12.0) * np.sum(k**2))


@dataclass
class _TissueScene:
    opts: TissueOptions
    p: dict[str, Any]
    cells: pd.DataFrame

    def __post_init__(self) -> None:
        self.shape = tuple(self.opts.shape)
        self.channels = ("DNA", "membrane", *self.p["markers"])
        self.n_channels = len(self.channels)
        self.dtype = np.dtype(self.opts.dtype)
        self.label_names = ("nuclei", "cells")
        self.seed = self.opts.seed
        n = int(self.cells["label"].max()) if len(self.cells) else 0
        self.luts = {}
        for name in ("membrane", *self.p["markers"]):
            lut = np.zeros(n + 1, np.float32)
            lut[self.cells["label"].to_numpy()] = self.cells[name].to_numpy(np.float32)
            self.luts[name] = lut
        nuc = self.cells[
            [
                "label",
                "nucleus_y",
                "nucleus_x",
                "nucleus_diameter",
                "nucleus_elongation",
                "angle",
                "nucleus_irregularity",
                "dna",
                "shape_seed",
            ]
        ].rename(
            columns={
                "nucleus_y": "y",
                "nucleus_x": "x",
                "nucleus_elongation": "elongation",
                "nucleus_irregularity": "irregularity",
                "dna": "brightness",
            }
        )
        nuc["radius"] = nuc.pop("nucleus_diameter") / 2.0
        nuc["kind"] = "interphase"
        nuc["texture"] = np.float32(0.8)
        nuc["foci"] = np.float32(0.5)
        self.nuclei = nuc
        self.halo = blur_halo(psf_sigma=self.p["psf_sigma"]) + 6

    def render(self, y0: int, y1: int, x0: int, x1: int, rng: np.random.Generator):
        p, m = self.p, self.halo
        size = (y1 - y0 + 2 * m, x1 - x0 + 2 * m)
        off = (y0 - m, x0 - m)
        cell_lab = render_territories(size, self.cells, offset=off, seed=self.seed)
        dna, nuc_lab = render_nuclei(size, self.nuclei, offset=off, seed=self.seed)
        inside = (nuc_lab == cell_lab) & (nuc_lab > 0)
        nuc_lab = np.where(inside, nuc_lab, 0).astype(np.uint32)
        dna = np.where(inside, dna, 0.0).astype(np.float32)
        # Compartments.
        edge = np.zeros(size, bool)
        edge[1:, :] |= cell_lab[1:, :] != cell_lab[:-1, :]
        edge[:-1, :] |= cell_lab[:-1, :] != cell_lab[1:, :]
        edge[:, 1:] |= cell_lab[:, 1:] != cell_lab[:, :-1]
        edge[:, :-1] |= cell_lab[:, :-1] != cell_lab[:, 1:]
        edge &= cell_lab > 0
        cyto = (cell_lab > 0) & (nuc_lab == 0)
        white = _pixel_white(size, off, self.seed)
        tex_c = 1.0 + 0.35 * _smooth_unit(white, 1.2)
        tex_m = 1.0 + 0.25 * _smooth_unit(white, 0.7)
        np.clip(tex_c, 0.1, None, out=tex_c)
        np.clip(tex_m, 0.1, None, out=tex_m)
        comp = {
            "membrane": (edge + 0.08 * cyto) * tex_m,
            "cytoplasm": cyto * tex_c + 0.05 * edge,
            "nucleus": (nuc_lab > 0) * tex_c * np.clip(dna, 0, 3) ** 0.5,
        }
        tissue = (cell_lab > 0).astype(np.float32)
        planes = [dna, self.luts["membrane"][cell_lab] * comp["membrane"]]
        for name in p["markers"]:
            planes.append(self.luts[name][cell_lab] * comp[MARKERS[name]])
        win, full = (y1 - y0, x1 - x0), self.shape
        vig = vignetting_field(
            win,
            offset=(y0, x0),
            full_shape=full,
            strength=p["vignetting"],
            tile=2048 if max(full) > 4096 else None,
        )
        out = np.empty((self.n_channels, *win), self.dtype)
        for c, plane in enumerate(planes):
            cp = p["channels"][c]
            bg = background_field(
                win,
                offset=(y0, x0),
                full_shape=full,
                seed=self.seed + 100 + c,
                level=cp["background"],
                variation=0.3,
            )
            # Tissue autofluorescence, stronger in the stroma-rich channels.
            clean = plane.astype(np.float32) + np.float32(cp["autofluorescence"]) * tissue
            out[c] = acquire(
                rng,
                clean,
                psf_sigma=p["psf_sigma"],
                background=bg,
                vignetting=vig,
                photons=cp["photons"],
                read_noise=p["read_noise"],
                gain=cp["gain"],
                offset=p["offset"],
                dtype=self.dtype,
                margin=m,
            )
        return out, {"nuclei": nuc_lab[m:-m, m:-m], "cells": cell_lab[m:-m, m:-m]}


def resolve_tissue_options(opts: TissueOptions) -> dict[str, Any]:
    """Draw every per-image parameter left open."""
    rng = np.random.default_rng([opts.seed & 0xFFFFFFFF, 0x7155A])
    markers = list(opts.markers) if opts.markers is not None else list(MARKERS)[: opts.n_markers]
    p: dict[str, Any] = {
        "markers": markers,
        "cell_types": list(opts.cell_types) if opts.cell_types is not None else list(_TYPES),
        "scale": _draw(rng, opts.scale, 0.8, 1.2),
        "epithelium_fraction": _draw(rng, opts.epithelium_fraction, 0.25, 0.55),
        "lumen_fraction": _draw(rng, opts.lumen_fraction, 0.02, 0.12),
        "aggregate_fraction": float(rng.uniform(0.03, 0.1)),
        "snr": _draw(rng, opts.snr, 5.0, 60.0, log=True),
        "psf_sigma": _draw(rng, opts.psf_sigma, 0.8, 1.5),
        "vignetting": float(rng.uniform(0.0, 0.2)),
        "read_noise": float(rng.uniform(1.0, 3.0)),
        "offset": float(rng.uniform(90.0, 110.0))
        if opts.dtype == "uint16"
        else float(rng.uniform(0.0, 8.0)),
    }
    p["t_epi"] = _quantile_threshold(p["epithelium_fraction"])
    p["t_lumen"] = _quantile_threshold(p["lumen_fraction"])
    p["t_agg"] = _quantile_threshold(p["aggregate_fraction"])
    channels = []
    for i, name in enumerate(["DNA", "membrane", *markers]):
        snr = p["snr"] * (1.0 if i == 0 else float(np.exp(rng.uniform(np.log(0.3), np.log(1.2)))))
        bg = float(np.exp(rng.uniform(np.log(0.02), np.log(0.15))))
        photons = photons_for_snr(snr, background=bg, read_noise=p["read_noise"])
        if opts.dtype == "uint8":
            gain = float(rng.uniform(50.0, 110.0)) / photons
        else:
            gain = float(np.exp(rng.uniform(np.log(2.0), np.log(20.0))))
        channels.append(
            {
                "name": name,
                "snr": snr,
                "background": bg,
                "photons": photons,
                "gain": gain,
                "autofluorescence": float(rng.uniform(0.02, 0.1)),
            }
        )
    p["channels"] = channels
    return p


def simulate_tissue(
    *,
    shape: tuple[int, int] = (512, 512),
    seed: int = 0,
    n_markers: int = 4,
    markers: tuple[str, ...] | list[str] | None = None,
    cell_types: tuple[str, ...] | list[str] | None = None,
    scale: float | None = None,
    epithelium_fraction: float | None = None,
    lumen_fraction: float | None = None,
    snr: float | None = None,
    psf_sigma: float | None = None,
    dtype: Literal["uint16", "uint8"] = "uint16",
    chunked: bool | None = None,
    chunk_size: int = 2048,
) -> Sample:
    """Simulate a multiplexed fluorescence image of a tissue section with ground truth.

    Epithelial (tumour) islands of densely packed cells sit in a stroma of
    elongated fibroblasts and endothelial cells along a fibre direction, with
    macrophages and lymphocytes; immune cells gather at island borders and in
    lymphoid aggregates; lumens hold no cells. Cells fill space (a power
    diagram with wavy membranes), each with an irregular, off-centre nucleus.
    Markers stain their compartment at levels set by the cell type.

    Parameters
    ----------
    shape : (int, int)
        Image size (rows, columns), pixels (about 0.5 µm each). Default (512, 512).
    seed : int
        Random seed. Default 0.
    n_markers : int
        Number of marker channels, taken in order from :data:`MARKERS`:
        CD45 (membrane), panCK (cytoplasm), Ki67 (nucleus), CD3 (membrane),
        CD68, CD20, aSMA, CD8, CD31, Vimentin, ECad, FOXP3, HLA-DR, CD4, PD-L1.
        Default 4.
    markers : sequence of str, optional
        Marker names to use instead of the first ``n_markers``.
    cell_types : sequence of str, optional
        Cell types present, from :data:`CELL_TYPES` (tumor, T_cytotoxic,
        T_helper, B_cell, macrophage, fibroblast, endothelial). Default all.
    scale : float, optional
        Cell size relative to the defaults (a tumour cell ~21 px across).
        Default drawn in 0.8 .. 1.2.
    epithelium_fraction, lumen_fraction : float, optional
        Fractions of the area in epithelial islands and without cells.
        Defaults drawn in 0.25 .. 0.55 and 0.02 .. 0.12.
    snr : float, optional
        DNA-channel signal-to-noise ratio; marker channels are 0.3-1.2 times it.
        Default drawn in 5 .. 60.
    psf_sigma : float, optional
        Gaussian PSF sigma, pixels. Default drawn in 0.8 .. 1.5.
    dtype : {"uint16", "uint8"}
        Camera data type. Default "uint16".
    chunked : bool, optional
        Return Dask arrays rendered chunk by chunk; default when the image has
        more than 4096² pixels.
    chunk_size : int
        Chunk side for lazy rendering, pixels. Default 2048.

    Returns
    -------
    Sample
        ``kind="tissue"``; ``image`` axes ``"cyx"`` with channels ``DNA``,
        ``membrane`` and the markers; ``labels["cells"]`` (whole cells) and
        ``labels["nuclei"]`` (nucleus ``i`` lies inside cell ``i``), uint32;
        ``cells``: ``label, y, x, diameter`` (nominal, px), ``cell_type``,
        ``region`` (epithelium/border/stroma/aggregate), geometry, nucleus
        centre and diameter, and one column per marker (plus ``membrane`` and
        ``dna``) with the cell's true level in clean-signal units (0 =
        negative), drawn in the marker's compartment (``params["compartments"]``).

    Examples
    --------
    >>> s = simulate_tissue(shape=(128, 128), seed=0, n_markers=2)
    >>> s.image.channel_names
    ('DNA', 'membrane', 'CD45', 'panCK')
    """
    opts = _validated(
        TissueOptions,
        shape=shape,
        seed=seed,
        n_markers=n_markers,
        markers=tuple(markers) if markers is not None else None,
        cell_types=tuple(cell_types) if cell_types is not None else None,
        scale=scale,
        epithelium_fraction=epithelium_fraction,
        lumen_fraction=lumen_fraction,
        snr=snr,
        psf_sigma=psf_sigma,
        dtype=dtype,
        chunked=chunked,
        chunk_size=chunk_size,
    )
    p = resolve_tissue_options(opts)
    cells = tissue_table(opts, p)
    lazy = use_chunks(opts.shape, opts.chunked)
    scene = _TissueScene(opts, p, cells)
    data, labels = render_scene(scene, chunked=lazy, chunk_size=opts.chunk_size)
    if not lazy:
        present = np.zeros(len(cells) + 1, bool)
        present[np.unique(labels["cells"])] = True
        present[0] = False
        cells = cells[present[cells["label"].to_numpy()]].reset_index(drop=True)
    image = Image(
        data=data, axes="cyx", channel_names=scene.channels, pixel_size={"y": 0.5, "x": 0.5}
    )
    params = {
        "function": "cellscale.data.simulate_tissue",
        "cellscale_version": cellscale.__version__,
        "options": opts.model_dump(mode="json"),
        "resolved": p,
        "compartments": {m: MARKERS[m] for m in p["markers"]},
        "lazy": lazy,
    }
    cells = cells.drop(columns=["reach"])
    return Sample(kind="tissue", image=image, labels=labels, cells=cells, params=params)
