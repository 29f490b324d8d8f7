"""Single-nucleus primitives, the window-independent renderer and the optics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellscale.data._nucleus import nucleus_field, nucleus_patch, nucleus_texture
from cellscale.data._optics import (
    acquire,
    background_field,
    photons_for_snr,
    smooth_random_field,
    vignetting_field,
)
from cellscale.data._render import render_nuclei
from cellscale.data._shapes import NUCLEUS_KINDS


@pytest.mark.parametrize("kind", NUCLEUS_KINDS)
def test_patch_is_tight_odd_centred_and_textured(kind):
    rng = np.random.default_rng(3)
    mask = nucleus_patch(rng, radius=9.0, elongation=1.4, angle=0.5, irregularity=0.15, kind=kind)
    assert mask.dtype == bool and mask.shape[0] == mask.shape[1] and mask.shape[0] % 2 == 1
    half = mask.shape[0] // 2
    assert mask[half, half], "the centre pixel is inside"
    assert mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any(), (
        "patch is tight"
    )
    tex = nucleus_texture(rng, mask, kind=kind)
    assert tex.shape == mask.shape and tex.dtype == np.float32
    assert (tex[~mask] == 0).all() and (tex[mask] > 0).all()
    assert tex[mask].std() > 0.02, "texture is not flat"


def test_area_matches_radius_and_contours_are_irregular():
    from skimage.measure import EllipseModel, find_contours

    rng = np.random.default_rng(0)
    ratios, ellipse_misfit = [], []
    for _ in range(20):
        m = nucleus_patch(rng, radius=12.0, elongation=1.3, irregularity=0.15)
        ratios.append(m.sum() / (np.pi * 144))
        c = find_contours(m.astype(float), 0.5)[0]
        model = EllipseModel.from_estimate(c[:, ::-1])
        ellipse_misfit.append(np.abs(model.residuals(c[:, ::-1])).mean())
    assert 0.9 < np.median(ratios) < 1.1
    assert np.median(ellipse_misfit) > 0.25, "contours should not be plain ellipses"


def test_same_generator_state_same_shape_and_kinds_differ_in_brightness():
    a = nucleus_field(np.random.default_rng(5), radius=8, irregularity=0.2)
    b = nucleus_field(np.random.default_rng(5), radius=8, irregularity=0.2)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(1)
    m = nucleus_patch(rng, radius=8)
    inter = nucleus_texture(rng, m, kind="interphase")[m].mean()
    meta = nucleus_texture(rng, m, kind="metaphase")[m].mean()
    assert meta > 1.8 * inter


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="valid kinds"):
        nucleus_patch(np.random.default_rng(0), radius=5, kind="blob")


def _cells(n=40, seed=0, size=120):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        dict(
            label=np.arange(1, n + 1),
            y=rng.uniform(0, size, n),
            x=rng.uniform(0, size, n),
            radius=rng.uniform(4, 10, n),
            elongation=rng.uniform(1, 2, n),
            angle=rng.uniform(0, 3, n),
            irregularity=0.12,
            brightness=1.0,
            kind=rng.choice(NUCLEUS_KINDS, n),
            shape_seed=np.arange(n) * 7,
        )
    )


def test_render_window_equals_crop_of_whole_and_order_does_not_matter():
    cells = _cells()
    full_i, full_l = render_nuclei((120, 120), cells, seed=4)
    win_i, win_l = render_nuclei((50, 70), cells, offset=(33, 41), seed=4)
    np.testing.assert_array_equal(win_l, full_l[33:83, 41:111])
    np.testing.assert_array_equal(win_i, full_i[33:83, 41:111])
    shuffled_i, shuffled_l = render_nuclei(
        (120, 120), cells.sample(frac=1.0, random_state=1), seed=4
    )
    np.testing.assert_array_equal(shuffled_l, full_l)
    other_i, _ = render_nuclei((120, 120), cells, seed=5)
    assert not np.array_equal(other_i, full_i)


def test_render_rejects_missing_columns():
    with pytest.raises(ValueError, match="lacks column"):
        render_nuclei((10, 10), _cells().drop(columns=["shape_seed"]))


def test_fields_are_window_independent():
    whole = smooth_random_field((200, 300), seed=2, scale=150)
    part = smooth_random_field((60, 70), offset=(100, 200), seed=2, scale=150)
    np.testing.assert_allclose(part, whole[100:160, 200:270], atol=1e-5)
    assert 0.5 < whole.std() < 1.6
    bg = background_field((64, 64), offset=(10, 10), full_shape=(256, 256), seed=1, level=0.1)
    assert bg.min() > 0 and abs(bg.mean() - 0.1) < 0.06
    v = vignetting_field((101, 101), strength=0.3)
    assert v[50, 50] == pytest.approx(1.0, abs=1e-3) and v[0, 0] == pytest.approx(0.7, abs=0.01)


def test_acquire_noise_matches_requested_snr():
    rng = np.random.default_rng(0)
    clean = np.zeros((200, 200), np.float32)
    clean[50:150, 50:150] = 1.0
    photons = photons_for_snr(10.0, background=0.05, read_noise=2.0)
    img = acquire(
        rng,
        clean,
        psf_sigma=1.0,
        background=0.05,
        photons=photons,
        read_noise=2.0,
        gain=2.0,
        offset=100.0,
    ).astype(float)
    bg, fg = img[:30, :30], img[80:120, 80:120]
    snr = (fg.mean() - bg.mean()) / bg.std()
    assert 8.0 < snr < 12.5
    assert bg.mean() == pytest.approx(100 + 2 * 0.05 * photons, rel=0.05)
    u8 = acquire(rng, clean * 1000, photons=10.0, dtype=np.uint8)
    assert u8.dtype == np.uint8 and u8.max() == 255, "clips to the dtype range"
