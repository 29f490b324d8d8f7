"""Fluorescence images of nuclei in cultured cells (DAPI/Hoechst), with ground truth."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from scipy import ndimage as ndi

from cellscale.data._camera import expose
from cellscale.data._chunked import SimulatedScene, render_with_table, sample_params
from cellscale.data._domain import (
    DOMAIN_OPTIONS,
    add_cytoplasm,
    cytoplasm_halo,
    illumination_field,
    resolve_domain_options,
)
from cellscale.data._nuclei_table import DEFOCUS_SIGMA, nuclei_table
from cellscale.data._optics import (
    acquire,
    background_field,
    blur,
    blur_halo,
    photons_for_snr,
)
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

    # Domain randomisation (see cellscale.data._domain). None = off: the image is
    # exactly what the simulator drew before these options existed.
    brightness_range: float | Range | None = None
    """Ratio of the brightest to the dimmest nucleus: a per-nucleus factor
    ``range ** (u**2)`` in 1 .. this (1 .. 1000; most nuclei dim, a tail bright), so the
    dimmest keep the image's SNR and 100 puts dim nuclei beside saturated ones."""
    texture: float | Range | None = None
    """Chromatin texture contrast (0 .. 6; 0.5 smooth, 1 typical, 4 heavy, clumpy);
    default drawn log-uniformly in 0.6 .. 2."""
    speckle: float | Range | None = None
    """Fine bright chromatin speckles (0 .. 5; 1 clear, 3 heavy); None: none."""
    nucleoli: float | Range | None = None
    """Contrast of 1-4 extra nucleoli in most nuclei (-1 .. 3: < 0 dark, > 0 bright)."""
    vacuoles: float | Range | None = None
    """Fraction of interphase nuclei with 1-3 sharp dark holes (0 .. 1)."""
    elongation: float | Range | None = None
    """Mean long/short axis ratio minus 1 (0 .. 3); default drawn in 0.08 .. 0.35."""
    bent_fraction: float | Range | None = None
    """Fraction of interphase nuclei that are elongated and bent (banana, kidney)."""
    lobed_fraction: float | Range | None = None
    """Fraction of interphase nuclei made of 2-4 lobes in a chain."""
    overlap: float | Range | None = None
    """Allowed overlap of neighbours as a fraction of the sum of their radii (0 .. 0.6);
    where nuclei overlap their signals add. None: set by the density (nuclei press flat)."""
    cytoplasm: float | Range | None = None
    """Unlabelled cytoplasm / autofluorescence around each nucleus, relative to a typical
    nucleus (0 .. 2; 0.05 dim, 0.3 strong)."""
    illumination: float | Range | None = None
    """Relative standard deviation of smooth uneven illumination (0 .. 0.8)."""
    camera: Literal["scmos", "emccd"] = "scmos"
    """Camera: ``"scmos"`` (Gaussian read noise) or ``"emccd"`` (electron multiplication
    with its excess noise; gain ``em_gain``)."""
    em_gain: float | Range | None = None
    """EMCCD electron-multiplication gain (2 .. 2000); default drawn in 50 .. 500."""
    saturation: float | Range | None = None
    """Relative intensity (1 = a typical nucleus) at which the camera clips (0.2 .. 1000);
    None: only the data type's range."""
    jpeg_quality: int | None = Field(None, ge=1, le=100)
    """JPEG-compress the image at this quality (1 .. 100); needs ``dtype="uint8"``."""

    @field_validator("diameter")
    @classmethod
    def _diameter(cls, v: Any) -> Any:
        lo, hi = (v, v) if isinstance(v, (int, float)) else v
        if not 3.0 <= lo <= hi <= 400.0:
            raise ValueError(f"diameter must be within 3 .. 400 pixels with low <= high, got {v}")
        return v

    @model_validator(mode="after")
    def _domain(self) -> NucleiOptions:
        for name, (lo_ok, hi_ok) in DOMAIN_OPTIONS.items():
            v = getattr(self, name)
            if v is None:
                continue
            lo, hi = (v, v) if isinstance(v, (int, float)) else v
            if not lo_ok <= lo <= hi <= hi_ok:
                raise ValueError(
                    f"{name} must be within {lo_ok:g} .. {hi_ok:g} with low <= high, got {v}"
                )
        if self.jpeg_quality is not None and self.dtype != "uint8":
            raise ValueError('jpeg_quality needs dtype="uint8" (JPEG stores 8-bit images)')
        if self.em_gain is not None and self.camera != "emccd":
            raise ValueError('em_gain needs camera="emccd"')
        return self

    def uses_domain(self) -> bool:
        """Whether any domain-randomisation option is on."""
        return self.camera != "scmos" or self.jpeg_quality is not None or any(
            getattr(self, name) is not None for name in DOMAIN_OPTIONS
        )

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
    if opts.uses_domain():
        p = resolve_domain_options(opts, p)
        if opts.dtype == "uint8" and p["saturation"] is not None:
            # An 8-bit export scaled so that the clipping level lands on 255.
            p["gain"] = (255.0 - p["offset"]) / (p["photons"] * p["saturation"])
        elif opts.dtype == "uint8" and p["brightness_range"] > 1.0:
            # Scaled so that the brightest nuclei fit, the dimmest kept >= 8 counts.
            fit = 0.9 * (255.0 - p["offset"]) / (p["photons"] * p["brightness_range"] * 2.0)
            p["gain"] = max(fit, 8.0 / p["photons"])
        if opts.camera == "emccd":
            # The SNR counts the doubled shot-noise variance; read noise after the
            # register (20-80 e-) is small against the multiplied signal. The ADC
            # takes 8-20 e- per count (uint16); an 8-bit export puts a typical nucleus
            # at 40% of the range.
            p["photons"] = 2.0 * photons_for_snr(
                p["snr"], background=p["background"], read_noise=p["em_read_noise"] / p["em_gain"]
            )
            electrons = p["photons"] * p["em_gain"]
            if opts.dtype == "uint8":
                p["gain"] = 0.4 * (255.0 - p["offset"]) / electrons
            else:
                p["gain"] = 1.0 / float(rng.uniform(8.0, 20.0))
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
        # Out-of-focus blur grows with the nuclei beyond 40 px (as does the PSF).
        self.defocus_scale = max(1.0, self.p["diameter"] / 40.0)
        extra = max(DEFOCUS_SIGMA) * self.defocus_scale if self.cells["defocus"].any() else 0.0
        self.halo = (
            blur_halo(psf_sigma=self.p["psf_sigma"], haze=self.p["haze"])
            + int(np.ceil(3 * extra))
            + 2
            + cytoplasm_halo(self.cells)
        )

    def render(self, y0: int, y1: int, x0: int, x1: int, rng: np.random.Generator):
        p, m = self.p, self.halo
        size = (y1 - y0 + 2 * m, x1 - x0 + 2 * m)
        clean, labels = render_nuclei(
            size,
            self.cells,
            offset=(y0 - m, x0 - m),
            seed=self.seed,
            additive=p.get("overlap") is not None,
        )
        levels = self.defocus_lut[labels]
        for k in range(1, len(DEFOCUS_SIGMA)):
            sel = levels == k
            if sel.any():
                part = np.where(sel, clean, 0.0).astype(np.float32)
                clean = np.where(sel, 0.0, clean) + ndi.gaussian_filter(
                    part, DEFOCUS_SIGMA[k] * self.defocus_scale, mode="constant", truncate=3.0
                )
        if p.get("cytoplasm", 0.0) > 0:
            clean = add_cytoplasm(
                rng,
                clean,
                labels,
                self.cells,
                offset=(y0 - m, x0 - m),
                seed=self.seed,
                diameter=p["diameter"],
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
        if "camera" in p:
            image = self._acquire_domain(rng, clean, bg, vig, (y0, x0), win)
            return image, {"nuclei": labels[m:-m, m:-m]}
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

    def _acquire_domain(self, rng, clean, bg, vig, origin, win) -> np.ndarray:
        """:func:`acquire` with the domain options: illumination, camera, clipping, JPEG."""
        p, m = self.p, self.halo
        signal = blur(clean, psf_sigma=p["psf_sigma"], haze=p["haze"])[m:-m, m:-m] + bg
        signal = signal * vig
        if p["illumination"] > 0:
            signal = signal * illumination_field(
                win, offset=origin, full_shape=self.shape, seed=self.seed,
                strength=p["illumination"],
            )  # fmt: skip
        emccd = p["camera"] == "emccd"
        return expose(
            rng, signal, camera=p["camera"], photons=p["photons"], gain=p["gain"],
            offset=p["offset"], read_noise=p["em_read_noise"] if emccd else p["read_noise"],
            dtype=self.dtype, em_gain=p.get("em_gain"), saturation=p["saturation"],
            jpeg_quality=p["jpeg_quality"],
        )  # fmt: skip


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
    brightness_range: float | tuple[float, float] | None = None,
    texture: float | tuple[float, float] | None = None,
    speckle: float | tuple[float, float] | None = None,
    nucleoli: float | tuple[float, float] | None = None,
    vacuoles: float | tuple[float, float] | None = None,
    elongation: float | tuple[float, float] | None = None,
    bent_fraction: float | tuple[float, float] | None = None,
    lobed_fraction: float | tuple[float, float] | None = None,
    overlap: float | tuple[float, float] | None = None,
    cytoplasm: float | tuple[float, float] | None = None,
    illumination: float | tuple[float, float] | None = None,
    camera: Literal["scmos", "emccd"] = "scmos",
    em_gain: float | tuple[float, float] | None = None,
    saturation: float | tuple[float, float] | None = None,
    jpeg_quality: int | None = None,
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
    brightness_range, texture, speckle, nucleoli, vacuoles, elongation
        Domain-randomisation options, see below.
    bent_fraction, lobed_fraction, overlap, cytoplasm, illumination
        Domain-randomisation options, see below.
    camera, em_gain, saturation, jpeg_quality
        Domain-randomisation options (a number, or a range drawn per image), all
        off by default: brightness spread (max/min ratio), chromatin contrast,
        bright speckles, signed nucleolus contrast, fraction with vacuoles, mean
        elongation, fractions bent and lobed, overlap (signals add), unlabelled
        cytoplasm level, uneven illumination, ``"emccd"`` camera and its gain,
        clipping level (relative intensity), JPEG quality (needs ``"uint8"``).
        See :class:`NucleiOptions`; with any of them on, ``cells`` also has
        ``bend, lobes, speckle, nucleoli, holes, cytoplasm, cytoplasm_reach,
        cytoplasm_shift, cytoplasm_angle`` (see ``cellscale.data._domain``), and
        ``brightness`` includes the spread. ``generalist_options(seed)`` draws
        all of these per image from wide ranges.

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
        brightness_range=brightness_range,
        texture=texture,
        speckle=speckle,
        nucleoli=nucleoli,
        vacuoles=vacuoles,
        elongation=elongation,
        bent_fraction=bent_fraction,
        lobed_fraction=lobed_fraction,
        overlap=overlap,
        cytoplasm=cytoplasm,
        illumination=illumination,
        camera=camera,
        em_gain=em_gain,
        saturation=saturation,
        jpeg_quality=jpeg_quality,
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
