"""Cell tables round-trip through .h5ad, AnnData .zarr and flat .parquet."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import FileFormatError, InvalidArgumentError, OutputExistsError
from cellscale.io import read_table, write_table


def _same(a, b):
    np.testing.assert_allclose(np.asarray(a.X), np.asarray(b.X))
    assert list(a.obs_names) == list(b.obs_names)
    assert list(a.var_names) == list(b.var_names)
    np.testing.assert_array_equal(a.obs["area"], b.obs["area"])
    assert list(a.obs["phase"].astype(str)) == list(b.obs["phase"].astype(str))
    np.testing.assert_allclose(a.obsm["spatial"], b.obsm["spatial"])


@pytest.mark.parametrize("name", ["cells.h5ad", "cells.zarr", "cells.parquet"])
def test_table_roundtrip(tmp_path, table, name):
    back = read_table(write_table(table, tmp_path / name))
    _same(table, back)
    with pytest.raises(OutputExistsError):
        write_table(table, tmp_path / name)
    write_table(table, tmp_path / name, overwrite=True)


def test_parquet_column_convention(tmp_path, table):
    import pyarrow.parquet as pq

    table.uns["note"] = "kept only in h5ad/zarr"
    with pytest.warns(UserWarning, match="uns"):
        out = write_table(table, tmp_path / "cells.parquet")
    columns = pq.read_schema(out).names
    assert columns[:4] == ["obs_names", "area", "label", "phase"]
    assert "X:DNA_mean" in columns and "obsm:spatial:1" in columns
    assert str(pq.read_table(out).schema.field("phase").type).startswith("dictionary")


def test_plain_parquet_reads_as_obs_only(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp_path / "plain.parquet")
    back = read_table(tmp_path / "plain.parquet")
    assert back.shape == (2, 0) and list(back.obs.columns) == ["a", "b"]


def test_table_errors(tmp_path, table):
    table.obs["X:bad"] = 1
    with pytest.raises(InvalidArgumentError, match="reserved"):
        write_table(table, tmp_path / "t.parquet")
    (tmp_path / "junk.h5ad").write_text("not hdf5")
    with pytest.raises(FileFormatError, match=r"junk\.h5ad"):
        read_table(tmp_path / "junk.h5ad")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(FileFormatError, match=r"junk\.parquet"):
        read_table(tmp_path / "junk.parquet")
    with pytest.raises(InvalidArgumentError):
        write_table(np.zeros(3), tmp_path / "t.h5ad")


def test_zarr_table_files_are_the_same_through_memory_or_not(tmp_path, monkeypatch):
    import anndata as ad

    import cellscale.io._table as table_module

    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.random((30, 3)).astype(np.float32))
    adata.obs["area"] = rng.integers(10, 99, 30)
    adata.layers["sum"] = adata.X * 2
    table_module._write_zarr_v3(adata, tmp_path / "memory.zarr")
    monkeypatch.setattr(table_module, "VIA_MEMORY_MAX_OBS", 10)
    table_module._write_zarr_v3(adata, tmp_path / "direct.zarr")
    files = {}
    for name in ("memory", "direct"):
        root = tmp_path / f"{name}.zarr"
        files[name] = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert files["memory"] and files["memory"] == files["direct"]
    back = ad.read_zarr(tmp_path / "memory.zarr")
    np.testing.assert_array_equal(back.X, adata.X)
    np.testing.assert_array_equal(back.obs["area"], adata.obs["area"])
