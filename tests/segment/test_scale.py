"""Resizing around the network for objects outside the sizes it segments best."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError
from cellscale.metrics import aggregate, match_instances
from cellscale.segment import Segmenter
from cellscale.segment._scale import median_diameter, rescale_image, resize_labels, scale_for


def test_scale_brings_diameters_into_the_sweet_spot():
    assert scale_for(20.0) == 1.0
    assert scale_for(40.0) == pytest.approx(0.5)  # large objects go to the middle of the range
    assert scale_for(8.0) == pytest.approx(1.5)
    assert scale_for(11.5) == 1.0  # within tolerance: no second pass for 4 %
    assert scale_for(31.0) == pytest.approx(20 / 31)  # just above: often fragments of larger ones


def test_median_diameter_of_discs():
    yy, xx = np.mgrid[:200, :200]
    labels = np.zeros((200, 200), np.uint32)
    for i, (y, x) in enumerate([(30, 30), (30, 100), (100, 30), (100, 100), (160, 160)], 1):
        labels[(yy - y) ** 2 + (xx - x) ** 2 <= 10**2] = i
    assert median_diameter(labels) == pytest.approx(20.0, rel=0.03)
    assert median_diameter(labels[:60, :60]) is None  # too few objects to trust


def test_resizing_round_trips_shapes():
    data = np.random.default_rng(0).random((2, 101, 77), np.float32)
    small = rescale_image(data, 0.75)
    assert small.shape == (2, 76, 58) and small.dtype == np.float32
    labels = np.arange(76 * 58, dtype=np.uint32).reshape(76, 58)
    back = resize_labels(labels, (101, 77))
    assert back.shape == (101, 77) and back[0, 0] == 0 and back[-1, -1] == labels[-1, -1]


def test_auto_diameter_rescues_small_nuclei():
    samples = [simulate_nuclei(shape=(192, 192), seed=710 + i, diameter=8, snr=20)
               for i in range(2)]
    auto, native = Segmenter("nuclei"), Segmenter("nuclei", diameter=None)
    scores = {}
    for name, seg in (("auto", auto), ("native", native)):
        scores[name] = aggregate(
            match_instances(np.asarray(s.labels["nuclei"]), seg(s.image)) for s in samples
        ).f1_at(0.5)
    assert auto.scale > 1.2 and native.scale == 1.0
    assert scores["auto"] > scores["native"] + 0.02
    labels = Segmenter("nuclei", diameter=8)(samples[0].image)
    assert labels.shape == (192, 192) and labels.max() == len(np.unique(labels)) - 1


@pytest.mark.parametrize("bad", [0, -3, "big", True])
def test_bad_diameter(bad):
    with pytest.raises(InvalidArgumentError, match="diameter"):
        Segmenter("nuclei", diameter=bad)


def test_model_trained_at_a_pixel_size_resizes_images_to_it(tmp_path):
    import json
    import shutil
    from importlib.resources import files

    weights = files("cellscale.models").joinpath("weights")
    src = weights / "nuclei.json"
    card = json.loads(src.read_text())
    card["inputs"]["pixel_size"] = 0.5
    shutil.copyfile(weights / card["file"], tmp_path / card["file"])
    (tmp_path / "nuclei.json").write_text(json.dumps(card))
    sample = simulate_nuclei(shape=(128, 128), seed=3, diameter=16)
    seg = Segmenter(tmp_path / "nuclei.json", pixel_size=0.25)  # images at 0.25 µm: shrink x0.5
    labels = seg(sample.image)
    assert seg.scale == pytest.approx(0.5) and labels.shape == (128, 128)
    seg = Segmenter(tmp_path / "nuclei.json", pixel_size=0.5)
    seg(sample.image)
    assert seg.scale == 1.0
    with pytest.raises(InvalidArgumentError, match="pixel_size"):
        Segmenter("nuclei", pixel_size=-1)


@pytest.mark.parametrize(("shape", "out"), [((37, 53), (100, 80)), ((64, 48), (32, 24)),
                                            ((1, 7), (3, 9)), ((5, 5), (5, 5))])
def test_resize_map_is_pixel_centred_linear_interpolation(shape, out):
    """resize_map gives scipy's linear zoom with pixel centres aligned (grid_mode), edges repeated."""
    from scipy import ndimage as ndi

    from cellscale.segment._scale import resize_map

    data = np.random.default_rng(1).random(shape).astype(np.float32)
    expected = ndi.zoom(data, (out[0] / shape[0], out[1] / shape[1]), order=1, mode="nearest",
                        grid_mode=True)
    got = resize_map(data, out)
    assert got.shape == out and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(("shape", "scale"), [((1, 300, 517), 0.666), ((2, 101, 77), 0.3),
                                              ((1, 97, 61), 1.7), ((1, 64, 64), 0.125),
                                              ((1, 50, 50), 0.9)])
def test_rescale_image_matches_scipy_filters(shape, scale):
    """rescale_image (NumPy) gives what block means, scipy's Gaussian and its order-1
    affine transform give, so dropping the SciPy import changed no pixel."""
    from scipy import ndimage as ndi

    data = np.random.default_rng(2).random(shape).astype(np.float32) * 100
    c, h, w = shape
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    f = max(1, int(1.0 / scale + 1e-9)) if scale < 1 else 1
    ref = data
    if f > 1:
        ph, pw = -(-h // f) * f, -(-w // f) * f
        ref = np.pad(ref, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
        ref = ref.reshape(c, ph // f, f, pw // f, f).mean(axis=(2, 4))
    rest = (h / out_h / f, w / out_w / f)
    sigma = (0.0, 0.5 * max(rest[0] - 1.0, 0.0), 0.5 * max(rest[1] - 1.0, 0.0))
    ref = ndi.gaussian_filter(ref, sigma, mode="nearest")
    offset = (0.5 * rest[0] - 0.5, 0.5 * rest[1] - 0.5)
    expected = np.stack([ndi.affine_transform(ref[i], rest, offset=offset, output_shape=(out_h, out_w),
                                              order=1, mode="nearest", prefilter=False)
                         for i in range(c)])
    got = rescale_image(data, scale)
    assert got.shape == (c, out_h, out_w) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-3)
