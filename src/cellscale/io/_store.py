"""The results store: one SpatialData-compatible Zarr store per run.

Layout (Zarr v3; SpatialData on-disk format: container 0.2, raster 0.3, points
0.2, tables 0.2)::

    results.zarr/                 attrs: spatialdata_attrs {version 0.2},
                                  cellscale {config, version}
    results.zarr/images/<name>    OME-NGFF 0.5 multiscale image (napari opens it)
    results.zarr/labels/<name>    OME-NGFF 0.5 multiscale label image (image-label)
    results.zarr/points/<name>/points.parquet/part.0.parquet
    results.zarr/tables/<name>    AnnData Zarr; attrs link it to label layers

Raster elements are NGFF 0.5 with ``ome.version`` set to
``"0.5-dev-spatialdata"``, the string SpatialData writes and requires for NGFF
0.5 data (ome-zarr-py and so napari read them as NGFF 0.5).
Images and labels carry their pixel size (µm) in the NGFF dataset scales, as
every NGFF reader expects, and a multiscale-level ``coordinateTransformations``
entry with SpatialData's ``input``/``output`` extension mapping full-resolution
pixels to the coordinate system ``"global"`` (identity). So in SpatialData,
``"global"`` is in full-resolution pixels: points and ``obsm["spatial"]`` are
in the same pixels; micrometres are in the table's ``*_um`` columns.

Writing is atomic: a new store is built under a temporary name beside the
target and renamed into place; an element added to an existing store is
written under a temporary name beside the store and renamed into it, so an
element present in the store is always complete. The root attributes
(``cellscale/config``, :func:`set_store_attrs`) say what made the elements;
:mod:`cellscale.engine` resumes by them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    InputNotFoundError,
    InvalidArgumentError,
    InvalidImageError,
    OutputExistsError,
    OutputNotWritableError,
)
from cellscale.io._atomic import atomic_output, remove_path, rename_into_place
from cellscale.io._image import Image
from cellscale.io._omezarr import is_zarr_store, write_labels_zarr, write_omezarr
from cellscale.io._table import _write_zarr_v3

__all__ = ["ELEMENT_KINDS", "add_image", "add_labels", "add_points", "add_table",
           "create_store", "remove_element", "set_store_attrs", "write_store"]

PathLike = str | os.PathLike[str]
ELEMENT_KINDS = ("images", "labels", "points", "tables")
# SpatialData (0.7) reads raster elements only with these NGFF version strings; it writes
# "0.5-dev-spatialdata" itself (NGFF 0.5 plus its coordinate-system extension).
NGFF_VERSION = "0.5-dev-spatialdata"
FORMAT = {"container": "0.2", "raster": "0.3", "points": "0.2", "tables": "0.2"}


def _check_name(name: Any, kind: str, store: Path) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith(".") \
            or name != name.strip():
        raise InvalidArgumentError(f"{store}: invalid {kind} element name {name!r} "
                                   f"(non-empty, no '/', not starting with '.')")
    return name


def _jsonable(config: Any, store: Path) -> dict[str, Any]:
    if config is None:
        return {}
    if hasattr(config, "model_dump"):
        config = config.model_dump(mode="json")
    try:
        return json.loads(json.dumps(dict(config)))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{store}: config must be JSON-serialisable ({exc})") from exc


def create_store(path: PathLike, *, config: Any = None, overwrite: bool = False) -> Path:
    """Create an empty results store (for writing elements one at a time).

    Parameters
    ----------
    path : str or path-like
        The store folder, e.g. ``results.zarr``.
    config : mapping or pydantic model, optional
        The configuration of the run; saved in the root attributes under
        ``cellscale/config``.
    overwrite : bool
        Replace an existing store (only once the new, empty one is complete).

    Returns
    -------
    pathlib.Path
        The store, absolute.
    """
    import zarr

    from cellscale import __version__

    target = Path(path).expanduser()
    saved = _jsonable(config, target)
    with atomic_output(target, overwrite=overwrite) as tmp:
        try:
            root = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
            root.attrs.update({
                "spatialdata_attrs": {"version": FORMAT["container"]},
                "cellscale": {"version": __version__, "config": saved},
            })
            for kind in ELEMENT_KINDS:
                root.create_group(kind)
        except OSError as exc:
            raise OutputNotWritableError(f"{target}: writing failed: {exc}") from exc
    return target.absolute()


def set_store_attrs(path: PathLike, **entries: Any) -> None:
    """Set entries of a store's ``cellscale`` root attributes, atomically.

    The store's root ``zarr.json`` is rewritten under a temporary name and
    renamed over the old one, so a reader sees the old attributes or the new
    ones, never a mix. One process at a time may call this on a store.

    Parameters
    ----------
    path : str or path-like
        A store made by :func:`create_store`.
    **entries
        JSON-serialisable values, e.g. ``config={...}``; other entries are kept.
    """
    root = Path(path).expanduser().absolute()
    meta = root / "zarr.json"
    try:
        document = json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise InputNotFoundError(f"{root}: not a cellscale results store ({exc})") from exc
    attrs = document.setdefault("attributes", {})
    ours = dict(attrs.get("cellscale") or {})
    ours.update(_jsonable(entries, root))
    attrs["cellscale"] = ours
    tmp = root / f".zarr.json.partial-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_text(json.dumps(document, separators=(",", ":")))
        os.replace(tmp, meta)
    except OSError as exc:
        remove_path(tmp)
        raise OutputNotWritableError(f"{root}: cannot update the store's attributes: {exc}") \
            from exc


def remove_element(path: PathLike, kind: str, name: str) -> None:
    """Remove ``kind/name`` from a store if present (moved aside first, so never half-removed)."""
    root = Path(path).expanduser().absolute()
    if kind not in ELEMENT_KINDS:
        raise InvalidArgumentError(f"unknown element kind {kind!r}; kinds are "
                                   f"{', '.join(ELEMENT_KINDS)}")
    final = root / kind / _check_name(name, kind, root)
    if final.exists():
        aside = root.with_name(f".{root.name}.{kind}-{name}.removed-{uuid.uuid4().hex[:8]}")
        os.replace(final, aside)
        remove_path(aside)


def write_store(
    path: PathLike,
    *,
    images: Mapping[str, Image] | None = None,
    labels: Mapping[str, Any] | None = None,
    points: Mapping[str, Any] | None = None,
    tables: Mapping[str, Any] | None = None,
    regions: Mapping[str, str | Sequence[str]] | None = None,
    config: Any = None,
    overwrite: bool = False,
) -> Path:
    """Write a complete results store in one go (atomically).

    Parameters
    ----------
    path : str or path-like
        The store folder, e.g. ``results.zarr``.
    images : mapping of str to Image, optional
        Images (any of axes ``c``, ``z``, ``y``, ``x``; no ``t``).
    labels : mapping of str to array or Image, optional
        Label images ``(y, x)`` or ``(z, y, x)``; an :class:`Image` carries its pixel size.
    points : mapping of str to pandas.DataFrame, optional
        Points with columns ``x``, ``y`` (pixels) and optionally ``z``, ``gene``.
    tables : mapping of str to anndata.AnnData, optional
        Cell tables, each linked to label layers named in ``regions``.
    regions : mapping of str to str or sequence of str, optional
        For each table, the label layer(s) it annotates. Default: a table whose
        name is a label layer's annotates that layer; otherwise, with exactly
        one label layer, that one.
    config : mapping or pydantic model, optional
        Saved in the root attributes.
    overwrite : bool
        Replace an existing store once the new one is complete.

    Returns
    -------
    pathlib.Path
        The store, absolute.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    target = Path(path).expanduser()
    labels, regions = dict(labels or {}), dict(regions or {})
    with atomic_output(target, overwrite=overwrite) as tmp:
        create_store(tmp, config=config)
        for name, image in (images or {}).items():
            add_image(tmp, name, image)
        for name, array in labels.items():
            add_labels(tmp, name, array)
        for name, frame in (points or {}).items():
            add_points(tmp, name, frame)
        for name, table in (tables or {}).items():
            region = regions.get(name)
            if region is None:
                if name in labels or len(labels) == 1:
                    region = name if name in labels else next(iter(labels))
                else:
                    raise InvalidArgumentError(
                        f"{target}: say which label layer table {name!r} annotates: "
                        f"regions={{{name!r}: ...}}; label layers: {sorted(labels) or 'none'}")
            add_table(tmp, name, table, region=region)
    return target.absolute()


def _element(store: PathLike, kind: str, name: str, overwrite: bool) -> tuple[Path, Path]:
    root = Path(store).expanduser().absolute()
    if not is_zarr_store(root) or not (root / kind).is_dir():
        raise InputNotFoundError(f"{root}: not a cellscale results store (no {kind}/ group); "
                                 f"make one with create_store")
    final = root / kind / _check_name(name, kind, root)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final}: {kind} element {name!r} already exists "
                                f"(pass overwrite=True to replace it)")
    return root, final


def _commit(root: Path, final: Path, write: Any) -> Path:
    """Write an element beside the store, then rename it into place."""
    tmp = root.with_name(f".{root.name}.{final.parent.name}-{final.name}.partial-"
                         f"{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        rename_into_place(tmp, final, aside=root.parent)
    except OSError as exc:
        remove_path(tmp)
        raise OutputNotWritableError(f"{final}: writing failed: {exc}") from exc
    except BaseException:
        remove_path(tmp)
        raise
    return final


def _global_transform(axes: str) -> list[dict[str, Any]]:
    """SpatialData's element-to-'global' transform: identity in full-resolution pixels."""
    spec = [{"name": a, "type": "channel"} if a == "c" else {"name": a, "type": "space", "unit": "unit"}
            for a in axes]
    return [{"type": "scale", "scale": [1.0] * len(axes),
             "input": {"name": axes, "axes": spec}, "output": {"name": "global", "axes": spec}}]


def _tag_raster(path: Path, axes: str) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    ome = dict(attrs["ome"])
    multiscales = [dict(m) for m in ome["multiscales"]]
    multiscales[0]["coordinateTransformations"] = _global_transform(axes)
    ome["multiscales"] = multiscales
    ome["version"] = NGFF_VERSION
    group.attrs.update({"ome": ome, "spatialdata_attrs": {"version": FORMAT["raster"]}})


def add_image(store: PathLike, name: str, image: Image, *, overwrite: bool = False) -> Path:
    """Add an image to a store as an OME-NGFF multiscale image ``images/<name>``."""
    if not isinstance(image, Image):
        raise InvalidArgumentError(f"add_image expects a cellscale.io.Image, got "
                                   f"{type(image).__name__}; wrap arrays with Image.from_array")
    if "t" in image.axes:
        raise InvalidImageError(f"{store}: image {name!r} has a time axis; SpatialData images "
                                f"are c, z, y, x: add one frame per element")
    root, final = _element(store, "images", name, overwrite)

    def write(tmp: Path) -> None:
        write_omezarr(image, tmp, name=name)
        _tag_raster(tmp, image.axes)

    return _commit(root, final, write)


def add_labels(store: PathLike, name: str, labels: Any, *, pixel_size: Any = None,
               overwrite: bool = False) -> Path:
    """Add a label image ``labels/<name>`` (uint32, 0 = background, NGFF ``image-label``).

    ``labels`` is an array ``(y, x)`` / ``(z, y, x)`` or an :class:`Image` (whose
    pixel size is used unless ``pixel_size`` is given).
    """
    from cellscale.io._write import _checked_uint32

    root, final = _element(store, "labels", name, overwrite)
    if isinstance(labels, Image):
        axes, sizes, data = labels.axes, dict(labels.pixel_size), labels.data
    else:
        data = labels if hasattr(labels, "dtype") else np.asarray(labels)
        axes = {2: "yx", 3: "zyx"}.get(data.ndim)
        if axes is None:
            raise InvalidImageError(f"{final}: labels must be (y, x) or (z, y, x), got shape "
                                    f"{tuple(data.shape)}")
        sizes = {}
    if pixel_size is not None:
        sizes = Image.from_array(data, axes, pixel_size=pixel_size).pixel_size
    if set(axes) - set("zyx") or not np.issubdtype(np.dtype(data.dtype), np.integer):
        raise InvalidImageError(f"{final}: labels must be integer (z,) y, x arrays; got axes "
                                f"{axes!r}, dtype {data.dtype}")
    data = _checked_uint32(data, f"{final}: ")

    def write(tmp: Path) -> None:
        write_labels_zarr(data, tmp, axes=axes, pixel_size=dict(sizes), name=name)
        os.replace(tmp / "labels" / name, tmp.with_name(tmp.name + "-el"))
        remove_path(tmp)
        os.replace(tmp.with_name(tmp.name + "-el"), tmp)
        _tag_raster(tmp, axes)

    return _commit(root, final, write)


def add_points(store: PathLike, name: str, points: Any, *, feature_key: str | None = "gene",
               overwrite: bool = False) -> Path:
    """Add points ``points/<name>`` (Parquet): columns ``x``, ``y`` in pixels, ``z`` optional."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    root, final = _element(store, "points", name, overwrite)
    if not isinstance(points, pd.DataFrame) or not {"x", "y"} <= set(points.columns):
        raise InvalidArgumentError(f"{final}: points must be a pandas DataFrame with columns "
                                   f"'x' and 'y' (pixels)")
    axes = [a for a in ("x", "y", "z") if a in points.columns]
    frame = points.reset_index(drop=True).copy()
    for axis in axes:
        frame[axis] = frame[axis].astype(np.float64)
    key = feature_key if feature_key in frame.columns else None
    if key is not None:
        frame[key] = frame[key].astype(str).astype("category")
    attrs: dict[str, Any] = {"version": FORMAT["points"]}
    if key is not None:
        attrs["feature_key"] = key
    spec = [{"name": a, "type": "space", "unit": "unit"} for a in axes]
    transform = [{"type": "identity", "input": {"name": "".join(axes), "axes": spec},
                  "output": {"name": "global", "axes": spec}}]

    def write(tmp: Path) -> None:
        group = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
        group.attrs.update({"encoding-type": "ngff:points", "axes": axes,
                            "coordinateTransformations": transform, "spatialdata_attrs": attrs})
        (tmp / "points.parquet").mkdir()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       tmp / "points.parquet" / "part.0.parquet")

    return _commit(root, final, write)


def add_table(store: PathLike, name: str, table: Any, *, region: str | Sequence[str],
              region_key: str = "region", instance_key: str = "label",
              overwrite: bool = False) -> Path:
    """Add a cell table ``tables/<name>`` annotating the label layer(s) ``region``.

    ``table.obs[instance_key]`` holds each row's label id. With one region the
    ``region_key`` column is (re)set to it; with several, ``table.obs[region_key]``
    must already name each row's layer.
    """
    import anndata as ad
    import pandas as pd
    import zarr

    root, final = _element(store, "tables", name, overwrite)
    if not isinstance(table, ad.AnnData):
        raise InvalidArgumentError(f"{final}: tables must be anndata.AnnData, got "
                                   f"{type(table).__name__}")
    regions = [region] if isinstance(region, str) else list(region)
    missing = [r for r in regions if not (root / "labels" / str(r)).is_dir()]
    if not regions or missing:
        raise InvalidArgumentError(f"{final}: region label layer(s) {missing or regions} not in "
                                   f"the store; label layers: {sorted(_names(root / 'labels'))}")
    if instance_key not in table.obs.columns:
        raise InvalidArgumentError(f"{final}: table has no obs column {instance_key!r} with label "
                                   f"ids; columns are {list(table.obs.columns)}")
    out = table.copy()
    if len(regions) == 1:
        out.obs[region_key] = pd.Categorical([regions[0]] * out.n_obs, categories=regions)
    elif region_key not in out.obs.columns or not set(out.obs[region_key].astype(str)) <= set(regions):
        raise InvalidArgumentError(f"{final}: with several regions, obs[{region_key!r}] must name "
                                   f"each row's label layer among {regions}")
    else:
        out.obs[region_key] = pd.Categorical(out.obs[region_key].astype(str), categories=regions)
    link = {"region": regions[0] if len(regions) == 1 else regions,
            "region_key": region_key, "instance_key": instance_key}
    out.uns["spatialdata_attrs"] = link

    def write(tmp: Path) -> None:
        _write_zarr_v3(out, tmp)
        group = zarr.open_group(str(tmp), mode="r+", use_consolidated=False)
        group.attrs.update({"spatialdata-encoding-type": "ngff:regions_table",
                            "version": FORMAT["tables"], **link})
        zarr.consolidate_metadata(str(tmp))

    return _commit(root, final, write)


def _names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
