"""Percentile normalisation, computed once per image and channel."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import InvalidArgumentError
from cellscale.segment import normalise, percentile_range


def test_percentiles_map_to_0_and_1(rng):
    x = rng.gamma(2.0, 100.0, size=(2, 300, 300)).astype(np.uint16)
    x[1] *= 3
    y = normalise(x, low=1, high=99.8)
    assert y.dtype == np.float32 and y.shape == x.shape
    for c in range(2):
        lo, hi = np.percentile(y[c], [1, 99.8])
        assert lo == pytest.approx(0, abs=1e-3) and hi == pytest.approx(1, abs=1e-3)
    assert y.max() > 1  # not clipped


def test_subsample_is_close_to_full(rng):
    x = rng.normal(100, 10, size=(1000, 1000)).astype(np.float32)
    full = np.percentile(x, [1, 99.8])
    sub = percentile_range(x, low=1, high=99.8, max_samples=50_000)
    np.testing.assert_allclose(sub, full, rtol=0.01)


def test_constant_and_sparse_channels():
    x = np.zeros((2, 50, 50), np.uint16)
    x[0] = 7
    x[1, 10, 10] = 1000  # a single bright pixel: 99.8th percentile is still 0
    y = normalise(x)
    assert not y[0].any() and np.isfinite(y).all()
    assert y[1].max() == 1.0 and y[1, 0, 0] == 0.0


def test_bad_percentiles():
    with pytest.raises(InvalidArgumentError, match="low < high"):
        percentile_range(np.zeros((4, 4)), low=50, high=10)
