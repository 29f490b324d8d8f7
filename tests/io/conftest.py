"""Fixtures for the cellscale.io tests: small arrays and files written in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def cyx(rng: np.random.Generator) -> np.ndarray:
    """A 2-channel uint16 image with odd sizes, shape (2, 70, 90)."""
    return rng.integers(0, 4000, size=(2, 70, 90), dtype=np.uint16)


@pytest.fixture
def labels2d(rng: np.random.Generator) -> np.ndarray:
    """A label image, shape (64, 80): blocks of objects 1..20 and background."""
    lab = np.zeros((64, 80), dtype=np.int64)
    for i in range(20):
        y, x = divmod(i, 5)
        lab[y * 16 + 2 : y * 16 + 12, x * 16 + 2 : x * 16 + 12] = i + 1
    return lab


@pytest.fixture
def table():
    """A small cell table: 5 cells, 3 channels, obs with a category, obsm['spatial']."""
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    rng = np.random.default_rng(7)
    obs = pd.DataFrame(
        {
            "area": rng.integers(50, 500, 5),
            "label": np.arange(1, 6),
            "phase": pd.Categorical(["G1", "S", "G1", "M", "S"]),
        },
        index=[f"cell_{i}" for i in range(5)],
    )
    adata = anndata.AnnData(
        X=rng.random((5, 3)).astype(np.float32),
        obs=obs,
        var=pd.DataFrame(index=["DNA_mean", "actin_mean", "EdU_mean"]),
    )
    adata.obsm["spatial"] = rng.random((5, 2)) * 100
    return adata
