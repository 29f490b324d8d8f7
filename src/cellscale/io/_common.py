"""Shared pieces of the readers: formats by name, size limits, memory budgets.

Every reader opens a file in two steps. The first step reads only the header
and returns a :class:`Source` (shape, dtype, axes when the file says them,
channel names, pixel size); the second step, ``Source.load(lazy)``, returns the
pixels. :func:`cellscale.io.describe` stops after the first step, and
:func:`cellscale.io.read` checks sizes between the two, so a header that
declares an absurd size is refused before anything is allocated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    FileFormatError,
    ImageTooLargeError,
    InputNotFoundError,
    InvalidArgumentError,
    UnsupportedFormatError,
)

#: Largest number of pixels (all axes together) a file may declare. Above it the
#: header is taken to be corrupt or the image unusable, and reading is refused
#: even lazily. 2**34 pixels is 17.2 gigapixels, 34 GB at 16 bits.
MAX_PIXELS = 2**34

#: File name endings cellscale reads as images, by format.
IMAGE_SUFFIXES = {
    ".ome.tif": "tiff",
    ".ome.tiff": "tiff",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".zarr": "zarr",
}
SUPPORTED_TEXT = (
    ".tif, .tiff, .ome.tif, .ome.tiff, .png, .jpg, .jpeg, .zarr (OME-Zarr), "
    "a folder of image files, or a glob pattern such as 'frames/*.tif'"
)
GLOB_CHARS = set("*?[")
#: Default memory budget above which images are read lazily.
DEFAULT_BUDGET = "2 GB"

_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
    "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
}


@dataclass
class Source:
    """What a header says about an image, and how to load its pixels.

    ``axes`` is the file's own axes string in file order (letters from
    ``"tczyx"``), or None when the file does not say. ``load(lazy)`` returns a
    NumPy array (``lazy=False``) or a Dask array (``lazy=True``) of ``shape``.
    """

    path: Path
    format: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str | None
    load: Callable[[bool], Any]
    channel_names: tuple[str, ...] | None = None
    pixel_size: dict[str, float] = field(default_factory=dict)
    time_interval: float | None = None
    n_levels: int = 1
    can_be_lazy: bool = True

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.shape, dtype=np.float64))

    @property
    def nbytes(self) -> int:
        return self.n_pixels * np.dtype(self.dtype).itemsize


def parse_memory(budget: float | str) -> int:
    """Parse a memory size such as ``"2 GB"``, ``"512MB"``, ``"1.5GiB"`` or ``10**9``.

    Decimal units (kB, MB, GB, TB) are powers of 1000 and binary units (KiB,
    MiB, GiB, TiB) powers of 1024; a bare number is bytes.

    Examples
    --------
    >>> parse_memory("2 GB"), parse_memory("512MiB"), parse_memory(1000)
    (2000000000, 536870912, 1000)
    """
    if isinstance(budget, bool):
        raise InvalidArgumentError(f"memory_budget must be a size such as '2 GB', got {budget!r}")
    if isinstance(budget, (int, float, np.integer, np.floating)):
        value, unit = float(budget), ""
    elif isinstance(budget, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", budget)
        if match is None or match.group(2).lower() not in _UNITS:
            raise InvalidArgumentError(
                f"cannot read memory_budget {budget!r}; use a number of bytes or a size "
                f"such as '512 MB', '2 GB' or '1.5 GiB'"
            )
        value, unit = float(match.group(1)), match.group(2).lower()
    else:
        raise InvalidArgumentError(f"memory_budget must be a size such as '2 GB', got {budget!r}")
    if not np.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"memory_budget must be >= 0, got {budget!r}")
    return int(value * _UNITS[unit])


def physical_memory() -> int | None:
    """Total physical memory of this machine in bytes, or None where unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def suffix_of(path: Path) -> str:
    """The recognised ending of a file name (``.ome.tif`` counts as one), lower-cased."""
    name = path.name.lower()
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def check_input_file(path: Path, kind: str) -> None:
    """Check that ``path`` is an existing, non-empty regular file."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputNotFoundError(f"{path}: is a folder, expected a {kind} file")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path}: file is empty (0 bytes), expected a {kind} file")


def check_declared_size(source: Source) -> None:
    """Refuse a header that declares more than :data:`MAX_PIXELS` pixels."""
    if source.n_pixels > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{source.path}: the file declares shape {source.shape} "
            f"({source.n_pixels:.3g} pixels), more than the limit of {MAX_PIXELS:.3g} "
            f"pixels; the header is corrupt or the image must be split"
        )


def decide_lazy(source: Source, lazy: bool | None, memory_budget: float | str) -> bool:
    """Whether to read ``source`` lazily: forced by ``lazy``, else above the budget."""
    budget = parse_memory(memory_budget)
    if lazy is None:
        return source.nbytes > budget
    if not isinstance(lazy, bool):
        raise InvalidArgumentError(f"lazy must be None, True or False, got {lazy!r}")
    if not lazy:
        total = physical_memory()
        if total is not None and source.nbytes > total:
            raise ImageTooLargeError(
                f"{source.path}: shape {source.shape} needs {source.nbytes / 1e9:.1f} GB, more "
                f"than this machine's {total / 1e9:.1f} GB of memory",
                hint="read it with lazy=True", option="lazy",
            )
    return lazy


def lazy_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Dask chunks for a lazily read array: one plane per chunk, y/x blocks of ~8 MB."""
    side = 2048 if itemsize <= 2 else 1024
    lead = tuple(1 for _ in shape[:-2])
    return lead + (min(shape[-2], side), min(shape[-1], side)) if len(shape) >= 2 else shape


def unsupported(path: Path) -> UnsupportedFormatError:
    """The error for a file whose name ending cellscale does not know."""
    ending = suffix_of(path) or "(none)"
    return UnsupportedFormatError(
        f"{path}: unsupported file type {ending!r}; cellscale reads {SUPPORTED_TEXT}"
    )
