"""propose: the shipped model's proposals and maps, and add_cell seeded by them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError
from cellscale.label import EditSession, propose
from cellscale.metrics import match_instances
from cellscale.segment import Segmenter


@pytest.fixture(scope="module")
def sample():
    return simulate_nuclei(shape=(256, 256), seed=5, diameter=16, density=0.3)


@pytest.fixture(scope="module")
def proposed(sample):
    return propose(sample.image, "nuclei")


def test_propose_finds_most_nuclei(sample, proposed):
    labels, maps, estimate = proposed
    truth = np.asarray(sample.labels["nuclei"])
    assert labels.dtype == np.uint32 and labels.shape == truth.shape
    assert match_instances(truth, labels).f1_at(0.5) > 0.85
    assert {"prob", "foreground", "distance"} <= set(maps)
    prob = maps["prob"]
    assert prob.shape == truth.shape and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    # the map agrees with the objects: high on them, low off them
    assert prob[labels > 0].mean() > 0.7 and prob[truth == 0].mean() < 0.2
    assert estimate.scale == 1.0 and 12 < estimate.diameter < 22


def test_propose_labels_are_what_segment_gives(sample, proposed):
    """One segmentation core: the proposals are cellscale segment's labels."""
    np.testing.assert_array_equal(proposed[0], Segmenter("nuclei")(sample.image))


def test_a_loaded_segmenter_is_reused(sample, proposed):
    seg = Segmenter("nuclei")
    labels, maps, _ = propose(np.asarray(sample.image.data), seg)
    np.testing.assert_array_equal(labels, proposed[0])
    np.testing.assert_allclose(maps["prob"], proposed[1]["prob"], atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="Segmenter's own"):
        propose(sample.image, seg, diameter=20)


def test_maps_come_back_at_the_image_resolution_when_the_image_is_resized():
    big = simulate_nuclei(shape=(192, 160), seed=2, diameter=56, density=0.3)
    labels, maps, estimate = propose(big.image, "nuclei")
    assert estimate.scale < 0.8  # objects beyond the network's sizes: segmented shrunk
    assert maps["prob"].shape == (192, 160) == labels.shape
    truth = np.asarray(big.labels["nuclei"]) > 0
    assert ((maps["prob"] > 0.5) == truth).mean() > 0.9


def test_classical_proposals_have_a_mask_as_prob(sample):
    labels, maps, estimate = propose(sample.image, "classical")
    assert sorted(maps) == ["prob"]
    np.testing.assert_array_equal(maps["prob"] > 0, labels > 0)
    assert estimate.confidence is None


def test_add_cell_recovers_a_nucleus_removed_from_the_proposals(sample, proposed):
    labels, maps, _ = proposed
    truth = np.asarray(sample.labels["nuclei"])
    ious = []
    rng = np.random.default_rng(0)
    for t in rng.permutation(np.arange(1, int(truth.max()) + 1)):
        nucleus = truth == t
        values, counts = np.unique(labels[nucleus], return_counts=True)
        p = int(values[np.argmax(counts)])
        proposal = labels == p
        if not p or (proposal & nucleus).sum() / (proposal | nucleus).sum() < 0.7:
            continue  # only nuclei the model found well: the test is about the tool
        session = EditSession(labels, maps)
        session.delete(p)
        ys, xs = np.nonzero(nucleus & (session.labels == 0))
        cy, cx = ndimage.center_of_mass(nucleus)
        k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))  # the clicked pixel: near its middle
        session.add_cell(float(ys[k]), float(xs[k]))
        new = session.labels == session.edits[-1]["label"]
        assert session.edits[-1]["source"] != "disc"
        ious.append((new & nucleus).sum() / (new | nucleus).sum())
        if len(ious) == 12:
            break
    assert len(ious) == 12
    assert min(ious) > 0.6, ious


def test_add_cell_tells_apart_two_touching_nuclei_both_missing(sample, proposed):
    """The maps are decoded under the click, so the neighbour the model also missed stays out."""
    labels, maps, _ = proposed
    truth = np.asarray(sample.labels["nuclei"])

    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    good = {}
    for t in range(1, int(truth.max()) + 1):
        values, counts = np.unique(labels[truth == t], return_counts=True)
        p = int(values[np.argmax(counts)])
        if p and iou(labels == p, truth == t) > 0.7:
            good[p] = t
    pairs = sorted({(p, int(q)) for p in good
                    for q in np.unique(labels[ndimage.binary_dilation(labels == p) & (labels != p)])
                    if q and int(q) in good and int(q) > p})
    assert len(pairs) >= 5
    with_maps, prob_only = [], []
    for p, q in pairs[:8]:
        nucleus = truth == good[p]
        for given, out in ((maps, with_maps), ({"prob": maps["prob"]}, prob_only)):
            session = EditSession(labels, given)
            session.delete(p)
            session.delete(q)
            ys, xs = np.nonzero(nucleus & (session.labels == 0))
            cy, cx = ndimage.center_of_mass(nucleus)
            k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
            session.add_cell(float(ys[k]), float(xs[k]))
            out.append(iou(session.labels == session.edits[-1]["label"], nucleus))
    assert min(with_maps) > 0.6, with_maps
    assert np.median(with_maps) > np.median(prob_only) + 0.1  # the prob region alone joins them


def test_whole_cells_of_a_multichannel_image():
    from cellscale.data import simulate_tissue

    tissue = simulate_tissue(shape=(160, 160), seed=3)
    labels, maps, _ = propose(tissue.image, "cells", channels=("DNA", "membrane"))
    truth = np.asarray(tissue.labels["cells"])
    assert match_instances(truth, labels).f1_at(0.5) > 0.85
    assert maps["prob"].shape == truth.shape
    assert maps["prob"][truth > 0].mean() > 0.7  # the cells' map, not the nuclei's
