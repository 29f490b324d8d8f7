"""Stacks: a folder of image files, or a glob pattern, read as one image.

Files are put in natural order (``frame2`` before ``frame10``) and stacked
along a new first axis, ``t`` by default. Every file must have the same shape
and dtype; the error names the first file that differs. Axes given by the
caller describe the whole stack, stack axis first: ``axes="zyx"`` stacks 2-D
frames along ``z``, ``axes="tcyx"`` stacks ``"cyx"`` frames along ``t``.
Channel names and pixel size come from the first file.

A folder is listed without descending into subfolders; hidden files and files
whose ending is not an image format are skipped. A glob pattern must match only
image files.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    FileFormatError,
    InputNotFoundError,
    InvalidAxesError,
    InvalidImageError,
    UnsupportedFormatError,
)
from cellscale.io._axes import resolve_axes
from cellscale.io._common import IMAGE_SUFFIXES, SUPPORTED_TEXT, Source, natural_key, suffix_of
from cellscale.io._image import validate_axes

_FILE_SUFFIXES = {s for s, fmt in IMAGE_SUFFIXES.items() if fmt != "zarr"}


def folder_files(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order."""
    files = [
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and suffix_of(p) in _FILE_SUFFIXES
    ]
    if not files:
        raise FileFormatError(
            f"{folder}: folder holds no image files and no OME-Zarr metadata; "
            f"expected files ending in {', '.join(sorted(_FILE_SUFFIXES))}"
        )
    return sorted(files, key=lambda p: natural_key(p.name))


def glob_files(pattern: str) -> list[Path]:
    """Files matching a glob pattern, in natural order; all must be image files."""
    matches = [Path(p) for p in glob.glob(str(Path(pattern).expanduser()))]
    if not matches:
        raise InputNotFoundError(f"{pattern}: no files match this pattern")
    for path in matches:
        if path.is_dir() or suffix_of(path) not in _FILE_SUFFIXES:
            raise UnsupportedFormatError(
                f"{path}: matched by {pattern!r} but not an image file; "
                f"a pattern must match only image files ({SUPPORTED_TEXT})"
            )
    return sorted(matches, key=lambda p: natural_key(str(p)))


def open_stack(
    paths: list[Path],
    *,
    label: str,
    axes: str | None,
    opener: Callable[[Path], Source],
) -> Source:
    """Read the headers of ``paths`` and return one :class:`Source` for the stack.

    Parameters
    ----------
    paths : list of pathlib.Path
        The files, in stacking order.
    label : str
        The folder or pattern, for messages.
    axes : str or None
        Axes of the stack, stack axis first, or None for ``"t"`` + the files' axes.
    opener : callable
        Reads one file's header (``cellscale.io._read.open_source``).

    Returns
    -------
    Source
        With ``axes`` resolved and ``shape = (len(paths),) + file shape``.
    """
    sources = [opener(p) for p in paths]
    first = sources[0]
    for other in sources[1:]:
        if other.shape != first.shape or other.dtype != first.dtype:
            raise InvalidImageError(
                f"{other.path}: shape {other.shape}, dtype {other.dtype} differs from the "
                f"first file of the stack {first.path.name} (shape {first.shape}, dtype "
                f"{first.dtype}); all files of a stack must agree"
            )
    shape = (len(sources),) + first.shape
    if axes is not None:
        try:
            full = validate_axes(axes, shape)
        except InvalidAxesError as exc:
            raise InvalidAxesError(
                f"{label}: {exc} (a stack of {len(sources)} files of shape {first.shape}; "
                f"axes name the stack axis first)"
            ) from exc
    else:
        frame = resolve_axes(first.shape, explicit=None, from_metadata=first.axes,
                             where=f"{first.path}: ")
        if "t" in frame:
            free = [a for a in "zc" if a not in frame]
            example = f", e.g. {free[0] + frame!r}" if free else ""
            raise InvalidAxesError(
                f"{label}: the files already have a 't' axis ({frame!r}); say the axes with "
                "the stack axis first",
                hint=f"pass axes={example.removeprefix(', e.g. ') or '...'}",
                option="axes", choices=[free[0] + frame] if free else (),
            )
        full = validate_axes("t" + frame, shape)
    dtype = np.dtype(first.dtype)

    def load(lazy: bool) -> Any:
        if lazy:
            import dask
            import dask.array as da

            return da.stack([
                da.from_delayed(dask.delayed(s.load)(False), shape=first.shape, dtype=dtype)
                for s in sources
            ])
        out = np.empty(shape, dtype=dtype)
        for i, source in enumerate(sources):
            out[i] = source.load(False)
        return out

    names = first.channel_names
    if names is not None and "c" in full and len(names) != shape[full.index("c")]:
        names = None
    return Source(
        path=Path(label), format=f"stack of {len(sources)} {first.format} files",
        shape=shape, dtype=dtype, axes=full, load=load, channel_names=names,
        pixel_size=dict(first.pixel_size),
        time_interval=first.time_interval if full[0] != "t" else None,
    )
