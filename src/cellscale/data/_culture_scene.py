"""Rendering of cultured cells: the DNA channel and the cell-boundary channel.

Cells are territories (:func:`~cellscale.data._territories.render_territories`),
nuclei are drawn by :func:`~cellscale.data._render.render_nuclei` and clipped
to their cell. From the labels come the distance of each pixel to its cell's
edge and a thickness profile ``h`` (0 at the edge, 1 in the cell body, higher
over the nucleus). The boundary channel is then one of:

* fluorescence, ``membrane`` stain: a bright line along each membrane
  (``exp(-depth / width)``) over a dim cytoplasm;
* fluorescence, ``cytoplasm`` stain: ``h`` times a per-cell level, brighter
  near the nucleus, the nucleus itself dimmer or brighter, with grain;
* ``phase`` contrast: with optical path ``phi`` (``h`` plus the nucleus and
  granules), ``1 - k (phi - G_s * phi)``: cells dark (or bright, ``k < 0``)
  on a grey background with a bright halo just outside the edge (``G_s`` a
  Gaussian of the halo width);
* ``brightfield``: weak absorption ``1 - a phi`` plus defocus
  (``d s^2 laplacian(G_s * phi)``), a light/dark ring at the edge.

Unlabelled debris (specks) is added to the boundary channel (as optical path
in transmitted light, where it gets a halo) and to some DNA channels, and the
transmitted-light background is mottled. Both channels go through the PSF
blur, illumination and vignetting and the camera (:mod:`cellscale.data._camera`: sCMOS or EMCCD noise, 8-bit, JPEG).
The whole image is rendered at once (:func:`simulate_culture` limits its side).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cellscale.data._camera import expose, photons_for_snr
from cellscale.data._chunked import SimulatedScene
from cellscale.data._culture_layout import territory_rows
from cellscale.data._domain import illumination_field
from cellscale.data._optics import background_field, blur, blur_halo
from cellscale.data._render import render_nuclei
from cellscale.data._territories import render_territories
from cellscale.data._tissue_scene import _pixel_white, _smooth_unit

__all__ = ["CultureScene"]


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels of a cell whose 4-neighbour belongs to another cell or to the background."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def _drop_fragments(labels: np.ndarray) -> np.ndarray:
    """Keep each cell's largest 4-connected piece; smaller pieces become background.

    A process or the end of a cell cut off by a neighbour would otherwise be a
    second, separate piece of the same instance.
    """
    from skimage.measure import label as connected

    pieces = connected(labels, background=0, connectivity=1)
    n = int(pieces.max())
    if n == 0:
        return labels
    area = np.bincount(pieces.ravel(), minlength=n + 1)
    owner = np.zeros(n + 1, np.int64)
    owner[pieces.ravel()] = labels.ravel()
    order = np.lexsort((-area[1:], owner[1:])) + 1  # by owner, largest piece first
    first = np.r_[True, owner[order][1:] != owner[order][:-1]]
    keep = np.zeros(n + 1, bool)
    keep[order[first]] = True
    return np.where(keep[pieces], labels, 0).astype(labels.dtype)


class CultureScene(SimulatedScene):
    """Renders a culture image (see ``cellscale.data._chunked``); whole planes only."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.channels = ("DNA", "membrane")
        self.n_channels = 2
        self.label_names = ("nuclei", "cells")
        c = self.cells
        self.territories = territory_rows(c, self.seed)
        n = int(c["label"].max()) if len(c) else 0
        self.luts = {}
        # The thickness profile scales with the half width (of rods: W/2 = R / sqrt(e)).
        rod = (c["shape_kind"].astype(str) == "rod").to_numpy()
        half = c["radius"].to_numpy(float) / np.where(rod, np.sqrt(c["elongation"]), 1.0)
        for name, values in (("radius", half), ("stain", c["stain"]), ("phase", c["phase"])):
            lut = np.zeros(n + 1, np.float32)
            lut[c["label"].to_numpy()] = np.asarray(values, np.float32)
            self.luts[name] = lut
        nuc = c[c["has_nucleus"].to_numpy(bool)]
        self.nuclei = nuc[["label", "shape_seed"]].assign(
            y=nuc["nucleus_y"],
            x=nuc["nucleus_x"],
            radius=nuc["nucleus_diameter"] / 2.0,
            elongation=nuc["nucleus_elongation"],
            angle=nuc["nucleus_angle"],
            irregularity=nuc["nucleus_irregularity"],
            brightness=nuc["dna"],
            kind="interphase",
            texture=np.float32(self.p["dna_texture"]),
            foci=np.float32(self.p["dna_foci"]),
        )
        self.halo = blur_halo(psf_sigma=self.p["psf_sigma"]) + 4

    def render(self, y0: int, y1: int, x0: int, x1: int, rng: np.random.Generator):
        p, m = self.p, self.halo
        size = (y1 - y0 + 2 * m, x1 - x0 + 2 * m)
        off = (y0 - m, x0 - m)
        cell_lab = _drop_fragments(
            render_territories(size, self.territories, offset=off, seed=self.seed)
        )
        dna, whole = render_nuclei(size, self.nuclei, offset=off, seed=self.seed)
        # Nuclei are clipped to their cell; one left with less than half of itself, or
        # in pieces, is dropped (its DNA signal too).
        nuc_lab = _drop_fragments(np.where(whole == cell_lab, whole, 0).astype(np.uint32))
        n = int(whole.max()) + 1
        kept = np.bincount(nuc_lab.ravel(), minlength=n) >= 0.5 * np.bincount(
            whole.ravel(), minlength=n
        )
        nuc_lab = np.where(kept[nuc_lab], nuc_lab, 0).astype(np.uint32)
        dna = np.where(nuc_lab > 0, dna, 0.0).astype(np.float32)
        if p["nucleus_stain"] == "none":
            dna = np.zeros(size, np.float32)
        specks = self._debris(size, off)
        if p["nucleus_stain"] == "dna" and p["debris_dna"]:
            dna = dna + np.float32(p["debris_level"]) * specks
        boundary = self._boundary(cell_lab, nuc_lab, size, off, specks)
        win = (y1 - y0, x1 - x0)
        light = self.vignetting(y0, y1, x0, x1)
        if p["illumination"] > 0:
            light = light * illumination_field(
                win, offset=(y0, x0), full_shape=self.shape, seed=self.seed,
                strength=p["illumination"],
            )  # fmt: skip
        out = np.empty((2, *win), self.dtype)
        for c, clean in enumerate((dna, boundary)):
            cam = p["channels"][c]
            if cam["transmitted"]:
                self._transmitted_exposure(cam, clean[m:-m, m:-m], cell_lab[m:-m, m:-m] > 0)
                # Transmitted light: blur the deviation from the (bright) background.
                signal = blur(clean - 1.0, psf_sigma=p["psf_sigma"])[m:-m, m:-m] + 1.0
            else:
                bg = background_field(
                    win, offset=(y0, x0), full_shape=self.shape, seed=self.seed + 31 + c,
                    level=cam["background"], variation=0.3,
                )  # fmt: skip
                signal = blur(clean, psf_sigma=p["psf_sigma"])[m:-m, m:-m] + bg
            out[c] = self._expose(rng, np.clip(signal, 0.0, None) * light, cam)
        if p["nucleus_stain"] == "none" and self.opts.blank_dna == "zeros":
            out[0] = 0  # a role left blank: what segmentation feeds the model
        labels = {"nuclei": nuc_lab[m:-m, m:-m], "cells": cell_lab[m:-m, m:-m]}
        return out, labels

    def _debris(self, size: tuple[int, int], off: tuple[int, int]) -> np.ndarray:
        """Unlabelled specks (peak 1, Gaussian of ``debris_sigma``), ``debris`` per megapixel."""
        p = self.p
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 0xDEB2])
        n = int(rng.poisson(p["debris"] * size[0] * size[1] / 1e6))
        out = np.zeros(size, np.float32)
        if n == 0:
            return out
        y, x = rng.integers(0, size[0], n), rng.integers(0, size[1], n)
        np.add.at(out, (y, x), rng.uniform(0.3, 1.0, n).astype(np.float32))
        s = p["debris_sigma"]
        return ndi.gaussian_filter(out, s, mode="constant") * np.float32(2 * np.pi * s * s)

    def _boundary(self, cell_lab, nuc_lab, size, off, specks) -> np.ndarray:
        """Clean cell-boundary channel (relative intensity) of the padded window."""
        p = self.p
        cells = cell_lab > 0
        depth = ndi.distance_transform_edt(cells & ~_edges(cell_lab)).astype(np.float32)
        radius = np.maximum(self.luts["radius"][cell_lab], 1.0)
        white = _pixel_white(size, off, self.seed)
        grain = _smooth_unit(white, max(0.6, 0.03 * p["diameter"]))
        # Thickness: rises over the outer part of the cell, flat inside; thin parts
        # (processes, rods) hold at least 0.4 of it a pixel or two from their edge.
        body = np.clip(depth / (p["flatness"] * radius), 0.0, 1.0)
        h = np.maximum(1.0 - (1.0 - body) ** 2, 0.4 * np.clip(depth / 1.5, 0.0, 1.0)) * cells
        nucleus = nuc_lab > 0
        if nucleus.any():
            h = (
                h
                + p["nucleus_bulge"]
                * ndi.gaussian_filter(nucleus.astype(np.float32), max(1.0, 0.05 * p["diameter"]))
                * cells
            )
        if p["modality"] == "fluorescence":
            level = self.luts["stain"][cell_lab]
            if p["stain"] == "membrane":
                width = p["membrane_width"]
                line = np.exp(-depth / width) * cells
                sig = line + p["membrane_cytoplasm"] * h
                sig = level * sig * np.clip(1.0 + 0.3 * grain, 0.1, None)
                return (sig + p["debris_level"] * specks).astype(np.float32)
            if nucleus.any():
                near = ndi.distance_transform_edt(~nucleus).astype(np.float32)
                peri = 1.0 + p["perinuclear"] * np.exp(-near / (0.3 * radius))
            else:
                peri = 1.0
            sig = np.minimum(h, 1.0) * peri * np.where(nucleus, p["nucleus_level"], 1.0)
            sig = level * sig * np.clip(1.0 + p["grain"] * grain, 0.1, None)
            return (sig + p["debris_level"] * specks).astype(np.float32)
        # Transmitted light: optical path from thickness, nucleus and granules.
        granules = np.clip(_smooth_unit(white[::-1, ::-1], max(0.7, 0.02 * p["diameter"])) - 1.5,
                           0.0, None)  # fmt: skip
        body = (self.luts["phase"][cell_lab] * h).astype(np.float32)
        texture = body * 0.15 * grain + p["granules"] * granules * cells
        texture = (texture + p["debris_level"] * specks).astype(np.float32)
        s = p["halo_sigma"]
        if p["modality"] == "phase":
            phi = body + texture
            wide = ndi.gaussian_filter(phi, s, mode="nearest", truncate=3.0)
            image = 1.0 - p["contrast"] * (phi - wide)
        else:
            # Bright field: the defocus ring comes from the cell's smooth body; its
            # texture only absorbs a little.
            lap = ndi.gaussian_laplace(body, s, mode="nearest", truncate=3.0) * s * s
            image = 1.0 - p["contrast"] * (body + 0.5 * texture) + p["defocus"] * lap
        mottle = _smooth_unit(white[:, ::-1], p["mottle_sigma"])
        image = image * (1.0 + p["mottle"] * mottle)
        return np.clip(image, 0.02, None).astype(np.float32)

    @staticmethod
    def _transmitted_exposure(cam: dict, clean: np.ndarray, cells: np.ndarray) -> None:
        """Set ``photons`` and ``gain`` of a transmitted-light channel, in place.

        The SNR is the mean contrast of the cells' pixels, ``|I - 1|``, over the
        noise of the background (``I = 1``); the background lands at ``level`` ADU.
        """
        contrast = float(np.abs(clean[cells] - 1.0).mean()) if cells.any() else 0.1
        cam["contrast"] = max(contrast, 0.01)
        cam["photons"] = photons_for_snr(
            cam["snr"] / cam["contrast"], background=1.0, read_noise=cam["read_noise"]
        )
        cam["gain"] = cam["level"] / cam["photons"]

    def _expose(self, rng: np.random.Generator, signal: np.ndarray, cam: dict) -> np.ndarray:
        """Camera counts of an expected signal: sCMOS or EMCCD noise, clipping, JPEG."""
        return expose(
            rng, signal, camera=cam["camera"], photons=cam["photons"], gain=cam["gain"],
            offset=cam["offset"], read_noise=cam["read_noise"], dtype=self.dtype,
            em_gain=cam.get("em_gain"), jpeg_quality=cam["jpeg_quality"],
        )  # fmt: skip
