"""OME-Zarr (OME-NGFF) images and label images.

Writing produces NGFF **0.5** on Zarr v3: the pixels through zarr and dask,
the metadata through ome-zarr-py's metadata writers (API unchanged from
ome-zarr 0.15, which spatialdata's dask pin selects, to 0.18). Reading accepts NGFF
0.4 (Zarr v2, ``multiscales`` at the top of the attributes) and 0.5 (Zarr v3,
under ``ome``), the ``bioformats2raw`` layout, and plain Zarr arrays.

On disk, for an image of axes ``"cyx"`` with pixel size 0.5 µm::

    image.zarr/            multiscales: axes c, y, x (y, x in micrometer),
                           omero: one channel per name
    image.zarr/s0          full resolution, scale [1, 0.5, 0.5]
    image.zarr/s1          half resolution in y and x, scale [1, 1.0, 1.0]

A pixel size is written as the ``scale`` of level 0 with the unit
``micrometer`` and read back from the chosen level's scale; an axis without a
unit has an unknown pixel size. The frame interval is the ``t`` scale, in
seconds. Lower levels halve y and x (never z): 2 x 2 block means for images,
the pixel next to each block's centre for labels (never a blended label).

A label image written on its own goes where NGFF puts label images,
``labels.zarr/labels/<name>/s0 ...``, with ``image-label`` metadata whose
``source.image`` is ``"../../"`` (the group above ``labels/``, as NGFF lays
out an image's labels).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    CellscaleError,
    FileFormatError,
    InputNotFoundError,
    InvalidArgumentError,
    InvalidAxesError,
)
from cellscale.io._common import Source

_LENGTH_TO_UM = {
    "angstrom": 1e-4, "picometer": 1e-6, "nanometer": 1e-3, "micrometer": 1.0,
    "millimeter": 1e3, "centimeter": 1e4, "meter": 1e6,
}
_TIME_TO_S = {
    "nanosecond": 1e-9, "microsecond": 1e-6, "millisecond": 1e-3, "second": 1.0,
    "minute": 60.0, "hour": 3600.0,
}
_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_COLORS = ("0000FF", "00FF00", "FF0000", "FF00FF", "00FFFF", "FFFF00", "FFFFFF")
# zarr raises ValueError subclasses (GroupNotFoundError, JSON errors), OSError and KeyError.
_ZARR_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, KeyError, TypeError)


def is_zarr_store(path: Path) -> bool:
    """True when ``path`` is a folder holding Zarr v2 or v3 metadata."""
    return path.is_dir() and any(
        (path / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray", ".zattrs")
    )


def _ome_attrs(node: Any) -> dict[str, Any]:
    attrs = dict(node.attrs)
    return dict(attrs["ome"]) if isinstance(attrs.get("ome"), dict) else attrs


def _open_node(path: Path) -> Any:
    import zarr

    if not path.exists():
        raise InputNotFoundError(f"{path}: no such Zarr store")
    try:
        return zarr.open(str(path), mode="r")
    except _ZARR_ERRORS as exc:
        raise FileFormatError(f"{path}: not a readable Zarr store ({exc})") from exc


def open_zarr(path: Path, *, level: int = 0, labels: bool = False) -> Source:
    """Read the metadata of an OME-Zarr image (or plain Zarr array) at ``path``."""
    import zarr

    node = _open_node(path)
    if isinstance(node, zarr.Array):
        names = getattr(node.metadata, "dimension_names", None)
        axes = "".join(names) if names and all(n in "tczyx" and n for n in names) else None
        if level:
            raise InvalidArgumentError(f"{path}: a plain Zarr array has one level; got level={level}")
        return _source(path, node, "zarr", axes, {}, None, None, 1)
    ome = _ome_attrs(node)
    if dict(node.attrs).get("encoding-type") == "anndata":
        raise FileFormatError(f"{path}: is an AnnData table, not an image; use read_table")
    if "bioformats2raw.layout" in ome and "0" in node:
        return open_zarr(path / "0", level=level, labels=labels)
    if "multiscales" not in ome:
        if "labels" in node and not labels:
            raise FileFormatError(
                f"{path}: Zarr group has no OME-NGFF 'multiscales' metadata; it holds label images",
                hint="read them with read_labels", option="labels")
        raise FileFormatError(f"{path}: Zarr group has no OME-NGFF 'multiscales' metadata")
    try:
        multiscale = ome["multiscales"][0]
        axes_meta = [{"name": a} if isinstance(a, str) else dict(a) for a in multiscale["axes"]]
        datasets = multiscale["datasets"]
        if not 0 <= level < len(datasets):
            raise InvalidArgumentError(
                f"{path}: level {level} does not exist; the store has {len(datasets)} "
                f"level(s), 0 to {len(datasets) - 1}"
            )
        array = node[datasets[level]["path"]]
        scale = np.ones(len(axes_meta))
        for transform in list(datasets[level].get("coordinateTransformations", [])) + list(
            multiscale.get("coordinateTransformations", [])
        ):
            if transform.get("type") == "scale" and "scale" in transform:
                scale = scale * np.asarray(transform["scale"], dtype=float)
    except CellscaleError:
        raise
    except (*_ZARR_ERRORS, IndexError) as exc:
        raise FileFormatError(f"{path}: invalid OME-NGFF multiscales metadata ({exc!r})") from exc
    axes = "".join(str(a.get("name", "")).lower() for a in axes_meta)
    if len(axes) != len(axes_meta) or not set(axes) <= set("tczyx"):
        raise InvalidAxesError(
            f"{path}: NGFF axes {[a.get('name') for a in axes_meta]} are not among t, c, z, y, x"
        )
    pixel_size: dict[str, float] = {}
    interval = None
    for axis, meta, value in zip(axes, axes_meta, scale):
        unit = str(meta.get("unit") or "").lower()
        if axis in "zyx" and unit in _LENGTH_TO_UM and value > 0:
            pixel_size[axis] = float(value) * _LENGTH_TO_UM[unit]
        elif axis == "t" and unit in _TIME_TO_S and value > 0:
            interval = float(value) * _TIME_TO_S[unit]
    channels = (ome.get("omero") or {}).get("channels") if isinstance(ome.get("omero"), dict) else None
    names = None
    if channels:
        names = tuple(str(c.get("label", f"channel_{i}")) for i, c in enumerate(channels))
    kind = "ome-zarr-labels" if labels or "image-label" in ome else "ome-zarr"
    return _source(path, array, kind, axes, pixel_size, interval, names, len(datasets))


def _source(
    path: Path, array: Any, kind: str, axes: str | None, pixel_size: dict[str, float],
    interval: float | None, names: tuple[str, ...] | None, n_levels: int,
) -> Source:
    shape = tuple(int(s) for s in array.shape)
    if axes is not None and len(axes) != len(shape):
        raise InvalidAxesError(f"{path}: NGFF axes {axes!r} do not match the array shape {shape}")
    n_c = shape[axes.index("c")] if axes and "c" in axes else 1
    if names is not None and len(names) != n_c:
        names = None

    def load(lazy: bool) -> Any:
        try:
            if lazy:
                import dask.array as da

                return da.from_zarr(array)
            return np.asarray(array[...])
        except _ZARR_ERRORS as exc:
            raise FileFormatError(f"{path}: cannot read the pixels ({exc})") from exc

    return Source(
        path=path, format=kind, shape=shape, dtype=np.dtype(array.dtype), axes=axes, load=load,
        channel_names=names, pixel_size=pixel_size, time_interval=interval, n_levels=n_levels,
    )


def open_labels_zarr(path: Path, *, name: str | None, level: int = 0) -> Source:
    """Find a label image in a store: ``labels/<name>``, or the store itself."""
    node = _open_node(path)
    if "image-label" in _ome_attrs(node) or not hasattr(node, "keys") or "labels" not in node:
        return open_zarr(path, level=level, labels=True)
    available = [str(n) for n in _ome_attrs(node["labels"]).get("labels", [])] or sorted(
        p.name for p in (path / "labels").iterdir()
        if not p.name.startswith(".") and is_zarr_store(p))  # a results store lists none
    if name is None:
        if len(available) != 1:
            raise InvalidArgumentError(
                f"{path}: holds {len(available)} label images {available}",
                hint="pass name=", option="label_name",
                choices=[str(path / "labels" / n) for n in available],
            )
        name = available[0]
    if name not in available:
        raise InvalidArgumentError(
            f"{path}: no label image named {name!r}; available: {', '.join(available) or 'none'}"
        )
    return open_zarr(path / "labels" / name, level=level, labels=True)


def default_chunks(axes: str, shape: tuple[int, ...], chunks: Any = None) -> tuple[int, ...]:
    """Zarr chunks: 1 along t and c; y/x 1024 (2-D) or 256 with up to 32 z planes."""
    base = {"t": 1, "c": 1, "z": 32, "y": 1024, "x": 1024}
    if "z" in axes:
        base.update(y=256, x=256)
    if isinstance(chunks, int):
        base.update(y=chunks, x=chunks)
    elif isinstance(chunks, dict):
        base.update(chunks)
    elif chunks is not None:
        if len(chunks) != len(axes):
            raise InvalidArgumentError(f"chunks {tuple(chunks)} do not match axes {axes!r}")
        base.update(zip(axes, chunks))
    out = tuple(max(1, min(int(base[a]), n)) for a, n in zip(axes, shape))
    return out


def default_levels(shape: tuple[int, ...], n_levels: int | None) -> int:
    """Levels until y and x fit in 256 pixels, or ``n_levels`` after checking it."""
    ny, nx = shape[-2:]
    if n_levels is None:
        n = 1
        while max(ny, nx) // 2**n >= 256:
            n += 1
        return n
    if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 1:
        raise InvalidArgumentError(f"n_levels must be an integer >= 1, got {n_levels!r}")
    if 2 ** (n_levels - 1) > min(ny, nx):
        raise InvalidArgumentError(
            f"n_levels={n_levels} would shrink y/x of size {(ny, nx)} below one pixel"
        )
    return n_levels


def _ngff_scale(axes: str, pixel_size: dict[str, float], interval: float | None):
    scale = {a: 1.0 for a in axes}
    units: dict[str, str] = {}
    for axis, size in pixel_size.items():
        if axis in axes:
            scale[axis], units[axis] = float(size), "micrometer"
    if interval and "t" in axes:
        scale["t"], units["t"] = float(interval), "second"
    return scale, units


def _as_dask(data: Any, chunks: tuple[int, ...]) -> Any:
    import dask.array as da

    if type(data).__module__.split(".")[0] == "dask":
        return data.rechunk(chunks)
    return da.from_array(np.asarray(data), chunks=chunks)


def _pyramid(base: Any, axes: str, levels: int, *, nearest: bool) -> list[Any]:
    """Level ``i`` of a Dask array: each 2**i x 2**i block of y, x becomes one pixel.

    ``nearest`` keeps one pixel of each block (the one at offset 2**(i-1), next
    to the centre), so a label image gets no blended, invented labels; otherwise
    the block mean, rounded back to the dtype. Blocks cut by the edge are dropped
    (a level has ``n // 2**i`` pixels), as ome-zarr-py does.
    """
    import dask.array as da

    planar = [i for i, a in enumerate(axes) if a in "yx"]
    out = [base]
    for level in range(1, levels):
        f = 2**level
        if nearest:
            index = tuple(
                slice(f // 2, f // 2 + f * (n // f), f) if i in planar else slice(None)
                for i, n in enumerate(base.shape)
            )
            out.append(base[index])
        else:
            mean = da.coarsen(np.mean, out[-1], {i: 2 for i in planar}, trim_excess=True)
            if not np.issubdtype(base.dtype, np.floating):
                mean = da.round(mean)
            out.append(mean.astype(base.dtype))
    return out


def _write_multiscale(
    data: Any, group: Any, *, axes: str, chunks: tuple[int, ...], levels: int, nearest: bool,
    pixel_size: dict[str, float], interval: float | None, name: str,
    omero: dict[str, Any] | None = None,
) -> None:
    """Write ``s0 .. s{levels-1}`` and their NGFF 0.5 ``multiscales`` into a Zarr v3 group.

    The pixels go through zarr and dask directly (one ``dask.array.store``, so a
    lazy input is computed once for all levels); the metadata through
    ome-zarr-py's ``write_multiscales_metadata``, which validates it. Only API
    that ome-zarr-py has kept from 0.15 to 0.18 is used: spatialdata 0.7 pins a
    dask that holds ome-zarr-py at 0.15.

    Level ``i`` has scale ``2**i`` times the pixel size in y and x and the
    translation ``(2**i - 1) / 2`` pixels of level 0, so that each of its pixels
    sits at the centre of the block it summarises (as ome-zarr-py writes it).
    """
    import dask.array as da

    with warnings.catch_warnings():  # ome_zarr.writer warns about its own deprecations on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_multiscales_metadata

    scale, units = _ngff_scale(axes, pixel_size, interval)
    pyramid = _pyramid(_as_dask(data, chunks), axes, levels, nearest=nearest)
    arrays, sources, datasets = [], [], []
    for level, pixels in enumerate(pyramid):
        level_chunks = tuple(min(c, n) for c, n in zip(chunks, pixels.shape))
        arrays.append(group.create_array(
            f"s{level}", shape=pixels.shape, dtype=pixels.dtype, chunks=level_chunks,
            fill_value=0, dimension_names=list(axes),
        ))
        # One Dask chunk per Zarr chunk: no two tasks write the same chunk, no lock needed.
        sources.append(pixels.rechunk(level_chunks))
        factor = [2**level if a in "yx" else 1 for a in axes]
        datasets.append({"path": f"s{level}", "coordinateTransformations": [
            {"type": "scale", "scale": [scale[a] * f for a, f in zip(axes, factor)]},
            {"type": "translation",
             "translation": [scale[a] * (f - 1) / 2 for a, f in zip(axes, factor)]},
        ]})
    da.store(sources, arrays, lock=False)
    ngff_axes = [
        {"name": a, "type": _AXIS_TYPES[a], **({"unit": units[a]} if a in units else {})}
        for a in axes
    ]
    metadata = {"metadata": {"omero": omero}} if omero is not None else {}
    write_multiscales_metadata(group, datasets, axes=ngff_axes, name=name, **metadata)


def write_omezarr(
    image: Any, path: Path, *, name: str, chunks: Any = None, n_levels: int | None = None
) -> None:
    """Write an :class:`~cellscale.io.Image` as an NGFF multiscale image at ``path``.

    Lower levels are 2 x 2 block means in y and x.
    """
    import zarr

    levels = default_levels(image.shape, n_levels)
    chunk_shape = default_chunks(image.axes, image.shape, chunks)
    omero = {"channels": _omero_channels(image)} if image.channel_names is not None else None
    group = zarr.open_group(str(path), mode="w-", zarr_format=3)
    _write_multiscale(
        image.data, group, axes=image.axes, chunks=chunk_shape, levels=levels, nearest=False,
        pixel_size=image.pixel_size, interval=image.time_interval, name=name, omero=omero,
    )


def _omero_channels(image: Any) -> list[dict[str, Any]]:
    """One omero channel per name; display window from the data when in memory."""
    if np.issubdtype(image.dtype, np.integer):
        lo, hi = float(np.iinfo(image.dtype).min), float(np.iinfo(image.dtype).max)
    else:
        lo, hi = 0.0, 1.0
    channels = []
    for i, name in enumerate(image.channel_names):
        start, end = lo, hi
        if not image.is_lazy:
            plane = np.asarray(image.data)[i] if "c" in image.axes else np.asarray(image.data)
            finite = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane
            if finite.size:
                start, end = float(finite.min()), float(finite.max())
        channels.append({
            "label": name, "color": _COLORS[i % len(_COLORS)] if len(image.channel_names) > 1
            else "FFFFFF", "active": True,
            "window": {"min": min(lo, start), "max": max(hi, end), "start": start, "end": end},
        })
    return channels


def write_labels_zarr(
    labels: Any, path: Path, *, axes: str, pixel_size: dict[str, float], name: str,
    n_levels: int | None = None,
) -> None:
    """Write a uint32 label array as ``path/labels/<name>``, a nearest-neighbour pyramid.

    Not ome-zarr-py's ``write_labels``, which would compute every distinct label
    (a full extra pass over the pixels) to pick random colours.
    """
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_label_metadata

    shape = tuple(int(s) for s in labels.shape)
    group = zarr.open_group(str(path), mode="w-", zarr_format=3)
    _write_multiscale(
        labels, group.require_group(f"labels/{name}"), axes=axes,
        chunks=default_chunks(axes, shape), levels=default_levels(shape, n_levels),
        nearest=True, pixel_size=pixel_size, interval=None, name=name,
    )
    # "source" names the image the labels belong to, relative to the label image:
    # NGFF puts labels at <image>/labels/<name>, so "../../". Without it
    # ome-zarr-py (napari, spatialdata) logs "no parent found" for every label image.
    write_label_metadata(group["labels"], name, source={"image": "../../"})
