"""``write_image`` and ``write_labels``: the format follows the name's ending.

Every writer writes to a hidden temporary name beside the target and renames
it into place when done (:func:`~cellscale.io.atomic_output`), so a failed
write leaves nothing under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    InvalidArgumentError,
    InvalidAxesError,
    InvalidImageError,
    OutputNotWritableError,
    UnsupportedFormatError,
)
from cellscale.io._atomic import atomic_output
from cellscale.io._common import IMAGE_SUFFIXES, suffix_of
from cellscale.io._image import Image, is_lazy_array
from cellscale.io._omezarr import write_labels_zarr, write_omezarr
from cellscale.io._paths import check_output
from cellscale.io._png import write_png
from cellscale.io._tiff import write_tiff

PathLike = str | os.PathLike[str]
_UINT32_MAX = np.iinfo(np.uint32).max


def _format(path: Path, allowed: tuple[str, ...]) -> str:
    fmt = IMAGE_SUFFIXES.get(suffix_of(path))
    if fmt not in allowed:
        endings = {"zarr": ".zarr", "tiff": ".ome.tif, .ome.tiff, .tif, .tiff", "png": ".png"}
        why = " (JPEG is lossy; write .png or .tif)" if fmt == "jpeg" else ""
        raise UnsupportedFormatError(
            f"{path}: cannot write {suffix_of(path) or 'a file without an ending'!r}{why}; "
            f"cellscale writes {', '.join(endings[a] for a in allowed)}"
        )
    return fmt


def write_image(
    image: Image,
    path: PathLike,
    *,
    overwrite: bool = False,
    chunks: int | Mapping[str, int] | tuple[int, ...] | None = None,
    n_levels: int | None = None,
) -> Path:
    """Write an image as OME-Zarr, OME-TIFF or PNG, chosen by the name's ending.

    Parameters
    ----------
    image : Image
        Any axes; pixels in memory or lazy (Dask). Lazy pixels are computed and
        written chunk by chunk (OME-Zarr) or tile row by tile row (TIFF), never
        loaded whole.
    path : str or path-like
        ``.zarr``: OME-Zarr (NGFF 0.5, Zarr v3) multiscale image, y/x halved
        per level by 2 x 2 block means, pixel size in micrometer per level,
        channel names in ``omero``.
        ``.ome.tif``, ``.ome.tiff``, ``.tif``, ``.tiff``: OME-TIFF, zlib-compressed,
        with axes, channel names and pixel size in the OME-XML.
        ``.png``: ``"yx"`` uint8/uint16 or RGB(A) ``"cyx"`` uint8 only.
    overwrite : bool
        Replace an existing output (only once the new one is complete).
    chunks : int, mapping or tuple, optional
        OME-Zarr chunk shape: an int for y and x, a mapping such as
        ``{"z": 8, "y": 512, "x": 512}``, or one size per axis. Default: 1 along
        t and c; 1024 in y and x (256 with up to 32 z planes when there is z).
    n_levels : int, optional
        OME-Zarr pyramid levels including full size. Default: keep halving y and
        x while the longer side stays >= 256 pixels: 7 levels for 20,000², 2
        for 512², 1 for 256².

    Returns
    -------
    pathlib.Path
        The written path, absolute.

    Raises
    ------
    UnsupportedFormatError
        For another ending (JPEG included: it is lossy).
    OutputExistsError, OutputNotWritableError
        If ``path`` exists and ``overwrite`` is False, or cannot be written.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from cellscale.io import Image, read
    >>> img = Image.from_array(np.ones((2, 64, 64), np.uint16), "cyx",
    ...                        channel_names=["DNA", "actin"], pixel_size=0.5)
    >>> out = write_image(img, pathlib.Path(tempfile.mkdtemp()) / "cells.zarr")
    >>> read(out).channel_names, read(out).pixel_size
    (('DNA', 'actin'), {'y': 0.5, 'x': 0.5})
    """
    if not isinstance(image, Image):
        raise InvalidArgumentError(
            f"write_image expects a cellscale.io.Image, got {type(image).__name__}; "
            f"wrap an array with Image.from_array(data, axes=...)"
        )
    target = Path(path).expanduser()
    fmt = _format(target, ("zarr", "tiff", "png"))
    if fmt != "zarr" and (chunks is not None or n_levels is not None):
        raise InvalidArgumentError(f"{target}: chunks and n_levels apply to .zarr output only")

    def write(tmp: Path) -> None:
        if fmt == "zarr":
            write_omezarr(image, tmp, name=_stem(target), chunks=chunks, n_levels=n_levels)
        elif fmt == "tiff":
            write_tiff(image, tmp)
        else:
            write_png(image, tmp)

    return _write_atomically(target, overwrite, write)


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(suffix_of(path))] if suffix_of(path) else name


def write_labels(
    labels: Any,
    path: PathLike,
    *,
    axes: str | None = None,
    pixel_size: Mapping[str, float] | float | None = None,
    overwrite: bool = False,
    name: str = "labels",
) -> Path:
    """Write a label image (one integer per object, 0 = background) as uint32.

    Parameters
    ----------
    labels : numpy.ndarray or dask.array.Array, shape (y, x), (z, y, x), (t, y, x) or (t, z, y, x)
        Non-negative integers below 2**32. Lazy arrays are written chunk by
        chunk; their values are checked as each chunk is written.
    path : str or path-like
        ``.tif``/``.tiff``/``.ome.tif``: a zlib-compressed OME-TIFF.
        ``.zarr``: an OME-Zarr store with the label image at ``labels/<name>``
        (NGFF 0.5 ``image-label``), a nearest-neighbour multiscale pyramid.
    axes : str, optional
        Axes in the array's order. Default ``"yx"`` for 2-D; required otherwise.
    pixel_size : float or mapping, optional
        µm per pixel: one number for y and x, or e.g. ``{"z": 2.0, "y": 0.5, "x": 0.5}``.
    overwrite : bool
        Replace an existing output.
    name : str
        Name of the label image inside an OME-Zarr store.

    Returns
    -------
    pathlib.Path
        The written path, absolute.

    Raises
    ------
    InvalidImageError
        Non-integer dtype, negative values or values of 2**32 and above, 1-D or empty arrays.
    InvalidAxesError
        Missing axes for 3-D and larger arrays, or a channel axis.
    """
    if not hasattr(labels, "shape") or not hasattr(labels, "dtype"):
        labels = np.asarray(labels)
    target = Path(path).expanduser()
    where = f"{target}: "
    shape = tuple(int(s) for s in labels.shape)
    if len(shape) < 2 or 0 in shape:
        raise InvalidImageError(f"{where}expected a label image of at least 2-D, got shape {shape}")
    dtype = np.dtype(labels.dtype)
    if not np.issubdtype(dtype, np.integer):
        raise InvalidImageError(f"{where}labels must be integers (0 = background), got {dtype}")
    if axes is None:
        if len(shape) != 2:
            raise InvalidAxesError(
                f"{where}cannot tell the axes of labels of shape {shape}; pass axes=, e.g. "
                + ("'zyx' or 'tyx'" if len(shape) == 3 else "'tzyx'")
            )
        axes = "yx"
    if "c" in axes.lower():
        raise InvalidAxesError(f"{where}label images have no channel axis; got axes {axes!r}")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise InvalidArgumentError(f"{where}invalid label image name {name!r}")
    fmt = _format(target, ("tiff", "zarr"))
    data = _checked_uint32(labels, where)
    image = Image.from_array(data, axes, pixel_size=pixel_size, source=str(target))

    def write(tmp: Path) -> None:
        if fmt == "zarr":
            sizes = dict(image.pixel_size)
            write_labels_zarr(image.data, tmp, axes=image.axes, pixel_size=sizes, name=name)
        else:
            write_tiff(image, tmp)

    return _write_atomically(target, overwrite, write)


def _write_atomically(target: Path, overwrite: bool, write: Callable[[Path], None]) -> Path:
    """Run ``write`` on a temporary path beside ``target``, then rename it into place.

    An ``OSError`` while writing becomes :class:`OutputNotWritableError`; the
    absolute target path is returned. An existing folder is never replaced by a
    file (nor a file by an OME-Zarr folder), whatever ``overwrite`` says.
    """
    check_output(target, kind="dir" if suffix_of(target) == ".zarr" else "file",
                 overwrite=overwrite)
    with atomic_output(target, overwrite=overwrite) as tmp:
        try:
            write(tmp)
        except OSError as exc:
            raise OutputNotWritableError(f"{target}: writing failed: {exc}") from exc
    return target.absolute()


def _checked_uint32(labels: Any, where: str) -> Any:
    """Cast to uint32, refusing values that do not fit (lazily for Dask arrays)."""
    dtype = np.dtype(labels.dtype)
    fits = np.iinfo(dtype).min >= 0 and np.iinfo(dtype).max <= _UINT32_MAX
    if is_lazy_array(labels):
        if fits:
            return labels.astype(np.uint32)
        return labels.map_blocks(_cast_block, where, dtype=np.uint32)
    return _cast_block(np.asarray(labels), where)


def _cast_block(block: np.ndarray, where: str) -> np.ndarray:
    if block.size and block.dtype != np.uint32:
        lo, hi = block.min(), block.max()
        if lo < 0 or hi > _UINT32_MAX:
            raise InvalidImageError(
                f"{where}label values must lie in 0 .. {_UINT32_MAX}; found {lo} .. {hi}"
            )
    return block.astype(np.uint32, copy=False)
