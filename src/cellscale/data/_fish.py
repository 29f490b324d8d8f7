"""Single-molecule FISH images: diffraction-limited spots inside simulated cells.

A base image (:func:`~cellscale.data.simulate_nuclei` or
:func:`~cellscale.data.simulate_tissue`) gives the DNA channel and the cells.
For a nuclei base the cytoplasm is the nucleus grown by ``cytoplasm`` pixels
(:func:`skimage.segmentation.expand_labels`, stopping where cells meet).

Each cell has a type; each gene a mean count per type; a cell's count of a gene
is negative binomial around that mean scaled by the cell's area. Molecules lie
mostly in the cytoplasm (some in clusters, as in RNA granules), a fraction in
the nucleus, plus up to two bright transcription sites per gene in the nucleus.
Every molecule is a Gaussian spot (PSF sigma ``spot_sigma``, sub-pixel centre,
log-normal brightness) on a background of uneven autofluorescence, brighter in
the cytoplasm, with a few dim non-specific spots anywhere; then shot and read
noise.

Axes. Single round (``rounds=None``): ``image.axes == "cyx"``, channels
``("DNA", *genes)``, one channel per gene. Multiplexed (``rounds=R``):
``image.axes == "tcyx"`` where **t is the imaging round**, channels
``("DNA", *colours)``; gene ``g`` appears in round ``r``, colour ``c`` when bit
``r * C + c`` of its barcode is 1 (``tables["codebook"]``, columns
``r{r}c{c}``). Rounds are displaced by whole pixels (stage repositioning):
round ``r``'s content is shifted by ``tables["round_shifts"]`` ``(shift_y,
shift_x)``, so a spot at ``(y, x)`` of the ground truth (round 0, which is not
shifted) appears at ``(y + shift_y, x + shift_x)`` in round ``r``. A spot is
missing from one of its ``on`` images with probability ``bit_error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from cellscale.data._codebook import codebook_bits, make_codebook
from cellscale.data._optics import add_camera_noise, background_field, photons_for_snr
from cellscale.data._sample import Sample
from cellscale.errors import InvalidArgumentError
from cellscale.io import Image

__all__ = ["DEFAULT_GENES", "render_spots", "simulate_fish"]

#: Gene names used when ``genes`` is not given (the first ``n_genes``).
DEFAULT_GENES = ("ACTB", "GAPDH", "MKI67", "EEF2", "POLR2A", "TOP2A", "VIM", "KRT18", "CCNB1",
                 "MYC", "FOS", "HSPA1A", "CDKN1A", "TFRC", "PGK1", "RPLP0")
_COLOURS = ("AF488", "Cy3", "Cy5", "AF750")
_SPOT_COLUMNS = ["y", "x", "gene", "cell", "intensity", "kind", "nucleus"]


def render_spots(shape: tuple[int, int], y: np.ndarray, x: np.ndarray, amplitude: np.ndarray,
                 sigma: float | np.ndarray) -> np.ndarray:
    """Sum of Gaussian spots evaluated at pixel centres.

    Parameters
    ----------
    shape : (int, int)
        Output size, pixels.
    y, x : numpy.ndarray of float, shape (n,)
        Spot centres, pixels (sub-pixel); spots partly outside are cut.
    amplitude : numpy.ndarray of float, shape (n,)
        Peak value of each spot.
    sigma : float or numpy.ndarray, shape (n,)
        Gaussian standard deviation, pixels.

    Returns
    -------
    numpy.ndarray of float32, shape ``shape``
    """
    h, w = int(shape[0]), int(shape[1])
    y, x = np.asarray(y, float), np.asarray(x, float)
    sigma = np.broadcast_to(np.asarray(sigma, float), y.shape)
    if y.size == 0:
        return np.zeros((h, w), np.float32)
    k = int(np.ceil(3.5 * sigma.max()))
    off = np.arange(-k, k + 1)
    iy, ix = np.rint(y).astype(np.int64), np.rint(x).astype(np.int64)
    py = iy[:, None] + off[None, :]  # (n, 2k+1)
    px = ix[:, None] + off[None, :]
    gy = np.exp(-((py - y[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
    gx = np.exp(-((px - x[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
    vals = (np.asarray(amplitude, float)[:, None, None] * gy[:, :, None] * gx[:, None, :]).ravel()
    yy = np.broadcast_to(py[:, :, None], (y.size, off.size, off.size)).ravel()
    xx = np.broadcast_to(px[:, None, :], (y.size, off.size, off.size)).ravel()
    ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    out = np.bincount(yy[ok] * w + xx[ok], weights=vals[ok], minlength=h * w)
    return out.reshape(h, w).astype(np.float32)


def simulate_fish(
    *,
    base: str = "nuclei",
    shape: tuple[int, int] = (512, 512),
    seed: int = 0,
    genes: Sequence[str] | None = None,
    n_genes: int = 4,
    spots_per_cell: float = 30.0,
    dispersion: float = 2.0,
    n_cell_types: int = 3,
    nuclear_fraction: float = 0.15,
    cluster_fraction: float = 0.15,
    transcription_sites: float = 0.6,
    nonspecific: float = 1.0,
    snr: float | None = None,
    spot_sigma: float | None = None,
    diameter: float = 60.0,
    density: float = 0.1,
    cytoplasm: float | None = None,
    rounds: int | None = None,
    colours: int = 2,
    codebook: pd.DataFrame | None = None,
    bit_error: float = 0.05,
    round_shift: float = 2.0,
    background: float = 0.25,
    autofluorescence: float = 0.15,
    read_noise: float = 1.5,
    pixel_size: float = 0.108,
    base_options: dict[str, Any] | None = None,
) -> Sample:
    """Simulate a single-molecule FISH image (single-round or multiplexed) with spot ground truth.

    Parameters
    ----------
    base : {"nuclei", "tissue"}, default "nuclei"
        Which simulator draws the cells and the DNA channel.
    shape : (int, int), default (512, 512)
        Image size (rows, columns), pixels.
    seed : int, default 0
        Seed; the same arguments give the same sample.
    genes : sequence of str, optional
        Gene names. Default: the first ``n_genes`` of :data:`DEFAULT_GENES`.
    n_genes : int, default 4
        Number of genes when ``genes`` is None.
    spots_per_cell : float, default 30.0
        Mean molecules of one gene in a cell of median area, averaged over genes
        and cell types (each (type, gene) mean is this times a log-normal factor).
    dispersion : float, default 2.0
        Negative-binomial size parameter (smaller: burstier expression).
    n_cell_types : int, default 3
        Cell types with distinct expression (used when the base has no ``cell_type``).
    nuclear_fraction : float, default 0.15
        Fraction of molecules in the nucleus.
    cluster_fraction : float, default 0.15
        Fraction of cytoplasmic molecules packed in small clusters (within ~1.5 px).
    transcription_sites : float, default 0.6
        Mean number of active transcription sites per cell and gene (at most 2);
        each is one bright nuclear spot, 2-8 times a single molecule.
    nonspecific : float, default 1.0
        Dim non-specific spots per 10,000 pixels per gene image.
    snr : float, optional
        Peak of a typical single-molecule spot above background divided by the
        background noise standard deviation. Default: drawn log-uniformly in
        3 .. 15 per image (``params["snr"]``).
    spot_sigma : float, optional
        PSF sigma, pixels. Default: drawn in 1.0 .. 1.5 per image.
    diameter : float, default 60.0
        Typical nucleus diameter, pixels (at 0.108 µm per pixel, a 6.5 µm
        nucleus); sets the base's ``diameter`` (nuclei) or ``scale`` (tissue).
    density : float, default 0.1
        Fraction of the area covered by nuclei (nuclei base).
    cytoplasm : float, optional
        Width of the cytoplasm around a nucleus, pixels (nuclei base).
        Default ``0.6 * diameter``.
    rounds : int, optional
        Multiplexed mode with this many rounds (see the module notes on axes).
        Default None: one round, one channel per gene.
    colours : int, default 2
        Colour channels per round (multiplexed mode, 1..4).
    codebook : pandas.DataFrame, optional
        Barcodes (rows = genes, uint8 bit columns ``r{r}c{c}``, optional bool
        ``blank``) as from :func:`~cellscale.data._codebook.make_codebook`.
        Default: drawn for ``genes`` with :func:`make_codebook`.
    bit_error : float, default 0.05
        Probability that a molecule is missing from one of its ``on`` images.
    round_shift : float, default 2.0
        Standard deviation of the whole-pixel displacement of each round after
        the first, pixels.
    background : float, default 0.25
        Mean background in units of a single-molecule spot peak.
    autofluorescence : float, default 0.15
        Extra background inside cells (brighter in the cytoplasm), same units.
    read_noise : float, default 1.5
        Camera read noise, electrons r.m.s.
    pixel_size : float, default 0.108
        Micrometres per pixel (metadata).
    base_options : dict, optional
        Extra keyword options for the base simulator (e.g. ``{"snr": 30}``).

    Returns
    -------
    Sample
        ``kind="fish"``; ``image`` (axes above, uint16); ``labels`` ``"nuclei"``
        and ``"cells"``; ``cells`` (from the base, plus ``cell_type`` and
        ``area``); ``spots`` with columns ``y, x`` (pixels, sub-pixel), ``gene``,
        ``cell`` (label in ``labels["cells"]`` at the rounded position, 0 =
        outside cells), ``intensity`` (spot peak, in single-molecule units),
        ``kind`` (``"mrna"``, ``"transcription_site"``, ``"nonspecific"``) and
        ``nucleus`` (bool); ``tables["counts"]``: rows = every cell label,
        columns = genes, the number of ``spots`` rows of that cell and gene
        that are not ``"nonspecific"`` (a transcription site counts once);
        multiplexed mode adds ``tables["codebook"]`` and ``tables["round_shifts"]``.

    Examples
    --------
    >>> s = simulate_fish(shape=(256, 256), seed=0, n_genes=2)
    >>> s.image.axes, s.image.channel_names
    ('cyx', ('DNA', 'ACTB', 'GAPDH'))
    >>> m = simulate_fish(shape=(256, 256), seed=0, n_genes=6, rounds=4, colours=2)
    >>> m.image.axes, m.image.channel_names, m.image.shape[:2]
    ('tcyx', ('DNA', 'AF488', 'Cy3'), (4, 3))
    """
    params = dict(locals())
    params["shape"] = [int(v) for v in shape]
    params["codebook"] = None if codebook is None else "tables['codebook']"
    genes = list(DEFAULT_GENES[:n_genes]) if genes is None else [str(g) for g in genes]
    if not genes or len(set(genes)) != len(genes) or "DNA" in genes:
        raise InvalidArgumentError(f"genes must be distinct, non-empty and not 'DNA'; got {genes}")
    if base not in ("nuclei", "tissue"):
        raise InvalidArgumentError(f"base must be 'nuclei' or 'tissue', got {base!r}")
    if rounds is not None and (rounds < 1 or not 1 <= colours <= len(_COLOURS)):
        raise InvalidArgumentError(f"need rounds >= 1 and colours in 1..{len(_COLOURS)}")
    ss = np.random.SeedSequence(int(seed))
    rng_img, rng_expr, rng_pos, rng_noise = (np.random.default_rng(s) for s in ss.spawn(4))
    if snr is None:
        snr = float(np.exp(rng_img.uniform(np.log(3.0), np.log(15.0))))
    if spot_sigma is None:
        spot_sigma = float(rng_img.uniform(1.0, 1.5))
    h, w = int(shape[0]), int(shape[1])

    # Multiplexed rounds are cut from a larger field, so every round is full.
    shifts = np.zeros((1, 2), np.int64)
    if rounds is not None:
        shifts = np.rint(rng_img.normal(0.0, round_shift, (rounds, 2))).astype(np.int64)
        shifts[0] = 0
    m = int(np.abs(shifts).max())
    base_sample = _base(base, (h + 2 * m, w + 2 * m), int(ss.generate_state(1)[0]), diameter, density,
                        base_options)
    dna = np.asarray(base_sample.image.channel("DNA").data if "c" in base_sample.image.axes
                     else base_sample.image.data)
    nuclei = np.asarray(base_sample.labels["nuclei"]).astype(np.uint32)
    if "cells" in base_sample.labels:
        cells_lab = np.asarray(base_sample.labels["cells"]).astype(np.uint32)
    else:
        from skimage.segmentation import expand_labels

        width = 0.6 * diameter if cytoplasm is None else float(cytoplasm)
        cells_lab = expand_labels(nuclei, distance=width).astype(np.uint32)
    cells = base_sample.cells.copy()
    spots = _draw_spots(rng_expr, rng_pos, cells, cells_lab, nuclei, genes, m, spots_per_cell=spots_per_cell,
                        dispersion=dispersion, n_cell_types=n_cell_types, nuclear_fraction=nuclear_fraction,
                        cluster_fraction=cluster_fraction, transcription_sites=transcription_sites,
                        nonspecific=nonspecific)

    photons = photons_for_snr(snr, background=background, read_noise=read_noise)
    inside = ndi.gaussian_filter((cells_lab > 0).astype(np.float32), 3.0)
    in_nuc = ndi.gaussian_filter((nuclei > 0).astype(np.float32), 3.0)
    floor = background_field(cells_lab.shape, seed=int(ss.generate_state(2)[1]), level=background,
                             variation=0.3) + autofluorescence * (inside - 0.5 * in_nuc)
    crop = (slice(m, m + h), slice(m, m + w))

    def acquire_spots(sel: np.ndarray, jitter: float) -> np.ndarray:
        amp = spots["intensity"].to_numpy()[sel] * np.exp(rng_noise.normal(0, jitter, int(sel.sum())))
        sig = np.where(spots["kind"].to_numpy()[sel] == "transcription_site", 1.4, 1.0) * spot_sigma
        clean = render_spots(cells_lab.shape, spots["y"].to_numpy()[sel] + m, spots["x"].to_numpy()[sel] + m,
                             amp, sig)
        return clean + floor

    gene_of = spots["gene"].to_numpy()
    extra = 0.2 * (dna.astype(np.float32) - dna.min()) / max(float(np.ptp(dna)), 1.0)  # DAPI bleed-through
    if rounds is None:
        planes = [dna[crop]]
        for g in genes:
            planes.append(add_camera_noise(rng_noise, (acquire_spots(gene_of == g, 0.0) + extra)[crop],
                                           photons=photons, read_noise=read_noise))
        data = np.stack(planes)
        image = Image(data, axes="cyx", channel_names=("DNA", *genes),
                      pixel_size={"y": pixel_size, "x": pixel_size})
        tables: dict[str, pd.DataFrame] = {}
    else:
        if codebook is None:
            codebook = make_codebook(genes, rounds=rounds, colours=colours, seed=int(ss.generate_state(3)[2]))
        bits = codebook_bits(codebook)
        if bits.shape[1] != rounds * colours or not set(genes) <= set(map(str, codebook.index)):
            raise InvalidArgumentError(
                f"codebook must have {rounds * colours} bit columns and a row for every gene {genes}"
            )
        code = {str(g): b for g, b in zip(codebook.index, bits)}
        on = np.stack([code[g] for g in gene_of]) if len(spots) else np.zeros((0, rounds * colours), np.uint8)
        on = on.astype(bool) & (rng_pos.random(on.shape) >= bit_error)
        on[spots["kind"].to_numpy() == "nonspecific"] = rng_pos.random(
            ((spots["kind"] == "nonspecific").sum(), rounds * colours)) < 1.0 / colours / rounds
        data = np.zeros((rounds, colours + 1, h, w), np.uint16)
        for r in range(rounds):
            y0, x0 = m - int(shifts[r, 0]), m - int(shifts[r, 1])  # content moves by +shift
            win = (slice(y0, y0 + h), slice(x0, x0 + w))
            noisy = dna.astype(np.float32) + rng_noise.normal(0, 0.02 * float(np.ptp(dna)) + 1.0, dna.shape)
            data[r, 0] = np.clip(np.rint(noisy[win]), 0, 65535)
            for c in range(colours):
                plane = acquire_spots(on[:, r * colours + c], 0.15)[win] + extra[win]
                data[r, c + 1] = add_camera_noise(rng_noise, plane, photons=photons, read_noise=read_noise)
        image = Image(data, axes="tcyx", channel_names=("DNA", *_COLOURS[:colours]),
                      pixel_size={"y": pixel_size, "x": pixel_size})
        tables = {"codebook": codebook.copy(),
                  "round_shifts": pd.DataFrame({"round": np.arange(rounds), "shift_y": shifts[:, 0],
                                                "shift_x": shifts[:, 1]})}
    nuclei, cells_lab = nuclei[crop], cells_lab[crop]
    cells, spots = _crop_truth(cells, spots, cells_lab, m, h, w)
    counts = spots[(spots["cell"] > 0) & (spots["kind"] != "nonspecific")]
    counts = pd.crosstab(counts["cell"], counts["gene"])
    counts = counts.reindex(index=cells["label"], columns=genes, fill_value=0)
    counts.index.name, counts.columns.name = "cell", None
    tables["counts"] = counts.astype(np.int64)
    params.update(function="simulate_fish", snr=snr, spot_sigma=spot_sigma, photons=photons,
                  base_params=base_sample.params, genes=genes)
    return Sample(kind="fish", image=image, labels={"nuclei": nuclei, "cells": cells_lab}, cells=cells,
                  spots=spots, tables=tables, params=params)


def _base(base: str, shape: tuple[int, int], seed: int, diameter: float, density: float,
          options: dict[str, Any] | None) -> Sample:
    opts = dict(options or {})
    if base == "nuclei":
        from cellscale.data._nuclei import simulate_nuclei

        opts.setdefault("diameter", diameter)
        opts.setdefault("density", density)
        opts.setdefault("mitotic_fraction", 0.0)
        opts.setdefault("apoptotic_fraction", 0.0)
        return simulate_nuclei(shape=shape, seed=seed, chunked=False, **opts).compute()
    from cellscale.data._tissue import simulate_tissue

    opts.setdefault("scale", diameter / 8.4)  # at scale 1 a tissue nucleus is ~8.4 px across
    opts.setdefault("chunked", False)
    return simulate_tissue(shape=shape, seed=seed, **opts).compute()


def _draw_spots(rng_expr: np.random.Generator, rng: np.random.Generator, cells: pd.DataFrame,
                cells_lab: np.ndarray, nuclei: np.ndarray, genes: list[str], m: int, *,
                spots_per_cell: float, dispersion: float, n_cell_types: int, nuclear_fraction: float,
                cluster_fraction: float, transcription_sites: float, nonspecific: float) -> pd.DataFrame:
    """Molecules of every gene in every cell (coordinates of the cropped image)."""
    hh, ww = cells_lab.shape
    flat = cells_lab.ravel().astype(np.int64)
    in_nuc = (nuclei.ravel() > 0) & (flat > 0)
    n_lab = int(flat.max())
    key = flat * 2 + in_nuc
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(2 * n_lab + 3))
    start, size = bounds[:-1], np.diff(bounds)
    area = np.bincount(flat, minlength=n_lab + 1)
    ids = np.flatnonzero(area[1:]) + 1
    n_g = len(genes)
    # Cell types and expression.
    if "cell_type" in cells.columns:
        codes, _ = pd.factorize(cells["cell_type"])
        ctype = np.zeros(n_lab + 1, np.int64)
        ok = cells["label"].to_numpy() <= n_lab
        ctype[cells["label"].to_numpy()[ok]] = codes[ok]
    else:
        ctype = rng_expr.integers(0, max(1, n_cell_types), n_lab + 1)
        cells["cell_type"] = [f"type_{int(ctype[v])}" if v <= n_lab else "" for v in cells["label"]]
    n_types = int(ctype.max()) + 1
    level = spots_per_cell * np.exp(rng_expr.normal(-0.32, 0.8, (n_types, n_g)))
    size_factor = area[ids] / max(float(np.median(area[ids])), 1.0) if ids.size else np.zeros(0)
    mu = level[ctype[ids]] * size_factor[:, None]
    counts = rng_expr.negative_binomial(dispersion, dispersion / (dispersion + mu)).ravel()
    n = int(counts.sum())
    cell = np.repeat(np.repeat(ids, n_g), counts)
    gene = np.repeat(np.tile(np.arange(n_g), ids.size), counts)
    block = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(n) - block  # index of a molecule within its (cell, gene) block
    n_anchor = np.maximum(1, np.rint(np.repeat(counts, counts) * cluster_fraction / 4)).astype(np.int64)
    nuc = (rng.random(n) < nuclear_fraction) & (rank >= n_anchor)
    nuc = np.where(size[2 * cell + 1] == 0, False, np.where(size[2 * cell] == 0, True, nuc))
    y, x = _uniform_in(rng, order, start, size, 2 * cell + nuc, ww)
    # Clusters: some cytoplasmic molecules sit next to an anchor of the same cell and gene.
    clus = ~nuc & (rank >= n_anchor) & (rng.random(n) < cluster_fraction)
    anchor = block[clus] + rng.integers(0, n_anchor[clus])
    cy = y[anchor] + rng.normal(0, 1.2, anchor.size)
    cx = x[anchor] + rng.normal(0, 1.2, anchor.size)
    inside = (cy > -0.49) & (cy < hh - 0.51) & (cx > -0.49) & (cx < ww - 0.51)
    at = np.clip(np.rint(cy), 0, hh - 1).astype(np.int64) * ww + np.clip(np.rint(cx), 0, ww - 1).astype(np.int64)
    ok = inside & (flat[at] == cell[clus]) & ~in_nuc[at]
    idx = np.flatnonzero(clus)[ok]
    y[idx], x[idx] = cy[ok], cx[ok]
    brightness = np.exp(rng_expr.normal(0, 0.15, n_g))
    inten = np.exp(rng.normal(0, 0.25, n)) * brightness[gene]
    kind = np.full(n, "mrna", object)
    # Transcription sites: up to two bright nuclear spots per cell and gene.
    with_nuc = ids[size[2 * ids + 1] > 0]
    n_ts = rng.binomial(2, min(transcription_sites / 2.0, 1.0), (with_nuc.size, n_g)).ravel()
    ts_cell = np.repeat(np.repeat(with_nuc, n_g), n_ts)
    ts_gene = np.repeat(np.tile(np.arange(n_g), with_nuc.size), n_ts)
    ty, tx = _uniform_in(rng, order, start, size, 2 * ts_cell + 1, ww)
    # Non-specific spots: dim, anywhere.
    n_ns = int(rng.poisson(nonspecific * n_g * hh * ww / 1e4))
    ny, nx = rng.uniform(-0.49, hh - 0.51, n_ns), rng.uniform(-0.49, ww - 0.51, n_ns)
    flat_ns = np.rint(ny).astype(np.int64) * ww + np.rint(nx).astype(np.int64)
    spots = pd.DataFrame({
        "y": np.concatenate([y, ty, ny]) - m,
        "x": np.concatenate([x, tx, nx]) - m,
        "gene": np.asarray(genes, object)[np.concatenate([gene, ts_gene, rng.integers(0, n_g, n_ns)])],
        "cell": np.concatenate([cell, ts_cell, flat[flat_ns]]).astype(np.int64),
        "intensity": np.concatenate([inten, rng.uniform(2.0, 8.0, ts_cell.size) * brightness[ts_gene],
                                     np.exp(rng.normal(np.log(0.4), 0.3, n_ns))]),
        "kind": np.concatenate([kind, np.full(ts_cell.size, "transcription_site", object),
                                np.full(n_ns, "nonspecific", object)]),
        "nucleus": np.concatenate([nuc, np.ones(ts_cell.size, bool), in_nuc[flat_ns]]),
    })
    return spots


def _uniform_in(rng: np.random.Generator, order: np.ndarray, start: np.ndarray, size: np.ndarray,
                group: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform sub-pixel positions inside pixel groups (``group`` indexes ``start``/``size``)."""
    pick = start[group] + np.floor(rng.random(group.size) * size[group]).astype(np.int64)
    pix = order[np.minimum(pick, order.size - 1)]
    return (pix // width + rng.uniform(-0.49, 0.49, group.size),
            pix % width + rng.uniform(-0.49, 0.49, group.size))


def _crop_truth(cells: pd.DataFrame, spots: pd.DataFrame, cells_lab: np.ndarray, m: int, h: int,
                w: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the cells and spots of the cropped field; recompute areas and spot cells."""
    iy, ix = np.rint(spots["y"].to_numpy()), np.rint(spots["x"].to_numpy())
    spots = spots[(iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)].reset_index(drop=True)
    iy = np.rint(spots["y"].to_numpy()).astype(np.int64)
    ix = np.rint(spots["x"].to_numpy()).astype(np.int64)
    spots["cell"] = cells_lab[iy, ix].astype(np.int64)
    area = np.bincount(cells_lab.ravel(), minlength=int(cells["label"].max()) + 1 if len(cells) else 1)
    lab = cells["label"].to_numpy()
    cells = cells[(lab < area.size) & (area[np.minimum(lab, area.size - 1)] > 0)].copy()
    cells["y"] -= m
    cells["x"] -= m
    cells["area"] = area[cells["label"].to_numpy()]
    return cells.reset_index(drop=True), spots[_SPOT_COLUMNS]
