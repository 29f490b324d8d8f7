"""Describing cellscale's own outputs: a results store, an OME-Zarr label image.

:func:`describe_path` is what ``cellscale info`` calls: a results store gives
a :class:`StoreInfo` (its elements with shapes, the run's state and pipelines),
a Zarr store that holds only label images (what ``cellscale segment -o x.zarr``
writes) gives a :class:`LabelsInfo`, and anything else goes to
:func:`~cellscale.io.describe`. Only metadata is read, except that a label
image of at most :data:`COUNT_LIMIT` pixels has its objects counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.io._describe import ImageInfo, _disk_size, _human, describe
from cellscale.io._omezarr import is_zarr_store
from cellscale.io._read import PathLike

__all__ = ["COUNT_LIMIT", "LabelsInfo", "StoreInfo", "describe_path"]

#: Largest label image (pixels) whose objects are counted when described.
COUNT_LIMIT = 4096 * 4096

_KINDS = ("images", "labels", "points", "tables")


@dataclass(frozen=True)
class LabelsInfo:
    """A label image on disk: its shape and, when cheap, how many objects it holds.

    ``n_objects`` is None when the image has more than :data:`COUNT_LIMIT`
    pixels (counting would read them all).
    """

    path: str
    name: str
    axes: str | None
    shape: tuple[int, ...]
    dtype: str
    n_objects: int | None
    pixel_size: dict[str, float] = field(default_factory=dict)
    size_on_disk: int = 0
    n_levels: int = 1
    format: str = "ome-zarr labels"

    def summary(self) -> str:
        """Lines of text for people, as ``cellscale info`` prints them."""
        pixel = ", ".join(f"{a}={v:g} µm" for a, v in self.pixel_size.items()) or "unknown"
        objects = (f"{self.n_objects}" if self.n_objects is not None
                   else f"not counted (more than {COUNT_LIMIT:.3g} pixels)")
        return "\n".join([
            f"path:          {self.path}",
            f"format:        {self.format} (label image {self.name!r})",
            f"axes:          {self.axes or 'unknown'}",
            f"shape:         {tuple(self.shape)}",
            f"dtype:         {self.dtype}",
            f"objects:       {objects}",
            f"pixel size:    {pixel}",
            f"levels:        {self.n_levels}",
            f"on disk:       {_human(self.size_on_disk)}",
        ])

    def to_dict(self) -> dict[str, Any]:
        """The facts as JSON-serialisable values (``cellscale info --json``)."""
        return {"path": self.path, "format": self.format, "name": self.name, "axes": self.axes,
                "shape": list(self.shape), "dtype": self.dtype, "n_objects": self.n_objects,
                "pixel_size": dict(self.pixel_size), "size_on_disk": self.size_on_disk,
                "n_levels": self.n_levels}


@dataclass(frozen=True)
class StoreInfo:
    """A results store: its elements by kind, the state of its last run and its pipelines.

    ``elements`` maps each kind (images, labels, points, tables) to one dict per
    element (``name`` and, by kind, ``shape``/``dtype``/``axes``, ``n_points``,
    ``n_obs``/``n_vars``).
    """

    path: str
    elements: dict[str, list[dict[str, Any]]]
    run: dict[str, Any]
    config: dict[str, Any]
    size_on_disk: int = 0
    format: str = "results store"

    def summary(self) -> str:
        """Lines of text for people, as ``cellscale info`` prints them."""
        lines = [f"path:          {self.path}",
                 f"format:        {self.format} (SpatialData-compatible Zarr)",
                 f"on disk:       {_human(self.size_on_disk)}",
                 f"last run:      {self.run.get('state', 'unknown') if self.run else 'not recorded'}"]
        for kind in _KINDS:
            items = self.elements.get(kind, [])
            lines.append(f"{kind + ':':<14} {len(items) or 'none'}")
            lines.extend(f"  {_element_line(kind, e)}" for e in items)
        lines.extend(_config_lines(self.config))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The facts as JSON-serialisable values (``cellscale info --json``)."""
        return {"path": self.path, "format": self.format, "size_on_disk": self.size_on_disk,
                "run": self.run, "elements": self.elements, "config": self.config}


def _element_line(kind: str, e: dict[str, Any]) -> str:
    if kind in ("images", "labels"):
        axes = e.get("axes") or ""
        extra = f", {e['n_objects']} objects" if e.get("n_objects") is not None else ""
        return f"{e['name']:<24} {axes} {tuple(e.get('shape', ()))} {e.get('dtype', '')}{extra}"
    if kind == "points":
        return f"{e['name']:<24} {e.get('n_points', '?')} points"
    return f"{e['name']:<24} {e.get('n_obs', '?')} rows x {e.get('n_vars', '?')} columns"


def _config_lines(config: dict[str, Any]) -> list[str]:
    """A few lines saying which pipelines made the store and for how many images."""
    lines = []
    images = config.get("images")
    if isinstance(images, dict):
        lines.append(f"{'inputs:':<14} {len(images)} image(s) recorded")
        lines.extend(_quality_lines(images))
    pipelines = config.get("pipelines")
    if isinstance(pipelines, dict):
        for key, value in pipelines.items():
            # A run's record is {"pipeline": {"steps": ...}, "models": ...}.
            inner = value.get("pipeline", value) if isinstance(value, dict) else value
            lines.append(f"{'pipeline:':<14} {key}: {_steps(inner)}")
    elif isinstance(config.get("steps"), list):
        lines.append(f"{'pipeline:':<14} {_steps(config)}")
    return lines


def _quality_lines(images: dict[str, Any]) -> list[str]:
    """Per image: objects, diameter and confidence of its segmentation, and its warnings.

    From each entry's ``"quality"`` record (written by ``cellscale run``);
    images without one are not listed.
    """
    lines = []
    for image_id, entry in images.items():
        quality = entry.get("quality") if isinstance(entry, dict) else None
        if not isinstance(quality, dict):
            continue
        objects, diameter = quality.get("n_objects"), quality.get("diameter")
        confidence = quality.get("confidence")
        parts = [f"{'?' if objects is None else objects} objects",
                 "diameter not estimated" if diameter is None else f"diameter {diameter:.1f} px",
                 "confidence not measured" if confidence is None
                 else f"confidence {confidence:.2f}"]
        frames = quality.get("frames")
        if isinstance(frames, list):
            parts.append(f"{len(frames)} frames (median diameter, lowest confidence)")
        if not lines:
            lines.append("segmentation:  per image (confidence: agreement with the image "
                         "flipped, 0-1)")
        lines.append(f"  {image_id:<24} {', '.join(parts)}")
        lines.extend(f"    warning: {w}" for w in quality.get("warnings") or [])
    return lines


def _steps(pipeline: Any) -> str:
    steps = pipeline.get("steps") if isinstance(pipeline, dict) else None
    if not isinstance(steps, list):
        return "(no steps recorded)"
    names = []
    for step in steps:
        if isinstance(step, dict):
            opts = [f"{k}={v}" for k, v in step.items() if k != "step" and v is not None][:2]
            names.append(f"{step.get('step', '?')}({', '.join(opts)})")
    return " -> ".join(names) or "(no steps recorded)"


def _is_results_store(path: Path) -> bool:
    return is_zarr_store(path) and all((path / k).is_dir() for k in _KINDS)


def _labels_only(path: Path) -> bool:
    """A Zarr group with ``labels/`` and no image of its own (``segment -o x.zarr``)."""
    import zarr

    if not is_zarr_store(path) or not (path / "labels").is_dir():
        return False
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    ome = attrs.get("ome", attrs)
    return "multiscales" not in ome


def _label_image(path: Path, name: str) -> LabelsInfo:
    from cellscale.io._omezarr import open_zarr

    source = open_zarr(path, labels=True)
    n_objects = None
    if source.n_pixels <= COUNT_LIMIT:
        values = np.unique(np.asarray(source.load(False)))
        n_objects = int((values != 0).sum())
    return LabelsInfo(path=str(path), name=name, axes=source.axes, shape=source.shape,
                      dtype=str(np.dtype(source.dtype)), n_objects=n_objects,
                      pixel_size=dict(source.pixel_size), size_on_disk=_disk_size(path),
                      n_levels=source.n_levels)


def _store(path: Path) -> StoreInfo:
    from cellscale.io._store_read import open_store

    store = open_store(path)
    elements: dict[str, list[dict[str, Any]]] = {}
    for name in store.images:
        info = describe(store.path / "images" / name)
        elements.setdefault("images", []).append(
            {"name": name, "axes": info.axes, "shape": list(info.shape), "dtype": info.dtype,
             "channel_names": list(info.channel_names or [])})
    for name in store.labels:
        lab = _label_image(store.path / "labels" / name, name)
        elements.setdefault("labels", []).append(
            {"name": name, "axes": lab.axes, "shape": list(lab.shape), "dtype": lab.dtype,
             "n_objects": lab.n_objects})
    for name in store.points:
        elements.setdefault("points", []).append(
            {"name": name, "n_points": _parquet_rows(store.path / "points" / name)})
    for name in store.tables:
        elements.setdefault("tables", []).append(
            {"name": name, **_table_size(store.path / "tables" / name)})
    return StoreInfo(path=str(store.path), elements=elements, run=dict(store.run),
                     config=dict(store.config), size_on_disk=_disk_size(store.path))


def _parquet_rows(folder: Path) -> int | None:
    import pyarrow.parquet as pq

    files = sorted(f for f in folder.rglob("*.parquet") if f.is_file())
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files) if files else None
    except (OSError, ValueError):
        return None


def _table_size(folder: Path) -> dict[str, int | None]:
    """Rows and columns of an AnnData Zarr table, from its index arrays' metadata."""
    import zarr

    group = zarr.open_group(str(folder), mode="r")
    sizes: dict[str, int | None] = {}
    for part, key in (("obs", "n_obs"), ("var", "n_vars")):
        try:
            sub = group[part]
            sizes[key] = int(sub[dict(sub.attrs)["_index"]].shape[0])
        except (KeyError, TypeError, ValueError):
            sizes[key] = None
    return sizes


def describe_path(path: PathLike) -> ImageInfo | LabelsInfo | StoreInfo:
    """Describe an image, a results store or an OME-Zarr label image.

    Parameters
    ----------
    path : str or path-like
        Anything :func:`~cellscale.io.read` accepts, a results store (written
        by ``cellscale run`` or :func:`~cellscale.io.write_store`), or an
        OME-Zarr holding label images (written by
        :func:`~cellscale.io.write_labels`).

    Returns
    -------
    ImageInfo, LabelsInfo or StoreInfo
        Each has ``summary()`` (text) and ``to_dict()`` (JSON).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from cellscale.io import write_labels
    >>> lab = np.zeros((32, 32), np.uint32); lab[2:6, 2:6] = 1; lab[10:20, 10:20] = 2
    >>> out = write_labels(lab, pathlib.Path(tempfile.mkdtemp()) / "cells.zarr", name="nuclei")
    >>> info = describe_path(out)
    >>> info.name, info.shape, info.n_objects
    ('nuclei', (32, 32), 2)
    """
    p = Path(path).expanduser() if not isinstance(path, str) or Path(path).exists() else None
    if p is not None and p.is_dir():
        if _is_results_store(p):
            return _store(p.absolute())
        if _labels_only(p):
            names = sorted(q.name for q in (p / "labels").iterdir()
                           if q.is_dir() and not q.name.startswith("."))
            if len(names) == 1:
                return _label_image(p.absolute() / "labels" / names[0], names[0])
            labels = [_label_image(p.absolute() / "labels" / n, n) for n in names]
            return StoreInfo(
                path=str(p.absolute()), run={}, config={}, size_on_disk=_disk_size(p),
                format="ome-zarr label images",
                elements={"labels": [{"name": lab.name, "axes": lab.axes, "shape": list(lab.shape),
                                      "dtype": lab.dtype, "n_objects": lab.n_objects}
                                     for lab in labels]})
        if (p.parent.name == "labels" and is_zarr_store(p)
                and "image-label" in str(_attrs(p))):
            return _label_image(p.absolute(), p.name)
    return describe(path)


def _attrs(path: Path) -> dict[str, Any]:
    import zarr

    return dict(zarr.open_group(str(path), mode="r").attrs)
