"""simulate_nuclei's domain-randomisation options and the generalist option draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from cellscale.data import GENERALIST_REGIMES, generalist_options, simulate_nuclei
from cellscale.data._camera import add_emccd_noise
from cellscale.data._render import render_nuclei
from cellscale.errors import InvalidArgumentError

BASE = dict(shape=(256, 256), diameter=24.0, density=0.2, snr=60.0, defocus_fraction=0.0)


def _means(sample) -> np.ndarray:
    lab = np.asarray(sample.labels["nuclei"])
    img = np.asarray(sample.image.data, float)
    img -= np.median(img[lab == 0])
    return ndi.mean(img, lab, sample.cells["label"].to_numpy())


def test_options_off_add_no_columns_and_on_add_them():
    plain = simulate_nuclei(seed=1, **BASE)
    wide = simulate_nuclei(seed=1, vacuoles=0.5, **BASE)
    assert "holes" not in plain.cells and "holes" in wide.cells
    assert "camera" not in plain.params["resolved"]


def test_cytoplasm_is_signal_but_not_labelled():
    a = simulate_nuclei(seed=2, **BASE)
    b = simulate_nuclei(seed=2, cytoplasm=0.3, **BASE)
    lab = np.asarray(a.labels["nuclei"])
    np.testing.assert_array_equal(lab, b.labels["nuclei"])
    ring = ndi.binary_dilation(lab > 0, iterations=4) & (lab == 0)
    gain = b.image.data[ring].astype(float).mean() - a.image.data[ring].astype(float).mean()
    nucleus = a.image.data[lab > 0].astype(float).mean() - a.image.data[lab == 0].mean()
    assert 0.05 * nucleus < gain < 0.6 * nucleus


def test_brightness_range_spreads_nuclei_brightness():
    narrow = _means(simulate_nuclei(seed=3, **BASE))
    wide = _means(simulate_nuclei(seed=3, brightness_range=100.0, **BASE))
    ratio = lambda m: np.percentile(m, 95) / np.percentile(m, 5)  # noqa: E731
    assert ratio(narrow) < 3.0 and ratio(wide) > 10.0


def test_vacuoles_darken_inside_without_changing_labels():
    kw = {**BASE, "diameter": 40.0}
    a = simulate_nuclei(seed=4, **kw)
    b = simulate_nuclei(seed=4, vacuoles=1.0, **kw)
    np.testing.assert_array_equal(a.labels["nuclei"], b.labels["nuclei"])
    holed = b.cells["holes"].to_numpy() > 0
    assert holed.mean() > 0.5
    lab, ids = np.asarray(a.labels["nuclei"]), b.cells["label"].to_numpy()[holed]
    inner = np.where(ndi.grey_erosion(lab, size=7) == lab, lab, 0)  # 3 px from the outline

    def darkest(s):
        img = np.asarray(s.image.data, float) - np.median(s.image.data[lab == 0])
        return ndi.labeled_comprehension(img, inner, ids, lambda v: v.min(), float, np.nan)

    assert np.nanmedian(darkest(b) / darkest(a)) < 0.7


def test_bent_and_lobed_nuclei_are_less_convex_and_keep_their_centres():
    from skimage.measure import regionprops

    plain = simulate_nuclei(seed=5, elongation=1.0, **BASE)
    shaped = simulate_nuclei(seed=5, elongation=1.0, bent_fraction=0.5, lobed_fraction=0.5, **BASE)
    lab = np.asarray(shaped.labels["nuclei"])
    assert set(np.unique(lab)) - {0} == set(shaped.cells["label"])
    solidity = lambda s: np.array(  # noqa: E731
        [r.solidity for r in regionprops(np.asarray(s.labels["nuclei"])) if r.area > 100]
    )
    assert np.median(solidity(shaped)) < np.median(solidity(plain)) - 0.03
    assert (shaped.cells["lobes"] > 0).any() and (shaped.cells["bend"] != 0).any()


def test_overlapping_nuclei_add_their_signals():
    cells = pd.DataFrame(
        dict(label=[1, 2], y=[20.0, 20.0], x=[16.0, 28.0], radius=9.0, elongation=1.0,
             angle=0.0, irregularity=0.0, brightness=1.0, kind="interphase",
             shape_seed=[1, 2], texture=0.0, foci=0.0)
    )  # fmt: skip
    pressed, lab = render_nuclei((40, 48), cells)
    summed, lab2 = render_nuclei((40, 48), cells, additive=True)
    np.testing.assert_array_equal(lab, lab2)
    assert summed[20, 22] > 1.4 * pressed[20, 22] and summed[20, 8] == pressed[20, 8]


def test_emccd_doubles_the_shot_noise_variance():
    flat = np.ones((256, 256), np.float32)
    img = add_emccd_noise(
        np.random.default_rng(0), flat, photons=100.0, em_gain=100.0, read_noise=10.0,
        gain=0.01, offset=100.0, dtype=np.float32,
    )  # fmt: skip
    expected = 2 * 100.0 * (100.0 * 0.01) ** 2 + (10.0 * 0.01) ** 2
    assert abs(img.var() / expected - 1.0) < 0.1
    assert abs(img.mean() - (100.0 + 100.0 * 100.0 * 0.01)) < 1.0


def test_emccd_images_are_dim_and_noisy_but_plausible():
    s = simulate_nuclei(seed=6, camera="emccd", **{**BASE, "snr": 6.0})
    lab = np.asarray(s.labels["nuclei"])
    img = s.image.data.astype(float)
    assert img[lab > 0].mean() > img[lab == 0].mean() + 2 * img[lab == 0].std()
    assert np.percentile(img, 1) > 50  # offset, not clipped at 0


def test_saturation_clips_the_brightest_nuclei_only():
    s = simulate_nuclei(seed=7, brightness_range=50.0, saturation=10.0, **BASE)
    img, lab = s.image.data, np.asarray(s.labels["nuclei"])
    ids = s.cells["label"].to_numpy()
    clipped = ndi.labeled_comprehension(
        img == img.max(), lab, ids, lambda v: v.mean() > 0.5, bool, False
    )
    assert 0.1 < clipped.mean() < 0.8
    dim = s.cells["brightness"].to_numpy() < np.percentile(s.cells["brightness"], 30)
    assert not clipped[dim].any()


def test_jpeg_needs_8_bit_and_changes_the_image_a_little():
    with pytest.raises(InvalidArgumentError, match="jpeg_quality needs dtype"):
        simulate_nuclei(seed=1, jpeg_quality=50, **BASE)
    raw = simulate_nuclei(seed=8, dtype="uint8", **BASE)
    jpg = simulate_nuclei(seed=8, dtype="uint8", jpeg_quality=30, **BASE)
    diff = np.abs(raw.image.data.astype(float) - jpg.image.data)
    assert jpg.image.dtype == np.uint8 and 0.2 < diff.mean() < 6.0


@pytest.mark.parametrize(
    "bad", [dict(brightness_range=0.5), dict(overlap=0.9), dict(em_gain=100.0), dict(camera="ccd")]
)
def test_bad_domain_options_raise_clear_errors(bad):
    with pytest.raises(InvalidArgumentError):
        simulate_nuclei(seed=1, **{**BASE, **bad})


def test_chunked_rendering_agrees_with_in_memory_for_shaped_nuclei():
    kw = dict(
        shape=(600, 600), seed=9, diameter=40.0, density=0.3, bent_fraction=0.4,
        lobed_fraction=0.3, cytoplasm=0.2, overlap=0.3, speckle=1.0, vacuoles=0.3,
    )  # fmt: skip
    whole = simulate_nuclei(**kw)
    lazy = simulate_nuclei(chunked=True, chunk_size=256, **kw)
    np.testing.assert_array_equal(whole.labels["nuclei"], lazy.labels["nuclei"].compute())


def test_large_nuclei_render_at_their_size():
    s = simulate_nuclei(shape=(1024, 1024), seed=10, diameter=150.0, density=0.3, diameter_cv=0.1)
    areas = np.bincount(np.asarray(s.labels["nuclei"]).ravel())[1:]
    d = 2 * np.sqrt(areas[areas > 0.3 * np.pi * 75**2] / np.pi)
    assert len(d) >= 3 and 120 < np.median(d) < 180


def test_generalist_options_are_deterministic_and_wide():
    assert generalist_options(11) == generalist_options(11)
    draws = [generalist_options(s) for s in range(200)]
    d = np.array([k["diameter"] for k in draws])
    assert d.min() < 9 and d.max() > 100 and all(6 <= v <= 150 for v in d)
    sides = np.array([k["shape"][0] for k in draws])
    assert sides.min() == 256 and sides.max() == 1024
    assert {k["camera"] for k in draws} == {"scmos", "emccd"}
    assert any(k["jpeg_quality"] for k in draws) and any(k["cytoplasm"] for k in draws)
    big = generalist_options(12, regime="d96-150")
    assert 96 <= big["diameter"] <= 150 and big["shape"] == (1024, 1024)
    with pytest.raises(ValueError, match="valid regimes are"):
        generalist_options(1, regime="huge")


@pytest.mark.parametrize("regime", list(GENERALIST_REGIMES))
def test_every_regime_simulates(regime):
    kw = generalist_options(20, regime=regime)
    s = simulate_nuclei(**{**kw, "shape": (160, 160)})
    assert len(s.cells) == len(set(np.unique(s.labels["nuclei"])) - {0})


def _inside_ratio(sample, q: float) -> float:
    """Median over nuclei of (q-th percentile / median) of background-subtracted pixels."""
    lab = np.asarray(sample.labels["nuclei"])
    img = np.asarray(sample.image.data, float) - np.median(sample.image.data[lab == 0])
    inner = np.where(ndi.grey_erosion(lab, size=5) == lab, lab, 0)
    ids = sample.cells["label"].to_numpy()
    r = ndi.labeled_comprehension(
        img, inner, ids, lambda v: np.percentile(v, q) / max(np.median(v), 1e-6), float, np.nan
    )
    return float(np.nanmedian(r))


def test_speckles_and_bright_nucleoli_add_bright_spots_dark_nucleoli_dark_ones():
    kw = {**BASE, "diameter": 40.0, "texture": 0.5, "psf_sigma": 1.0}  # a crisp PSF
    plain = simulate_nuclei(seed=12, **kw)
    speckled = simulate_nuclei(seed=12, speckle=2.0, **kw)
    bright = simulate_nuclei(seed=12, nucleoli=2.0, **kw)
    dark = simulate_nuclei(seed=12, nucleoli=-0.9, **kw)
    for s in (speckled, bright, dark):
        np.testing.assert_array_equal(plain.labels["nuclei"], s.labels["nuclei"])
    assert _inside_ratio(speckled, 99) > _inside_ratio(plain, 99) + 0.3
    assert _inside_ratio(bright, 99) > _inside_ratio(plain, 99) + 0.3
    assert _inside_ratio(dark, 2) < _inside_ratio(plain, 2) - 0.1


def test_uneven_illumination_varies_the_background_across_the_image():
    kw = {**BASE, "shape": (384, 384), "background": 0.3, "vignetting": 0.0, "snr": 200.0}

    def spread(s):
        lab = np.asarray(s.labels["nuclei"])
        img = np.where(lab == 0, s.image.data.astype(float) - 100.0, np.nan)
        blocks = img.reshape(6, 64, 6, 64)
        means = np.nanmedian(blocks.transpose(0, 2, 1, 3).reshape(36, -1), axis=1)
        return np.nanstd(means) / np.nanmean(means)

    even = simulate_nuclei(seed=13, **kw)
    uneven = simulate_nuclei(seed=13, illumination=0.5, **kw)
    assert spread(uneven) > spread(even) + 0.1
