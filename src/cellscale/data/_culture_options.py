"""Domain-randomised options of :func:`~cellscale.data.simulate_culture` (training sets).

:func:`culture_options` draws, per seed, every option of ``simulate_culture``
from a wide range, so that the ``cells`` model sees cultured cells of every
shape, stain and modality. The ranges, per image:

=====================  ===================================================================
shape_kind             epithelial 25 %, fibroblast 25 %, round 20 %, rod 15 %, mixed 15 %
modality               fluorescence 50 %, phase contrast 30 %, bright field 20 %
stain (fluorescence)   membrane 50 %, cytoplasm 50 %
nucleus_stain          dna 80 % in fluorescence, 50 % in transmitted light; none for rods;
                       a blank DNA channel in fluorescence goes with a cytoplasm stain;
                       half the blank DNA channels are zeros (what segmentation feeds a
                       model for a blank role), half background and camera noise
diameter               eukaryotic cells 15 .. 150 px, rods 10 .. 40 px long (log-uniform);
                       cell-to-cell cv 0.1 .. 0.3; rod width 3 .. 8 px
image side             6 .. 12 diameters (rods: 256 .. 512), clamped to 256 .. 768 px
                       (multiple of 32)
density                0.05 .. 0.9 of the area covered (log-uniform; rods 0.02 .. 0.4), at
                       least ~5 cells per image; clustering 0 .. 1.5
noise                  SNR of the boundary channel 3 .. 100 (log-uniform); DNA channel
                       0.5 .. 2 times it, in 3 .. 200
optics                 PSF sigma 0.7 .. clip(0.06 x diameter, 0.8, 3) px (log-uniform)
camera                 sCMOS 16-bit (60 %), EMCCD 16-bit (15 %, fluorescence only), 8-bit
                       (25 %, half of them JPEG-compressed at quality 30 .. 95)
=====================  ===================================================================

The other per-image draws (stain spread between cells 0.15 .. 0.7, membrane
width, perinuclear brightening, phase halo 0.15 .. 0.6 diameters, bright-field
defocus, illumination 0 .. 0.4 and vignetting 0 .. 0.5 in fluorescence, 0 .. 0.1
and 0 .. 0.2 in transmitted light, background mottling 0 .. 2 %, unlabelled debris in
70 % of images) are made by the simulator itself. :data:`CULTURE_REGIMES` name test sets that fix one factor
with the rest drawn as above:

=======================================  ============================================
epithelial, fibroblast, round, rod       that cell shape
membrane, cytoplasm                      fluorescence with that stain
phase, brightfield                       that transmitted-light modality
no_dna                                   a blank DNA channel
large, small                             eukaryotic cells of 80 .. 150 px, 15 .. 25 px
=======================================  ============================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cellscale.data._generalist import _log

__all__ = ["CULTURE_REGIMES", "culture_options", "culture_side"]

Draw = Callable[[np.random.Generator], dict[str, Any]]
_EUKARYOTIC = ("epithelial", "fibroblast", "round", "mixed")


def _eukaryotic(rng: np.random.Generator, lo: float, hi: float) -> dict[str, Any]:
    return {"shape_kind": str(rng.choice(_EUKARYOTIC)), "diameter": _log(rng, lo, hi)}


#: Per-regime overrides of :func:`culture_options`, each drawn from the image's generator.
CULTURE_REGIMES: dict[str, Draw] = {
    "epithelial": lambda rng: {"shape_kind": "epithelial"},
    "fibroblast": lambda rng: {"shape_kind": "fibroblast"},
    "round": lambda rng: {"shape_kind": "round"},
    "rod": lambda rng: {"shape_kind": "rod"},
    "membrane": lambda rng: {"modality": "fluorescence", "stain": "membrane"},
    "cytoplasm": lambda rng: {"modality": "fluorescence", "stain": "cytoplasm"},
    "phase": lambda rng: {"modality": "phase"},
    "brightfield": lambda rng: {"modality": "brightfield"},
    "no_dna": lambda rng: {"nucleus_stain": "none"},
    "large": lambda rng: _eukaryotic(rng, 80.0, 150.0),
    "small": lambda rng: _eukaryotic(rng, 15.0, 25.0),
}


def culture_side(diameter: float, rng: np.random.Generator, *, rod: bool = False) -> int:
    """Image side: 6-12 diameters (rods 256-512 px), clamped to 256 .. 768 px."""
    side = rng.uniform(256.0, 512.0) if rod else diameter * rng.uniform(6.0, 12.0)
    return int(np.clip(np.round(side / 32.0) * 32, 256, 768))


def culture_options(seed: int, regime: str | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`~cellscale.data.simulate_culture` for one image.

    Parameters
    ----------
    seed : int
        Seeds both the draw of the options and the image.
    regime : str, optional
        One of :data:`CULTURE_REGIMES`: fix one factor. Default: none.

    Returns
    -------
    dict
        Every option, ``shape`` and ``seed`` included (see the module's table).

    Examples
    --------
    >>> from cellscale.data import simulate_culture
    >>> kw = culture_options(3, regime="phase")
    >>> kw["modality"], 256 <= kw["shape"][0] <= 768
    ('phase', True)
    >>> s = simulate_culture(**{**kw, "shape": (128, 128)})
    """
    if regime is not None and regime not in CULTURE_REGIMES:
        raise ValueError(
            f"unknown regime {regime!r}; valid regimes are {', '.join(CULTURE_REGIMES)}"
        )
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC017E])
    on = lambda p: bool(rng.random() < p)  # noqa: E731
    kind = str(rng.choice(["epithelial", "fibroblast", "round", "rod", "mixed"],
                          p=[0.25, 0.25, 0.2, 0.15, 0.15]))  # fmt: skip
    modality = str(rng.choice(["fluorescence", "phase", "brightfield"], p=[0.5, 0.3, 0.2]))
    camera = str(rng.choice(["scmos", "emccd", "uint8"], p=[0.6, 0.15, 0.25]))
    kw: dict[str, Any] = {
        "seed": int(seed),
        "shape_kind": kind,
        "modality": modality,
        "stain": str(rng.choice(["membrane", "cytoplasm"])),
        "diameter_cv": rng.uniform(0.1, 0.3),
        "rod_width": rng.uniform(3.0, 8.0),
        "clustering": rng.uniform(0.0, 1.5),
        "snr": _log(rng, 3.0, 100.0),
        "jpeg_quality": int(rng.integers(30, 96)) if camera == "uint8" and on(0.5) else None,
    }
    u_dna, u_size, u_density, u_psf, u_dna_snr = rng.random(5)
    fixed = CULTURE_REGIMES[regime](rng) if regime is not None else {}
    kw.update(fixed)
    rod = kw["shape_kind"] == "rod"
    p_dna = 0.8 if kw["modality"] == "fluorescence" else 0.5
    kw.setdefault("nucleus_stain", "dna" if u_dna < p_dna and not rod else "none")
    if rod:
        kw["nucleus_stain"] = "none"
    elif kw["nucleus_stain"] == "none" and kw["modality"] == "fluorescence":
        # Without a DNA stain, nuclei show only as the holes of a cytoplasm stain:
        # a membrane stain comes with stained nuclei (unless a regime fixed both).
        if "stain" in fixed:
            kw["nucleus_stain"] = "dna"
        else:
            kw["stain"] = "cytoplasm"
    lo, hi = (10.0, 40.0) if rod else (15.0, 150.0)
    kw.setdefault("diameter", float(np.exp(np.log(lo) + u_size * np.log(hi / lo))))
    d = kw["diameter"]
    lo, hi = (0.02, 0.4) if rod else (0.05, 0.9)
    density = float(np.exp(np.log(lo) + u_density * np.log(hi / lo)))
    kw["dna_snr"] = float(np.clip(kw["snr"] * np.exp(np.log(0.5) + u_dna_snr * np.log(4.0)),
                                  3.0, 200.0))  # fmt: skip
    top = float(np.clip(0.06 * d, 0.8, 3.0))
    kw["psf_sigma"] = float(np.exp(np.log(0.7) + u_psf * np.log(top / 0.7)))
    transmitted = kw["modality"] != "fluorescence"
    kw["camera"] = "emccd" if camera == "emccd" and not transmitted else "scmos"
    kw["dtype"] = "uint8" if camera == "uint8" else "uint16"
    if kw["dtype"] != "uint8":
        kw["jpeg_quality"] = None
    kw["shape"] = (culture_side(d, rng, rod=rod),) * 2
    # Half the blank DNA channels are zeros: a model's blank role at inference.
    kw["blank_dna"] = "zeros" if rng.random() < 0.5 and kw["nucleus_stain"] == "none" else "noise"
    # At least ~5 cells per image.
    area = np.pi * (d / 2) ** 2 if not rod else d * kw["rod_width"]
    kw["density"] = float(np.clip(max(density, 5 * area / kw["shape"][0] ** 2), 0.01, 0.9))
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in kw.items()}
