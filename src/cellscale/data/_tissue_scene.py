"""Marker rendering of tissue: compartments, per-cell levels, microscope and camera.

A window is drawn with a halo: cell territories
(:func:`~cellscale.data._territories.render_territories`) and nuclei clipped to
their cell (:func:`~cellscale.data._render.render_nuclei`) give the
compartments (membrane, cytoplasm, nucleus), each textured by smooth noise
defined by global pixel coordinates; each channel is its per-cell level
(looked up by label) times its compartment, plus tissue autofluorescence, and
goes through blur, background, vignetting and camera noise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cellscale.data._chunked import SimulatedScene
from cellscale.data._hashing import hash_uniforms
from cellscale.data._optics import acquire, background_field, blur_halo
from cellscale.data._render import render_nuclei
from cellscale.data._territories import render_territories
from cellscale.data._tissue_layout import MARKERS

__all__ = ["TissueScene"]


def _pixel_white(shape: tuple[int, int], offset: tuple[int, int], seed: int) -> np.ndarray:
    """White noise in (-0.5, 0.5) defined by global pixel coordinates (any window agrees)."""
    h, w = shape
    out = np.empty((h, w), np.float32)
    xx = np.arange(offset[1], offset[1] + w, dtype=np.int64)[None, :] + 1_000_000
    step = max(1, (1 << 16) // max(w, 1))  # blocks of rows that stay in cache
    for r0 in range(0, h, step):
        r1 = min(r0 + step, h)
        yy = np.arange(offset[0] + r0, offset[0] + r1, dtype=np.int64)[:, None] + 1_000_000
        keys = (yy * 4_000_003 + xx).ravel()
        u = hash_uniforms(keys, 1, salt=seed * 7919 + 5).reshape(r1 - r0, w).astype(np.float32)
        out[r0:r1] = u - 0.5
    return out


def _smooth_unit(white: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to unit std (exact away from the edges, 3 sigma)."""
    out = ndi.gaussian_filter(white, sigma, mode="constant", truncate=3.0)
    r = int(3.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    return out / np.float32(np.sqrt(1 / 12.0) * np.sum(k**2))


class TissueScene(SimulatedScene):
    """Renders any window of a tissue image (see ``cellscale.data._chunked``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.channels = ("DNA", "membrane", *self.p["markers"])
        self.n_channels = len(self.channels)
        self.label_names = ("nuclei", "cells")
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
        win, full = (y1 - y0, x1 - x0), self.shape
        vig = self.vignetting(y0, y1, x0, x1)
        out = np.empty((self.n_channels, *win), self.dtype)
        for c, name in enumerate(self.channels):
            # A marker's level (looked up by cell label) times its compartment.
            where = MARKERS.get(name, name)
            plane = dna if name == "DNA" else self.luts[name][cell_lab] * comp[where]
            plane = plane.astype(np.float32, copy=False)
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
            clean = plane + np.float32(cp["autofluorescence"]) * tissue
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
