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

The layout and the cells table are in ``_tissue_layout``, the territories in
``_territories``, the marker rendering in ``_tissue_scene``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from cellscale.data._chunked import render_with_table, sample_params
from cellscale.data._optics import photons_for_snr
from cellscale.data._options import SimulationOptions, _validated
from cellscale.data._sample import Sample
from cellscale.data._tissue_layout import (
    _TYPES,
    CELL_TYPES,
    MARKERS,
    _quantile_threshold,
    tissue_table,
)
from cellscale.data._tissue_scene import TissueScene
from cellscale.io import Image

__all__ = ["CELL_TYPES", "MARKERS", "TissueOptions", "simulate_tissue"]


class TissueOptions(SimulationOptions):
    """Options of :func:`simulate_tissue`; None draws a value per image."""

    min_side: ClassVar[int] = 32

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
    scene = TissueScene(opts, p, tissue_table(opts, p))
    data, labels, cells, lazy = render_with_table(scene, label="cells")
    image = Image(
        data=data, axes="cyx", channel_names=scene.channels, pixel_size={"y": 0.5, "x": 0.5}
    )
    compartments = {m: MARKERS[m] for m in p["markers"]}
    params = sample_params("simulate_tissue", opts, p, lazy, compartments=compartments)
    cells = cells.drop(columns=["reach"])
    return Sample(kind="tissue", image=image, labels=labels, cells=cells, params=params)
