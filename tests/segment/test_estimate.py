"""Size estimation across scales and the flip-agreement confidence, with the shipped nuclei model."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.metrics import match_instances
from cellscale.segment import Segmenter
from cellscale.segment._estimate import estimation_scales, pick_diameter, size_warnings


def test_pieces_that_change_size_with_the_scale_are_not_objects():
    # Pieces keep their size in network pixels (15, 20 px), so in image pixels
    # they double with each halving; the objects (84 px) do not.
    assert pick_diameter([(1.0, 15.0), (0.5, 40.0), (0.25, 84.0), (0.125, 86.0)]) == (84.0, True)
    # Two passes agree on 20 px, seen at 20 px by the network: that one.
    assert pick_diameter([(2.0, 21.0), (1.0, 20.0), (0.5, 22.0)]) == (20.0, True)
    # Nothing agrees: the image's own scale, unconfirmed.
    assert pick_diameter([(1.0, 15.0), (0.5, 45.0), (0.25, None)]) == (15.0, False)
    assert pick_diameter([(1.0, None), (0.5, None)]) == (None, False)


def test_scales_reach_down_to_small_blocks_and_up_for_small_objects():
    assert estimation_scales(25.0, 128) == [1.0, 0.5]
    assert estimation_scales(25.0, 100) == [1.0]
    assert estimation_scales(None, 40) == [2.0, 1.0]
    assert estimation_scales(9.0, 1024)[:2] == [2.0, 1.0]


def test_warnings_name_the_passes_and_the_range():
    (unconfirmed,) = size_warnings([(1.0, 15.0), (0.5, 45.0)], 15.0, False, 512)
    assert "15 px at x1" in unconfirmed and "45 px at x0.5" in unconfirmed
    assert "higher magnification" in size_warnings([(1.0, 3.0)], 3.0, True, 512)[0]
    assert "more than half" in size_warnings([(1.0, 300.0)], 300.0, True, 512)[0]
    assert size_warnings([(1.0, 20.0)], 20.0, True, 512) == []


@pytest.mark.parametrize("diameter", [60.0, 110.0])
def test_large_nuclei_are_found_whole_and_the_model_is_sure(diameter):
    sample = simulate_nuclei(shape=(768, 768), seed=5, diameter=diameter, density=0.4)
    truth = sample.labels["nuclei"]
    auto = Segmenter("nuclei", threads=1)
    labels = auto(sample.image)
    assert auto.scale < 0.5
    assert auto.estimated_diameter == pytest.approx(diameter, rel=0.2)
    assert match_instances(truth, labels).f1_at(0.5) > 0.8
    assert auto.confidence is not None and auto.confidence > 0.8
    assert auto.warnings == []
    # Not resized, the network cuts them into pieces (more objects, fewer right) and
    # disagrees with itself when flipped.
    native = Segmenter("nuclei", threads=1, diameter=None)
    pieces = native(sample.image)
    assert pieces.max() > 1.15 * truth.max()
    assert match_instances(truth, pieces).f1_at(0.5) < match_instances(truth, labels).f1_at(0.5) - 0.1
    assert native.confidence is not None and native.confidence < auto.confidence - 0.15


def test_usual_nuclei_keep_their_scale_and_report_it():
    sample = simulate_nuclei(shape=(384, 384), seed=11, diameter=20, density=0.3)
    seg = Segmenter("nuclei", threads=1)
    labels = seg(sample.image)
    assert seg.scale == 1.0
    assert seg.estimated_diameter == pytest.approx(20, rel=0.25)
    assert seg.confidence > 0.9
    assert match_instances(sample.labels["nuclei"], labels).f1_at(0.5) > 0.9
    given = Segmenter("nuclei", threads=1, diameter=20)
    given(sample.image)
    assert given.estimated_diameter == 20.0 and given.confidence > 0.9


def test_an_empty_image_has_no_estimate():
    seg = Segmenter("nuclei", threads=1)
    labels = seg(np.zeros((128, 128), np.uint16))
    assert labels.max() == 0
    assert seg.confidence is None and seg.estimated_diameter is None and seg.warnings == []
