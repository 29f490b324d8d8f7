"""Maps to instances, and the exact maps of a label image."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.metrics import match_instances
from cellscale.segment import (
    centre_from_labels,
    instances_from_maps,
    maps_from_labels,
    relabel_sequential,
)


@pytest.fixture(scope="module")
def crowded():
    """Crowded simulated nuclei: many touching objects of mixed size."""
    return [
        np.asarray(simulate_nuclei(shape=(384, 384), seed=s, density=0.55, **kw).labels["nuclei"])
        for s, kw in ((0, {}), (1, {"diameter": 12}))
    ]


def test_maps_from_labels_are_exact():
    lab = np.zeros((12, 20), np.uint16)
    lab[1:10, 1:10] = 4
    lab[1:10, 10:19] = 9  # touches object 4 along a column
    fg, dist = maps_from_labels(lab)
    assert fg.dtype == np.float32 and dist.dtype == np.float32
    np.testing.assert_array_equal(fg, lab > 0)
    assert np.all(dist[lab == 0] == 0)
    for i in (4, 9):
        assert dist[lab == i].max() == pytest.approx(1.0)
    # The contact between touching objects is a boundary on both sides.
    assert np.all(dist[1:10, 9] == 0) and np.all(dist[1:10, 10] == 0)
    # An isolated square: EDT / max EDT.
    sq = np.zeros((9, 9), np.int32)
    sq[2:7, 2:7] = 1
    _, d = maps_from_labels(sq)
    assert d[4, 4] == 1.0 and d[2, 2] == pytest.approx(1 / 3)


@pytest.mark.parametrize("method", ["flood", "watershed"])
def test_perfect_maps_recover_crowded_nuclei(crowded, method):
    for gt in crowded:
        fg, dist = maps_from_labels(gt)
        out = instances_from_maps(fg, dist, method=method)
        result = match_instances(gt, out)
        assert result.f1_at(0.5) >= 0.98, (method, result.f1_at(0.5))
        assert result.mean_ap >= 0.95


def _dumbbell_beside_a_square() -> np.ndarray:
    """Two round lobes joined by a neck (one object), touching a square (another)."""
    yy, xx = np.mgrid[:40, :70]
    lab = np.zeros((40, 70), np.uint16)
    lab[((yy - 20) ** 2 + (xx - 12) ** 2 <= 81) | ((yy - 20) ** 2 + (xx - 38) ** 2 <= 81)] = 3
    lab[17:24, 12:38] = 3  # the neck
    lab[8:32, 48:66] = 7   # touches the right lobe along x = 47/48
    return lab


def test_centre_map_is_one_peak_per_object():
    lab = _dumbbell_beside_a_square()
    _, dist = maps_from_labels(lab)
    c = centre_from_labels(lab, dist)
    assert c.dtype == np.float32 and np.all(c[lab == 0] == 0)
    np.testing.assert_array_equal(c, centre_from_labels(lab))  # distance computed if not given
    for i in (3, 7):
        assert c[lab == i].max() == pytest.approx(1.0)
        # The peak is at a pixel well inside the object.
        peak = np.unravel_index(np.argmax(np.where(lab == i, c, -1)), lab.shape)
        assert dist[peak] >= 0.5
        from scipy import ndimage as ndi

        for level in (0.3, 0.5, 0.7):
            assert ndi.label((lab == i) & (c > level))[1] == 1
    assert not np.any(centre_from_labels(np.zeros((5, 5), np.uint8)))


def test_centre_seeds_keep_an_irregular_object_whole():
    lab = _dumbbell_beside_a_square()
    fg, dist = maps_from_labels(lab)
    # Distance seeds: each lobe of the dumbbell is a maximum, so it is split in two.
    assert instances_from_maps(fg, dist).max() == 3
    out = instances_from_maps(fg, dist, centre=centre_from_labels(lab, dist))
    assert out.max() == 2
    assert match_instances(lab, out).f1_at(0.9) == 1.0


def test_centre_seeds_are_never_taken_over(crowded):
    """On noisy maps every seed ends up whole inside one object of its own."""
    from cellscale.segment._label import label

    rng = np.random.default_rng(4)
    gt = crowded[0]
    fg, dist = maps_from_labels(gt)
    centre = centre_from_labels(gt, dist)
    noisy = [np.clip(m + rng.normal(0, 0.15, m.shape), 0, 1).astype(np.float32)
             for m in (fg, dist, centre)]
    out = instances_from_maps(noisy[0], noisy[1], centre=noisy[2], min_size=0)
    seeds, n = label((noisy[0] > 0.5) & (noisy[2] > 0.5) & (noisy[1] > 0.35))
    assert n > 50
    got = out.ravel()[np.flatnonzero(seeds)]
    ids = seeds.ravel()[np.flatnonzero(seeds)]
    per_seed = [np.unique(got[ids == i]) for i in range(1, n + 1)]
    assert all(len(v) == 1 and v[0] > 0 for v in per_seed)
    assert len({int(v[0]) for v in per_seed}) == n


def test_centre_seeds_recover_crowded_nuclei(crowded):
    for gt in crowded:
        fg, dist = maps_from_labels(gt)
        out = instances_from_maps(fg, dist, centre=centre_from_labels(gt, dist))
        result = match_instances(gt, out)
        assert result.f1_at(0.5) >= 0.99 and result.mean_ap >= 0.95


def test_output_is_consecutive_uint32_and_small_objects_go():
    fg = np.zeros((40, 40), np.float32)
    dist = np.zeros_like(fg)
    fg[5:15, 5:15] = 1.0
    dist[8:12, 8:12] = 1.0
    fg[30:32, 30:32] = 1.0  # 4 pixels, no seed: a seedless object below min_size
    fg[20:28, 30:38] = 1.0  # 64 pixels, no seed: kept as its own object
    out = instances_from_maps(fg, dist, min_size=8)
    assert out.dtype == np.uint32
    assert sorted(np.unique(out)) == [0, 1, 2]
    assert out[30, 30] == 0 and out[24, 34] > 0 and out[10, 10] > 0


def test_touching_seeds_split_a_component():
    lab = np.zeros((30, 60), np.int32)
    lab[5:25, 5:30] = 1
    lab[5:25, 30:55] = 2
    fg, dist = maps_from_labels(lab)
    fg[:, 29:31] = np.maximum(fg[:, 29:31], 1.0)  # one merged foreground blob
    for method in ("flood", "watershed"):
        out = instances_from_maps(fg, dist, method=method)
        assert out.max() == 2
        assert match_instances(lab, out).f1_at(0.9) == 1.0


def test_empty_and_constant_maps():
    zeros = np.zeros((16, 16), np.float32)
    assert instances_from_maps(zeros, zeros).max() == 0
    ones = np.ones((16, 16), np.float32)
    out = instances_from_maps(ones, ones)
    assert out.max() == 1 and (out == 1).all()


def test_relabel_sequential():
    lab = np.array([[0, 7, 7], [3, 3, 0], [9, 0, 0]])
    np.testing.assert_array_equal(relabel_sequential(lab), [[0, 2, 2], [1, 1, 0], [3, 0, 0]])
    np.testing.assert_array_equal(relabel_sequential(lab, min_size=2), [[0, 2, 2], [1, 1, 0], [0, 0, 0]])


def test_bad_maps_and_options():
    m = np.zeros((8, 8), np.float32)
    with pytest.raises(InvalidImageError, match="same shape"):
        instances_from_maps(m, np.zeros((8, 9)))
    with pytest.raises(InvalidImageError, match="NaN"):
        instances_from_maps(np.full((8, 8), np.nan), m)
    with pytest.raises(InvalidImageError, match="centre"):
        instances_from_maps(m, m, centre=np.zeros((9, 8)))
    with pytest.raises(InvalidImageError, match="distance map has shape"):
        centre_from_labels(np.ones((8, 8), np.int32), np.zeros((8, 9)))
    with pytest.raises(InvalidImageError, match="centre map holds NaN"):
        instances_from_maps(m, m, centre=np.full((8, 8), np.nan))
    with pytest.raises(InvalidArgumentError, match="seed_threshold"):
        instances_from_maps(m, m, seed_threshold=1.5)
    with pytest.raises(InvalidArgumentError, match="'flood', 'watershed'"):
        instances_from_maps(m, m, method="magic")
    with pytest.raises(InvalidImageError, match="2-D"):
        maps_from_labels(np.zeros((2, 3, 4), np.int32))
    with pytest.raises(InvalidImageError, match="integers"):
        maps_from_labels(np.zeros((4, 4), np.float32))


def test_fast_labeller_matches_scipy_label():
    from scipy import ndimage as ndi

    from cellscale.segment import _label

    labeller = _label._skimage_labeller()
    assert labeller is not None  # scikit-image's compiled labeller is found
    rng = np.random.default_rng(3)
    for p in (0.0, 0.3, 0.55, 1.0):
        mask = rng.random((67, 91)) < p
        ref, n_ref = ndi.label(mask)
        np.testing.assert_array_equal(labeller(mask), ref)
        ours, n = _label.label(mask)
        assert n == n_ref
        np.testing.assert_array_equal(ours, ref)


def test_run_labeller_matches_scipy_label(crowded):
    from scipy import ndimage as ndi

    from cellscale.segment._label import label_runs

    rng = np.random.default_rng(4)
    shapes = [(1, 1), (1, 9), (9, 1), (37, 53), (64, 64)]
    for shape in shapes:
        for p in (0.0, 0.05, 0.2, 0.5, 0.9, 1.0):
            mask = rng.random(shape) < p
            ref, n_ref = ndi.label(mask)
            ours, n = label_runs(mask)
            assert n == n_ref
            np.testing.assert_array_equal(ours, ref)
    # Snakes and spirals: components joined only through long detours of runs.
    comb = np.zeros((40, 41), bool)
    comb[::2] = True
    comb[1::4, 0] = comb[3::4, -1] = True
    ours, n = label_runs(comb)
    assert n == 1 and (ours[comb] == 1).all()
    # Realistic sparse masks, as flooding labels them.
    for lab in crowded:
        mask = lab > 0
        np.testing.assert_array_equal(label_runs(mask)[0], ndi.label(mask)[0])


@pytest.mark.parametrize("use_centre", [True, False])
def test_min_peak_drops_objects_without_a_confident_centre(use_centre):
    """A foreground region whose centre (or distance) never gets high is an object only
    without ``min_peak``; a confident object stays either way."""
    lab = np.zeros((40, 80), np.uint16)
    yy, xx = np.mgrid[:40, :80]
    lab[(yy - 20) ** 2 + (xx - 20) ** 2 <= 10**2] = 1
    lab[(yy - 20) ** 2 + (xx - 60) ** 2 <= 10**2] = 2
    fg, dist = maps_from_labels(lab)
    centre = centre_from_labels(lab, dist)
    weak = lab == 2
    if use_centre:
        centre[weak] *= 0.3  # a faint centre: the right disc's peak is 0.3
    else:
        dist[weak] *= 0.3
    kw = {"centre": centre} if use_centre else {}
    seed = 0.2  # low enough that the faint object still gets a seed
    both = instances_from_maps(fg, dist, seed_threshold=seed, **kw)
    kept = instances_from_maps(fg, dist, seed_threshold=seed, min_peak=0.5, **kw)
    assert both.max() == 2 and kept.max() == 1
    assert (kept > 0).sum() == (lab == 1).sum() and not kept[weak].any()
    with pytest.raises(InvalidArgumentError, match="min_peak"):
        instances_from_maps(fg, dist, min_peak=1.0)
