"""run_pipeline on real images and a real local Dask cluster."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellscale.data import simulate_nuclei, simulate_tissue
from cellscale.engine import Pipeline, run_pipeline
from cellscale.io import open_store, write_image
from cellscale.measure import measure
from cellscale.metrics import match_instances
from cellscale.segment import Segmenter


def _nuclei_pipeline(chunk_size: int | None = None) -> Pipeline:
    return Pipeline.model_validate({"steps": [{"step": "segment", "model": "nuclei"},
                                              {"step": "measure"}], "chunk_size": chunk_size})


@pytest.fixture(scope="module")
def nuclei_image(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-nuclei")
    sample = simulate_nuclei(shape=(640, 768), seed=5, diameter=16, density=0.45)
    path = write_image(sample.image, root / "field.ome.zarr")
    return sample, path


@pytest.fixture(scope="module")
def chunked(nuclei_image, client, tmp_path_factory):
    _, path = nuclei_image
    out = tmp_path_factory.mktemp("engine-run") / "res.zarr"
    report = run_pipeline([path], out, pipeline=_nuclei_pipeline(256), client=client)
    return report


@pytest.mark.slow
def test_chunked_segmentation_agrees_with_whole_image(nuclei_image, chunked):
    sample, _ = nuclei_image
    assert chunked.ok, chunked.failed
    store = open_store(chunked.store)
    stitched = store.label_image("field_nuclei")
    whole = Segmenter("nuclei", tile_size=512, batch_size=1, diameter=None)(sample.image)
    n = int(whole.max())
    result = match_instances(whole, stitched, thresholds=[0.5])
    true_ids, pred_ids, _ = result.pairs(0.5)
    missed = np.setdiff1d(np.arange(1, n + 1), true_ids)
    extra = np.setdiff1d(np.unique(stitched)[1:], pred_ids)
    # Disagreements whose centroid lies within 32 px of a seam (every 256 px).
    def near_seam(labels: np.ndarray, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        centres = np.array(ndi.center_of_mass(np.ones_like(labels), labels, ids))
        d = np.abs((centres + 128) % 256 - 128)
        return int((d.min(1) < 32).sum())
    seam = near_seam(whole, missed) + near_seam(stitched, extra)
    assert n > 850  # a crowded field (963 true nuclei); the test is about seams, not accuracy
    assert seam / n < 0.005, (seam, n)
    assert (len(missed) + len(extra)) / n < 0.01
    # Ids are 1..N, each object one connected piece.
    ids = np.unique(stitched)[1:]
    assert ids[0] == 1 and ids[-1] == len(ids)


@pytest.mark.slow
def test_every_cell_measured_once_as_in_the_whole_image(nuclei_image, chunked):
    sample, _ = nuclei_image
    store = open_store(chunked.store)
    stitched = store.label_image("field_nuclei")
    table = store.table("field")
    labels = table.obs["label"].to_numpy()
    assert sorted(labels.tolist()) == np.unique(stitched)[1:].tolist()
    direct = measure(sample.image, nuclei=stitched, image_id="field")
    direct = direct[np.argsort(direct.obs["label"].to_numpy())]
    table = table[np.argsort(labels)]
    for column in ("area", "centroid_y", "centroid_x", "perimeter", "n_neighbours"):
        np.testing.assert_allclose(table.obs[column].to_numpy(float),
                                   direct.obs[column].to_numpy(float), rtol=1e-6, err_msg=column)
    np.testing.assert_allclose(table.X, direct.X, rtol=1e-5)
    np.testing.assert_allclose(table.obsm["spatial"], direct.obsm["spatial"], rtol=1e-6)
    assert (table.obsp["touching"] != direct.obsp["touching"]).nnz == 0
    assert chunked.timings["field"]["segment"] > 0


@pytest.mark.slow
def test_batch_is_parallel_resumable_and_isolates_failures(client, tmp_path):
    images = tmp_path / "in"
    images.mkdir()
    for k in range(3):
        sample = simulate_tissue(shape=(160, 192), seed=20 + k)
        write_image(sample.image, images / f"well{k}.ome.tif")
    (images / "broken.tif").write_bytes(b"not a tiff at all")
    out = tmp_path / "res.zarr"
    events = []
    first = run_pipeline([images], out, client=client, on_event=events.append)
    assert sorted(first.done) == ["well0", "well1", "well2"]
    assert list(first.failed) == ["broken"] and "broken.tif" in first.failed["broken"]
    store = open_store(out)
    for k in range(3):
        assert store.has("tables", f"well{k}")
        assert store.has("labels", f"well{k}_cells") and store.has("labels", f"well{k}_nuclei")
        table = store.table(f"well{k}")
        assert table.n_obs == int(store.label_image(f"well{k}_cells").max()) > 20
        assert table.uns["spatialdata_attrs"]["region"] == f"well{k}_cells"
        assert '"model": "cells"' in table.uns["cellscale_engine"]["pipeline"]
    assert {e.kind for e in events} >= {"start", "done", "fail"}
    # A re-run skips the finished images and retries only the broken one.
    again = run_pipeline([images], out, client=client)
    assert sorted(again.skipped) == ["well0", "well1", "well2"]
    assert again.done == [] and list(again.failed) == ["broken"]


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    from cellscale.data import simulate_movie

    root = tmp_path_factory.mktemp("engine-movie")
    return write_image(simulate_movie(shape=(128, 128), n_frames=4, seed=2).image,
                       root / "mov.ome.zarr")


@pytest.mark.slow
def test_movies_are_segmented_tracked_and_measured_per_frame(client, movie, tmp_path):
    report = run_pipeline([movie], tmp_path / "res.zarr", client=client)
    assert report.ok, report.failed
    store = open_store(report.store)
    assert store.labels == tuple(f"mov_nuclei_t{t:04d}" for t in range(4))
    table = store.table("mov")
    assert sorted(set(table.obs["t"])) == [0, 1, 2, 3]
    lineage = table.uns["lineage"]
    # Labels are track ids: every row's label is a track of the lineage, alive at its frame.
    begin = dict(zip(lineage["label"], lineage["begin"]))
    end = dict(zip(lineage["label"], lineage["end"]))
    for label, t in zip(table.obs["label"], table.obs["t"]):
        assert begin[label] <= t <= end[label]
    assert (table.obs["region"].astype(str) == [f"mov_nuclei_t{t:04d}" for t in table.obs["t"]]).all()
    # Per-cell dynamics: one track id, parent, generation and cycle length per track.
    obs = table.obs
    assert {"track_id", "parent", "generation", "cell_cycle_length", "speed"} <= set(obs)
    assert (obs["track_id"] == obs["label"]).all()
    per_track = obs.groupby("track_id")[["parent", "generation", "cell_cycle_length"]]
    assert (per_track.nunique(dropna=False) == 1).all().all()
    parent = dict(zip(lineage["label"], lineage["parent"]))
    assert (obs["parent"] == obs["track_id"].map(parent)).all()
    assert (obs["generation"] >= 0).all()
    speed = obs["speed"].to_numpy()
    assert (speed[~np.isnan(speed)] >= 0).all() and np.isnan(speed[obs["t"] == 0]).all()


def test_movies_without_tracking_fail_clearly(client, movie, tmp_path, monkeypatch):
    from cellscale.engine import _track_step

    monkeypatch.setattr(_track_step, "_track_function", lambda: None)
    report = run_pipeline([movie], tmp_path / "res.zarr", client=client)
    assert "tracking is not available" in report.failed["mov"]
    assert "mov.ome.zarr" in report.failed["mov"]
