"""The domain-randomisation options of :func:`~cellscale.data.simulate_nuclei`.

Options that widen the simulator beyond its realistic default: brightness spread
within an image, heavy texture, speckles, bright or dark nucleoli, vacuoles,
bent and lobed nuclei, overlapping nuclei, unlabelled cytoplasm and
autofluorescence, uneven illumination, EMCCD cameras, clipping and JPEG
compression. Every one is off (None) by default, and then the simulator draws
exactly what it drew before they existed; their random draws use generators of
their own, so turning one on changes nothing else about an image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from cellscale.data._optics import smooth_random_field

__all__ = [
    "DOMAIN_COLUMNS",
    "DOMAIN_OPTIONS",
    "cytoplasm_halo",
    "add_cytoplasm",
    "draw_domain_columns",
    "illumination_field",
    "resolve_domain_options",
]

#: Domain options that take a number or a (low, high) range, with their valid bounds.
DOMAIN_OPTIONS: dict[str, tuple[float, float]] = {
    "brightness_range": (1.0, 1000.0),
    "texture": (0.0, 6.0),
    "speckle": (0.0, 5.0),
    "nucleoli": (-1.0, 3.0),
    "vacuoles": (0.0, 1.0),
    "elongation": (0.0, 3.0),
    "bent_fraction": (0.0, 1.0),
    "lobed_fraction": (0.0, 1.0),
    "overlap": (0.0, 0.6),
    "cytoplasm": (0.0, 2.0),
    "illumination": (0.0, 0.8),
    "saturation": (0.2, 1000.0),
    "em_gain": (2.0, 2000.0),
}
#: Columns :func:`draw_domain_columns` adds to the cells table.
DOMAIN_COLUMNS = (
    "bend",
    "lobes",
    "speckle",
    "nucleoli",
    "holes",
    "cytoplasm",
    "cytoplasm_reach",
    "cytoplasm_shift",
    "cytoplasm_angle",
)
_LOG = {"brightness_range", "saturation", "em_gain", "speckle", "cytoplasm"}


def _draw(rng: np.random.Generator, name: str, value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    lo, hi = float(value[0]), float(value[1])
    if name in _LOG and lo > 0:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def resolve_domain_options(opts: Any, p: dict[str, Any]) -> dict[str, Any]:
    """Draw the domain options of ``opts`` that are ranges; add them to ``p``.

    Options left None get their neutral value (``brightness_range`` 1,
    ``cytoplasm`` 0, ...); ``texture`` and ``elongation`` replace the values the
    default simulator drew (``p["texture"]``, ``p["elongation_mean"]``).
    """
    rng = np.random.default_rng([opts.seed & 0xFFFFFFFF, 0xD0A1])
    q: dict[str, Any] = {}
    for name in DOMAIN_OPTIONS:
        value = getattr(opts, name)
        q[name] = None if value is None else _draw(rng, name, value)
    if q["texture"] is not None:
        p["texture"] = q["texture"]
    if q["elongation"] is not None:
        p["elongation_mean"] = q["elongation"]
    neutral = {
        "brightness_range": 1.0,
        "speckle": 0.0,
        "nucleoli": 0.0,
        "vacuoles": 0.0,
        "bent_fraction": 0.0,
        "lobed_fraction": 0.0,
        "cytoplasm": 0.0,
        "illumination": 0.0,
    }
    for name, v in neutral.items():
        p[name] = v if q[name] is None else q[name]
    p["overlap"] = q["overlap"]  # None: set from the density, nuclei press flat
    p["saturation"] = q["saturation"]
    p["camera"] = opts.camera
    p["jpeg_quality"] = opts.jpeg_quality
    if opts.camera == "emccd":
        p["em_gain"] = (
            q["em_gain"]
            if q["em_gain"] is not None
            else float(np.exp(rng.uniform(np.log(50.0), np.log(500.0))))
        )
        p["em_read_noise"] = float(rng.uniform(20.0, 80.0))  # e- before gain
    return p


def draw_domain_columns(table: pd.DataFrame, p: dict[str, Any], seed: int) -> pd.DataFrame:
    """Per-nucleus feature columns and brightness spread, drawn from ``p``.

    Adds ``bend``, ``lobes``, ``speckle``, ``nucleoli``, ``holes`` (0 = none;
    see :mod:`cellscale.data._features`), ``cytoplasm`` (level of the unlabelled
    cytoplasm, relative to a typical nucleus), ``cytoplasm_reach`` (pixels
    beyond the nucleus), ``cytoplasm_shift`` and ``cytoplasm_angle`` (the cell
    reaches ``1 + shift`` times further on the side of ``angle``, radians: the
    nucleus lies off-centre in its cell), and multiplies ``brightness`` by a factor drawn
    in 1 .. ``brightness_range`` as ``range ** (u**2)`` (``u`` uniform): the dimmest
    nuclei are as bright as a typical nucleus (so the SNR holds for them), most
    stay within the range's square root and a tail is up to that many times
    brighter (the camera may clip them).
    Bent nuclei are made elongated (long/short axis >= 1.5).
    """
    n = len(table)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xD0A2])
    t = table.copy()
    inter = (t["kind"].astype(str) == "interphase").to_numpy()
    r = t["radius"].to_numpy(float)
    spread = np.exp(np.log(p["brightness_range"]) * rng.random(n) ** 2)
    t["brightness"] = (t["brightness"].to_numpy(float) * spread).astype(np.float32)
    u = rng.random(n)
    bent = inter & (u < p["bent_fraction"])
    lobed = inter & ~bent & (u < p["bent_fraction"] + p["lobed_fraction"])
    bend = np.where(bent, rng.uniform(0.15, 0.5, n) * rng.choice([-1.0, 1.0], n), 0.0)
    t["elongation"] = np.where(
        bent,
        np.maximum(t["elongation"].to_numpy(float), rng.uniform(1.5, 2.8, n)),
        t["elongation"].to_numpy(float),
    )
    t["bend"] = bend.astype(np.float32)
    t["lobes"] = np.where(lobed, rng.integers(2, 5, n), 0).astype(np.int8)
    t["speckle"] = np.where(inter, p["speckle"] * np.exp(rng.normal(0.0, 0.3, n)), 0.0).astype(
        np.float32
    )
    t["nucleoli"] = np.where(
        inter & (rng.random(n) < 0.8), p["nucleoli"] * np.exp(rng.normal(0.0, 0.3, n)), 0.0
    ).astype(np.float32)
    has_holes = inter & (rng.random(n) < p["vacuoles"])
    t["holes"] = np.where(has_holes, rng.integers(1, 4, n), 0).astype(np.int8)
    # Brighter cells (more dye taken up) have somewhat brighter cytoplasm too.
    rel = t["brightness"].to_numpy(float) / max(float(np.median(t["brightness"])), 1e-6) if n else 1
    level = p["cytoplasm"] * np.exp(rng.normal(0.0, 0.5, n)) * np.sqrt(rel)
    t["cytoplasm"] = np.where(p["cytoplasm"] > 0, level, 0.0).astype(np.float32)
    t["cytoplasm_reach"] = (r * rng.uniform(0.5, 2.0, n)).astype(np.float32)
    t["cytoplasm_shift"] = rng.uniform(0.0, 0.8, n).astype(np.float32)
    t["cytoplasm_angle"] = rng.uniform(0.0, 2 * np.pi, n).astype(np.float32)
    return t


def cytoplasm_halo(cells: pd.DataFrame) -> int:
    """Context (pixels) :func:`add_cytoplasm` needs around a window."""
    if len(cells) == 0 or "cytoplasm" not in cells or not (cells["cytoplasm"] > 0).any():
        return 0
    far = cells["cytoplasm_reach"] * (1.0 + cells["cytoplasm_shift"])
    return int(np.ceil(float(far.max()) * 1.4)) + 2


def add_cytoplasm(
    rng: np.random.Generator,
    clean: np.ndarray,
    labels: np.ndarray,
    cells: pd.DataFrame,
    *,
    offset: tuple[int, int],
    seed: int,
    diameter: float,
) -> np.ndarray:
    """Add the unlabelled cytoplasm/autofluorescence signal around nuclei to ``clean``.

    Each pixel within a nucleus' ``cytoplasm_reach`` (longer by up to
    ``cytoplasm_shift`` towards ``cytoplasm_angle``, and wobbling by up to 35%
    along the outline) of its nearest nucleus gets that nucleus' ``cytoplasm``
    level, with a soft edge and a granular texture; the nuclei get it too
    (cytoplasm lies above and below them). Labels are not changed. The grain
    is drawn from ``rng`` (like camera noise, it differs between chunks).
    """
    n = int(labels.max())
    if n == 0 or "cytoplasm" not in cells:
        return clean
    lab = cells["label"].to_numpy()
    ok = lab <= n

    def lut(column: str, shift: float = 0.0) -> np.ndarray:
        out = np.zeros(n + 1, np.float32)
        out[lab[ok]] = cells[column].to_numpy(np.float32)[ok] - np.float32(shift)
        return out

    level, reach = lut("cytoplasm"), lut("cytoplasm_reach")
    if not level.any():
        return clean
    dist, (iy, ix) = ndi.distance_transform_edt(labels == 0, return_indices=True)
    nearest = labels[iy, ix]
    wobble = smooth_random_field(
        labels.shape, offset=offset, seed=seed + 77, scale=max(diameter * 2.0, 16.0)
    )
    sigma = max(diameter * 0.04, 0.8)
    grain = ndi.gaussian_filter(rng.standard_normal(labels.shape, np.float32), sigma)
    grain /= max(float(grain.std()), 1e-6)
    cy, cx = lut("y", offset[0]), lut("x", offset[1])
    yy, xx = np.indices(labels.shape, dtype=np.float32)
    theta = np.arctan2(yy - cy[nearest], xx - cx[nearest])
    toward = np.cos(theta - lut("cytoplasm_angle")[nearest])
    eccentric = 1.0 + lut("cytoplasm_shift")[nearest] * np.clip(toward, 0.0, None)
    edge = reach[nearest] * eccentric * np.clip(1.0 + 0.35 * wobble, 0.3, None)
    soft = np.clip((edge - dist) / np.maximum(0.15 * edge, 1.0), 0.0, 1.0)
    cyto = level[nearest] * soft * np.clip(1.0 + 0.2 * grain, 0.2, None)
    return (clean + cyto).astype(np.float32)


def illumination_field(
    shape: tuple[int, int],
    *,
    offset: tuple[int, int],
    full_shape: tuple[int, int],
    seed: int,
    strength: float,
) -> np.ndarray:
    """Smooth multiplicative illumination, mean 1, relative std ``strength`` (>= 0.1)."""
    f = smooth_random_field(
        shape, offset=offset, seed=seed + 91, scale=max(min(full_shape) / 1.5, 16.0)
    )
    return np.clip(1.0 + float(strength) * f, 0.1, None).astype(np.float32)
