"""Domain-randomised nuclei images: the training data of a generalist model.

:func:`generalist_options` draws, per seed, every option of
:func:`~cellscale.data.simulate_nuclei` from a wide range, so that no two images
share their conditions (domain randomisation, not one realistic default).
The ranges, per image:

=====================  ===================================================================
diameter               6 .. 150 px, log-uniform; cell-to-cell cv 0.1 .. 0.3
image side             10 .. 16 diameters, clamped to 256 .. 1024 px (multiple of 32)
density, clustering    0.03 .. 0.6 of the area (log-uniform; at least ~6 nuclei per image);
                       clustering 0 .. 1.5
shapes                 irregularity 0.03 .. 0.16; mean elongation 0.05 .. 1.2 (long/short
                       axis - 1); bent nuclei in 35% of images (5 .. 50% of nuclei),
                       lobed in 20% (5 .. 40%)
touching, overlapping  overlap allowed in 35% of images (0.05 .. 0.4 of the radii, signals
                       add); otherwise crowded nuclei press flat
mitosis, apoptosis     0 .. 15% mitotic (condensed, bright), 0 .. 5% apoptotic
brightness spread      max/min ratio 1 .. 3 (40%) or 3 .. 100 (60%), log-uniform
texture                chromatin contrast 0.3 .. 3 (log-uniform); fine bright speckles
                       in 50% (0.3 .. 3); extra nucleoli in 60% (contrast -0.9 dark ..
                       +2 bright); vacuoles (dark holes) in 30% (5 .. 50% of nuclei)
optics                 PSF sigma 0.7 .. min(3, 0.1 x diameter) px (log-uniform); 0 .. 50%
                       of nuclei defocused; haze 0 .. 0.3
cytoplasm              unlabelled cytoplasm/autofluorescence in 50% (0.02 .. 0.5 of a
                       typical nucleus, log-uniform)
illumination           uneven 0 .. 0.4 (relative std); vignetting 0 .. 0.6;
                       background 0.005 .. 0.8 (log-uniform)
noise                  SNR 3 .. 200 (log-uniform)
camera                 sCMOS 16-bit (55%), EMCCD 16-bit (20%, gain 50 .. 500),
                       8-bit (25%, half of them JPEG-compressed at quality 20 .. 95)
saturation             clipped in 35% of images at 0.8 .. 6 x sqrt(brightness spread) x the
                       dimmest nuclei (the bright tail clips)
=====================  ===================================================================

:data:`REGIMES` name test sets that fix one factor at its hard end (diameter
bands, brightness spread, texture, cytoplasm, camera types, shapes) with the
rest drawn as above; ``"plain"`` turns every domain option off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["REGIMES", "generalist_options", "generalist_side"]

Draw = Callable[[np.random.Generator], dict[str, Any]]


def _log(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _band(lo: float, hi: float) -> Draw:
    return lambda rng: {"diameter": _log(rng, lo, hi)}


_DOMAIN_OFF = {
    "brightness_range": None,
    "texture": None,
    "speckle": None,
    "nucleoli": None,
    "vacuoles": None,
    "elongation": None,
    "bent_fraction": None,
    "lobed_fraction": None,
    "overlap": None,
    "cytoplasm": None,
    "illumination": None,
    "camera": "scmos",
    "em_gain": None,
    "saturation": None,
    "jpeg_quality": None,
    "dtype": "uint16",
}

#: Per-regime overrides of :func:`generalist_options`, each drawn from the image's generator.
REGIMES: dict[str, Draw] = {
    "d6-12": _band(6.0, 12.0),
    "d12-24": _band(12.0, 24.0),
    "d24-48": _band(24.0, 48.0),
    "d48-96": _band(48.0, 96.0),
    "d96-150": _band(96.0, 150.0),
    "brightness": lambda rng: {
        "brightness_range": _log(rng, 30.0, 100.0),
        "saturation": _log(rng, 0.7, 2.0),
        "mitotic_fraction": rng.uniform(0.05, 0.15),
    },
    "texture": lambda rng: {
        "texture": rng.uniform(2.0, 3.0),
        "speckle": rng.uniform(1.0, 3.0),
        "nucleoli": float(rng.choice([-0.8, 1.5])),
        "vacuoles": rng.uniform(0.2, 0.5),
    },
    "cytoplasm": lambda rng: {"cytoplasm": _log(rng, 0.1, 0.5)},
    "emccd": lambda rng: {
        "camera": "emccd",
        "dtype": "uint16",
        "jpeg_quality": None,
        "snr": _log(rng, 3.0, 15.0),
    },
    "jpeg": lambda rng: {
        "camera": "scmos",
        "em_gain": None,
        "dtype": "uint8",
        "jpeg_quality": int(rng.integers(20, 60)),
    },
    "saturated": lambda rng: {"saturation": _log(rng, 0.8, 1.5)},
    "shapes": lambda rng: {
        "elongation": rng.uniform(0.6, 1.2),
        "bent_fraction": rng.uniform(0.2, 0.5),
        "lobed_fraction": rng.uniform(0.1, 0.3),
        "overlap": rng.uniform(0.2, 0.4),
        "density": _log(rng, 0.3, 0.6),
    },
    "plain": lambda rng: dict(_DOMAIN_OFF),
}


def generalist_side(diameter: float, rng: np.random.Generator) -> int:
    """Image side for a typical ``diameter``: 10-16 diameters, clamped to 256 .. 1024 px."""
    side = diameter * rng.uniform(10.0, 16.0)
    return int(np.clip(np.round(side / 32.0) * 32, 256, 1024))


def generalist_options(seed: int, *, regime: str | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`~cellscale.data.simulate_nuclei` for one image.

    Parameters
    ----------
    seed : int
        Seeds both the draw of the options and the image.
    regime : str, optional
        One of :data:`REGIMES`: fix one factor at its hard end. Default: none.

    Returns
    -------
    dict
        Every option, ``shape`` and ``seed`` included (see the module's table).

    Examples
    --------
    >>> from cellscale.data import simulate_nuclei
    >>> kw = generalist_options(3, regime="d12-24")
    >>> 12 <= kw["diameter"] <= 24 and 256 <= kw["shape"][0] <= 1024
    True
    >>> s = simulate_nuclei(**{**kw, "shape": (128, 128)})
    """
    if regime is not None and regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; valid regimes are {', '.join(REGIMES)}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6E4E])
    on = lambda p: bool(rng.random() < p)  # noqa: E731
    camera = rng.choice(["scmos", "emccd", "uint8"], p=[0.55, 0.2, 0.25])
    kw: dict[str, Any] = {
        "seed": int(seed),
        "diameter": _log(rng, 6.0, 150.0),
        "diameter_cv": rng.uniform(0.1, 0.3),
        "density": _log(rng, 0.03, 0.6),
        "clustering": rng.uniform(0.0, 1.5),
        "irregularity": rng.uniform(0.03, 0.16),
        "mitotic_fraction": rng.uniform(0.0, 0.15),
        "apoptotic_fraction": rng.uniform(0.0, 0.05),
        "defocus_fraction": rng.uniform(0.0, 0.5),
        "snr": _log(rng, 3.0, 200.0),
        "background": _log(rng, 0.005, 0.8),
        "vignetting": rng.uniform(0.0, 0.6),
        "haze": rng.uniform(0.0, 0.3),
        "brightness_range": _log(rng, 1.0, 3.0) if on(0.4) else _log(rng, 3.0, 100.0),
        "texture": _log(rng, 0.3, 3.0),
        "speckle": _log(rng, 0.3, 3.0) if on(0.5) else None,
        "nucleoli": rng.uniform(-0.9, 2.0) if on(0.6) else None,
        "vacuoles": rng.uniform(0.05, 0.5) if on(0.3) else None,
        "elongation": _log(rng, 0.05, 1.2),
        "bent_fraction": rng.uniform(0.05, 0.5) if on(0.35) else None,
        "lobed_fraction": rng.uniform(0.05, 0.4) if on(0.2) else None,
        "overlap": rng.uniform(0.05, 0.4) if on(0.35) else None,
        "cytoplasm": _log(rng, 0.02, 0.5) if on(0.5) else None,
        "illumination": rng.uniform(0.0, 0.4),
        "camera": "emccd" if camera == "emccd" else "scmos",
        "dtype": "uint8" if camera == "uint8" else "uint16",
        "jpeg_quality": int(rng.integers(20, 96)) if camera == "uint8" and on(0.5) else None,
        "saturation": _log(rng, 0.8, 6.0) if on(0.35) else None,
    }
    if regime is not None:
        kw.update(REGIMES[regime](rng))
    # PSF from crisp (high-NA objective, speckles of 2 px in 70-px nuclei) to soft.
    kw["psf_sigma"] = _log(rng, 0.7, float(np.clip(0.1 * kw["diameter"], 0.8, 3.0)))
    if kw["camera"] != "emccd":
        kw["em_gain"] = None
    if kw["saturation"] is not None and kw["brightness_range"] is not None:
        # Clip relative to the spread: the bright tail, not every nucleus.
        kw["saturation"] *= float(np.sqrt(kw["brightness_range"]))
    kw["shape"] = (generalist_side(kw["diameter"], rng),) * 2
    # At least ~6 nuclei per image: large nuclei in a 1024 image need some density.
    least = 6 * np.pi * (kw["diameter"] / 2) ** 2 / kw["shape"][0] ** 2
    kw["density"] = float(np.clip(max(kw["density"], least), 0.005, 0.6))
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in kw.items()}
