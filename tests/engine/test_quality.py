"""Per-image object size and confidence: in the cell table, the store's entry and the report."""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellscale.data import simulate_nuclei
from cellscale.engine import Pipeline, run_pipeline
from cellscale.engine._quality import add_quality_columns, flags, image_quality
from cellscale.io import describe_path, open_store, write_image
from cellscale.segment._estimate import LOW_CONFIDENCE


def _pipeline(diameter: str | float) -> Pipeline:
    return Pipeline.model_validate({"steps": [
        {"step": "segment", "model": "nuclei", "diameter": diameter}, {"step": "measure"}]})


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    """A field of ~16 px nuclei the model knows, and one of ~110 px textured nuclei.

    Segmented at their own scale (``diameter: off``), the large nuclei are cut
    into pieces that differ when the image is flipped (measured: confidence
    0.17 with ``Segmenter``; the small ones 0.94).
    """
    root = tmp_path_factory.mktemp("quality-in")
    normal = simulate_nuclei(shape=(256, 256), diameter=16, density=0.4, seed=3).image
    large = simulate_nuclei(shape=(512, 512), diameter=110, density=0.4, seed=1).image
    return write_image(normal, root / "normal.ome.tif"), write_image(large, root / "large.ome.tif")


@pytest.fixture(scope="module")
def off_run(two_images, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("quality-run") / "res.zarr"
    return run_pipeline(list(two_images), out, pipeline=_pipeline("off"), client=client)


@pytest.mark.slow  # a run on the cluster: ~5 s warm, ~30 s when its workers start cold
def test_the_unsure_image_is_flagged_and_the_other_is_not(off_run):
    assert off_run.ok, off_run.failed
    normal, large = off_run.estimates["normal"], off_run.estimates["large"]
    assert normal["confidence"] > 0.85 and normal["warnings"] == []
    assert large["confidence"] < LOW_CONFIDENCE
    assert normal["diameter"] is None and large["diameter"] is None  # off: not estimated
    assert list(off_run.flagged) == ["large"]
    assert "low confidence" in off_run.flagged["large"][0]
    assert normal["n_objects"] == off_run.n_objects["normal"] > 50


@pytest.mark.slow  # a run on the cluster: ~5 s warm, ~30 s when its workers start cold
def test_every_row_carries_its_images_confidence_and_diameter(off_run):
    store = open_store(off_run.store)
    for image_id in ("normal", "large"):
        obs = store.table(image_id).obs
        assert len(obs) == off_run.n_objects[image_id]
        np.testing.assert_allclose(obs["segment_confidence"].to_numpy(float),
                                   off_run.estimates[image_id]["confidence"])
        assert obs["segment_diameter"].isna().all()


@pytest.mark.slow  # a run on the cluster: ~5 s warm, ~30 s when its workers start cold
def test_the_store_entry_keeps_the_estimate_and_info_lists_it(off_run):
    store = open_store(off_run.store)
    entry = store.config["images"]["large"]["quality"]
    assert entry == off_run.estimates["large"]
    assert entry["scale"] == 1.0 and entry["warnings"]
    text = describe_path(off_run.store).summary()
    lines = text.splitlines()
    large = next(k for k, line in enumerate(lines)
                 if line.strip().startswith("large ") and "objects" in line)
    assert f"confidence {entry['confidence']:.2f}" in lines[large]
    assert f"{entry['n_objects']} objects" in lines[large]
    assert lines[large + 1].strip().startswith("warning: low confidence")
    normal = next(line for line in lines
                  if line.strip().startswith("normal ") and "objects" in line)
    assert "diameter not estimated" in normal


@pytest.mark.slow  # a run on the cluster: ~5 s warm, ~30 s when its workers start cold
def test_an_estimated_diameter_reaches_the_table(two_images, off_run, client):
    # The same store, the normal image again with diameter auto (another pipeline: redone).
    again = run_pipeline([two_images[0]], off_run.store, pipeline=_pipeline("auto"),
                         client=client)
    assert again.done == ["normal"] and not again.flagged
    diameter = again.estimates["normal"]["diameter"]
    assert 12 < diameter < 20  # simulated at ~16 px
    obs = open_store(off_run.store).table("normal").obs
    np.testing.assert_allclose(obs["segment_diameter"].to_numpy(float), diameter)
    config = open_store(off_run.store).config["images"]
    assert config["normal"]["quality"]["diameter"] == diameter
    assert config["large"]["quality"] == off_run.estimates["large"]  # untouched


def test_a_movies_rows_get_their_frames_values_and_the_record_summarises():
    frames = [{"scale": 1.0, "diameter": 15.0, "confidence": 0.95, "warnings": []},
              {"scale": 1.0, "diameter": 17.0, "confidence": 0.40, "warnings": ["low (0.40)"]},
              {"scale": 1.0, "diameter": None, "confidence": 0.60, "warnings": ["low (0.60)"]}]
    extras = {"segment_estimate_per_frame": frames}
    table = ad.AnnData(obs=pd.DataFrame({"t": [2, 0, 1, 1]}, index=list("abcd")))
    add_quality_columns(table, extras)
    np.testing.assert_allclose(table.obs["segment_confidence"], [0.60, 0.95, 0.40, 0.40])
    assert table.obs["segment_diameter"].tolist()[1:] == [15.0, 17.0, 17.0]
    assert math.isnan(table.obs["segment_diameter"].iloc[0])
    record = image_quality(extras, 4)
    assert record["diameter"] == 16.0 and record["confidence"] == 0.40
    assert record["warnings"] == ["frame 1: low (0.40)", "2 of 3 frames have warnings (frames 1, 2)"]
    assert record["frames"] == frames and record["n_objects"] == 4
    assert flags(record) == record["warnings"]


def test_no_segment_step_no_columns_no_record_no_flag():
    table = ad.AnnData(obs=pd.DataFrame(index=["a"]))
    add_quality_columns(table, {})
    assert list(table.obs.columns) == []
    assert image_quality({}) is None and flags(None) == []
    assert flags({"confidence": None, "warnings": []}) == []


@pytest.mark.slow  # a movie through segment, track and measure on the cluster
def test_a_movies_rows_carry_their_frames_estimate(client, tmp_path):
    from cellscale.data import simulate_movie

    movie = write_image(simulate_movie(shape=(160, 160), n_frames=3, seed=4).image,
                        tmp_path / "mov.ome.zarr")
    report = run_pipeline([movie], tmp_path / "res.zarr", client=client)
    assert report.ok, report.failed
    record = report.estimates["mov"]
    frames = record["frames"]
    assert len(frames) == 3 and record["n_objects"] == report.n_objects["mov"]
    obs = open_store(report.store).table("mov").obs
    t = obs["t"].to_numpy(int)
    for column, key in (("segment_confidence", "confidence"), ("segment_diameter", "diameter")):
        expected = np.array([np.nan if f[key] is None else f[key] for f in frames])[t]
        np.testing.assert_allclose(obs[column].to_numpy(float), expected, err_msg=column)
    assert np.isfinite(obs["segment_diameter"]).all()  # the default pipeline estimates it
    assert open_store(report.store).config["images"]["mov"]["quality"] == record
