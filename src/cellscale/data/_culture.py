"""Cultured cells of several shapes, stained or in transmitted light (``simulate_culture``).

The training data of the ``cells`` model beyond tissue: whole cells of four
shapes (epithelial sheets, spread fibroblasts, round cells, bacteria-like
rods), with a membrane or cytoplasm stain in fluorescence or seen in phase
contrast or bright field, beside a DNA channel that may be blank. The layout
is in ``_culture_layout``, the rendering in ``_culture_scene``; per-image
option draws for training sets are in ``_culture_options``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from cellscale.data._camera import photons_for_snr
from cellscale.data._chunked import render_with_table, sample_params
from cellscale.data._culture_layout import culture_table
from cellscale.data._culture_scene import CultureScene
from cellscale.data._generalist import _log
from cellscale.data._options import SimulationOptions, _validated
from cellscale.data._sample import Sample
from cellscale.io import Image

__all__ = [
    "CULTURE_MODALITIES",
    "CULTURE_SHAPES",
    "CULTURE_STAINS",
    "NUCLEUS_STAINS",
    "CultureOptions",
    "simulate_culture",
]

#: Cell shapes (``mixed``: epithelial, fibroblast and round cells in one image).
CULTURE_SHAPES = ("epithelial", "fibroblast", "round", "rod", "mixed")
#: Stains of the boundary channel in fluorescence.
CULTURE_STAINS = ("membrane", "cytoplasm")
#: How the boundary channel is acquired.
CULTURE_MODALITIES = ("fluorescence", "phase", "brightfield")
#: The DNA channel: stained nuclei, or blank (background and noise only).
NUCLEUS_STAINS = ("dna", "none")
#: Largest image side: the whole plane is rendered at once.
MAX_SIDE = 8192


def _one_of(name: str, value: str | None, valid: tuple[str, ...]) -> str | None:
    if value is not None and value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid values are {', '.join(valid)}")
    return value


class CultureOptions(SimulationOptions):
    """Options of :func:`simulate_culture`; None draws a value per image."""

    min_side: ClassVar[int] = 32

    shape_kind: str | None = None
    """Cell shape, one of ``CULTURE_SHAPES``; default drawn per image."""
    stain: str | None = None
    """Fluorescent stain of the boundary channel, ``membrane`` or ``cytoplasm``; default
    drawn (recorded, but unused, in transmitted light)."""
    modality: str | None = None
    """``fluorescence``, ``phase`` or ``brightfield``; default drawn (50/30/20 %)."""
    nucleus_stain: str | None = None
    """``dna`` (stained nuclei) or ``none`` (blank DNA channel); default drawn."""
    diameter: float | None = Field(None, gt=2.0, le=400.0)
    """Typical cell diameter (of the disc of equal area), px; for rods their length.
    Default 15 .. 150 (log-uniform), rods 10 .. 40, at most a quarter of the shorter
    image side."""
    diameter_cv: float | None = Field(None, ge=0.0, le=0.6)
    """Cell-to-cell coefficient of variation of the size; default 0.1 .. 0.3."""
    rod_width: float | None = Field(None, ge=1.5, le=20.0)
    """Width of rods, px; default 3 .. 8 (at most half the length)."""
    density: float | None = Field(None, gt=0.0, le=1.0)
    """Fraction of the image covered by cells (epithelial: by colonies), sparse 0.03 to
    confluent 0.9; default drawn log-uniformly in 0.05 .. 0.9 (rods 0.02 .. 0.4), raised
    to give at least ~5 cells."""
    clustering: float | None = Field(None, ge=0.0, le=3.0)
    """Clumping of non-epithelial cells (0 even); default 0 .. 1.5."""
    snr: float | None = Field(None, gt=0.0, le=10_000.0)
    """Signal-to-noise ratio of the boundary channel (typical cell contrast over the
    background noise); default 3 .. 100 (log-uniform)."""
    dna_snr: float | None = Field(None, gt=0.0, le=10_000.0)
    """Signal-to-noise ratio of the DNA channel; default 0.5 .. 2 times ``snr``."""
    psf_sigma: float | None = Field(None, ge=0.0, le=10.0)
    """Gaussian PSF sigma, px; default 0.7 .. clip(0.06 x diameter, 0.8, 3)."""
    camera: Literal["scmos", "emccd"] | None = None
    """Camera noise model; default sCMOS, EMCCD for 20 % of fluorescence images."""
    jpeg_quality: int | None = Field(None, ge=1, le=100)
    """JPEG-compress an 8-bit image at this quality (needs ``dtype="uint8"``)."""
    blank_dna: Literal["noise", "zeros"] = "noise"
    """A blank DNA channel (``nucleus_stain="none"``): camera ``noise`` (an unstained
    channel that was acquired) or all ``zeros`` (what cellscale feeds a model for a
    role left blank, e.g. a phase-contrast image without a DNA channel)."""

    _shape_kind = field_validator("shape_kind")(
        classmethod(lambda cls, v: _one_of("shape_kind", v, CULTURE_SHAPES))
    )
    _stain = field_validator("stain")(
        classmethod(lambda cls, v: _one_of("stain", v, CULTURE_STAINS))
    )
    _modality = field_validator("modality")(
        classmethod(lambda cls, v: _one_of("modality", v, CULTURE_MODALITIES))
    )
    _nucleus = field_validator("nucleus_stain")(
        classmethod(lambda cls, v: _one_of("nucleus_stain", v, NUCLEUS_STAINS))
    )

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(cls.min_side <= s <= MAX_SIDE for s in v):
            raise ValueError(
                f"each side of shape must be in {cls.min_side} .. {MAX_SIDE} (the culture "
                f"simulator renders whole planes), got {v}"
            )
        return v

    @field_validator("chunked")
    @classmethod
    def _not_chunked(cls, v: bool | None) -> bool | None:
        if v:
            raise ValueError("simulate_culture renders whole planes; chunked must be False or None")
        return v

    @field_validator("jpeg_quality")
    @classmethod
    def _jpeg(cls, v: int | None, info: Any) -> int | None:
        if v is not None and info.data.get("dtype") != "uint8":
            raise ValueError("jpeg_quality needs dtype='uint8'")
        return v


def _pick(rng: np.random.Generator, value: Any, choices: tuple[str, ...], p: list[float]) -> str:
    drawn = str(rng.choice(choices, p=p))
    return str(value) if value is not None else drawn


def _or(value: float | None, drawn: float) -> float:
    return float(value) if value is not None else float(drawn)


def _channel(
    rng: np.random.Generator,
    opts: CultureOptions,
    snr: float,
    *,
    transmitted: bool,
    camera: str,
) -> dict[str, Any]:
    """Camera and exposure of one channel (photons from the SNR, gain to fit the data type)."""
    u8 = opts.dtype == "uint8"
    cam: dict[str, Any] = {
        "transmitted": transmitted,
        "camera": "scmos" if transmitted else camera,
        "read_noise": float(rng.uniform(1.0, 3.0)),
        "offset": float(rng.uniform(0.0, 5.0)) if u8 else float(rng.uniform(90.0, 110.0)),
        "background": 1.0 if transmitted else _log(rng, 0.01, 0.5),
        "jpeg_quality": opts.jpeg_quality,
        "em_gain": None,
        "snr": snr,
    }
    if transmitted:
        # Photons and gain are set when the image is rendered, from the contrast of
        # its cells (``CultureScene``): the bright background lands at ``level`` ADU.
        cam["level"] = float(rng.uniform(110.0, 220.0) if u8 else _log(rng, 1500.0, 30000.0))
    elif cam["camera"] == "emccd":
        cam["em_gain"] = _log(rng, 50.0, 500.0)
        cam["read_noise"] = float(rng.uniform(20.0, 80.0))
        cam["photons"] = 2.0 * photons_for_snr(
            snr, background=cam["background"], read_noise=cam["read_noise"] / cam["em_gain"]
        )
        electrons = cam["photons"] * cam["em_gain"]
        cam["gain"] = 0.4 * 250.0 / electrons if u8 else 1.0 / float(rng.uniform(8.0, 20.0))
    else:
        cam["photons"] = photons_for_snr(
            snr, background=cam["background"], read_noise=cam["read_noise"]
        )
        if u8:
            cam["gain"] = float(rng.uniform(60.0, 130.0)) / cam["photons"]
        else:
            cam["gain"] = min(_log(rng, 0.5, 4.0), 15000.0 / cam["photons"])
    return cam


def resolve_culture_options(opts: CultureOptions) -> dict[str, Any]:
    """Draw every per-image parameter left open; the result fixes the image."""
    rng = np.random.default_rng([opts.seed & 0xFFFFFFFF, 0xC01C])
    kind = _pick(rng, opts.shape_kind, CULTURE_SHAPES, [0.25, 0.25, 0.2, 0.15, 0.15])
    modality = _pick(rng, opts.modality, CULTURE_MODALITIES, [0.5, 0.3, 0.2])
    stain = _pick(rng, opts.stain, CULTURE_STAINS, [0.5, 0.5])
    p_dna = 0.8 if modality == "fluorescence" else 0.5
    nucleus_stain = _pick(rng, opts.nucleus_stain, NUCLEUS_STAINS, [p_dna, 1 - p_dna])
    rod = kind == "rod"
    # A drawn diameter fits at least 4 times across the image's shorter side.
    lo, hi = (10.0, 40.0) if rod else (15.0, 150.0)
    d = _or(opts.diameter, _log(rng, lo, float(np.clip(min(opts.shape) / 4.0, lo, hi))))
    width = _or(opts.rod_width, rng.uniform(3.0, 8.0))
    snr = _or(opts.snr, _log(rng, 3.0, 100.0))
    p: dict[str, Any] = {
        "shape_kind": kind,
        "modality": modality,
        "stain": stain,
        "nucleus_stain": "none" if rod else nucleus_stain,
        "diameter": d,
        "rod_width": float(min(width, d / 2.0)),
        "diameter_cv": _or(opts.diameter_cv, rng.uniform(0.1, 0.3)),
        "density": _or(opts.density, _log(rng, 0.02, 0.4) if rod else _log(rng, 0.05, 0.9)),
        "clustering": _or(opts.clustering, rng.uniform(0.0, 1.5)),
        "snr": snr,
        "dna_snr": _or(opts.dna_snr, float(np.clip(snr * _log(rng, 0.5, 2.0), 3.0, 200.0))),
        "psf_sigma": _or(opts.psf_sigma, _log(rng, 0.7, float(np.clip(0.06 * d, 0.8, 3.0)))),
        # Transmitted light is evener (Koehler illumination) than epi-fluorescence.
        "illumination": float(rng.uniform(0.0, 0.4 if modality == "fluorescence" else 0.1)),
        "vignetting": float(rng.uniform(0.0, 0.5 if modality == "fluorescence" else 0.2)),
        "stain_spread": float(rng.uniform(0.15, 0.7)),
        "flatness": float(rng.uniform(0.25, 0.8)) if kind != "round" else 0.9,
        "nucleus_bulge": float(rng.uniform(0.0, 0.6)),
        "membrane_width": float(np.clip(rng.uniform(0.015, 0.05) * d, 0.7, 4.0)),
        "membrane_cytoplasm": float(rng.uniform(0.03, 0.2)),
        "perinuclear": float(rng.uniform(0.0, 1.5)),
        "nucleus_level": float(rng.uniform(0.2, 1.3)),
        "grain": float(rng.uniform(0.1, 0.5)),
        "granules": float(rng.uniform(0.0, 0.8)),
        "dna_texture": _log(rng, 0.5, 2.0),
        "dna_foci": float(rng.choice([0.0, 1.0, 3.0])),
        # Transmitted light: fine mottling of the background (dust, medium, optics).
        "mottle": float(rng.uniform(0.0, 0.02)),
        "mottle_sigma": float(rng.uniform(1.5, 6.0)),
        # Unlabelled debris (dust, dead-cell fragments): specks the model must ignore.
        "debris": float(rng.uniform(0.0, 400.0)) if rng.random() < 0.7 else 0.0,
        "debris_sigma": float(rng.uniform(0.8, 2.5)),
        "debris_level": _log(rng, 0.2, 1.5),
        "debris_dna": bool(rng.random() < 0.5),
    }
    if opts.density is None:
        # A drawn density gives at least ~5 cells.
        area = d * p["rod_width"] if rod else np.pi * (d / 2.0) ** 2
        least = 5.0 * area / (opts.shape[0] * opts.shape[1])
        p["density"] = float(min(max(p["density"], least), 0.9))
    # Transmitted light: phase contrast (cells dark in 80 %, bright in 20 %, with a halo
    # of 0.15-0.6 diameters, 3-40 px), or bright field (weak absorption, defocus ring).
    if modality == "phase":
        p["contrast"] = float(rng.uniform(0.4, 1.6) * rng.choice([1.0, -1.0], p=[0.8, 0.2]))
        p["halo_sigma"] = float(np.clip(rng.uniform(0.15, 0.6) * d, 3.0, 40.0))
        p["defocus"] = 0.0
    else:
        p["contrast"] = float(rng.uniform(0.05, 0.3))
        p["defocus"] = float(rng.uniform(0.1, 0.8) * rng.choice([1.0, -1.0]))
        p["halo_sigma"] = float(rng.uniform(1.0, max(1.5, 0.08 * d)))
    # EMCCD (drawn for 20 % of 16-bit fluorescence images) only where asked or drawn.
    camera = opts.camera or str(rng.choice(["scmos", "emccd"], p=[0.8, 0.2]))
    if opts.camera is None and (modality != "fluorescence" or opts.dtype == "uint8"):
        camera = "scmos"
    p["camera"] = camera
    p["channels"] = [
        _channel(rng, opts, p["dna_snr"], transmitted=False, camera=camera),
        _channel(rng, opts, snr, transmitted=modality != "fluorescence", camera=camera),
    ]  # fmt: skip
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in p.items()}


def simulate_culture(
    shape: tuple[int, int] = (512, 512),
    seed: int = 0,
    *,
    shape_kind: str | None = None,
    stain: str | None = None,
    modality: str | None = None,
    nucleus_stain: str | None = None,
    diameter: float | None = None,
    diameter_cv: float | None = None,
    rod_width: float | None = None,
    density: float | None = None,
    clustering: float | None = None,
    snr: float | None = None,
    dna_snr: float | None = None,
    psf_sigma: float | None = None,
    camera: Literal["scmos", "emccd"] | None = None,
    jpeg_quality: int | None = None,
    blank_dna: Literal["noise", "zeros"] = "noise",
    dtype: Literal["uint16", "uint8"] = "uint16",
) -> Sample:
    """Simulate cultured cells with a DNA channel and a cell-boundary channel.

    The second channel is named ``membrane`` (so that the ``cells`` model and
    ``training/cells.json`` read it) but holds whatever shows the cells'
    boundaries: a membrane stain, a cytoplasm stain, or transmitted light
    (phase contrast or bright field). What it truly is is in
    ``params["modality"]`` and ``params["stain"]``.

    Parameters
    ----------
    shape : (int, int)
        Image size (rows, columns), pixels, 32 .. 8192. Default (512, 512).
    seed : int
        Random seed; the sample is a function of the options. Default 0.
    shape_kind : str, optional
        ``epithelial`` (polygonal cells packed in colonies), ``fibroblast``
        (elongated, with pointed processes), ``round`` (isolated or touching),
        ``rod`` (bacteria-like, no nucleus) or ``mixed`` (the first three).
    stain : str, optional
        ``membrane`` (bright outline) or ``cytoplasm`` (filled, brighter near
        the nucleus); used in fluorescence.
    modality : str, optional
        ``fluorescence``, ``phase`` (phase contrast) or ``brightfield``.
    nucleus_stain : str, optional
        ``dna`` or ``none`` (DNA channel of background and noise only; always
        ``none`` for rods).
    diameter, diameter_cv, rod_width, density, clustering, snr, dna_snr, psf_sigma
        See :class:`CultureOptions` (cell size in px, rods' length and width,
        covered fraction of the image, clumping, signal-to-noise ratios, PSF).
    camera : {"scmos", "emccd"}, optional
        Camera noise model (transmitted light is always sCMOS).
    jpeg_quality : int, optional
        JPEG-compress (8-bit images only).
    blank_dna : {"noise", "zeros"}
        With ``nucleus_stain="none"``: a DNA channel of background and camera
        noise (default), or of zeros, as cellscale's segmentation feeds a model
        whose DNA role is left blank (``channels=(None, ...)``).
    dtype : {"uint16", "uint8"}
        Camera data type. Default "uint16".

    Returns
    -------
    Sample
        ``kind="culture"``; ``image`` axes ``"cyx"``, channels ``("DNA",
        "membrane")``; ``labels["cells"]`` and ``labels["nuclei"]`` (uint32;
        nucleus ``i`` lies inside cell ``i``; rods have none); ``cells``:
        ``label, y, x, diameter, shape_kind``, geometry, nucleus columns,
        ``stain`` (relative level); ``params`` with ``modality``, ``stain``,
        ``shape_kind``, ``nucleus_stain`` and every resolved option.

    Examples
    --------
    >>> s = simulate_culture((128, 128), seed=1, shape_kind="round", modality="phase")
    >>> s.image.channel_names, s.params["modality"]
    (('DNA', 'membrane'), 'phase')
    """
    opts = _validated(
        CultureOptions, shape=tuple(shape), seed=seed, shape_kind=shape_kind, stain=stain,
        modality=modality, nucleus_stain=nucleus_stain, diameter=diameter,
        diameter_cv=diameter_cv, rod_width=rod_width, density=density, clustering=clustering,
        snr=snr, dna_snr=dna_snr, psf_sigma=psf_sigma, camera=camera,
        jpeg_quality=jpeg_quality, blank_dna=blank_dna, dtype=dtype,
    )  # fmt: skip
    p = resolve_culture_options(opts)
    scene = CultureScene(opts, p, culture_table(opts.shape, opts.seed, p))
    data, labels, cells, lazy = render_with_table(scene, label="cells")
    image = Image(data=data, axes="cyx", channel_names=scene.channels)
    truth = {k: p[k] for k in ("modality", "stain", "shape_kind", "nucleus_stain")}
    params = sample_params("simulate_culture", opts, p, lazy, **truth)
    return Sample(kind="culture", image=image, labels=labels, cells=cells, params=params)
