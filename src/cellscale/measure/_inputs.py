"""Checking and normalising what :func:`~cellscale.measure.measure` is given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError
from cellscale.io import Image

__all__ = ["CompactLabels", "Field", "as_field", "compact_labels", "spot_table"]


@dataclass(frozen=True)
class Field:
    """One 2-D field of view: channels first, with names and pixel size (µm or None)."""

    pixels: np.ndarray  # (c, y, x)
    channel_names: tuple[str, ...]
    pixel_size: tuple[float, float] | None  # (y, x) µm


def _to_numpy(data: Any) -> np.ndarray:
    return np.asarray(data.compute()) if hasattr(data, "compute") else np.asarray(data)


def as_field(
    image: Any,
    *,
    channel_names: Sequence[str] | None,
    pixel_size: float | Mapping[str, float] | None,
) -> Field:
    """Turn an :class:`Image` or an array (``yx`` or ``cyx``) into a :class:`Field`."""
    if isinstance(image, Image):
        if set(image.axes) - set("cyx"):
            extra = "".join(a for a in image.axes if a not in "cyx")
            raise InvalidAxesError(
                f"{image.source + ': ' if image.source else ''}measure works on one 2-D field "
                f"(axes 'yx' or 'cyx'); got axes {image.axes!r}: select one plane/frame first, "
                f"e.g. image.isel({', '.join(f'{a}=0' for a in extra)})"
            )
        data = _to_numpy(image.data)
        if "c" not in image.axes:
            data = data[np.newaxis]
        names = tuple(image.channel_names or ("channel_0",))
        if channel_names is not None:
            names = _check_names(channel_names, data.shape[0])
        sizes = dict(image.pixel_size)
        own = (sizes["y"], sizes["x"]) if "y" in sizes and "x" in sizes else None
        return Field(data, names, _pixel_size(pixel_size) if pixel_size is not None else own)
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise InvalidImageError(
            f"image must be a cellscale.io.Image or an array, got {type(image).__name__}"
        )
    data = _to_numpy(image)
    if data.ndim == 2:
        data = data[np.newaxis]
    elif data.ndim != 3:
        raise InvalidAxesError(
            f"expected an image array of axes 'yx' or 'cyx', got shape {data.shape}; "
            f"wrap other layouts with Image.from_array(data, axes=...)"
        )
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise InvalidImageError(f"image pixels must be numbers, got dtype {data.dtype}")
    if channel_names is None:
        names = tuple(f"channel_{i}" for i in range(data.shape[0]))
    else:
        names = _check_names(channel_names, data.shape[0])
    return Field(data, names, _pixel_size(pixel_size) if pixel_size is not None else None)


def _check_names(names: Sequence[str], n_channels: int) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [names]
    out = tuple(str(n) for n in names)
    if len(out) != n_channels:
        raise InvalidArgumentError(
            f"got {len(out)} channel name(s) {list(out)} for an image with {n_channels} channel(s)"
        )
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"channel names repeat: {list(out)}")
    return out


def _pixel_size(value: float | Mapping[str, float]) -> tuple[float, float]:
    if isinstance(value, Mapping):
        if "y" not in value or "x" not in value:
            raise InvalidArgumentError(f"pixel_size mapping needs 'y' and 'x' (µm), got {dict(value)}")
        pair = (float(value["y"]), float(value["x"]))
    else:
        pair = (float(value), float(value))
    if not all(np.isfinite(p) and p > 0 for p in pair):
        raise InvalidArgumentError(f"pixel_size must be > 0 µm, got {value!r}")
    return pair


@dataclass(frozen=True)
class CompactLabels:
    """A label image renumbered 1..n (0 = background) and the original ids of 1..n."""

    image: np.ndarray  # (y, x) int32/int64, values 0..n
    ids: np.ndarray  # (n,) original label ids, ascending

    @property
    def n(self) -> int:
        """Number of objects."""
        return int(self.ids.size)


def compact_labels(labels: Any, *, name: str, shape: tuple[int, int]) -> CompactLabels:
    """Check a 2-D integer label image of ``shape`` and renumber its ids 1..n."""
    if not hasattr(labels, "shape") or not hasattr(labels, "dtype"):
        raise InvalidImageError(f"{name} labels must be an array, got {type(labels).__name__}")
    array = _to_numpy(labels)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise InvalidAxesError(f"{name} labels must be a 2-D (y, x) array, got shape {array.shape}")
    if array.shape != shape:
        raise InvalidImageError(
            f"{name} labels have shape {array.shape} but the image's (y, x) shape is {shape}"
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise InvalidImageError(
            f"{name} labels must be integers (0 = background, one id per object), got dtype "
            f"{array.dtype}"
        )
    flat = array.ravel()
    if flat.size and np.issubdtype(array.dtype, np.signedinteger) and flat.min() < 0:
        raise InvalidImageError(f"{name} labels must be >= 0, found {flat.min()}")
    top = int(flat.max()) if flat.size else 0
    if top <= max(4 * flat.size, 1 << 16):
        present = np.flatnonzero(np.bincount(flat, minlength=top + 1))
        ids = present[present > 0]
        dtype = np.int32 if ids.size < 2**31 - 1 else np.int64
        lut = np.zeros(top + 1, dtype=dtype)
        lut[ids] = np.arange(1, ids.size + 1, dtype=dtype)
        return CompactLabels(lut[array], ids.astype(np.int64))
    uniq, inverse = np.unique(flat, return_inverse=True)
    offset = 0 if uniq[0] == 0 else 1
    image = (inverse + offset).astype(np.int64).reshape(array.shape)
    return CompactLabels(image, uniq[uniq > 0].astype(np.int64))


def spot_table(points: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(y, x, gene or None)`` from a DataFrame with y, x[, gene] or an (n, 2) array."""
    import pandas as pd

    if isinstance(points, pd.DataFrame):
        missing = [c for c in ("y", "x") if c not in points.columns]
        if missing:
            raise InvalidArgumentError(
                f"points need columns 'y' and 'x' (pixels); missing {missing}; "
                f"columns are {list(map(str, points.columns))}"
            )
        gene = points["gene"].astype(str).to_numpy() if "gene" in points.columns else None
        return (points["y"].to_numpy(float), points["x"].to_numpy(float), gene)
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or array.shape[1] != 2:
        raise InvalidArgumentError(
            f"points must be a DataFrame with columns y, x[, gene] or an (n, 2) array of (y, x); "
            f"got an array of shape {array.shape}"
        )
    return array[:, 0], array[:, 1], None
