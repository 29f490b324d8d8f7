"""`cellscale run` and `cellscale demo` against a real `dask scheduler` + `dask worker`."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from cellscale.data import simulate_nuclei, simulate_tissue
from cellscale.io import open_store, write_image


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run-in")
    for k in range(2):
        write_image(simulate_tissue(shape=(160, 192), seed=40 + k).image, root / f"s{k}.ome.tif")
    return root


@pytest.mark.slow
def test_run_writes_a_store_resumes_and_reports_bad_files(cli, scheduler, images, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "res.zarr"
    inputs = [str(images / "s0.ome.tif"), str(images / "s1.ome.tif"), str(bad)]
    code, stdout, stderr = cli("run", *inputs, "-o", str(out),
                                      "--scheduler", scheduler)
    assert code == 1
    assert "Processed 2 image(s)" in stdout and "1 failed" in stdout and "2 worker(s)" in stdout
    assert "error: bad:" in stderr and "bad.tif" in stderr
    assert stderr.count("bad.tif") == 1  # each failure is reported once
    store = open_store(out)
    assert set(store.tables) == {"s0", "s1"}
    assert set(store.labels) == {"s0_cells", "s0_nuclei", "s1_cells", "s1_nuclei"}
    table = store.table("s0")
    assert table.n_obs > 20 and table.obs["nucleus_label"].gt(0).mean() > 0.8
    code, stdout, _ = cli("run", *inputs[:2], "-o", str(out),
                                 "--scheduler", scheduler)
    assert code == 0 and "skipped 2 already done" in stdout and "Processed 0" in stdout


@pytest.mark.slow
def test_run_with_a_pipeline_file(cli, scheduler, tmp_path):
    image = tmp_path / "dapi.ome.zarr"
    write_image(simulate_nuclei(shape=(200, 240), seed=3, diameter=14, density=0.3).image, image)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("steps:\n  - step: segment\n    model: nuclei\n  - step: measure\n"
                        "    table: nuclei_table\n")
    out = tmp_path / "res.zarr"
    code, _, stderr = cli("run", str(image), "-o", str(out), "--pipeline",
                                 str(pipeline), "--scheduler", scheduler)
    assert code == 0, stderr
    store = open_store(out)
    assert store.tables == ("nuclei_table",) and store.labels == ("dapi_nuclei",)
    assert store.table("nuclei_table").n_obs == store.label_image("dapi_nuclei").max() > 10


@pytest.mark.parametrize("text, message", [
    ("steps:\n  - step: segmnt\n", "unknown step 'segmnt'"),
    ("steps:\n  - step: segment\n    modle: nuclei\n", "modle"),
    ("steps: [", "not valid YAML"),
])
def test_bad_pipeline_files_are_explained(cli, tmp_path, images, text, message):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(text)
    code, _, stderr = cli("run", str(images / "s0.ome.tif"), "-o",
                                 str(tmp_path / "r.zarr"), "--pipeline", str(pipeline))
    assert code == 1 and message in stderr and "p.yaml" in stderr


def test_unreachable_scheduler_is_explained(cli, images, tmp_path, dask_processes):
    address = f"tcp://127.0.0.1:{dask_processes.free_port()}"
    code, _, stderr = cli("run", str(images / "s0.ome.tif"), "-o",
                                 str(tmp_path / "r.zarr"), "--scheduler", address)
    assert code == 1 and "cannot reach the Dask scheduler" in stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("limit", ["lots", "10MB"])
def test_bad_memory_limit_is_explained_before_anything_is_written(cli, images, tmp_path, limit):
    code, _, stderr = cli("run", str(images / "s0.ome.tif"), "-o", str(tmp_path / "r.zarr"),
                          "--memory-limit", limit)
    assert code == 1 and "memory limit" in stderr and limit in stderr
    assert list(tmp_path.iterdir()) == []


def test_every_input_failing_leaves_no_store(cli, scheduler, tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    for name in ("a.tif", "b.tif"):
        (bad / name).write_bytes(b"not an image")
    code, stdout, stderr = cli("run", str(bad), "-o", str(tmp_path / "r.zarr"),
                               "--scheduler", scheduler)
    assert code == 1 and "no results store written" in stdout
    assert stderr.count("a.tif") == 1 and stderr.count("b.tif") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.slow
def test_ctrl_c_keeps_finished_images_and_the_same_command_resumes(cli, scheduler, images,
                                                                    tmp_path, monkeypatch):
    from cellscale.cli import _run

    out = tmp_path / "r.zarr"
    args = ("run", str(images), "-o", str(out), "--scheduler", scheduler)
    calls = _run._Bar.__call__

    def stop_after_first(self, event):
        calls(self, event)
        if event.kind == "done":
            raise KeyboardInterrupt

    monkeypatch.setattr(_run._Bar, "__call__", stop_after_first)
    code, _, stderr = cli(*args)
    assert code == 130 and "interrupted" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
    store = open_store(out)
    assert not store.complete and len(store.tables) == 1
    monkeypatch.undo()
    code, stdout, _ = cli(*args)
    assert code == 0 and "Resumed an interrupted run" in stdout
    assert "Processed 1 image(s), skipped 1 already done" in stdout
    assert open_store(out).complete


def _cellscale(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cellscale", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("size", [128, 640])  # one task; a chunked image (Dask graphs)
def test_a_damaged_chunk_is_one_paragraph_without_a_worker_traceback(tmp_path, size):
    """A local cluster's workers write to this terminal: their task errors must not."""
    image = tmp_path / "damaged.ome.zarr"
    write_image(simulate_tissue(shape=(size, size), seed=1).image, image, chunks=128)
    # The DNA channel's last chunk: read when segmenting (the other channels only when measuring).
    chunk = [p for p in sorted((image / "s0" / "c" / "0").rglob("*")) if p.is_file()][-1]
    chunk.write_bytes(b"garbage" * 10)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("steps:\n  - step: segment\n    model: cells\n  - step: measure\n"
                        "chunk_size: 256\n")
    process = _cellscale("run", str(image), "-o", str(tmp_path / "r.zarr"), "--workers", "1",
                         "--pipeline", str(pipeline))
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert "Traceback" not in stderr and "distributed.worker" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("cellscale: error")]
    assert len(lines) == 1 and "damaged.ome.zarr" in lines[0] and "damaged" in lines[0]
    assert len(stderr) < 600, stderr
    assert not (tmp_path / "r.zarr").exists()


@pytest.mark.slow
def test_a_real_ctrl_c_gives_one_line_and_an_incomplete_store(scheduler, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(6):
        write_image(simulate_nuclei(shape=(256, 256), seed=k, diameter=14, density=0.3).image,
                    folder / f"n{k}.ome.tif")
    out = tmp_path / "r.zarr"
    process = _cellscale("run", str(folder), "-o", str(out), "--scheduler", scheduler)
    deadline = time.monotonic() + 120
    while not any((out / "tables").glob("n*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the first image is finished
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "CancelledError" not in stderr, stderr
    assert stderr.startswith("cellscale: interrupted") and len(stderr.splitlines()) == 1
    store = open_store(out)
    assert not store.complete and 1 <= len(store.tables) < 6
    # The same command finishes the run (and removes the scratch folder that workers of
    # an external cluster may still have written to after the interrupt).
    process = _cellscale("run", str(folder), "-o", str(out), "--scheduler", scheduler)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "Resumed an interrupted run" in stdout and f"skipped {len(store.tables)}" in stdout
    assert open_store(out).complete and len(open_store(out).tables) == 6
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_demo_runs_and_draws_an_overview(cli, scheduler, tmp_path):
    from PIL import Image

    out = tmp_path / "demo"
    code, stdout, stderr = cli("demo", "-o", str(out), "--size", "192",
                                      "--scheduler", scheduler)
    assert code == 0, stderr
    found = int(stdout.split("Found ")[1].split(" cells")[0])
    f1 = float(stdout.split("F1@0.5 vs ground truth ")[1].split(")")[0])
    assert found > 30 and f1 > 0.7
    picture = np.asarray(Image.open(out / "overview.png"))
    assert picture.shape == (192, 192, 3)
    # Outlines are drawn in marker colours, not only the grey/blue background.
    assert (np.abs(picture[..., 0].astype(int) - picture[..., 2]) > 100).sum() > 500
    store = open_store(out / "results.zarr")
    assert store.images == ("tissue_image",) and store.table("tissue").n_obs == found
    assert store.complete and list(store.config["images"]) == ["tissue"]
    code, _, stderr = cli("demo", "-o", str(out), "--size", "192")
    assert code == 1 and "--overwrite" in stderr


@pytest.mark.slow
def test_the_demo_store_opens_in_spatialdata_without_warnings(cli, scheduler, tmp_path, caplog):
    import spatialdata as sd
    import spatialdata._io  # imported lazily; warns on import about ome-zarr

    out = tmp_path / "demo"
    code, _, stderr = cli("demo", "-o", str(out), "--size", "160", "--scheduler", scheduler)
    assert code == 0, stderr
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        sdata = sd.read_zarr(out / "results.zarr")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert set(sdata.images) == {"tissue_image"} and set(sdata.tables) == {"tissue"}
    assert set(sdata.labels) == {"tissue_cells", "tissue_nuclei"}
    assert sd.get_element_annotators(sdata, "tissue_cells") == {"tissue"}


def test_ctrl_c_in_the_demo_leaves_nothing_in_the_way(cli, scheduler, tmp_path, monkeypatch):
    from cellscale.cli import _run

    def stop(self, event):
        if event.kind == "start":
            raise KeyboardInterrupt

    monkeypatch.setattr(_run._Bar, "__call__", stop)
    out = tmp_path / "demo"
    code, _, stderr = cli("demo", "-o", str(out), "--size", "160", "--scheduler", scheduler)
    assert code == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()  # the next `cellscale demo` starts afresh


@pytest.mark.parametrize("limit", ["lots", "1MB"])
def test_demo_checks_its_options_first(cli, tmp_path, limit):
    code, _, stderr = cli("demo", "-o", str(tmp_path / "demo"), "--memory-limit", limit)
    assert code == 1 and "memory limit" in stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_channels_get_advice_in_flags(cli, scheduler, tmp_path):
    from cellscale.io import Image

    pixels = np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.uint8)
    write_image(Image.from_array(pixels, "cyx", channel_names=["c1", "c2", "c3"]),
                tmp_path / "odd.ome.tif")
    code, _, stderr = cli("run", str(tmp_path / "odd.ome.tif"), "-o", str(tmp_path / "r.zarr"),
                          "--scheduler", scheduler)
    assert code == 1 and "odd.ome.tif" in stderr and "--channels c1,c2" in stderr
    assert "channels=" not in stderr  # Python advice is not shown on the command line


def test_options_and_outputs_are_checked_before_anything_is_written(cli, images, tmp_path):
    code, _, stderr = cli("run", str(images), "-o", str(tmp_path / "r.zarr"), "--axes", "cqx")
    assert code == 1 and "'q'" in stderr and list(tmp_path.iterdir()) == []
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    code, _, stderr = cli("run", str(images), "-o", str(folder))
    assert code == 1 and "not a results store" in stderr and "--overwrite" in stderr
    assert (folder / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_overwrite_redoes_everything(cli, scheduler, images, tmp_path):
    out = tmp_path / "r.zarr"
    args = ("run", str(images / "s0.ome.tif"), "-o", str(out), "--scheduler", scheduler)
    assert cli(*args)[0] == 0
    code, stdout, _ = cli(*args, "--overwrite")
    assert code == 0 and "Processed 1 image(s), skipped 0" in stdout
    assert open_store(out).complete
