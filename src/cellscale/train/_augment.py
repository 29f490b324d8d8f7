"""Augmentation of training patches (NumPy/SciPy only).

A patch is cut from an image at a random scale, so that object diameters
span the model's working range whatever the training images hold, then
flipped/rotated, and its intensities distorted (gamma, scale, offset, blur,
noise). Labels are resampled with nearest neighbours and the distance and
centre targets (both relative to each object's size, hence nearly
scale-free) with linear interpolation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

if TYPE_CHECKING:
    from cellscale.train._dataset import Item

__all__ = ["AugmentOptions", "patch_weight", "random_patch"]


class AugmentOptions(BaseModel):
    """How training patches are distorted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """False gives plain crops at scale 1 (validation)."""
    diameter_range: tuple[float, float] = (7.0, 44.0)
    """Object diameters (pixels) that random rescaling aims for."""
    scale_range: tuple[float, float] = (0.5, 2.0)
    """Limits of the rescaling factor."""
    gamma: tuple[float, float] = (0.7, 1.4)
    """Range of the intensity gamma (applied with probability 0.5)."""
    intensity_scale: tuple[float, float] = (0.75, 1.3)
    """Range of the multiplicative intensity change."""
    dim: float = Field(0.25, ge=0, le=1)
    """Probability of dimming a channel by a factor drawn (log-uniformly) from ``dim_range``.
    In real images a few saturated objects (mitoses, debris) can set the normalisation's upper
    percentile, leaving most objects at 0.1-0.3 after normalisation; the network must still see
    them (without it, the nuclei model's F1@0.5 falls from 0.94 to 0.14 at 0.15x intensity)."""
    dim_range: tuple[float, float] = (0.1, 0.75)
    """Range of the dimming factor."""
    offset: float = Field(0.1, ge=0)
    """Largest additive intensity change."""
    noise: float = Field(0.06, ge=0)
    """Largest Gaussian noise std (applied with probability 0.5)."""
    blur: float = Field(1.5, ge=0)
    """Largest Gaussian blur sigma in pixels (applied with probability 0.25)."""


def _scale_bounds(item: Item, options: AugmentOptions) -> tuple[float, float]:
    """Range of the rescaling factor of ``item``'s patches (log-uniform within)."""
    d = item.diameter
    lo, hi = options.scale_range
    if math.isfinite(d) and d > 0:
        lo = max(lo, options.diameter_range[0] / d)
        hi = min(hi, options.diameter_range[1] / d)
    return lo, hi


def _scale(item: Item, rng: np.random.Generator, options: AugmentOptions) -> float:
    lo, hi = _scale_bounds(item, options)
    if lo >= hi:
        return float(np.clip(1.0, min(lo, hi), max(lo, hi)))
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def patch_weight(item: Item, options: AugmentOptions | None) -> float:
    """How often ``item`` is sampled: its area as the network sees it (shrunk, never enlarged).

    An image of large objects is shrunk for its patches (by the middle of
    :func:`_scale_bounds`), so it fills fewer patches than its pixel count
    suggests: a 1024² image of 150 px nuclei, shrunk about 6x, weighs as
    much as a 170² image. Enlarged images keep their area's weight.
    """
    h, w = item.image.shape[1:]
    if options is None or not options.enabled:
        return float(h * w)
    lo, hi = _scale_bounds(item, options)
    middle = math.sqrt(lo * hi) if lo < hi else min(lo, hi)
    return float(h * w * min(1.0, middle) ** 2)


def _crop(arr: np.ndarray, y0: int, x0: int, size: int, fill: float) -> np.ndarray:
    """``arr[..., y0:y0+size, x0:x0+size]``, padded with ``fill`` beyond the image."""
    h, w = arr.shape[-2:]
    out = np.full(arr.shape[:-2] + (size, size), fill, arr.dtype)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + size, h), min(x0 + size, w)
    if ye > ys and xe > xs:
        out[..., ys - y0 : ye - y0, xs - x0 : xe - x0] = arr[..., ys:ye, xs:xe]
    return out


def _resample(arr: np.ndarray, scale: float, size: int, order: int) -> np.ndarray:
    """Resample each leading plane of ``arr`` by ``scale`` onto a ``size`` square."""
    if scale == 1.0:
        return arr[..., :size, :size]
    inv = 1.0 / scale
    # Sample at pixel centres: out[i] = in[(i + 0.5) / scale - 0.5].
    offset = 0.5 * inv - 0.5
    out = np.empty(arr.shape[:-2] + (size, size), arr.dtype)
    for idx in np.ndindex(arr.shape[:-2]):
        out[idx] = ndi.affine_transform(
            arr[idx],
            [inv, inv],
            offset=offset,
            output_shape=(size, size),
            order=order,
            mode="nearest",
            prefilter=False,
        )
    return out


def random_patch(
    item: Item, size: int, rng: np.random.Generator, options: AugmentOptions
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented patch of ``item``.

    Returns
    -------
    x : ndarray of float32, shape (C, size, size)
    y : ndarray of float32, shape (M * K_obj, size, size)
        Foreground, distance and (when ``item.centre`` is set) centre targets
        of each object kind, interleaved: M = 2 or 3.
    """
    aug = options.enabled
    scale = _scale(item, rng, options) if aug else 1.0
    src = math.ceil(size / scale) + 1
    h, w = item.image.shape[1:]
    y0 = int(rng.integers(min(0, h - src), max(0, h - src) + 1))
    x0 = int(rng.integers(min(0, w - src), max(0, w - src) + 1))
    img = _crop(item.image, y0, x0, src, 0.0)
    lab = _crop(item.labels, y0, x0, src, 0)
    # Distance and centre targets travel together (resampled alike).
    soft = _crop(item.distance if item.centre is None
                 else np.concatenate([item.distance, item.centre]), y0, x0, src, 0.0)
    if aug:
        k = int(rng.integers(4))
        flip = bool(rng.integers(2))
        img, lab, soft = (np.rot90(a, k, axes=(1, 2)) for a in (img, lab, soft))
        if flip:
            img, lab, soft = (a[:, :, ::-1] for a in (img, lab, soft))
        img, lab, soft = (np.ascontiguousarray(a) for a in (img, lab, soft))
        if scale < 0.9:  # anti-alias before shrinking
            sigma = 0.5 * math.sqrt(1.0 / scale**2 - 1.0)
            img = ndi.gaussian_filter(img, (0, sigma, sigma))
    img = _resample(img, scale, size, 1)
    lab = _resample(lab, scale, size, 0)
    soft = _resample(soft, scale, size, 1)
    fg = (lab > 0).astype(np.float32)
    n_obj = fg.shape[0]
    soft = np.where(np.tile(fg, (soft.shape[0] // n_obj, 1, 1)) > 0,
                    np.clip(soft, 0.0, 1.0), 0.0).astype(np.float32)
    if aug:
        img = _intensity(img, rng, options)
    m = 1 + soft.shape[0] // n_obj
    target = np.empty((m * n_obj, size, size), np.float32)
    target[0::m] = fg
    target[1::m] = soft[:n_obj]
    if m == 3:
        target[2::m] = soft[n_obj:]
    return img.astype(np.float32, copy=False), target


def _intensity(img: np.ndarray, rng: np.random.Generator, options: AugmentOptions) -> np.ndarray:
    out = np.empty_like(img)
    for c in range(img.shape[0]):
        x = img[c]
        if rng.random() < options.dim:
            lo, hi = options.dim_range
            x = x * float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        if rng.random() < 0.25 and options.blur > 0:
            x = ndi.gaussian_filter(x, rng.uniform(0.3, options.blur))
        if rng.random() < 0.5:
            x = np.clip(x, 0.0, None) ** rng.uniform(*options.gamma)
        x = x * rng.uniform(*options.intensity_scale) + rng.uniform(-options.offset, options.offset)
        if rng.random() < 0.5 and options.noise > 0:
            x = x + rng.normal(0.0, rng.uniform(0.0, options.noise), x.shape).astype(np.float32)
        out[c] = x
    return out
