"""Uncertain tiles: where the model is least sure, from mirrored predictions and its maps."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError
from cellscale.label._active import model_input, uncertain_tiles
from cellscale.segment import Segmenter


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter("nuclei", threads=1)


def _half_bad(seed: int) -> np.ndarray:
    """Left half: nuclei in strong cytoplasm (the shipped model's F1@0.5 ~0.6); right: plain."""
    bad = simulate_nuclei(shape=(256, 256), seed=seed, diameter=(18, 30), cytoplasm=0.4,
                          density=0.3)
    good = simulate_nuclei(shape=(256, 256), seed=seed + 50, diameter=(18, 30), density=0.3)
    return np.concatenate([np.asarray(bad.image.data), np.asarray(good.image.data)], axis=-1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_top_tiles_fall_in_the_regime_the_model_handles_badly(segmenter, seed):
    tiles = uncertain_tiles(_half_bad(seed), segmenter, tile=128, n=8)
    assert len(tiles) == 8
    assert [t["score"] for t in tiles] == sorted((t["score"] for t in tiles), reverse=True)
    top = tiles[:4]
    assert all(t["x1"] <= 256 for t in top), [(t["x0"], t["score"]) for t in tiles]
    assert all(t["score"] > tiles[-1]["score"] for t in top)
    assert all(0 <= t["score"] <= 1 and t["objects"] > 0 for t in top)
    assert "mirrored" in top[0]["reason"]


def test_tiles_without_objects_rank_last(segmenter):
    image = np.asarray(simulate_nuclei(shape=(128, 128), seed=4, diameter=20.0,
                                       density=0.3).image.data)
    blank = np.full_like(image, int(np.median(image)))
    tiles = uncertain_tiles(np.concatenate([blank, image], axis=-1), segmenter, tile=64, n=8)
    empty = [t for t in tiles if t["x1"] <= 128]
    assert [t["score"] for t in empty] == [0.0] * 4
    assert tiles[-4:] == empty
    assert empty[0]["reason"] == "no objects in either prediction"
    assert tiles[0]["objects"] > 0


def test_edge_tiles_are_clipped_and_n_caps_the_list():
    image = simulate_nuclei(shape=(80, 100), seed=2, diameter=12.0).image
    tiles = uncertain_tiles(image, "classical", tile=64, n=10)
    assert len(tiles) == 4
    assert sorted((t["y1"], t["x1"]) for t in tiles) == [(64, 64), (64, 100), (80, 64), (80, 100)]
    assert len(uncertain_tiles(image, "classical", tile=64, n=1)) == 1


@pytest.mark.parametrize("kwargs, words", [({"tile": 8}, "tile must"), ({"n": 0}, "n must")])
def test_bad_arguments_are_refused(kwargs, words):
    image = simulate_nuclei(shape=(64, 64), seed=1, diameter=12.0).image
    with pytest.raises(InvalidArgumentError, match=words):
        uncertain_tiles(image, "classical", **kwargs)


def test_model_input_takes_the_models_channel(segmenter):
    plane = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
    from cellscale.io import Image

    image = Image.from_array(plane, "cyx", channel_names=["membrane", "DNA"])
    out = model_input(image, segmenter)
    assert out.shape == (1, 8, 8)
    assert np.array_equal(out[0], plane[1])
