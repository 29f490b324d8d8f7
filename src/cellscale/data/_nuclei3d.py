"""3-D fluorescence stacks of nuclei (DNA stain), with 3-D ground truth.

Nuclei are irregular ellipsoids (low-frequency radial deformations of the
surface), flattened in z as nuclei of adherent cells are, oriented at random
in the xy plane, with chromatin texture and dark nucleoli. They are placed in
the volume at random without overlapping much: where two touch, each voxel
goes to the nucleus it lies deeper in, so contacts are flat. The stack is
sampled with voxels ``anisotropy`` times deeper than wide, blurred by a
Gaussian PSF elongated in z (its z sigma 2-4x its xy sigma, in µm), dimmed
with depth, with out-of-focus haze, uneven background, shot and read noise.

Every option left as None is drawn per stack from a realistic range, so a
set of stacks is domain-randomised (diameter, density, anisotropy, SNR,
blur, texture, depth attenuation).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator
from scipy import ndimage as ndi

from cellscale.data._camera import add_camera_noise, photons_for_snr
from cellscale.data._chunked import sample_params
from cellscale.data._nuclei import _draw
from cellscale.data._optics import background_field
from cellscale.data._options import _validated
from cellscale.data._sample import Sample
from cellscale.io import Image

__all__ = ["Nuclei3DOptions", "simulate_nuclei_3d"]

Range = tuple[float, float]
#: Most voxels :func:`simulate_nuclei_3d` renders (it works in memory).
MAX_VOXELS = 64 * 1024 * 1024


class Nuclei3DOptions(BaseModel):
    """Options of :func:`simulate_nuclei_3d`. A number fixes a value; a pair
    ``(low, high)`` draws it per stack from that range; None uses the default range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: tuple[int, int, int] = (32, 128, 128)
    """Stack size (planes, rows, columns): 1 .. 1024 planes, rows and columns 16 .. 4096."""
    seed: int = 0
    """Seed; the stack is a function of the options only."""
    diameter: float | Range = (12.0, 40.0)
    """Typical nucleus diameter in the xy plane, pixels (4 .. 200)."""
    anisotropy: float | Range = (1.0, 4.0)
    """z step over xy pixel size (1 = isotropic voxels), 1 .. 10."""
    density: float | Range | None = None
    """Target fraction of the volume inside nuclei (0.01 .. 0.4); default drawn in 0.05 .. 0.25."""
    snr: float | Range | None = None
    """Mean nucleus signal above background over the background noise std; default 4 .. 100."""
    flatness: float | Range | None = None
    """Nucleus height over its xy diameter; default drawn per nucleus in 0.5 .. 1.0."""
    irregularity: float | None = None
    """Relative amplitude of surface deformations; default drawn in 0.03 .. 0.12."""
    psf_sigma: float | None = None
    """Gaussian PSF sigma in xy, pixels; default 0.03 .. 0.08 x the diameter (0.6 .. 2.5): a
    confocal or light-sheet stack, sharper than the widefield images of ``simulate_nuclei``."""
    psf_z_ratio: float | None = None
    """PSF sigma along z over its xy sigma, in µm; default drawn in 2 .. 4."""
    dtype: Literal["uint16", "uint8"] = "uint16"
    """Camera data type."""

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if not (1 <= v[0] <= 1024 and all(16 <= s <= 4096 for s in v[1:])):
            raise ValueError(f"shape must be (1..1024, 16..4096, 16..4096), got {v}")
        if v[0] * v[1] * v[2] > MAX_VOXELS:
            raise ValueError(f"shape {v} has more than {MAX_VOXELS} voxels; simulate a smaller stack")
        return v

    @field_validator("diameter", "anisotropy", "density")
    @classmethod
    def _ranges(cls, v: Any, info: Any) -> Any:
        if v is None:
            return v
        lo, hi = (v, v) if isinstance(v, (int, float)) else v
        bounds = {"diameter": (4.0, 200.0), "anisotropy": (1.0, 10.0),
                  "density": (0.01, 0.4)}[info.field_name]
        if not bounds[0] <= lo <= hi <= bounds[1]:
            raise ValueError(f"{info.field_name} must lie within {bounds[0]} .. {bounds[1]} "
                             f"with low <= high, got {v}")
        return v


def resolve_options(opts: Nuclei3DOptions) -> dict[str, Any]:
    """Draw every per-stack parameter left open; the result fixes the stack."""
    rng = np.random.default_rng([opts.seed & 0xFFFFFFFF, 0x3D])
    d = _draw(rng, opts.diameter, (12.0, 40.0), log=True)
    p: dict[str, Any] = {
        "diameter": d,
        "anisotropy": _draw(rng, opts.anisotropy, (1.0, 4.0)),
        "density": _draw(rng, opts.density, (0.05, 0.25), log=True),
        "snr": _draw(rng, opts.snr, (4.0, 100.0), log=True),
        "flatness": list(opts.flatness) if isinstance(opts.flatness, tuple) else
        [opts.flatness, opts.flatness] if opts.flatness is not None else [0.5, 1.0],
        "irregularity": _draw(rng, opts.irregularity, (0.03, 0.12)),
        "psf_sigma": _draw(rng, opts.psf_sigma, tuple(np.clip(np.array([0.03, 0.08]) * d, 0.6, 2.5))),
        "psf_z_ratio": _draw(rng, opts.psf_z_ratio, (2.0, 4.0)),
        "diameter_cv": rng.uniform(0.1, 0.2),
        "elongation_mean": rng.uniform(0.05, 0.3),
        "texture": rng.uniform(0.1, 0.35),
        "nucleoli": float(rng.choice([0.0, 1.0, 2.0, 3.0])),
        "brightness_cv": rng.uniform(0.08, 0.25),
        "attenuation": rng.uniform(0.0, 0.5),
        "background": _draw(rng, None, (0.01, 0.2), log=True),
        "haze": rng.uniform(0.0, 0.15),
        "read_noise": rng.uniform(1.0, 3.0),
        "offset": float(rng.uniform(90.0, 110.0)) if opts.dtype == "uint16" else
        float(rng.uniform(0.0, 5.0)),
    }
    p["photons"] = photons_for_snr(p["snr"], background=p["background"], read_noise=p["read_noise"])
    p["gain"] = (float(np.exp(rng.uniform(np.log(0.5), np.log(4.0)))) if opts.dtype == "uint16"
                 else float(rng.uniform(60.0, 130.0)) / p["photons"])
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in p.items()}


def _place(rng: np.random.Generator, p: dict[str, Any], extent: np.ndarray) -> pd.DataFrame:
    """Nucleus centres and sizes (µm-free: xy pixels), placed by random sequential addition."""
    r_mean = p["diameter"] / 2.0
    flat_lo, flat_hi = p["flatness"]
    mean_volume = 4.0 / 3.0 * np.pi * r_mean**3 * (flat_lo + flat_hi) / 2.0
    target = int(np.ceil(p["density"] * float(np.prod(extent)) / mean_volume))
    rows: list[tuple[float, ...]] = []
    centres = np.zeros((0, 3))
    sizes = np.zeros((0, 2))  # (xy radius, z half-height)
    for _ in range(max(target, 1) * 40):
        if len(rows) >= target:
            break
        r = r_mean * float(np.exp(rng.normal(0.0, p["diameter_cv"])))
        h = r * float(rng.uniform(flat_lo, flat_hi))
        lo = np.array([min(h, extent[0] / 2), 0.0, 0.0])
        c = rng.uniform(lo, extent - lo)
        if len(rows):
            dz = (centres[:, 0] - c[0]) / (sizes[:, 1] + h)
            dxy = np.hypot(centres[:, 1] - c[1], centres[:, 2] - c[2]) / (sizes[:, 0] + r)
            if (np.hypot(dz, dxy) < 0.85).any():
                continue
        elongation = 1.0 + float(rng.gamma(2.0, p["elongation_mean"] / 2.0))
        rows.append((*c, r, h, elongation, rng.uniform(0, np.pi),
                     p["irregularity"] * float(np.exp(rng.normal(0.0, 0.4))),
                     float(np.exp(rng.normal(0.0, p["brightness_cv"])))))
        centres = np.vstack([centres, c])
        sizes = np.vstack([sizes, [r, h]])
    return pd.DataFrame(rows, columns=["zp", "y", "x", "radius", "half_height", "elongation",
                                       "angle", "irregularity", "brightness"])


def _render(shape: tuple[int, int, int], cells: pd.DataFrame, aniso: float, p: dict[str, Any],
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Clean signal (float32) and labels (uint32) of the nuclei, on the voxel grid."""
    nz, ny, nx = shape
    depth = np.full(shape, np.inf, np.float32)  # rho of the nucleus each voxel belongs to
    labels = np.zeros(shape, np.uint32)
    clean = np.zeros(shape, np.float32)
    for i, row in enumerate(cells.itertuples(index=False), start=1):
        a = row.radius * np.sqrt(row.elongation)
        b = row.radius / np.sqrt(row.elongation)
        reach = max(a, b) * (1 + 3 * row.irregularity) + 1
        zr = row.half_height * (1 + 3 * row.irregularity) + 1
        z0, z1 = max(0, int((row.zp - zr) / aniso)), min(nz, int((row.zp + zr) / aniso) + 2)
        y0, y1 = max(0, int(row.y - reach)), min(ny, int(row.y + reach) + 2)
        x0, x1 = max(0, int(row.x - reach)), min(nx, int(row.x + reach) + 2)
        if z0 >= z1 or y0 >= y1 or x0 >= x1:
            continue
        zz = ((np.arange(z0, z1) + 0.5) * aniso - row.zp)[:, None, None]
        yy = (np.arange(y0, y1) + 0.5 - row.y)[None, :, None]
        xx = (np.arange(x0, x1) + 0.5 - row.x)[None, None, :]
        ca, sa = np.cos(row.angle), np.sin(row.angle)
        u = (xx * ca + yy * sa) / a
        v = (-xx * sa + yy * ca) / b
        w = zz / row.half_height
        rho = np.sqrt(u * u + v * v + w * w) + 1e-6
        # Low-frequency deformations of the surface: a few random plane waves over directions.
        bump = np.zeros(rho.shape, np.float32)
        for _ in range(6):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            bump += np.cos(rng.uniform(1.5, 4.0) * (d[0] * u + d[1] * v + d[2] * w) / rho
                           + rng.uniform(0, 2 * np.pi)).astype(np.float32)
        rho = (rho / (1.0 + row.irregularity * bump / np.sqrt(6.0))).astype(np.float32)
        box = (slice(z0, z1), slice(y0, y1), slice(x0, x1))
        mine = (rho <= 1.0) & (rho < depth[box])
        depth[box][mine] = rho[mine]
        labels[box][mine] = i
        # Soft edge (partial volume), brighter rim of heterochromatin, dark nucleoli.
        edge = 0.5 * (1.0 - np.tanh((rho - 1.0) * max(row.radius, 2.0)))  # a logistic step
        signal = row.brightness * edge * (1.0 + 0.15 * np.clip(rho - 0.6, 0, 0.4) / 0.4)
        for _ in range(int(rng.poisson(p["nucleoli"]))):
            off = rng.uniform(-0.45, 0.45, 3)
            s = rng.uniform(0.12, 0.22)
            dn = ((u - off[0]) ** 2 + (v - off[1]) ** 2 + (w - off[2]) ** 2) / s**2
            signal *= 1.0 - 0.6 * np.exp(-dn)
        own = edge > 0.02
        clean[box][own] = np.maximum(clean[box][own], signal[own].astype(np.float32))
    return clean, labels


def simulate_nuclei_3d(
    *,
    shape: tuple[int, int, int] = (32, 128, 128),
    seed: int = 0,
    diameter: float | tuple[float, float] = (12.0, 40.0),
    anisotropy: float | tuple[float, float] = (1.0, 4.0),
    density: float | tuple[float, float] | None = None,
    snr: float | tuple[float, float] | None = None,
    flatness: float | tuple[float, float] | None = None,
    irregularity: float | None = None,
    psf_sigma: float | None = None,
    psf_z_ratio: float | None = None,
    dtype: Literal["uint16", "uint8"] = "uint16",
) -> Sample:
    """Simulate a 3-D stack of nuclei with exact 3-D instance labels.

    Parameters
    ----------
    shape : (int, int, int)
        Stack size (planes, rows, columns). Default (32, 128, 128).
    seed : int
        Random seed; the same options give the same stack. Default 0.
    diameter : float or (float, float)
        Typical nucleus diameter in the xy plane in pixels, or the range it is
        drawn from (log-uniformly). Default (12, 40).
    anisotropy : float or (float, float)
        z step over the xy pixel size (voxels this many times deeper than
        wide), or its range. Default (1, 4).
    density : float or (float, float), optional
        Fraction of the volume inside nuclei. Default: drawn in 0.05 .. 0.25.
    snr : float or (float, float), optional
        Signal-to-noise ratio of a typical nucleus. Default: drawn in 4 .. 100.
    flatness : float or (float, float), optional
        Nucleus height over its xy diameter (drawn per nucleus). Default 0.5 .. 1.
    irregularity, psf_sigma, psf_z_ratio
        Surface deformation, PSF xy sigma (pixels), PSF z/xy sigma ratio in µm;
        see :class:`Nuclei3DOptions`.
    dtype : {"uint16", "uint8"}
        Camera data type. Default "uint16".

    Returns
    -------
    Sample
        ``kind="nuclei3d"``; ``image`` axes ``"zyx"``, channel ``"DNA"``, pixel
        size ``z`` = ``anisotropy`` x ``y``/``x`` (a typical nucleus ~11 µm
        across); ``labels["nuclei"]`` uint32 ``(z, y, x)``; ``cells`` one row
        per nucleus in the stack: ``label, z, y, x`` (voxel coordinates of the
        centre), ``diameter`` (xy, pixels), ``height`` (z extent, planes),
        ``elongation, angle, irregularity, brightness``. Nuclei that lost
        every voxel (cut off by the stack's ends) are left out; labels are
        1 .. n in row order.

    Examples
    --------
    >>> s = simulate_nuclei_3d(shape=(16, 64, 64), seed=1, diameter=16, anisotropy=2)
    >>> s.image.axes, s.labels["nuclei"].shape, int(s.labels["nuclei"].max()) == len(s.cells)
    ('zyx', (16, 64, 64), True)
    """
    opts = _validated(Nuclei3DOptions, shape=shape, seed=seed, diameter=diameter,
                      anisotropy=anisotropy, density=density, snr=snr, flatness=flatness,
                      irregularity=irregularity, psf_sigma=psf_sigma, psf_z_ratio=psf_z_ratio,
                      dtype=dtype)
    p = resolve_options(opts)
    rng = np.random.default_rng([opts.seed & 0xFFFFFFFF, 0x3D, 1])
    shape = tuple(opts.shape)
    aniso = p["anisotropy"]
    extent = np.array([shape[0] * aniso, shape[1], shape[2]], float)
    cells = _place(rng, p, extent)
    clean, labels = _render(shape, cells, aniso, p, rng)
    # Chromatin texture: smooth noise at ~8 % of the diameter, isotropic in µm.
    grain = max(0.6, 0.08 * p["diameter"])
    tex = ndi.gaussian_filter(rng.normal(size=shape).astype(np.float32),
                              (grain / aniso, grain, grain), mode="wrap")
    tex /= max(float(tex.std()), 1e-6)
    clean *= np.clip(1.0 + p["texture"] * tex, 0.2, None)
    # Dimmer with depth; optics: PSF elongated in z, haze; background; camera.
    clean *= np.exp(-p["attenuation"] * (np.arange(shape[0]) / max(shape[0] - 1, 1)))[:, None, None]
    sxy = p["psf_sigma"]
    out = ndi.gaussian_filter(clean, (sxy * p["psf_z_ratio"] / aniso, sxy, sxy), mode="nearest")
    if p["haze"] > 0:
        wide = 4.0 * p["diameter"]
        out = (1 - p["haze"]) * out + p["haze"] * ndi.gaussian_filter(
            clean, (wide / aniso, wide, wide), mode="nearest")
    bg = background_field(shape[1:], seed=opts.seed, level=p["background"], variation=0.3)
    data = add_camera_noise(rng, out + bg[None], photons=p["photons"], read_noise=p["read_noise"],
                            gain=p["gain"], offset=p["offset"], dtype=np.dtype(opts.dtype))
    labels, cells = _keep_present(labels, cells, aniso)
    pixel = round(11.0 / p["diameter"], 4)
    image = Image(data=data, axes="zyx", channel_names=("DNA",),
                  pixel_size={"z": round(pixel * aniso, 4), "y": pixel, "x": pixel})
    params = sample_params("simulate_nuclei_3d", opts, p, False)
    return Sample(kind="nuclei3d", image=image, labels={"nuclei": labels}, cells=cells,
                  params=params)


def _keep_present(labels: np.ndarray, cells: pd.DataFrame,
                  aniso: float) -> tuple[np.ndarray, pd.DataFrame]:
    """Drop nuclei without voxels, number the rest 1 .. n and finish their table."""
    counts = np.bincount(labels.ravel(), minlength=len(cells) + 1)
    present = np.flatnonzero(counts[1:]) + 1
    lut = np.zeros(len(cells) + 1, np.uint32)
    lut[present] = np.arange(1, present.size + 1, dtype=np.uint32)
    kept = cells.iloc[present - 1].reset_index(drop=True)
    table = pd.DataFrame({
        "label": np.arange(1, present.size + 1, dtype=np.int64),
        "z": kept["zp"] / aniso - 0.5,
        "y": kept["y"] - 0.5,
        "x": kept["x"] - 0.5,
        "diameter": 2.0 * kept["radius"],
        "height": 2.0 * kept["half_height"] / aniso,
        "elongation": kept["elongation"],
        "angle": kept["angle"],
        "irregularity": kept["irregularity"],
        "brightness": kept["brightness"],
        "voxels": counts[present],
    })
    return lut[labels], table
