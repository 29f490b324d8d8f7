"""segment() and Segmenter: inputs, channels, compartments, timings and errors."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError
from cellscale.io import Image
from cellscale.models import load_model
from cellscale.segment import Segmenter, segment


def _two_channel(sample) -> np.ndarray:
    """(2, y, x): DNA and a membrane-like channel (a blurred, shifted copy)."""
    dna = np.asarray(sample.image.data)
    return np.stack([dna, np.roll(dna, 3, axis=1) // 2])


def test_array_and_image_inputs_agree(nuclei_model, nuclei_sample):
    seg = Segmenter(nuclei_model)
    data = np.asarray(nuclei_sample.image.data)
    from_array = seg(data)
    assert from_array.dtype == np.uint32 and from_array.shape == data.shape
    assert from_array.max() > 20
    assert set(np.unique(from_array)) == set(range(int(from_array.max()) + 1))
    np.testing.assert_array_equal(seg(nuclei_sample.image), from_array)
    np.testing.assert_array_equal(seg(data[None], axes="cyx"), from_array)
    np.testing.assert_array_equal(seg(data[:, :, None], axes="yxc"), from_array)
    np.testing.assert_array_equal(seg(Image(data[None, None], axes="tcyx")), from_array)
    np.testing.assert_array_equal(segment(data, model=nuclei_model), from_array)
    assert set(seg.timings) == {"normalise", "network", "postprocess", "estimate", "total"}
    assert seg.timings["network"] > 0 and seg.timings["postprocess"] > 0


def test_loaded_model_is_accepted(nuclei_model, nuclei_sample):
    model = load_model(nuclei_model)
    labels = segment(nuclei_sample.image, model=model)
    np.testing.assert_array_equal(labels, segment(nuclei_sample.image, model=nuclei_model))


def test_channels_by_name_order_and_alias(cells_model, nuclei_model, nuclei_sample):
    two = _two_channel(nuclei_sample)
    ref = segment(two, model=cells_model, axes="cyx")  # unnamed, count matches: in order
    swapped = Image(two[::-1].copy(), axes="cyx", channel_names=("membrane", "DNA"))
    np.testing.assert_array_equal(segment(swapped, model=cells_model), ref)
    np.testing.assert_array_equal(segment(swapped, model=cells_model, channels=[1, 0]), ref)
    np.testing.assert_array_equal(segment(swapped, model=cells_model, channels=["DNA", "membrane"]), ref)
    # A 3-channel image: DAPI is DNA; the nuclei model ignores the rest.
    three = Image(np.concatenate([two, two[:1]]), axes="cyx", channel_names=("CD45", "DAPI", "x"))
    dna_only = segment(nuclei_sample.image, model=nuclei_model)
    shifted = Image(np.stack([two[1], two[0], two[0]]), axes="cyx", channel_names=("CD45", "DAPI", "x"))
    np.testing.assert_array_equal(segment(shifted, model=nuclei_model), dna_only)
    with pytest.raises(InvalidArgumentError, match=r"\['DNA', 'membrane'\].*'CD45', 'DAPI', 'x'"):
        segment(three, model=cells_model)
    with pytest.raises(InvalidArgumentError, match="no channel 'GFP'.*'CD45', 'DAPI', 'x'"):
        segment(three, model=cells_model, channels=["GFP", "DAPI"])
    with pytest.raises(InvalidArgumentError, match="1 channel"):
        segment(three, model=cells_model, channels=["DAPI"])
    with pytest.raises(InvalidArgumentError, match="out of range"):
        segment(three, model=cells_model, channels=[0, 5])
    with pytest.raises(InvalidArgumentError, match="needs 2 channel"):
        segment(nuclei_sample.image, model=cells_model)  # one channel for a two-channel model


def test_blank_role_is_a_zero_channel(cells_model, nuclei_sample):
    """channels=(None, X) or "none" feeds zeros to a role: a cells image without a nuclear stain."""
    two = _two_channel(nuclei_sample)
    blanked = two.copy()
    blanked[0] = 0
    ref = segment(Image(blanked, axes="cyx"), model=cells_model)
    one = Image(two[1].copy(), axes="yx")
    np.testing.assert_array_equal(segment(one, model=cells_model, channels=[None, 0]), ref)
    named = Image(two[::-1].copy(), axes="cyx", channel_names=("phase", "DAPI"))
    np.testing.assert_array_equal(segment(named, model=cells_model, channels=["none", "phase"]), ref)
    with pytest.raises(InvalidArgumentError, match="every channel given is 'none'"):
        segment(one, model=cells_model, channels=[None, "none"])
    with pytest.raises(InvalidArgumentError, match="needs 2 channel") as err:
        segment(one, model=cells_model)
    assert err.value.choices == ("none,channel_0",) and "'none' leaves a role blank" in str(err.value)


def test_tissue_channels_by_name_and_compartments(cells_model, tissue_image):
    assert tissue_image.channel_names[:2] == ("DNA", "membrane")
    cells = Segmenter(cells_model)
    assert cells.compartment == "cells"
    assert cells(tissue_image).shape == tissue_image.shape[1:]
    nuclei = Segmenter(cells_model, compartment="nuclei")
    assert nuclei(tissue_image).shape == tissue_image.shape[1:]
    with pytest.raises(InvalidArgumentError, match="'cells', 'nuclei'"):
        Segmenter(cells_model, compartment="mitochondria")
    with pytest.raises(InvalidArgumentError, match="'nuclei'"):
        Segmenter("classical", compartment="cells")


def test_bad_images(nuclei_model):
    seg = Segmenter(nuclei_model)
    with pytest.raises(InvalidAxesError, match="pass axes="):
        seg(np.zeros((2, 32, 32)))
    with pytest.raises(InvalidAxesError, match="2-D images"):
        seg(np.zeros((3, 32, 32)), axes="tyx")  # a z-stack is segmented in 3-D (test_volume.py)
    with pytest.raises(InvalidAxesError, match="expected axes"):
        seg(np.zeros((32, 32)), axes="cyx")
    with pytest.raises(InvalidImageError, match="empty|zero-size"):
        seg(np.zeros((0, 32)))
    with pytest.raises(InvalidImageError, match="real numbers"):
        seg(np.zeros((8, 8), complex))
    nan = np.ones((32, 32), np.float32)
    nan[3, 4] = np.nan
    with pytest.raises(InvalidImageError, match="1 NaN or infinite"):
        seg(nan)


@pytest.mark.parametrize("model", ["nuclei_model", "classical"])
def test_constant_image_gives_empty_labels(model, request):
    spec = request.getfixturevalue(model) if model != "classical" else model
    for value in (0, 1000):
        labels = segment(np.full((40, 50), value, np.uint16), model=spec)
        assert labels.shape == (40, 50) and labels.dtype == np.uint32 and labels.max() == 0


def test_bad_options(nuclei_model):
    with pytest.raises(InvalidArgumentError, match="tile_size"):
        Segmenter(nuclei_model, tile_size=0)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        Segmenter(nuclei_model, batch_size=-1)
    with pytest.raises(InvalidArgumentError, match="overlap"):
        Segmenter(nuclei_model, overlap=-2)
    with pytest.raises(InvalidArgumentError, match="model must be"):
        Segmenter(3.5)
    with pytest.raises(InvalidArgumentError, match="unknown model"):
        Segmenter("no-such-model")
    with pytest.raises(InvalidArgumentError, match="exceed the overlap"):
        Segmenter(nuclei_model, tile_size=48)(np.zeros((200, 200)) + np.eye(200))


def test_centre_map_seeds_the_instances(tmp_path, nuclei_sample):
    from tiny_models import write_model

    from cellscale.segment import instances_from_maps

    card = write_model(tmp_path, "tiny-centre",
                       outputs=("nuclei.foreground", "nuclei.distance", "nuclei.centre"))
    seg = Segmenter(card, diameter=None)
    maps = seg.maps(nuclei_sample.image)
    assert set(maps) == {"nuclei.foreground", "nuclei.distance", "nuclei.centre"}
    post = seg.model.card.postprocess
    want = instances_from_maps(
        maps["nuclei.foreground"], maps["nuclei.distance"], centre=maps["nuclei.centre"],
        foreground_threshold=post.foreground_threshold, seed_threshold=post.seed_threshold,
        min_size=post.min_size)
    got = seg(nuclei_sample.image)
    assert got.max() > 5
    np.testing.assert_array_equal(got, want)
    # The centre map is what seeds them: decoding without it differs.
    without = instances_from_maps(
        maps["nuclei.foreground"], maps["nuclei.distance"],
        foreground_threshold=post.foreground_threshold, seed_threshold=post.seed_threshold,
        min_size=post.min_size)
    assert not np.array_equal(got, without)
