"""Opening a results store written by :func:`~cellscale.io.write_store`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellscale.errors import FileFormatError, InputNotFoundError, InvalidArgumentError
from cellscale.io._image import Image
from cellscale.io._omezarr import is_zarr_store
from cellscale.io._store import ELEMENT_KINDS, _names

__all__ = ["Store", "open_store"]


@dataclass(frozen=True)
class Store:
    """A results store on disk: what it holds and how to load each element.

    Attributes
    ----------
    path : pathlib.Path
        The store folder.
    images, labels, points, tables : tuple of str
        Names of the complete elements of each kind.
    config : dict
        The configuration saved with the store. A store written by
        :func:`cellscale.engine.run_pipeline` describes what it holds: the
        ``pipelines`` used and, per image, its input, pipeline and elements
        (``images``; see :mod:`cellscale.engine._provenance`).
    run : dict
        The state of the last pipeline run into the store (``{"state":
        "complete", ...}``; ``"running"`` or ``"interrupted"`` while it is
        incomplete); empty for stores not written by a run.
    """

    path: Path
    images: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    points: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """False while a pipeline run into the store is unfinished (running or interrupted)."""
        return self.run.get("state", "complete") == "complete"

    def has(self, kind: str, name: str) -> bool:
        """True when the store holds the element ``kind/name`` (for resuming)."""
        return name in self._names(kind)

    def _names(self, kind: str) -> tuple[str, ...]:
        if kind not in ELEMENT_KINDS:
            raise InvalidArgumentError(f"unknown element kind {kind!r}; kinds are "
                                       f"{', '.join(ELEMENT_KINDS)}")
        return getattr(self, kind)

    def _path(self, kind: str, name: str) -> Path:
        if name not in self._names(kind):
            raise InvalidArgumentError(
                f"{self.path}: no {kind} element {name!r}; {kind}: "
                f"{', '.join(self._names(kind)) or 'none'}")
        return self.path / kind / name

    def image(self, name: str, *, level: int = 0, lazy: bool | None = None) -> Image:
        """Load image ``name`` as an :class:`Image` (pixel size in µm)."""
        from cellscale.io._read import read

        return read(self._path("images", name), level=level, lazy=lazy)

    def label_image(self, name: str, *, level: int = 0) -> Any:
        """Load label image ``name`` as a uint32 NumPy array."""
        import numpy as np
        import zarr

        group = zarr.open_group(str(self._path("labels", name)), mode="r")
        path = dict(group.attrs)["ome"]["multiscales"][0]["datasets"][level]["path"]
        return np.asarray(group[path][...])

    def point_table(self, name: str) -> Any:
        """Load points ``name`` as a pandas DataFrame."""
        import pyarrow.parquet as pq

        return pq.read_table(self._path("points", name) / "points.parquet").to_pandas()

    def table(self, name: str) -> Any:
        """Load table ``name`` as an AnnData."""
        from cellscale.io._table import _read_zarr_table

        return _read_zarr_table(self._path("tables", name))

    def __repr__(self) -> str:
        parts = [f"{k}={list(getattr(self, k))}" for k in ELEMENT_KINDS if getattr(self, k)]
        return f"Store({str(self.path)!r}{', ' if parts else ''}{', '.join(parts)})"


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open a results store: list its elements and read its saved config.

    Parameters
    ----------
    path : str or path-like
        A store written by :func:`write_store` or :func:`create_store`.

    Returns
    -------
    Store

    Raises
    ------
    InputNotFoundError
        No such folder.
    FileFormatError
        The folder is not a results store.
    """
    import zarr

    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise InputNotFoundError(f"{root}: no such results store")
    if not is_zarr_store(root):
        raise FileFormatError(f"{root}: not a Zarr store")
    attrs = dict(zarr.open_group(str(root), mode="r").attrs)
    if "spatialdata_attrs" not in attrs or not all((root / k).is_dir() for k in ELEMENT_KINDS):
        raise FileFormatError(f"{root}: not a results store (no SpatialData attributes or "
                              f"missing {'/'.join(ELEMENT_KINDS)} groups)")
    ours = attrs.get("cellscale") or {}
    config = dict(ours.get("config") or {})
    found = {k: tuple(n for n in _names(root / k) if is_zarr_store(root / k / n))
             for k in ELEMENT_KINDS}
    return Store(path=root, config=config, run=dict(ours.get("run") or {}), **found)
