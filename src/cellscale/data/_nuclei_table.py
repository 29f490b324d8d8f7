"""The ground-truth table of a nuclei image: where nuclei are, their shapes and kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cellscale.data._domain import DOMAIN_COLUMNS, draw_domain_columns
from cellscale.data._layout import place_discs
from cellscale.data._optics import smooth_field_at

if TYPE_CHECKING:
    from cellscale.data._nuclei import NucleiOptions

__all__ = ["DEFOCUS_SIGMA", "nuclei_table", "relabel_cells"]

#: Extra blur (pixels, Gaussian sigma) of nuclei lying out of the focal plane, per level.
DEFOCUS_SIGMA = (0.0, 2.0, 4.0)


def nuclei_table(opts: NucleiOptions, p: dict[str, Any]) -> pd.DataFrame:
    """Global ground-truth table of all nuclei (positions, shapes, kinds)."""
    h, w = opts.shape
    seed = opts.seed
    r_typ = p["diameter"] / 2.0
    cv = p["diameter_cv"]
    lo, hi = (p["range"][0] / 2, p["range"][1] / 2) if p["range"] else (1.5, np.inf)

    def attributes(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        n = y.size
        # DNA content: G1 = 1, S in (1, 2), G2 = 2; G2 nuclei are larger.
        phase = rng.choice(3, size=n, p=[0.55, 0.3, 0.15])
        dna = np.where(phase == 0, 1.0, np.where(phase == 1, rng.uniform(1.0, 2.0, n), 2.0))
        r = r_typ * np.exp(rng.normal(0.0, cv, n)) * dna**0.3
        return np.column_stack([np.clip(r, lo, hi), phase, dna])

    mean_r2 = r_typ**2 * np.exp(2 * cv**2) * 1.18 * 0.95  # E[dna^0.6]; smaller M/apoptotic
    kappa = p["clustering"]
    field_scale = 10.0 * p["diameter"]

    def weight(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.exp(kappa * _field(y, x, seed=seed + 1, scale=field_scale))

    rate = p["density"] / (np.pi * mean_r2)

    def count(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return rate * weight(y, x) / np.exp(kappa**2 / 2)

    overlap = 0.03 + 0.22 * np.clip((p["density"] - 0.1) / 0.4, 0.0, 1.0)
    if p.get("overlap") is not None:
        overlap = p["overlap"]
    y, x, attr = place_discs(
        (h, w), seed=seed, count_per_pixel=count, draw_attributes=attributes, overlap=overlap
    )
    n = y.size
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x7AB])
    radius, phase, dna = attr[:, 0], attr[:, 1].astype(int), attr[:, 2]
    # Local alignment of elongated nuclei (confluent cells align like a nematic).
    aligned = np.pi * _field(y, x, seed=seed + 2, scale=field_scale)
    spread = np.pi * (1.0 - p["alignment"]) + 0.15
    angle = np.mod(aligned + rng.normal(0.0, spread, n), np.pi)
    elongation = 1.0 + rng.gamma(2.0, p["elongation_mean"] / 2.0, n)
    irregularity = p["irregularity"] * np.exp(rng.normal(0.0, 0.4, n))
    brightness = np.exp(rng.normal(0.0, p["brightness_cv"], n)) * dna**0.3
    cycle = np.array(["G1", "S", "G2"])[phase].astype(object)
    kind = np.full(n, "interphase", dtype=object)
    defocus = (rng.random(n) < p["defocus_fraction"]) * rng.integers(1, len(DEFOCUS_SIGMA), n)
    # Mitosis and apoptosis.
    u = rng.random(n)
    mit = u < p["mitotic_fraction"]
    apo = (u >= p["mitotic_fraction"]) & (u < p["mitotic_fraction"] + p["apoptotic_fraction"])
    stage = rng.choice(3, size=n, p=[0.35, 0.35, 0.3])
    pro, meta, ana = mit & (stage == 0), mit & (stage == 1), mit & (stage == 2)
    kind[pro], kind[meta], kind[apo] = "prophase", "metaphase", "apoptotic"
    cycle[mit], cycle[apo] = "M", "apoptotic"
    radius = np.where(pro, radius * 0.9, radius)
    radius = np.where(meta, radius * rng.uniform(0.6, 0.72, n), radius)
    elongation = np.where(
        meta, rng.uniform(1.8, 3.2, n), np.where(pro, 1.0 + 0.3 * (elongation - 1), elongation)
    )
    radius = np.where(apo, radius * rng.uniform(0.45, 0.7, n), radius)
    brightness = np.where(mit | apo, brightness / dna**0.3 * 1.2, brightness)
    table = pd.DataFrame(
        {
            "y": y,
            "x": x,
            "radius": radius,
            "elongation": elongation,
            "angle": angle,
            "irregularity": irregularity,
            "brightness": brightness.astype(np.float32),
            "kind": kind,
            "cell_cycle": cycle,
            "dna_content": np.where(mit, 2.0, dna),
            "defocus": defocus.astype(np.int8),
            "sister": 0,
            "texture": (p["texture"] * np.exp(rng.normal(0.0, 0.2, n))).astype(np.float32),
            "foci": np.float32(p["foci"]),
        }
    )
    # Anaphase: the nucleus becomes two separating chromatid plates.
    a_idx = np.flatnonzero(ana)
    if a_idx.size:
        par = table.iloc[a_idx]
        sep = par["radius"].to_numpy() * rng.uniform(0.7, 1.5, a_idx.size)
        axis = par["angle"].to_numpy()
        d_rad = par["radius"].to_numpy() * rng.uniform(0.45, 0.55, a_idx.size)
        kids = []
        for sign in (-1.0, 1.0):
            kid = par.copy()
            kid["y"] = par["y"].to_numpy() - sign * sep * np.sin(axis)
            kid["x"] = par["x"].to_numpy() + sign * sep * np.cos(axis)
            kid["radius"] = d_rad
            kid["elongation"] = rng.uniform(1.8, 3.0, a_idx.size)
            kid["angle"] = np.mod(axis + np.pi / 2, np.pi)
            kid["kind"] = "anaphase"
            kid["cell_cycle"] = "M"
            kid["dna_content"] = 1.0
            kid["brightness"] = (par["brightness"].to_numpy() / dna[a_idx] ** 0.3 * 1.2).astype(
                np.float32
            )
            kids.append(kid)
        table = pd.concat([table.drop(table.index[a_idx]), kids[0], kids[1]], ignore_index=True)
        m = a_idx.size
        first = len(table) - 2 * m
        table.loc[first : first + m - 1, "sister"] = np.arange(first + m, first + 2 * m) + 1
        table.loc[first + m :, "sister"] = np.arange(first, first + m) + 1
    table.insert(0, "label", np.arange(1, len(table) + 1, dtype=np.int64))
    domain = "brightness_range" in p
    if domain:
        table = draw_domain_columns(table, p, seed)
    table = table[
        (table["y"] >= 0) & (table["y"] < h - 0.5) & (table["x"] >= 0) & (table["x"] < w - 0.5)
    ]
    table.loc[~table["sister"].isin(table["label"]), "sister"] = 0
    table = relabel_cells(table)
    table["diameter"] = 2.0 * table["radius"]
    table["shape_seed"] = table["label"].astype(np.int64)
    cols = [
        "label",
        "y",
        "x",
        "diameter",
        "radius",
        "elongation",
        "angle",
        "irregularity",
        "brightness",
        "texture",
        "foci",
        "kind",
        "cell_cycle",
        "dna_content",
        "defocus",
        "sister",
        "shape_seed",
    ]
    if domain:
        cols += list(DOMAIN_COLUMNS)
    table = table[cols]
    for col in ("kind", "cell_cycle"):  # categories keep million-row tables small
        table[col] = table[col].astype("category")
    return table


def _field(y: np.ndarray, x: np.ndarray, *, seed: int, scale: float) -> np.ndarray:
    return smooth_field_at(y, x, seed=seed, scale=scale)


def relabel_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Renumber ``label`` 1..n in row order, mapping ``sister`` references (0 stays 0).

    ``shape_seed`` is kept, so every nucleus keeps its shape and texture.
    """
    old = cells["label"].to_numpy()
    new = np.arange(1, len(cells) + 1, dtype=np.int64)
    lut = np.zeros(int(old.max()) + 1 if len(old) else 1, np.int64)
    lut[old] = new
    out = cells.copy()
    out["label"] = new
    sis = out["sister"].to_numpy()
    sis = np.where((sis > 0) & (sis < lut.size), lut[np.clip(sis, 0, lut.size - 1)], 0)
    out["sister"] = sis
    return out.reset_index(drop=True)
