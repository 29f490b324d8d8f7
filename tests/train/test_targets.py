"""Training targets: the maps the decoder reads, cut and rescaled consistently."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.io._dataset import find_pairs
from cellscale.segment._targets import centre_from_labels, maps_from_labels
from cellscale.train._augment import AugmentOptions, _scale, random_patch
from cellscale.train._dataset import load_items, normalise


@pytest.fixture(scope="module")
def items(tiny_data):
    return load_items([(i, [m]) for i, m in find_pairs(tiny_data)], ["DNA"])


def test_items_are_normalised_with_exact_targets(items):
    it = items[0]
    assert it.image.shape == (1, 80, 80) and it.image.dtype == np.float32
    lo, hi = np.percentile(it.image, [1, 99.8])
    assert lo == pytest.approx(0.0, abs=1e-5) and hi == pytest.approx(1.0, abs=1e-5)
    _, dist = maps_from_labels(it.labels[0])
    np.testing.assert_array_equal(it.distance[0], dist)
    assert 6 < it.diameter < 20


def test_plain_patch_is_a_crop_of_the_image_and_its_maps(items):
    it = items[1]
    rng = np.random.default_rng(3)
    x, y = random_patch(it, 48, rng, AugmentOptions(enabled=False))
    assert x.shape == (1, 48, 48) and y.shape == (2, 48, 48)
    # Find where the crop came from and compare the targets there.
    img = it.image[0]
    hits = [
        (r, c)
        for r in range(80 - 47)
        for c in range(80 - 47)
        if np.array_equal(img[r : r + 48, c : c + 48], x[0])
    ]
    assert len(hits) == 1
    r, c = hits[0]
    np.testing.assert_array_equal(y[0], (it.labels[0][r : r + 48, c : c + 48] > 0))
    np.testing.assert_allclose(y[1], it.distance[0][r : r + 48, c : c + 48])


def test_augmented_patches_are_consistent(items):
    rng = np.random.default_rng(0)
    for it in items:
        x, y = random_patch(it, 64, rng, AugmentOptions())
        fg, dist = y
        assert set(np.unique(fg)) <= {0.0, 1.0}
        assert dist.min() >= 0 and dist.max() <= 1
        assert not dist[fg == 0].any()
        assert np.isfinite(x).all()


def test_centre_targets_travel_with_the_patch(tiny_data):
    items = load_items([(i, [m]) for i, m in find_pairs(tiny_data)], ["DNA"], centre=True)
    it = items[1]
    np.testing.assert_array_equal(it.centre[0], centre_from_labels(it.labels[0], it.distance[0]))
    # A plain crop: foreground, distance and centre of the same window, interleaved.
    x, y = random_patch(it, 48, np.random.default_rng(3), AugmentOptions(enabled=False))
    assert y.shape == (3, 48, 48)
    img = it.image[0]
    (r, c), = [(r, c) for r in range(33) for c in range(33)
               if np.array_equal(img[r : r + 48, c : c + 48], x[0])]
    np.testing.assert_allclose(y[1], it.distance[0][r : r + 48, c : c + 48])
    np.testing.assert_allclose(y[2], it.centre[0][r : r + 48, c : c + 48])
    # Augmented: rotated, flipped and rescaled together; nothing outside objects.
    rng = np.random.default_rng(1)
    for _ in range(6):
        _, (fg, dist, centre) = random_patch(it, 64, rng, AugmentOptions())
        assert centre.min() >= 0 and centre.max() <= 1 and not centre[fg == 0].any()
        if fg.any():
            # Centre peaks sit inside objects, where the distance is high.
            assert dist[centre > 0.9].min() > 0.3


def test_loss_covers_every_map():
    torch = pytest.importorskip("torch")

    from cellscale.train._loop import loss_fn

    target = torch.zeros(1, 3, 8, 8)
    target[:, 0, 2:6, 2:6] = 1.0
    target[:, 1, 3:5, 3:5] = 1.0
    target[:, 2, 4, 4] = 1.0
    perfect = torch.where(target > 0.5, 20.0, -20.0)
    assert float(loss_fn(perfect, target, 1.0, n_maps=3)) < 1e-6
    # A wrong centre map alone raises the loss, in proportion to its weight.
    wrong = perfect.clone()
    wrong[:, 2] = -wrong[:, 2]
    one = float(loss_fn(wrong, target, 1.0, n_maps=3))
    assert one > 1.0
    assert float(loss_fn(wrong, target, 1.0, n_maps=3, centre_weight=2.0)) == pytest.approx(2 * one)
    assert float(loss_fn(wrong[:, :2], target[:, :2], 1.0)) < 1e-6


def test_rescaling_aims_for_the_diameter_range(items):
    it = items[0]
    rng = np.random.default_rng(0)
    opts = AugmentOptions(diameter_range=(2 * it.diameter, 2 * it.diameter), scale_range=(0.25, 4))
    assert _scale(it, rng, opts) == pytest.approx(2.0)
    scales = [_scale(it, rng, AugmentOptions()) for _ in range(200)]
    d = it.diameter * np.array(scales)
    assert d.min() >= 7 - 1e-6 and d.max() <= 44 + 1e-6 and np.ptp(scales) > 1


def test_normalise_maps_percentiles_to_unit_range():
    img = np.arange(10000, dtype=np.uint16).reshape(1, 100, 100)
    out = normalise(img)
    assert np.percentile(out, 1) == pytest.approx(0.0, abs=1e-5)
    assert np.percentile(out, 99.8) == pytest.approx(1.0, abs=1e-5)


def test_dimming_scales_a_channel(items):
    from cellscale.train._augment import _intensity

    img = items[0].image
    rng = np.random.default_rng(0)
    still = {"gamma": (1.0, 1.0), "intensity_scale": (1.0, 1.0), "offset": 0.0, "noise": 0.0,
             "blur": 0.0}
    pos = img >= 0  # (gamma, even 1.0, clips the few pixels below the 1st percentile)
    out = _intensity(img, rng, AugmentOptions(dim=1.0, dim_range=(0.2, 0.2), **still))
    np.testing.assert_allclose(out[pos], 0.2 * img[pos], rtol=1e-6)
    same = _intensity(img, rng, AugmentOptions(dim=0.0, **still))
    np.testing.assert_allclose(same[pos], img[pos])
    # By default about a quarter of the channels are dimmed, by 0.1-0.75.
    ratios = [float(_intensity(img, rng, AugmentOptions(**still)).max() / img.max())
              for _ in range(200)]
    dimmed = [r for r in ratios if r < 0.999]
    assert 30 < len(dimmed) < 70 and min(dimmed) >= 0.1 - 1e-6 and max(dimmed) <= 0.75 + 1e-6
