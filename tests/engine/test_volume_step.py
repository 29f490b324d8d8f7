"""The engine's segment step on a z-stack: the whole volume in 3-D, as cellscale segment does."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from cellscale.data import simulate_nuclei_3d
from cellscale.engine import Pipeline, run_pipeline
from cellscale.errors import CellscaleError
from cellscale.io import write_image
from cellscale.segment import Segmenter


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-stack")
    sample = simulate_nuclei_3d(shape=(20, 96, 96), seed=310, diameter=18, anisotropy=2.0,
                                snr=30, density=0.15)
    return sample, write_image(sample.image, root / "stack.ome.tif")


def test_default_pipeline_segments_a_stack_like_the_segmenter(stack, client, tmp_path) -> None:
    sample, path = stack
    out = tmp_path / "res.zarr"
    report = run_pipeline([path], out, client=client)
    assert not report.failed
    labels = zarr.open_group(str(out / "labels" / "stack_nuclei"), mode="r")["s0"]
    assert labels.shape == (20, 96, 96)
    expected = Segmenter("nuclei", tile_size=512)(sample.image)  # z step from the file
    assert np.array_equal(np.asarray(labels), expected)
    assert expected.max() > 10


def test_stack_with_cells_compartment_is_refused(stack, client, tmp_path) -> None:
    _, path = stack
    pipeline = Pipeline.model_validate({"steps": [
        {"step": "segment", "model": "nuclei", "compartments": ["cells"]}]})
    try:
        report = run_pipeline([path], tmp_path / "res.zarr", pipeline=pipeline, client=client)
    except CellscaleError as exc:  # refused before the run
        message = str(exc)
    else:  # or reported as the image's failure
        message = " ".join(report.failed.values())
    assert "nuclei only" in message and "compartments: [nuclei]" in message
