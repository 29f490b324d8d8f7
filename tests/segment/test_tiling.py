"""Tiled inference: tile size must not change the cells."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError
from cellscale.metrics import match_instances
from cellscale.segment import Segmenter, predict_tiled
from cellscale.segment._tiling import default_overlap, plan_axis


def test_plan_axis_covers_with_overlap():
    for length in (1, 15, 16, 100, 511, 512, 513, 700, 2048, 5000):
        for tile in (128, 512):
            side, starts = plan_axis(length, tile_size=tile, overlap=48, size_multiple=16)
            assert side % 16 == 0 and side <= max(tile, -(-length // 16) * 16)
            if len(starts) == 1:
                assert starts == [0] and side >= length
                continue
            assert starts[0] == 0 and starts[-1] + side == length
            assert all(b - a <= side - 47 for a, b in itertools.pairwise(starts))
    assert default_overlap(40.0, 16) == 48
    with pytest.raises(InvalidArgumentError, match="exceed the overlap"):
        plan_axis(1000, tile_size=64, overlap=64, size_multiple=16)
    with pytest.raises(InvalidArgumentError, match="size multiple"):
        plan_axis(1000, tile_size=8, overlap=4, size_multiple=16)


@pytest.mark.parametrize("shape", [(600, 700), (37, 50), (1, 1)])
def test_blending_identical_predictions_is_exact(shape, rng):
    image = rng.random((2, *shape)).astype(np.float32)
    seen = []

    def predict(batch):
        seen.append(batch.shape)
        assert batch.shape[2] % 16 == 0 and batch.shape[3] % 16 == 0
        return batch[:, ::-1] * 2.0  # a pointwise "network"

    out = predict_tiled(predict, image, tile_size=128, overlap=32, size_multiple=16, batch_size=3)
    np.testing.assert_allclose(out, image[::-1] * 2.0, rtol=1e-5)
    assert out.shape == (2, *shape) and out.dtype == np.float32
    assert all(n <= 3 for n, *_ in seen)


def test_tile_size_does_not_change_the_cells(nuclei_model):
    image = simulate_nuclei(shape=(600, 700), seed=5, diameter=16, density=0.3).image
    small, large = Segmenter(nuclei_model, tile_size=128), Segmenter(nuclei_model, tile_size=512)
    maps_small, maps_large = small.maps(image), large.maps(image)
    for key in maps_small:
        assert np.abs(maps_small[key] - maps_large[key]).max() < 0.02
    a, b = small(image), large(image)
    assert a.max() > 100
    agree = match_instances(a, b, thresholds=(0.9,))
    assert agree.f1_at(0.9) >= 0.995
    assert ((a > 0) != (b > 0)).mean() < 0.005


def test_concurrent_tiles_give_the_same_maps(nuclei_model):
    from cellscale.models import load_model

    model = load_model(nuclei_model, threads=2)
    image = np.random.default_rng(4).random((1, 300, 410)).astype(np.float32)
    calls = []

    def many(batches):
        for out in model.predict_many(batches):
            calls.append(out.shape[0])
            yield out

    kw = dict(tile_size=128, overlap=32, size_multiple=model.card.inputs.size_multiple)
    one = predict_tiled(model.predict, image, batch_size=4, **kw)
    both = predict_tiled(model.predict, image, predict_many=many, **kw)
    assert len(calls) > 1 and set(calls) == {1}  # one tile per run
    np.testing.assert_allclose(both, one, atol=1e-6)
