"""The one segmentation core: global pass, regions, stitching, streaming, and its doors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.io import Image
from cellscale.metrics import match_instances
from cellscale.models import load_model
from cellscale.segment import Segmenter
from cellscale.segment._core import (
    ESTIMATE_CHUNKS,
    estimate_chunks,
    fixed_scale,
    halo_pixels,
    image_settings,
    plan_for,
    sample,
    segment_chunked,
)
from cellscale.segment._scale import median_diameter


@pytest.fixture(scope="module")
def field():
    """A 320 x 288 nuclei image (16 px nuclei) spanning several 128-px chunks."""
    return simulate_nuclei(shape=(320, 288), seed=11, diameter=16, density=0.35)


def test_chunked_labels_agree_with_one_chunk(nuclei_model, field):
    whole = Segmenter(nuclei_model, diameter=None)(field.image)
    seg = Segmenter(nuclei_model, diameter=None, chunk_size=128)
    chunked = seg(field.image)
    assert chunked.dtype == np.uint32 and chunked.shape == whole.shape
    ids = np.unique(chunked)[1:]
    assert ids[0] == 1 and ids[-1] == len(ids)  # numbered 1 .. n across chunks
    result = match_instances(whole, chunked, thresholds=[0.5])
    assert int(whole.max()) > 80
    assert result.f1_at(0.5) > 0.97, result.f1_at(0.5)
    assert set(seg.timings) == {"normalise", "network", "postprocess", "estimate", "total"}


def test_a_lazy_image_streams_to_the_same_labels_and_into_zarr(nuclei_model, field, tmp_path):
    model = load_model(nuclei_model)
    eager = Image.from_array(field.image.data, "yx")
    lazy = Image.from_array(da.from_array(np.asarray(field.image.data), chunks=(64, 64)), "yx")
    kwargs = {"compartments": ["nuclei"], "diameter": "auto", "tile_size": 256,
              "chunk_size": 128}
    a, est_a = segment_chunked(model, eager, [0], **kwargs)
    made = {}

    def out(compartment, shape):
        made[compartment] = zarr.create_array(store=str(tmp_path / f"{compartment}.zarr"),
                                              shape=shape, chunks=(128, 128), dtype="uint32")
        return made[compartment]

    b, est_b = segment_chunked(model, lazy, [0], out=out, **kwargs)
    assert est_a.scale == est_b.scale == 1.0 and est_a.confidence == est_b.confidence
    assert b["nuclei"] is made["nuclei"]
    np.testing.assert_array_equal(np.asarray(b["nuclei"][:]), a["nuclei"])


def test_given_diameter_resizes_and_grows_the_halo(nuclei_model):
    sample_ = simulate_nuclei(shape=(256, 256), seed=4, diameter=36, density=0.3)
    seg = Segmenter(nuclei_model, diameter=36, chunk_size=128)
    labels = seg(sample_.image)
    assert seg.scale == pytest.approx(20 / 36)
    assert labels.shape == (256, 256) and labels.max() > 5
    card = load_model(nuclei_model).card
    assert halo_pixels(card, 1.0, 48) == 64  # 40 px objects + 24 px context
    assert halo_pixels(card, 0.5, 48) >= 2 * 64  # the same objects, twice as many pixels
    assert halo_pixels(card, 1.5, 48) < 64
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        plan_for((1000, 1000), card, scale=0.25, overlap=48, chunk_size=128)


def test_auto_estimates_on_the_chunks_with_most_signal(nuclei_model):
    card = load_model(nuclei_model).card
    image = np.zeros((512, 512), np.uint16)
    image[300:420, 10:120] = 1000  # bright in chunk (2, 0)
    image[0:50, 400:500] = 500  # dimmer in chunk (0, 3)
    img = Image.from_array(image, "yx")
    samples, stride = sample(img, [0])
    settings = image_settings(card, samples, compartments=["nuclei"], scale=None, tile_size=256)
    plan = plan_for((512, 512), card, scale=1.0, overlap=settings.overlap, chunk_size=128)
    picked = estimate_chunks(plan, samples, stride, settings.ranges)
    assert len(picked) == ESTIMATE_CHUNKS
    indices = [c.index for c in picked]
    assert (2, 0) in indices and (0, 3) in indices
    assert indices == sorted(indices)


def test_fixed_scale_and_pooled_diameter(nuclei_model):
    card = load_model(nuclei_model).card
    assert fixed_scale(card, diameter="auto", pixel_size=None) is None
    assert fixed_scale(card, diameter=None, pixel_size=0.5) == 1.0
    assert fixed_scale(card, diameter=8.0, pixel_size=None) == 1.5
    at = card.model_copy(update={"inputs": card.inputs.model_copy(update={"pixel_size": 0.5})})
    assert fixed_scale(at, diameter=8.0, pixel_size=0.25) == 0.5  # pixel size wins
    one = np.zeros((20, 20), np.uint32)
    one[:3, :3], one[5:8, 5:8], one[10:13, 10:13] = 1, 2, 3
    other = np.zeros((20, 20), np.uint32)
    other[:3, :3], other[5:8, 5:8] = 1, 2
    assert median_diameter(one) is None and median_diameter(other) is None
    assert median_diameter(one, other) == pytest.approx(np.sqrt(4 * 9 / np.pi))


def test_nan_in_a_chunk_is_named(nuclei_model, field):
    data = np.asarray(field.image.data, np.float32).copy()
    data[1, 1] = np.nan
    with pytest.raises(InvalidImageError, match="1 NaN or infinite"):
        Segmenter(nuclei_model, chunk_size=128)(data)
    lazy = Image.from_array(da.from_array(data, chunks=(64, 64)), "yx", source="big.zarr")
    model = load_model(nuclei_model)
    with pytest.raises(InvalidImageError, match="big.zarr: image holds"):
        segment_chunked(model, lazy, [0], compartments=["nuclei"], chunk_size=128)


def test_training_scores_through_the_segment_tiling(nuclei_model):
    """predict_maps (training's scoring) gives the maps the Segmenter decodes, tiles and all."""
    import onnxruntime as ort

    from cellscale.segment import apply_ranges
    from cellscale.train._evaluate import predict_maps

    tall = simulate_nuclei(shape=(1100, 96), seed=2, diameter=14, density=0.3).image
    model = load_model(nuclei_model)
    session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    image = np.asarray(tall.data)[None]
    settings = image_settings(model.card, image, compartments=["nuclei"], scale=1.0,
                              tile_size=1024)
    maps = predict_maps(session, apply_ranges(image, list(settings.ranges)),
                        model.card.inputs.size_multiple)
    ours = Segmenter(model, diameter=None).maps(tall)  # two 1024-px tiles, blended
    np.testing.assert_allclose(maps[0], ours["nuclei.foreground"], atol=1e-5)
    np.testing.assert_allclose(maps[1], ours["nuclei.distance"], atol=1e-5)
