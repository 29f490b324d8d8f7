"""Cell tables: AnnData in ``.h5ad``, AnnData Zarr (``.zarr``) and flat Parquet.

Parquet holds one row per cell (obs) and these columns, so that DuckDB,
pandas or Arrow can query it directly and :func:`read_table` can rebuild the
AnnData:

=====================  ==========================================================
column                 holds
=====================  ==========================================================
``obs_names``          the obs index (cell ids), as strings
any other name         an ``obs`` column, unchanged (numbers, strings, categories)
``X:<var name>``       one column of ``X`` per variable, e.g. ``X:DNA_mean``
``obsm:<key>:<i>``     column ``i`` of a 2-D ``obsm`` array, e.g. ``obsm:spatial:0``
=====================  ==========================================================

A sparse ``X`` is stored dense. AnnData ``.zarr`` stores are written as Zarr v3,
like the OME-Zarr images. What a flat table cannot hold (``var``
annotation columns, ``uns``, ``layers``, ``obsp``, ``varm``, ``varp``, and
``obsm`` entries that are not 2-D arrays) is left out with a warning; use
``.h5ad`` or ``.zarr`` to keep everything. A Parquet file without these
prefixes reads back as an AnnData whose ``obs`` holds every column and whose
``X`` has no variables.

anndata, pandas and pyarrow are imported only inside the functions (anndata
takes seconds to import).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    FileFormatError,
    InputNotFoundError,
    InvalidArgumentError,
    OutputNotWritableError,
    UnsupportedFormatError,
)
from cellscale.io._atomic import atomic_output
from cellscale.io._common import natural_key

PathLike = str | os.PathLike[str]
OBS_NAMES = "obs_names"
X_PREFIX = "X:"
OBSM_PREFIX = "obsm:"
_TABLE_SUFFIXES = (".h5ad", ".zarr", ".parquet")


def _table_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise UnsupportedFormatError(
            f"{path}: unsupported table file type {suffix or '(none)'!r}; "
            f"cell tables are {', '.join(_TABLE_SUFFIXES)}"
        )
    return suffix


def write_table(adata: Any, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write a cell table (AnnData) as ``.h5ad``, AnnData ``.zarr`` or flat ``.parquet``.

    Parameters
    ----------
    adata : anndata.AnnData, shape (n_cells, n_vars)
        The table.
    path : str or path-like
        Output; the ending picks the format. See the module notes for the
        Parquet column convention.
    overwrite : bool
        Replace an existing output (only once the new one is complete).

    Returns
    -------
    pathlib.Path
        The written path, absolute.

    Examples
    --------
    >>> import anndata as ad, numpy as np, tempfile, pathlib
    >>> t = ad.AnnData(np.ones((3, 2), np.float32))
    >>> t.var_names = ["DNA", "actin"]
    >>> out = write_table(t, pathlib.Path(tempfile.mkdtemp()) / "cells.parquet")
    >>> read_table(out).var_names.tolist()
    ['DNA', 'actin']
    """
    import anndata as ad

    if not isinstance(adata, ad.AnnData):
        raise InvalidArgumentError(f"write_table expects an anndata.AnnData, got {type(adata).__name__}")
    target = Path(path).expanduser()
    fmt = _table_format(target)
    frame = to_frame(adata, where=f"{target}: ") if fmt == ".parquet" else None
    with atomic_output(target, overwrite=overwrite) as tmp:
        try:
            if fmt == ".h5ad":
                adata.write_h5ad(tmp)
            elif fmt == ".zarr":
                _write_zarr_v3(adata, tmp)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        except OSError as exc:
            raise OutputNotWritableError(f"{target}: writing failed: {exc}") from exc
    return target.absolute()


#: Largest table (rows) that :func:`_write_zarr_v3` writes through memory.
VIA_MEMORY_MAX_OBS = 100_000


def _write_zarr_v3(adata: Any, path: Path) -> None:
    """AnnData as Zarr v3 (like the OME-Zarr images), unsharded, consolidated.

    Tables of up to :data:`VIA_MEMORY_MAX_OBS` rows are written into memory
    first and then to files: zarr 3 routes every metadata and chunk write
    through its event-loop thread, and a cell table is ~100 small files, so
    writing straight to disk costs ~1-2 s per table, of which going through
    memory saves about half (the files are the same). Larger tables go
    straight to disk, so as not to hold a second, encoded copy in memory.
    """
    import anndata as ad
    import zarr

    buffers: dict[str, Any] = {}
    via_memory = adata.n_obs <= VIA_MEMORY_MAX_OBS
    with ad.settings.override(zarr_write_format=3, auto_shard_zarr_v3=False), \
            warnings.catch_warnings():
        # zarr notes that consolidated metadata is not yet in the v3 spec; anndata and
        # spatialdata both write and read it.
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        adata.write_zarr(zarr.storage.MemoryStore(store_dict=buffers) if via_memory else path)
    if not via_memory:
        return
    path.mkdir(parents=True, exist_ok=True)
    for key, buffer in buffers.items():
        target = path.joinpath(*key.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.to_bytes())


def to_frame(adata: Any, *, where: str = "") -> Any:
    """Flatten an AnnData into one pandas DataFrame by the Parquet column convention."""
    import pandas as pd
    from scipy import sparse

    reserved = [c for c in adata.obs.columns
                if str(c) == OBS_NAMES or str(c).startswith((X_PREFIX, OBSM_PREFIX))]
    if reserved:
        raise InvalidArgumentError(
            f"{where}obs columns {reserved} use names reserved for the Parquet layout "
            f"('{OBS_NAMES}', '{X_PREFIX}...', '{OBSM_PREFIX}...'); rename them"
        )
    columns: dict[str, Any] = {OBS_NAMES: np.asarray(adata.obs_names, dtype=str)}
    for column in adata.obs.columns:
        columns[str(column)] = adata.obs[column].to_numpy() if not isinstance(
            adata.obs[column].dtype, pd.CategoricalDtype) else adata.obs[column].array
    if adata.X is not None and adata.n_vars:
        x = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
        for j, var in enumerate(adata.var_names):
            columns[f"{X_PREFIX}{var}"] = x[:, j]
    dropped = [f"{k} ({', '.join(map(str, v))})" for k, v in (
        ("var columns", list(adata.var.columns)), ("uns", list(adata.uns)),
        ("layers", list(adata.layers)), ("obsp", list(adata.obsp)),
        ("varm", list(adata.varm)), ("varp", list(adata.varp)),
    ) if v]
    for key, value in adata.obsm.items():
        array = np.asarray(value) if not isinstance(value, pd.DataFrame) else None
        if array is None or array.ndim != 2 or array.dtype.kind not in "biuf":
            dropped.append(f"obsm[{key!r}]")
            continue
        for i in range(array.shape[1]):
            columns[f"{OBSM_PREFIX}{key}:{i}"] = array[:, i]
    if dropped:
        warnings.warn(
            f"{where}a Parquet table keeps obs, X and 2-D obsm only; left out: "
            f"{'; '.join(dropped)} (write .h5ad or .zarr to keep them)",
            UserWarning,
            stacklevel=3,
        )
    return pd.DataFrame(columns)


def read_table(path: PathLike) -> Any:
    """Read a cell table written by :func:`write_table` (or by anndata itself).

    Parameters
    ----------
    path : str or path-like
        ``.h5ad``, AnnData ``.zarr`` or ``.parquet``.

    Returns
    -------
    anndata.AnnData, shape (n_cells, n_vars)

    Raises
    ------
    InputNotFoundError, FileFormatError, UnsupportedFormatError
        Missing, unreadable or unknown files.
    """
    import anndata as ad

    source = Path(path).expanduser()
    fmt = _table_format(source)
    if not source.exists():
        raise InputNotFoundError(f"{source}: no such file or folder")
    if fmt == ".zarr":
        return _read_zarr_table(source)
    if source.is_dir():
        raise InputNotFoundError(f"{source}: is a folder, expected a {fmt} file")
    if source.stat().st_size == 0:
        raise FileFormatError(f"{source}: file is empty (0 bytes), expected a {fmt} file")
    if fmt == ".h5ad":
        try:
            return ad.read_h5ad(source)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise FileFormatError(f"{source}: not a readable .h5ad file ({exc})") from exc
    return _read_parquet(source)


def _read_zarr_table(source: Path) -> Any:
    import anndata as ad
    import zarr

    if not source.is_dir():
        raise FileFormatError(f"{source}: is a file; an AnnData Zarr store is a folder")
    try:
        attrs = dict(zarr.open_group(str(source), mode="r").attrs)
        if attrs.get("encoding-type") != "anndata":
            raise FileFormatError(
                f"{source}: Zarr store is not an AnnData table (no 'encoding-type: anndata'); "
                f"images are read with cellscale.io.read"
            )
        return ad.read_zarr(source)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{source}: not a readable AnnData Zarr store ({exc})") from exc


def _read_parquet(source: Path) -> Any:
    import anndata as ad
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(source).to_pandas()
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise FileFormatError(f"{source}: not a readable Parquet file ({exc})") from exc
    names = [str(c) for c in frame.columns]
    x_cols = [c for c in names if c.startswith(X_PREFIX)]
    obsm_cols = [c for c in names if c.startswith(OBSM_PREFIX)]
    obs_cols = [c for c in names if c not in x_cols and c not in obsm_cols and c != OBS_NAMES]
    if OBS_NAMES in names:
        index = pd.Index(frame[OBS_NAMES].astype(str).to_numpy(), name=None)
    else:
        index = pd.Index([str(i) for i in range(len(frame))])
    obs = frame[obs_cols].set_axis(index, axis=0)
    x = frame[x_cols].to_numpy() if x_cols else None
    obsm: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(c[len(OBSM_PREFIX):].rsplit(":", 1)[0] for c in obsm_cols):
        cols = sorted((c for c in obsm_cols if c[len(OBSM_PREFIX):].rsplit(":", 1)[0] == key),
                      key=natural_key)
        obsm[key] = frame[cols].to_numpy()
    var = pd.DataFrame(index=pd.Index([c[len(X_PREFIX):] for c in x_cols]))
    return ad.AnnData(X=x, obs=obs, var=var, obsm=obsm)
