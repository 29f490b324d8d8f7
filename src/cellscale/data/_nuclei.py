"""Fluorescence images of nuclei in cultured cells (DAPI/Hoechst), with ground truth."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import field_validator
from scipy import ndimage as ndi

from cellscale.data._chunked import SimulatedScene, render_with_table, sample_params
from cellscale.data._nuclei_table import DEFOCUS_SIGMA, nuclei_table
from cellscale.data._optics import acquire, background_field, blur_halo, photons_for_snr
from cellscale.data._options import SimulationOptions, _validated
from cellscale.data._render import render_nuclei
from cellscale.data._sample import Sample
from cellscale.io import Image

__all__ = ["NucleiOptions", "simulate_nuclei"]

Range = tuple[float, float]


class NucleiOptions(SimulationOptions):
    """Options of :func:`simulate_nuclei`. A number fixes a value; a pair
    ``(low, high)`` draws it per image from that range; None uses the default range."""

    diameter: float | Range = (8.0, 40.0)
    """Typical nucleus diameter in pixels (equivalent-disc), or the range it is drawn from.
    With a range, interphase nuclei are also clipped into it."""
    diameter_cv: float | None = None
    """Cell-to-cell variation of diameter (std of log); default drawn in 0.15 .. 0.25."""
    density: float | Range | None = None
    """Target fraction of the area covered by nuclei, 0.005 .. 0.7 (crowded regions
    saturate near 0.6); default drawn log-uniformly in 0.03 .. 0.55."""
    clustering: float | None = None
    """0 = uniform; 1.5 = strong colonies; default drawn in 0 .. 1.2."""
    irregularity: float | None = None
    """Typical contour irregularity (see ``nucleus_field``); default drawn in 0.05 .. 0.15."""
    mitotic_fraction: float | None = None
    """Fraction of nuclei in mitosis (prophase, metaphase, anaphase pairs); default 0.01 .. 0.05."""
    apoptotic_fraction: float | None = None
    """Fraction of apoptotic (small, bright, fragmented) nuclei; default 0 .. 0.03."""
    defocus_fraction: float | None = None
    """Fraction of nuclei out of the focal plane (extra blur); default 0 .. 0.3."""
    snr: float | Range | None = None
    """Signal-to-noise ratio: mean nucleus signal above background over the background
    noise std; default drawn log-uniformly in 5 .. 200."""
    background: float | None = None
    """Background level relative to a typical nucleus; default drawn in 0.01 .. 0.3."""
    vignetting: float | None = None
    """Illumination loss in the corners (0 .. 0.9); default drawn in 0 .. 0.3."""
    haze: float | None = None
    """Out-of-focus haze, fraction of the signal spread widely; default drawn in 0 .. 0.15."""
    psf_sigma: float | None = None
    """Gaussian PSF sigma, pixels; default drawn in 0.06 .. 0.11 x the typical diameter
    (clipped to 0.7 .. 3), since small pixels make both nuclei and the PSF span more pixels."""

    @field_validator("diameter")
    @classmethod
    def _diameter(cls, v: Any) -> Any:
        lo, hi = (v, v) if isinstance(v, (int, float)) else v
        if not 3.0 <= lo <= hi <= 400.0:
            raise ValueError(f"diameter must be within 3 .. 400 pixels with low <= high, got {v}")
        return v

    @field_validator("density")
    @classmethod
    def _density(cls, v: Any) -> Any:
        if v is None:
            return v
        lo, hi = (v, v) if isinstance(v, (int, float)) else v
        if not 0.005 <= lo <= hi <= 0.7:
            raise ValueError(f"density must be within 0.005 .. 0.7 with low <= high, got {v}")
        return v


def _draw(rng: np.random.Generator, value: Any, default: Range, *, log: bool = False) -> float:
    if value is None:
        value = default
    if isinstance(value, (int, float)):
        return float(value)
    lo, hi = float(value[0]), float(value[1])
    if log:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def resolve_nuclei_options(opts: NucleiOptions) -> dict[str, Any]:
    """Draw every per-image parameter left open; the result fixes the image."""
    rng = np.random.default_rng([opts.seed & 0xFFFFFFFF, 0xA11])
    d = _draw(rng, opts.diameter, (8.0, 40.0), log=True)
    p: dict[str, Any] = {
        "diameter": d,
        "diameter_cv": opts.diameter_cv
        if opts.diameter_cv is not None
        else rng.uniform(0.15, 0.25),
        "density": _draw(rng, opts.density, (0.03, 0.55), log=True),
        "clustering": _draw(rng, opts.clustering, (0.0, 1.2)),
        "irregularity": _draw(rng, opts.irregularity, (0.05, 0.15)),
        "mitotic_fraction": _draw(rng, opts.mitotic_fraction, (0.01, 0.05)),
        "apoptotic_fraction": _draw(rng, opts.apoptotic_fraction, (0.0, 0.03)),
        "defocus_fraction": _draw(rng, opts.defocus_fraction, (0.0, 0.3)),
        "snr": _draw(rng, opts.snr, (5.0, 200.0), log=True),
        "background": _draw(rng, opts.background, (0.01, 0.3), log=True),
        "vignetting": _draw(rng, opts.vignetting, (0.0, 0.3)),
        "haze": _draw(rng, opts.haze, (0.0, 0.15)),
        # The PSF spans more pixels when nuclei do (smaller pixels): sigma ~ 0.06-0.11 x diameter.
        "psf_sigma": _draw(
            rng, opts.psf_sigma, tuple(np.clip(np.array([0.06, 0.11]) * d, 0.7, 3.0))
        ),
        "elongation_mean": rng.uniform(0.08, 0.35),
        "texture": float(np.exp(rng.uniform(np.log(0.6), np.log(2.0)))),
        "foci": float(rng.choice([0.0, 1.0, 3.0, 6.0], p=[0.3, 0.3, 0.25, 0.15])),
        "brightness_cv": rng.uniform(0.06, 0.16),
        "alignment": rng.uniform(0.0, 1.0),
        "read_noise": rng.uniform(1.0, 3.0),
    }
    if opts.dtype == "uint8":
        p["offset"] = float(rng.uniform(0.0, 5.0))
        p["nucleus_adu"] = float(rng.uniform(60.0, 130.0))
    else:
        p["offset"] = float(rng.uniform(90.0, 110.0))
        p["gain"] = float(np.exp(rng.uniform(np.log(0.5), np.log(4.0))))
    p["photons"] = photons_for_snr(p["snr"], background=p["background"], read_noise=p["read_noise"])
    if opts.dtype == "uint8":
        p["gain"] = p["nucleus_adu"] / p["photons"]
    p["range"] = (
        None if isinstance(opts.diameter, (int, float)) else tuple(map(float, opts.diameter))
    )
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in p.items()}


class _NucleiScene(SimulatedScene):
    """Renders any window of a nuclei image (see ``cellscale.data._chunked``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.n_channels = None
        self.label_names = ("nuclei",)
        n = int(self.cells["label"].max()) if len(self.cells) else 0
        self.defocus_lut = np.zeros(n + 1, np.int8)
        self.defocus_lut[self.cells["label"].to_numpy()] = self.cells["defocus"].to_numpy()
        extra = max(DEFOCUS_SIGMA) if self.cells["defocus"].any() else 0.0
        self.halo = (
            blur_halo(psf_sigma=self.p["psf_sigma"], haze=self.p["haze"])
            + int(np.ceil(3 * extra))
            + 2
        )

    def render(self, y0: int, y1: int, x0: int, x1: int, rng: np.random.Generator):
        p, m = self.p, self.halo
        size = (y1 - y0 + 2 * m, x1 - x0 + 2 * m)
        clean, labels = render_nuclei(size, self.cells, offset=(y0 - m, x0 - m), seed=self.seed)
        levels = self.defocus_lut[labels]
        for k in range(1, len(DEFOCUS_SIGMA)):
            sel = levels == k
            if sel.any():
                part = np.where(sel, clean, 0.0).astype(np.float32)
                clean = np.where(sel, 0.0, clean) + ndi.gaussian_filter(
                    part, DEFOCUS_SIGMA[k], mode="constant", truncate=3.0
                )
        win, full = (y1 - y0, x1 - x0), self.shape
        bg = background_field(
            win,
            offset=(y0, x0),
            full_shape=full,
            seed=self.seed,
            level=p["background"],
            variation=0.3,
        )
        vig = self.vignetting(y0, y1, x0, x1)
        image = acquire(
            rng,
            clean,
            psf_sigma=p["psf_sigma"],
            haze=p["haze"],
            background=bg,
            vignetting=vig,
            photons=p["photons"],
            read_noise=p["read_noise"],
            gain=p["gain"],
            offset=p["offset"],
            dtype=self.dtype,
            margin=m,
        )
        return image, {"nuclei": labels[m:-m, m:-m]}


def simulate_nuclei(
    *,
    shape: tuple[int, int] = (512, 512),
    seed: int = 0,
    diameter: float | tuple[float, float] = (8.0, 40.0),
    density: float | tuple[float, float] | None = None,
    snr: float | tuple[float, float] | None = None,
    diameter_cv: float | None = None,
    clustering: float | None = None,
    irregularity: float | None = None,
    mitotic_fraction: float | None = None,
    apoptotic_fraction: float | None = None,
    defocus_fraction: float | None = None,
    background: float | None = None,
    vignetting: float | None = None,
    haze: float | None = None,
    psf_sigma: float | None = None,
    dtype: Literal["uint16", "uint8"] = "uint16",
    chunked: bool | None = None,
    chunk_size: int = 2048,
) -> Sample:
    """Simulate a fluorescence image of cultured-cell nuclei with exact ground truth.

    Nuclei are irregular (radial harmonics, blebs, indentations), elongated and
    locally aligned, with chromatin texture, nucleoli and sometimes
    chromocentres; a few percent are mitotic (prophase, metaphase plates,
    anaphase pairs: smaller, condensed, brighter) or apoptotic (small, very
    bright, fragmented). Brightness varies log-normally and with DNA content
    (G2 brighter and larger). Placement ranges from sparse to crowded colonies
    where nuclei touch along flat boundaries; some nuclei lie out of focus. The
    image goes through a Gaussian PSF, out-of-focus haze, uneven background,
    vignetting, Poisson shot noise, read noise, camera gain and offset.

    Every option left as None is drawn per image from a realistic range (see
    :class:`NucleiOptions`); the values used are in ``sample.params["resolved"]``.

    Parameters
    ----------
    shape : (int, int)
        Image size (rows, columns), pixels. Default (512, 512).
    seed : int
        Random seed; the same options give the same sample. Default 0.
    diameter : float or (float, float)
        Typical nucleus diameter in pixels, or the range it is drawn from
        (log-uniformly) per image; interphase nuclei vary by ``diameter_cv``
        around it and, for a range, are clipped into it. Mitotic and apoptotic
        nuclei are smaller. Default (8, 40).
    density : float or (float, float), optional
        Fraction of the area covered by nuclei (0.005 .. 0.7). Default: drawn in
        0.03 .. 0.55.
    snr : float or (float, float), optional
        Mean nucleus signal above background divided by the background noise
        standard deviation. Default: drawn in 5 .. 200.
    diameter_cv, clustering, irregularity, mitotic_fraction, apoptotic_fraction, defocus_fraction
        Population options, see :class:`NucleiOptions`.
    background, vignetting, haze, psf_sigma
        Optics options (relative intensity; fraction; fraction; pixels), see
        :class:`NucleiOptions`.
    dtype : {"uint16", "uint8"}
        Camera output: 16-bit with an offset near 100 ADU, or an 8-bit export
        with a dark background (like BBBC007). Default "uint16".
    chunked : bool, optional
        Return Dask arrays rendered chunk by chunk. Default: when the image has
        more than 4096² pixels.
    chunk_size : int
        Chunk side for lazy rendering, pixels. Default 2048.

    Returns
    -------
    Sample
        ``kind="nuclei"``; ``image`` axes ``"yx"``, channel ``"DNA"``;
        ``labels["nuclei"]`` uint32 (0 = background); ``cells`` with one row per
        nucleus: ``label, y, x, diameter`` (nominal equivalent diameter, px),
        ``radius, elongation, angle`` (radians), ``irregularity, brightness,
        texture, foci`` (chromatin contrast, typical chromocentre count),
        ``kind`` (interphase/prophase/metaphase/anaphase/apoptotic),
        ``cell_cycle`` (G1/S/G2/M/apoptotic), ``dna_content, defocus`` (level,
        0 = in focus), ``sister`` (label of the other anaphase plate, 0 if none),
        ``shape_seed``. Labels are 1..n in row order. A nucleus may be flattened
        by a touching neighbour or cut by the image border but always keeps its
        centre pixel, so every row's label is in the image.

    Examples
    --------
    >>> s = simulate_nuclei(shape=(128, 128), seed=1, diameter=16, density=0.3)
    >>> s.image.dtype, s.labels["nuclei"].dtype, int(s.labels["nuclei"].max()) == len(s.cells)
    (dtype('uint16'), dtype('uint32'), True)
    """
    opts = _validated(
        NucleiOptions,
        shape=shape,
        seed=seed,
        diameter=diameter,
        density=density,
        snr=snr,
        diameter_cv=diameter_cv,
        clustering=clustering,
        irregularity=irregularity,
        mitotic_fraction=mitotic_fraction,
        apoptotic_fraction=apoptotic_fraction,
        defocus_fraction=defocus_fraction,
        background=background,
        vignetting=vignetting,
        haze=haze,
        psf_sigma=psf_sigma,
        dtype=dtype,
        chunked=chunked,
        chunk_size=chunk_size,
    )
    p = resolve_nuclei_options(opts)
    # A nucleus always keeps its centre pixel (it lies deepest there), so keeping
    # the rows whose label is in the image drops nothing in practice.
    scene = _NucleiScene(opts, p, nuclei_table(opts, p))
    data, labels, cells, lazy = render_with_table(scene, label="nuclei")
    pixel_size = round(11.0 / p["diameter"], 4)  # a typical nucleus is ~11 µm across
    image = Image(
        data=data, axes="yx", channel_names=("DNA",), pixel_size={"y": pixel_size, "x": pixel_size}
    )
    params = sample_params("simulate_nuclei", opts, p, lazy)
    return Sample(kind="nuclei", image=image, labels=labels, cells=cells, params=params)
