"""Resuming keyed on provenance: what a re-run skips, redoes, replaces and records."""

from __future__ import annotations

import os

import pytest

from cellscale.data import simulate_tissue
from cellscale.engine import Pipeline, run_pipeline
from cellscale.io import open_store, write_image


def _pipeline(*steps: dict, **options: object) -> Pipeline:
    return Pipeline.model_validate({"steps": list(steps), **options})


NUCLEI = _pipeline({"step": "segment", "model": "nuclei", "channels": ["DNA"]}, {"step": "measure"})
CELLS = _pipeline({"step": "segment", "model": "cells"}, {"step": "measure"})
CELLS_ONLY = _pipeline({"step": "segment", "model": "cells", "compartments": ["cells"]},
                       {"step": "measure"})


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(2):
        write_image(simulate_tissue(shape=(128, 160), seed=60 + k).image, folder / f"w{k}.ome.tif")
    return folder


def _key(store, image_id):
    return store.config["images"][image_id]["pipeline"]


@pytest.mark.slow
def test_same_pipeline_skips_and_another_redoes_and_replaces(client, images, tmp_path):
    out = tmp_path / "res.zarr"
    first = run_pipeline([images], out, pipeline=NUCLEI, client=client)
    assert sorted(first.done) == ["w0", "w1"] and first.ok
    store = open_store(out)
    assert store.labels == ("w0_nuclei", "w1_nuclei") and store.complete
    nuclei_key = _key(store, "w0")
    assert store.config["pipelines"][nuclei_key]["pipeline"]["steps"][0]["model"] == "nuclei"
    assert len(store.config["pipelines"][nuclei_key]["models"]["nuclei"]["sha256"]) == 64

    again = run_pipeline([images], out, pipeline=NUCLEI, client=client)
    assert sorted(again.skipped) == ["w0", "w1"] and again.done == []

    # Another model for one image: it is redone, its elements replaced, the other kept.
    changed = run_pipeline([images / "w0.ome.tif"], out, pipeline=CELLS, client=client)
    assert changed.done == ["w0"] and changed.skipped == []
    store = open_store(out)
    assert set(store.labels) == {"w0_cells", "w0_nuclei", "w1_nuclei"}
    table = store.table("w0")
    assert table.uns["spatialdata_attrs"]["region"] == "w0_cells"
    assert "nucleus_label" in table.obs  # measured by the cells pipeline
    # The config describes both: each image and the pipeline that made it.
    cells_key = _key(store, "w0")
    assert cells_key != nuclei_key == _key(store, "w1")
    assert set(store.config["pipelines"]) == {cells_key, nuclei_key}
    assert store.config["images"]["w0"]["elements"] == [
        ["labels", "w0_cells"], ["labels", "w0_nuclei"], ["tables", "w0"]]

    # A pipeline that makes fewer elements: those of the previous one are removed.
    fewer = run_pipeline([images / "w0.ome.tif"], out, pipeline=CELLS_ONLY, client=client)
    assert fewer.done == ["w0"]
    store = open_store(out)
    assert set(store.labels) == {"w0_cells", "w1_nuclei"}
    assert cells_key not in store.config["pipelines"]  # no image uses it any more


@pytest.mark.slow
def test_changed_option_or_touched_input_is_redone(client, images, tmp_path):
    out = tmp_path / "res.zarr"
    files = [images / "w0.ome.tif", images / "w1.ome.tif"]
    run_pipeline(files, out, pipeline=NUCLEI, client=client)
    tiled = _pipeline({"step": "segment", "model": "nuclei", "channels": ["DNA"],
                       "tile_size": 256}, {"step": "measure"})
    redo = run_pipeline(files[:1], out, pipeline=tiled, client=client)
    assert redo.done == ["w0"]
    stat = files[1].stat()
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = run_pipeline(files, out, pipeline=tiled, client=client)
    assert touched.skipped == ["w0"] and touched.done == ["w1"]
    entry = open_store(out).config["images"]["w1"]
    assert entry["input"]["mtime_ns"] == stat.st_mtime_ns + 10**9
    assert entry["input"]["bytes"] == stat.st_size


def test_a_changed_model_card_changes_the_key(monkeypatch):
    from cellscale.engine import _provenance
    from cellscale.models import model_info

    before = _provenance.pipeline_key(_provenance.pipeline_record(NUCLEI))
    card = model_info("nuclei")
    retuned = card.model_copy(update={"sha256": "0" * 64})
    monkeypatch.setattr("cellscale.models.model_info", lambda name: retuned)
    assert _provenance.pipeline_key(_provenance.pipeline_record(NUCLEI)) != before


@pytest.mark.slow
def test_overwrite_replaces_everything_but_keeps_the_store_if_nothing_succeeds(
        client, images, tmp_path):
    out = tmp_path / "res.zarr"
    run_pipeline([images], out, pipeline=NUCLEI, client=client)
    report = run_pipeline([images / "w1.ome.tif"], out, pipeline=NUCLEI, client=client,
                          overwrite=True)
    assert report.done == ["w1"]  # not skipped: overwrite redoes everything
    store = open_store(out)
    assert store.labels == ("w1_nuclei",) and store.tables == ("w1",)
    assert list(store.config["images"]) == ["w1"]
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    failed = run_pipeline([broken], out, pipeline=NUCLEI, client=client, overwrite=True)
    assert list(failed.failed) == ["broken"]
    assert open_store(out).tables == ("w1",)  # the old store is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tif", "in", "res.zarr"]


def test_nothing_succeeds_no_store(client, tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    report = run_pipeline([broken], tmp_path / "res.zarr", pipeline=NUCLEI, client=client)
    assert list(report.failed) == ["broken"] and "broken.tif" in report.failed["broken"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tif"]


@pytest.mark.slow
def test_an_interrupted_run_is_marked_and_resumed(client, images, tmp_path):
    out = tmp_path / "res.zarr"

    def stop(event):
        if event.kind == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline([images], out, pipeline=NUCLEI, client=client, on_event=stop)
    store = open_store(out)
    assert not store.complete and store.run["state"] == "interrupted"
    assert len(store.tables) == 1  # the image finished before Ctrl-C is kept, complete
    kept = store.tables[0]
    assert list(store.config["images"]) == [kept]
    # (a task still running on a worker may recreate its scratch folder; the next run removes it)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and ".scratch-" not in p.name] == []
    resumed = run_pipeline([images], out, pipeline=NUCLEI, client=client)
    assert resumed.resumed and resumed.skipped == [kept] and len(resumed.done) == 1
    assert open_store(out).complete


@pytest.mark.slow
def test_two_images_may_not_share_an_element(client, images, tmp_path):
    named = _pipeline({"step": "segment", "model": "nuclei", "channels": ["DNA"]},
                      {"step": "measure", "table": "cells"})
    report = run_pipeline([images], tmp_path / "res.zarr", pipeline=named, client=client)
    assert report.done == ["w0"]
    assert "would replace image 'w0'" in report.failed["w1"]
    assert "w1.ome.tif" in report.failed["w1"]


@pytest.mark.slow
def test_the_store_opens_in_spatialdata_with_a_saved_image(client, images, tmp_path, caplog):
    import logging
    import warnings

    import spatialdata as sd
    import spatialdata._io  # imported lazily; warns on import about ome-zarr

    out = tmp_path / "res.zarr"
    saving = NUCLEI.model_copy(update={"save_image": True})
    run_pipeline([images / "w0.ome.tif"], out, pipeline=saving, client=client)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        sdata = sd.read_zarr(out)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert set(sdata.images) == {"w0_image"} and set(sdata.tables) == {"w0"}
    assert set(sdata.labels) == {"w0_nuclei"}


@pytest.mark.slow
def test_a_replacement_cut_short_is_redone_without_leftovers(client, images, tmp_path,
                                                             monkeypatch):
    from cellscale.engine import _ledger

    out = tmp_path / "res.zarr"
    one = [images / "w0.ome.tif"]
    run_pipeline(one, out, pipeline=NUCLEI, client=client)
    real = _ledger.publish

    def cut_short(job, elements, store):
        real(job, elements[:1], store)  # the first new element is in, then the machine stops
        raise KeyboardInterrupt

    monkeypatch.setattr(_ledger, "publish", cut_short)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(one, out, pipeline=CELLS_ONLY, client=client)
    entry = open_store(out).config["images"]["w0"]
    assert entry["state"] == "replacing"  # neither the old nor the new results are whole
    monkeypatch.undo()
    again = run_pipeline(one, out, pipeline=CELLS_ONLY, client=client)
    assert again.done == ["w0"]
    store = open_store(out)
    assert store.labels == ("w0_cells",) and store.tables == ("w0",) and store.complete
    assert store.table("w0").uns["spatialdata_attrs"]["region"] == "w0_cells"


@pytest.mark.slow
def test_an_image_of_the_same_name_from_another_file_is_refused(client, images, tmp_path):
    out = tmp_path / "res.zarr"
    run_pipeline([images / "w0.ome.tif"], out, pipeline=NUCLEI, client=client)
    other = tmp_path / "plate2"
    other.mkdir()
    (other / "w0.ome.tif").write_bytes((images / "w1.ome.tif").read_bytes())
    report = run_pipeline([other / "w0.ome.tif"], out, pipeline=NUCLEI, client=client)
    assert "already holds image 'w0' from another file" in report.failed["w0"]
    assert str(images / "w0.ome.tif") in report.failed["w0"]
    assert open_store(out).config["images"]["w0"]["input"]["path"] == str(images / "w0.ome.tif")


@pytest.mark.slow
def test_a_store_inside_the_input_folder_is_not_an_input(client, images):
    out = images / "results.zarr"
    first = run_pipeline([images], out, pipeline=NUCLEI, client=client)
    assert sorted(first.done) == ["w0", "w1"]
    again = run_pipeline([images], out, pipeline=NUCLEI, client=client)
    assert sorted(again.skipped) == ["w0", "w1"] and again.ok


def test_an_interrupt_before_the_first_image_is_complete_leaves_no_store(
        client, images, tmp_path, monkeypatch):
    from cellscale.engine import _ledger

    def stop(job, elements, store):
        raise KeyboardInterrupt  # the store was just created; nothing is in it yet

    monkeypatch.setattr(_ledger, "publish", stop)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline([images], tmp_path / "res.zarr", pipeline=NUCLEI, client=client)
    # A task still running on a worker may recreate its scratch folder after the
    # run removed it (the next run removes such leftovers); no store is left.
    left = sorted(p.name for p in tmp_path.iterdir() if ".scratch-" not in p.name)
    assert left == ["in"]
