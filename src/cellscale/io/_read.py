"""``read`` and ``read_labels``: any supported file, store, folder or pattern to pixels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    CellscaleError,
    FileFormatError,
    InputNotFoundError,
    InvalidArgumentError,
    InvalidImageError,
)
from cellscale.io._axes import resolve_axes
from cellscale.io._common import (
    GLOB_CHARS,
    IMAGE_SUFFIXES,
    Source,
    check_declared_size,
    decide_lazy,
    suffix_of,
    unsupported,
)
from cellscale.io._image import AXES_ORDER, Image
from cellscale.io._omezarr import is_zarr_store, open_labels_zarr, open_zarr
from cellscale.io._png import open_png
from cellscale.io._stack import folder_files, glob_files, open_stack
from cellscale.io._tiff import open_tiff

PathLike = str | os.PathLike[str]


def open_source(path: Path, *, level: int = 0) -> Source:
    """Read the header of one file (not a folder or pattern), by its name's ending."""
    fmt = IMAGE_SUFFIXES.get(suffix_of(path))
    if fmt == "tiff":
        return open_tiff(path, level=level)
    if fmt == "zarr":
        if path.is_file():
            raise FileFormatError(f"{path}: is a file; an OME-Zarr store is a folder")
        return open_zarr(path, level=level)
    if fmt is None:
        if not path.exists():
            raise InputNotFoundError(f"{path}: no such file or folder")
        raise unsupported(path)
    if level != 0:
        raise InvalidArgumentError(f"{path}: a {fmt.upper()} file has one level; got level={level}")
    return open_png(path, fmt=fmt)


def locate(path: PathLike, *, axes: str | None = None, level: int = 0) -> tuple[Source, bool]:
    """Find what ``path`` names and read its header.

    Returns the :class:`Source` and whether it is a stack (whose axes then
    already include the caller's ``axes``).
    """
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 0:
        raise InvalidArgumentError(f"level must be an integer >= 0, got {level!r}")
    level = int(level)
    if isinstance(path, str) and GLOB_CHARS & set(path) and not Path(path).exists():
        if level:
            raise InvalidArgumentError(f"{path}: a stack of files has one level; got level={level}")
        return open_stack(glob_files(path), label=path, axes=axes, opener=open_source), True
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path).expanduser()
    if p.is_dir() and suffix_of(p) != ".zarr" and not is_zarr_store(p):
        if suffix_of(p) in IMAGE_SUFFIXES:
            raise InputNotFoundError(f"{p}: is a folder, expected a {suffix_of(p)} file")
        if level:
            raise InvalidArgumentError(f"{p}: a stack of files has one level; got level={level}")
        return open_stack(folder_files(p), label=str(p), axes=axes, opener=open_source), True
    if p.is_dir():
        return open_zarr(p, level=level), False
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file or folder")
    return open_source(p, level=level), False


def read(
    path: PathLike,
    *,
    axes: str | None = None,
    default_axes: str | None = None,
    channel_names: list[str] | tuple[str, ...] | None = None,
    level: int = 0,
    lazy: bool | None = None,
    memory_budget: int | str = "2 GB",
) -> Image:
    """Read an image file, OME-Zarr store, folder of images or glob pattern.

    Parameters
    ----------
    path : str or path-like
        ``.tif``/``.tiff``/``.ome.tif``/``.ome.tiff``, ``.png``/``.jpg``/``.jpeg``,
        an OME-Zarr folder (``.zarr`` or any folder with NGFF metadata), a folder
        of image files, or a glob pattern string such as ``"frames/*.tif"``.
        Folders and patterns are stacked along a new first axis (``t`` unless
        ``axes`` says otherwise).
    axes : str, optional
        Axes of the data as stored, in any order (e.g. ``"yxc"``, ``"zyx"``);
        for a stack, the stack axis first. Wins over metadata. When omitted,
        metadata decides, then ``default_axes``, then the shape rules of
        :func:`infer_axes`.
    default_axes : str, optional
        Axes implied by what the data means to the caller, used when neither
        ``axes`` nor the file's metadata names them and the data has as many
        dimensions: ``"tyx"`` reads a plain multi-page TIFF as a movie (the
        shape rules would call 5 pages ``"cyx"`` and 40 ambiguous).
    channel_names : sequence of str, optional
        One name per channel; replaces names from metadata.
    level : int
        Resolution level of a multiscale OME-Zarr or pyramidal TIFF; 0 is full size.
    lazy : bool, optional
        True: return Dask-backed pixels, read on demand. False: read into memory.
        None: lazy when the pixels would take more than ``memory_budget``.
    memory_budget : int or str
        Bytes, or a size such as ``"2 GB"``, ``"512MB"``, ``"1.5 GiB"``.

    Returns
    -------
    Image
        Axes in ``t, c, z, y, x`` order; ``data`` a NumPy array, or a Dask
        array when read lazily. Pixel size in µm where the file records it.

    Raises
    ------
    InputNotFoundError, FileFormatError, UnsupportedFormatError
        Missing, unreadable or unknown files (the message names the file).
    InvalidAxesError
        Axes that do not match the data, or a shape whose axes are ambiguous.
    InvalidImageError
        1-D or zero-size data, or a float image with no finite value (checked
        when the pixels are read into memory, not for lazy reads).
    ImageTooLargeError
        A header declaring more than ``MAX_PIXELS`` pixels, or ``lazy=False``
        for more pixels than this machine has memory.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib, tifffile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "cells.tif"
    >>> tifffile.imwrite(f, np.zeros((2, 64, 64), np.uint16))
    >>> read(f).axes, read(f, axes="zyx").axes, read(f, default_axes="tyx").axes
    ('cyx', 'zyx', 'tyx')
    """
    source, stacked = locate(path, axes=axes, level=level)
    where = f"{source.path}: "
    if source.n_pixels == 0:
        raise InvalidImageError(f"{where}image has a zero-size axis: shape {source.shape}")
    if stacked and source.axes is not None:
        file_axes = source.axes
    else:
        file_axes = resolve_axes(source.shape, explicit=axes, from_metadata=source.axes,
                                 where=where, default=default_axes)
    check_declared_size(source)
    is_lazy = decide_lazy(source, lazy, memory_budget)
    data = _load(source, is_lazy)
    if not is_lazy:
        _check_values(data, where)
    names = channel_names
    if names is None and source.channel_names is not None:
        n_c = source.shape[file_axes.index("c")] if "c" in file_axes else 1
        names = source.channel_names if len(source.channel_names) == n_c else None
    return Image.from_array(
        data,
        file_axes,
        channel_names=names,
        pixel_size={a: v for a, v in source.pixel_size.items() if a in file_axes},
        time_interval=source.time_interval if "t" in file_axes else None,
        source=str(source.path),
    )


def _load(source: Source, lazy: bool) -> Any:
    """``source.load(lazy)``, with a decoding failure (a corrupt chunk or strip) named.

    Codecs report damaged data in their own words and types (Zstd's
    ``RuntimeError``, zlib's ``error``, ...); they become one
    :class:`FileFormatError` that names the file. Lazy reads fail only when
    the damaged part is computed.
    """
    try:
        return source.load(lazy)
    except (CellscaleError, MemoryError):
        raise
    except Exception as exc:  # codec errors have no common base class
        raise FileFormatError(
            f"{source.path}: cannot read the pixels ({type(exc).__name__}: "
            f"{' '.join(str(exc).split()) or 'no detail'}); the file is damaged or incomplete",
            hint="copy or export it again from the original",
        ) from exc


def _check_values(data: np.ndarray, where: str) -> None:
    if data.dtype.kind in "fc" and not np.isfinite(data).any():
        raise InvalidImageError(f"{where}image holds no finite values (all NaN or infinite)")


def read_labels(
    path: PathLike,
    *,
    axes: str | None = None,
    name: str | None = None,
    level: int = 0,
    lazy: bool | None = None,
    memory_budget: int | str = "2 GB",
) -> Any:
    """Read a label image: integers, 0 = background, one value per object.

    Parameters
    ----------
    path : str or path-like
        A TIFF, an OME-Zarr store holding ``labels/<name>`` (as written by
        :func:`write_labels`) or itself a label image, or a folder/pattern of
        label files (stacked along the first axis).
    axes : str, optional
        Axes as stored; when given, the result is transposed to ``t, z, y, x`` order.
        Otherwise the array is returned in stored order.
    name : str, optional
        Which label image of an OME-Zarr store; needed only when it holds several.
    level, lazy, memory_budget
        As for :func:`read`.

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (..., y, x)
        Integer labels in the file's dtype.

    Raises
    ------
    InvalidImageError
        If the file holds non-integer (e.g. float) pixels, or is 1-D or empty.
    """
    p = Path(path).expanduser() if not isinstance(path, str) or not GLOB_CHARS & set(path) else None
    if p is not None and p.is_dir() and (suffix_of(p) == ".zarr" or is_zarr_store(p)):
        source = open_labels_zarr(p, name=name, level=level)
    else:
        source, _ = locate(path, axes=axes, level=level)
    where = f"{source.path}: "
    if not np.issubdtype(source.dtype, np.integer):
        raise InvalidImageError(
            f"{where}label images must hold integers (0 = background); this one is {source.dtype}"
        )
    if len(source.shape) < 2 or source.n_pixels == 0:
        raise InvalidImageError(f"{where}expected a label image of at least 2-D, got shape {source.shape}")
    check_declared_size(source)
    data = _load(source, decide_lazy(source, lazy, memory_budget))
    if axes is not None:
        axes = resolve_axes(source.shape, explicit=axes, from_metadata=None, where=where)
        data = data.transpose([axes.index(a) for a in AXES_ORDER if a in axes])
    return data
