"""Pasting overlapping patches (lowest score wins), cell territories, camera shot noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cellscale.data._camera import _normal, _poisson_small, add_camera_noise
from cellscale.data._canvas import MinCanvas
from cellscale.data._territories import _territory_harmonics, render_territories


def test_lowest_score_wins_ties_go_to_the_higher_label_in_any_order():
    rows = np.array([0, 0, 0, 1, 1, 2])
    cols = np.array([0, 0, 0, 1, 1, 2])
    score = np.array([0.5, -0.25, -0.25, 2.0, 1.0, -0.0], np.float32)
    label = np.array([3, 7, 5, 2, 9, 4])
    values = np.array([10, 20, 30, 40, 50, 60], np.float32)
    results = []
    for order in (np.arange(6), np.arange(6)[::-1], np.array([2, 4, 0, 5, 1, 3])):
        canvas = MinCanvas((3, 4), pad=2, values=True)
        for part in np.array_split(order, 3):  # several batches
            idx = canvas.index(rows[part], cols[part])
            canvas.add(idx, score[part], label[part], values[part])
        results.append((canvas.labels(), canvas.scores(), canvas.values()))
    for lab, sc, val in results:
        np.testing.assert_array_equal(lab, results[0][0])
        np.testing.assert_array_equal(val, results[0][2])
        assert lab.dtype == np.uint32 and sc.dtype == np.float32
        assert lab[0, 0] == 7 and sc[0, 0] == np.float32(-0.25) and val[0, 0] == 20
        assert lab[1, 1] == 9 and val[1, 1] == 50
        assert lab[2, 2] == 4 and sc[2, 2] == 0.0
        assert lab[0, 3] == 0 and sc[0, 3] == np.inf and val[0, 3] == 0


def test_candidates_on_the_margin_are_kept_off_the_window():
    canvas = MinCanvas((2, 2), pad=3)
    idx = canvas.index(np.array([-3, 0, 4]), np.array([0, -3, 1]))
    canvas.add(idx, np.zeros(3, np.float32), np.array([1, 2, 3]))
    assert canvas.labels().tolist() == [[0, 0], [0, 0]]


def _reference_territories(shape, cells, seed):
    """Whole image, every cell, no pruning: the power diagram of the module docstring."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    coef = _territory_harmonics(
        seed, cells["shape_seed"].to_numpy(np.int64), cells["irregularity"].to_numpy(float)
    )
    scores = np.full((len(cells), h, w), np.inf)
    for i, c in enumerate(cells.itertuples()):
        dy, dx = yy - c.y, xx - c.x
        e = np.sqrt(max(c.elongation, 1.0))
        along = dx * np.cos(c.angle) - dy * np.sin(c.angle)
        across = dx * np.sin(c.angle) + dy * np.cos(c.angle)
        rho = np.hypot(dx, dy) + 1e-6
        z = (dx + 1j * dy) / rho
        log_r = sum((coef[i, k] * z ** (k + 2)).real for k in range(4))
        f = np.hypot(along / e, across * e) * np.exp(-log_r) / c.radius
        scores[i] = np.where(f <= c.reach, c.radius**2 * (f * f - 1.0), np.inf)
    order = np.argsort(scores, axis=0, kind="stable")
    best = np.take_along_axis(scores, order[:1], 0)[0]
    second = np.take_along_axis(scores, order[1:2], 0)[0]
    labels = np.where(np.isfinite(best), cells["label"].to_numpy()[order[0]], 0)
    # Pixels where two cells nearly tie may go either way in float32.
    with np.errstate(invalid="ignore"):  # inf - inf where no cell reaches
        close = np.isfinite(second) & (second - best < 1e-3 * (1.0 + np.abs(best)))
    return labels, close


def test_territories_match_a_whole_image_reference():
    rng = np.random.default_rng(3)
    n = 40
    cells = pd.DataFrame(
        {
            "label": np.arange(1, n + 1),
            "y": rng.uniform(-5, 75, n),
            "x": rng.uniform(-5, 95, n),
            "radius": rng.uniform(4, 11, n),
            "elongation": rng.uniform(1, 3.5, n),
            "angle": rng.uniform(0, np.pi, n),
            "irregularity": rng.uniform(0.04, 0.1, n),
            "reach": rng.choice([1.2, 1.3, 1.65], n),
            "shape_seed": rng.integers(1, 1000, n),
        }
    )
    want, close = _reference_territories((70, 90), cells, seed=5)
    got = render_territories((70, 90), cells, seed=5)
    assert got.dtype == np.uint32 and (want > 0).mean() > 0.5 and close.mean() < 0.01
    np.testing.assert_array_equal(got[~close], want[~close])
    # Any window agrees with the whole.
    np.testing.assert_array_equal(
        render_territories((30, 41), cells, offset=(20, 33), seed=5), got[20:50, 33:74]
    )


@pytest.mark.parametrize("lam", [0.0, 0.02, 0.7, 2.5, 4.9])
def test_small_means_follow_the_poisson_law(lam):
    k = _poisson_small(np.random.default_rng(1), np.full(400_000, lam, np.float32))
    assert k.dtype == np.float32 and (k == np.round(k)).all()
    counts = np.bincount(k.astype(int), minlength=30)[:30]
    expected = stats.poisson.pmf(np.arange(30), np.float32(lam)) * k.size
    keep = expected > 5
    if keep.sum() < 2:
        assert (k == 0).all()
        return
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


@pytest.mark.parametrize("signal", [0.3, 40.0])  # Poisson, then the normal approximation
def test_camera_counts_have_the_expected_mean_and_variance(signal):
    photons, read_noise, gain, offset = 5.0, 1.5, 2.0, 100.0
    adu = add_camera_noise(
        np.random.default_rng(2),
        np.full((400, 500), signal, np.float32),
        photons=photons,
        read_noise=read_noise,
        gain=gain,
        offset=offset,
        dtype=np.float32,
    )
    lam = signal * photons
    assert adu.mean() == pytest.approx(offset + gain * lam, rel=2e-3)
    assert adu.var() == pytest.approx(gain**2 * (lam + read_noise**2), rel=0.02)


def test_normal_numbers_are_standard():
    x = _normal(np.random.default_rng(4), (700, 1001)).astype(np.float64)
    assert x.shape == (700, 1001)
    assert stats.kstest(x.ravel(), "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(x.ravel())) < 0.02
