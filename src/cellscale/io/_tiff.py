"""TIFF, OME-TIFF and ImageJ-hyperstack reading and writing through tifffile.

Reading takes the axes, channel names and physical pixel sizes from OME-XML
(OME-TIFF) or from ImageJ metadata (hyperstacks: axes, ``spacing``, resolution
tags, ``finterval``); a plain TIFF has its axes inferred from its shape. Files
are opened header-first: a header that claims data past the end of the file is
reported as truncated before anything is read.

Writing always produces an OME-TIFF (also for the ``.tif`` ending): axes,
channel names, pixel sizes in µm and the frame interval go into the OME-XML;
pixels are zlib-compressed, in 256 x 256 tiles for planes larger than 1024².
Lazy (Dask) images are written tile row by tile row and never loaded whole.
"""

from __future__ import annotations

import logging
import struct
import threading
import weakref
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any, Self

import numpy as np

from cellscale.errors import (
    CellscaleError,
    FileFormatError,
    ImageTooLargeError,
    InvalidArgumentError,
)
from cellscale.io._axes import axes_from_tifffile
from cellscale.io._common import MAX_PIXELS, Source, check_input_file, lazy_chunks
from cellscale.io._image import Image

# Errors tifffile and its codecs raise on malformed files. imagecodecs' decoder
# errors (DeflateError, LzwError, ...) derive from RuntimeError only.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, struct.error, OSError, EOFError, IndexError, KeyError, RuntimeError,
)

_LENGTH_TO_UM = {
    "pm": 1e-6, "Å": 1e-4, "nm": 1e-3, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0,
    "mm": 1e3, "cm": 1e4, "m": 1e6, "\\u00B5m": 1.0, "μm": 1.0,
}
_TIME_TO_S = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_TILE = 256


def _failed(path: Path, exc: BaseException, doing: str) -> FileFormatError:
    return FileFormatError(f"{path}: not a readable TIFF file ({doing} failed: {exc})")


def open_tiff(path: Path, *, level: int = 0) -> Source:
    """Read a TIFF file's header; return a :class:`Source` for resolution ``level``."""
    import tifffile

    check_input_file(path, "TIFF")
    try:
        with _TiffLog() as log, tifffile.TiffFile(path) as tif:
            _ = len(tif.pages)  # walk the whole page chain; broken links are logged
            if log.broken_chain:
                raise FileFormatError(
                    f"{path}: TIFF is truncated or corrupt: its list of image planes points "
                    f"past the end of the file or to garbage ({log.broken_chain[0]})"
                )
            series = tif.series[0]
            if not 0 <= level < len(series.levels):
                raise InvalidArgumentError(
                    f"{path}: level {level} does not exist; the file has "
                    f"{len(series.levels)} level(s), 0 to {len(series.levels) - 1}"
                )
            part = series.levels[level]
            shape = tuple(int(s) for s in part.shape)
            dtype = np.dtype(part.dtype)
            if np.prod(shape, dtype=np.float64) > MAX_PIXELS:
                raise ImageTooLargeError(
                    f"{path}: the TIFF header declares shape {shape} "
                    f"({np.prod(shape, dtype=np.float64):.3g} pixels), more than the limit of "
                    f"{MAX_PIXELS:.3g}; the header is corrupt or the image must be split"
                )
            _check_not_truncated(path, part)
            axes = axes_from_tifffile(part.axes, shape)
            meta: dict[str, Any] = {}
            kind = "tiff"
            if tif.is_ome and tif.ome_metadata:
                kind = "ome-tiff"
                meta = _ome_metadata(tif.ome_metadata)
            elif tif.is_imagej and tif.imagej_metadata is not None:
                kind = "imagej-tiff"
                meta = _imagej_metadata(tif.imagej_metadata, tif.pages[0])
            n_levels = len(series.levels)
    except CellscaleError:
        raise
    except _READ_ERRORS as exc:
        raise _failed(path, exc, "reading the header") from exc
    if level and meta.get("pixel_size"):
        full = tuple(int(s) for s in series.shape)
        meta["pixel_size"] = {
            a: size * full[axes.index(a)] / shape[axes.index(a)] if axes and a in axes else size
            for a, size in meta["pixel_size"].items()
        }
    names = meta.get("channel_names")
    n_c = shape[axes.index("c")] if axes and "c" in axes else 1
    if names is not None and len(names) != n_c:
        names = None

    def load(lazy: bool) -> Any:
        return _load(path, level, shape, dtype, lazy)

    return Source(
        path=path, format=kind, shape=shape, dtype=dtype, axes=axes, load=load,
        channel_names=names, pixel_size=meta.get("pixel_size", {}),
        time_interval=meta.get("time_interval"), n_levels=n_levels,
    )


class _TiffLog(logging.Handler):
    """Collect what tifffile logs (not raises) about a broken chain of pages."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.broken_chain: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "offset" in message and ("invalid" in message or "page" in message):
            self.broken_chain.append(message)

    def __enter__(self) -> Self:
        logging.getLogger("tifffile").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("tifffile").removeHandler(self)


def _check_not_truncated(path: Path, part: Any) -> None:
    """Refuse a file whose pixel data would lie past its end (truncated or corrupt)."""
    size = path.stat().st_size
    pages = list(part.pages)
    for page in (pages[0], pages[-1]) if pages else ():
        if page is None:
            raise FileFormatError(f"{path}: the TIFF refers to image planes that are missing")
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            if offset and offset + count > size:
                raise FileFormatError(
                    f"{path}: TIFF is truncated or corrupt: it declares shape "
                    f"{tuple(part.shape)} with pixel data up to byte {offset + count:,}, "
                    f"but the file has only {size:,} bytes"
                )


def _load(path: Path, level: int, shape: tuple[int, ...], dtype: np.dtype, lazy: bool) -> Any:
    import tifffile

    try:
        if lazy:
            import dask.array as da

            region = TiffRegions(path, level, shape, dtype)
            return da.from_array(region, chunks=lazy_chunks(shape, dtype.itemsize),
                                 asarray=True, fancy=False, name=f"read-tiff-{region.token}")
        with tifffile.TiffFile(path) as tif:
            return np.asarray(tif.series[0].levels[level].asarray())
    except _READ_ERRORS as exc:
        raise _failed(path, exc, "reading the pixels") from exc


class TiffRegions:
    """Array-like view of one TIFF series level that reads only the regions asked for.

    Pickles as (path, level, file identity), so a Dask graph holding it can go to
    other processes; each process opens the file once (tifffile's Zarr store,
    kept in a small cache keyed by path, inode, size and modification time, so a
    rewritten file is never read stale) and closes it when evicted or at exit.
    """

    def __init__(self, path: Path, level: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        stat = path.stat()
        self.path, self.level = str(path), level
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)
        self.token = f"{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}-{level}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_regions, (self.path, self.level, self.shape, self.dtype.str, self.token))

    def __getitem__(self, selection: Any) -> np.ndarray:
        try:
            return np.asarray(_open_level(self.path, self.level, self.token)[selection])
        except _READ_ERRORS as exc:
            raise _failed(Path(self.path), exc, "reading the pixels") from exc


def _regions(path: str, level: int, shape: tuple[int, ...], dtype: str, token: str) -> TiffRegions:
    regions = TiffRegions.__new__(TiffRegions)
    regions.path, regions.level, regions.token = path, level, token
    regions.shape, regions.dtype, regions.ndim = shape, np.dtype(dtype), len(shape)
    return regions


_OPEN: OrderedDict[tuple[str, str], Any] = OrderedDict()
_OPEN_LOCK = threading.Lock()
_MAX_OPEN = 32


def _open_level(path: str, level: int, token: str) -> Any:
    """A Zarr array over an open TIFF, from the per-process cache."""
    import tifffile
    import zarr

    key = (path, token)
    with _OPEN_LOCK:
        if key in _OPEN:
            _OPEN.move_to_end(key)
            return _OPEN[key]
        store = tifffile.imread(path, aszarr=True, series=0, level=level)
        array = zarr.open_array(store, mode="r")
        # Close the file once no reader holds the array any more (eviction, exit).
        weakref.finalize(array, store.close)
        _OPEN[key] = array
        while len(_OPEN) > _MAX_OPEN:
            _OPEN.popitem(last=False)
        return array


def _ome_metadata(xml: str) -> dict[str, Any]:
    """Channel names, pixel sizes (µm) and frame interval (s) of the first OME image."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    pixels = next((el for el in root.iter() if el.tag.endswith("}Pixels")), None)
    if pixels is None:
        return {}
    sizes = {}
    for axis in "zyx":
        value = pixels.get(f"PhysicalSize{axis.upper()}")
        factor = _LENGTH_TO_UM.get(pixels.get(f"PhysicalSize{axis.upper()}Unit", "µm"))
        if value is not None and factor is not None and float(value) > 0:
            sizes[axis] = float(value) * factor
    interval = None
    if pixels.get("TimeIncrement") is not None:
        factor = _TIME_TO_S.get(pixels.get("TimeIncrementUnit", "s"))
        if factor is not None and float(pixels.get("TimeIncrement")) > 0:
            interval = float(pixels.get("TimeIncrement")) * factor
    channels = [el for el in pixels if el.tag.endswith("}Channel")]
    names = [el.get("Name") for el in channels]
    channel_names = tuple(names) if names and all(names) else None
    return {"pixel_size": sizes, "time_interval": interval, "channel_names": channel_names}


def _imagej_metadata(meta: dict[str, Any], page: Any) -> dict[str, Any]:
    """Pixel sizes from resolution tags and ``unit``/``spacing``; frame interval."""
    factor = _LENGTH_TO_UM.get(str(meta.get("unit", "")).strip())
    sizes = {}
    if factor is not None:
        for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
            value = page.tags.get(tag)
            if value is not None:
                num, den = value.value
                if num > 0 and den > 0:
                    sizes[axis] = den / num * factor
        if float(meta.get("spacing", 0) or 0) > 0:
            sizes["z"] = float(meta["spacing"]) * factor
    interval = meta.get("finterval")
    return {
        "pixel_size": sizes,
        "time_interval": float(interval) if interval and float(interval) > 0 else None,
    }


def write_tiff(image: Image, path: Path, *, compression: str = "zlib") -> None:
    """Write ``image`` as an OME-TIFF at ``path`` (a temporary path from atomic_output).

    Parameters
    ----------
    image : Image
        Any axes; lazy images are written tile by tile.
    path : pathlib.Path
        Where to write; the name's ending is not looked at.
    compression : str
        A tifffile compression name.
    """
    import tifffile

    metadata: dict[str, Any] = {"axes": image.axes.upper()}
    if image.channel_names is not None:  # also the one name of an image without 'c'
        metadata["Channel"] = {"Name": list(image.channel_names)}
    for axis, size in image.pixel_size.items():
        metadata[f"PhysicalSize{axis.upper()}"] = size
        metadata[f"PhysicalSize{axis.upper()}Unit"] = "µm"
    if image.time_interval:
        metadata["TimeIncrement"] = image.time_interval
        metadata["TimeIncrementUnit"] = "s"
    ny, nx = image.shape[-2:]
    tiled = image.is_lazy or ny * nx > 1024 * 1024
    options: dict[str, Any] = {
        "ome": True,
        "photometric": "minisblack",
        "compression": compression,
        "metadata": metadata,
        "bigtiff": image.nbytes > 2**32 - 2**25,
    }
    if tiled:
        options["tile"] = (_TILE, _TILE)
    if image.is_lazy:
        tifffile.imwrite(path, _tiles(image.data), shape=image.shape, dtype=image.dtype, **options)
    else:
        tifffile.imwrite(path, np.asarray(image.data), **options)


def _tiles(data: Any) -> Iterator[np.ndarray]:
    """Yield tiles of a Dask array in tifffile's order, computing one tile row at a time."""
    ny, nx = data.shape[-2:]
    for lead in product(*(range(n) for n in data.shape[:-2])):
        for y0 in range(0, ny, _TILE):
            band = np.asarray(data[lead + (slice(y0, y0 + _TILE), slice(None))].compute())
            for x0 in range(0, nx, _TILE):
                yield band[:, x0 : x0 + _TILE]
