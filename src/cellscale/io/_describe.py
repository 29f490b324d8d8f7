"""``describe``: what an image file holds, from its header alone."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import InvalidAxesError
from cellscale.io._axes import resolve_axes
from cellscale.io._common import DEFAULT_BUDGET, parse_memory
from cellscale.io._image import AXES_ORDER
from cellscale.io._read import PathLike, locate
from cellscale.io._stack import glob_files


@dataclass(frozen=True)
class ImageInfo:
    """Facts about an image on disk, as :func:`describe` finds them.

    Attributes
    ----------
    path : str
        The file, store, folder or pattern described.
    format : str
        ``"tiff"``, ``"ome-tiff"``, ``"imagej-tiff"``, ``"png"``, ``"jpeg"``,
        ``"ome-zarr"``, ``"zarr"`` or ``"stack of N ... files"``.
    axes : str or None
        Axes in canonical ``t, c, z, y, x`` order, or None when the shape leaves
        them ambiguous (then ``read`` needs ``axes=``).
    shape : tuple of int
        Shape in the order of ``axes`` (in stored order when ``axes`` is None).
    dtype : str
        NumPy dtype name of the pixels.
    channel_names : tuple of str or None
        Names from the metadata, if any.
    pixel_size : dict of str to float
        µm per pixel along ``z``/``y``/``x`` where recorded.
    size_on_disk : int
        Bytes on disk (all files of a folder, store or stack).
    lazy : bool
        Whether :func:`read` with default options would read it lazily.
    n_levels : int
        Resolution levels (OME-Zarr or pyramidal TIFF); 1 otherwise.
    """

    path: str
    format: str
    axes: str | None
    shape: tuple[int, ...]
    dtype: str
    channel_names: tuple[str, ...] | None
    pixel_size: dict[str, float] = field(default_factory=dict)
    size_on_disk: int = 0
    lazy: bool = False
    n_levels: int = 1

    @property
    def nbytes(self) -> int:
        """Bytes the pixels take in memory once read."""
        return int(np.prod(self.shape, dtype=np.float64)) * np.dtype(self.dtype).itemsize

    def summary(self) -> str:
        """Several lines of text for people, as ``cellscale info`` prints them."""
        if self.axes:
            axes = self.axes
            shape = f"{tuple(self.shape)}  (" + ", ".join(f"{a}={n}" for a, n in zip(self.axes, self.shape)) + ")"
        else:
            axes = "ambiguous: the shape does not say (say them when reading, e.g. 'zyx' or 'tyx')"
            shape = str(tuple(self.shape))
        pixel = ", ".join(f"{a}={v:g} µm" for a, v in self.pixel_size.items()) or "unknown"
        read_as = ("lazily by cellscale.io.read (Dask, on demand)" if self.lazy
                   else "into memory by cellscale.io.read (NumPy)")
        lines = [
            f"path:          {self.path}",
            f"format:        {self.format}",
            f"axes:          {axes}",
            f"shape:         {shape}",
            f"dtype:         {self.dtype}",
            f"channels:      {', '.join(self.channel_names) if self.channel_names else '-'}",
            f"pixel size:    {pixel}",
            f"on disk:       {_human(self.size_on_disk)}",
            f"in memory:     {_human(self.nbytes)}, read {read_as}",
        ]
        if self.n_levels > 1:
            lines.append(f"levels:        {self.n_levels}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The facts as JSON-serialisable values (``cellscale info --json``)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "axes": self.axes,
            "shape": list(self.shape),
            "dtype": str(self.dtype),
            "channel_names": list(self.channel_names or []),
            "pixel_size": dict(self.pixel_size),
            "size_on_disk": self.size_on_disk,
            "nbytes": self.nbytes,
            "lazy": self.lazy,
            "n_levels": self.n_levels,
        }


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _disk_size(path: PathLike) -> int:
    """Bytes of a file, of everything under a folder, or of the files a pattern matches."""
    p = Path(path).expanduser()
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum((Path(root) / f).stat().st_size for root, _, names in os.walk(p) for f in names)
    return sum(f.stat().st_size for f in glob_files(str(path)))


def describe(path: PathLike, *, axes: str | None = None,
             memory_budget: int | str = DEFAULT_BUDGET) -> ImageInfo:
    """Describe an image file, OME-Zarr store, folder or pattern without reading pixels.

    Parameters
    ----------
    path : str or path-like
        Anything :func:`read` accepts.
    axes : str, optional
        Axes of the data as stored, as for :func:`read`; checked against the
        shape (an error when they do not fit).
    memory_budget : int or str
        Budget used to say whether :func:`read` would read lazily.

    Returns
    -------
    ImageInfo

    Raises
    ------
    InputNotFoundError, FileFormatError, UnsupportedFormatError
        As :func:`read`; an ambiguous shape is not an error here (``axes`` is None).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib, tifffile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "cells.tif"
    >>> tifffile.imwrite(f, np.zeros((64, 64), np.uint16))
    >>> info = describe(f)
    >>> info.axes, info.shape, info.dtype
    ('yx', (64, 64), 'uint16')
    """
    source, stacked = locate(path, axes=axes)
    shape = source.shape
    if axes is not None and not stacked:
        axes = resolve_axes(shape, explicit=axes, from_metadata=None, where=f"{source.path}: ")
    elif stacked:
        axes = source.axes
    else:
        try:
            axes = resolve_axes(shape, explicit=None, from_metadata=source.axes,
                                where=f"{source.path}: ")
        except InvalidAxesError:
            axes = None
    if axes is not None:
        order = [axes.index(a) for a in AXES_ORDER if a in axes]
        shape = tuple(shape[i] for i in order)
        axes = "".join(axes[i] for i in order)
    size = _disk_size(source.path if not stacked else path)
    return ImageInfo(
        path=str(source.path), format=source.format, axes=axes, shape=shape,
        dtype=str(np.dtype(source.dtype)), channel_names=source.channel_names,
        pixel_size=dict(source.pixel_size), size_on_disk=size,
        lazy=source.nbytes > parse_memory(memory_budget), n_levels=source.n_levels,
    )

