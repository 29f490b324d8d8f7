"""`cellscale run` and `cellscale demo` against a real `dask scheduler` + `dask worker`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cellscale.data import simulate_nuclei, simulate_tissue
from cellscale.io import open_store, write_image


def _processes():
    path = Path(__file__).parents[1] / "engine" / "dask_processes.py"
    spec = importlib.util.spec_from_file_location("_cli_dask", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.shared()


@pytest.fixture(scope="module")
def scheduler() -> str:
    """A real `dask scheduler` with two `dask worker` processes on loopback (shared)."""
    return _processes().address()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run-in")
    for k in range(2):
        write_image(simulate_tissue(shape=(160, 192), seed=40 + k).image, root / f"s{k}.ome.tif")
    return root


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
    store = open_store(out)
    assert set(store.tables) == {"s0", "s1"}
    assert set(store.labels) == {"s0_cells", "s0_nuclei", "s1_cells", "s1_nuclei"}
    table = store.table("s0")
    assert table.n_obs > 20 and table.obs["nucleus_label"].gt(0).mean() > 0.8
    code, stdout, _ = cli("run", *inputs[:2], "-o", str(out),
                                 "--scheduler", scheduler)
    assert code == 0 and "skipped 2 already done" in stdout and "Processed 0" in stdout


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


def test_unreachable_scheduler_is_explained(cli, images, tmp_path):
    address = f"tcp://127.0.0.1:{_processes().free_port()}"
    code, _, stderr = cli("run", str(images / "s0.ome.tif"), "-o",
                                 str(tmp_path / "r.zarr"), "--scheduler", address)
    assert code == 1 and "cannot reach the Dask scheduler" in stderr


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
    code, _, stderr = cli("demo", "-o", str(out), "--size", "192")
    assert code == 1 and "--overwrite" in stderr
