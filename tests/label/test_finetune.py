"""Fine-tuning on corrected labels in the background, and the server's active-learning routes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.errors import InvalidArgumentError
from cellscale.label._finetune import finetune
from cellscale.segment import Segmenter

#: Enough training to make a model, small enough to finish in seconds.
TINY = {"epochs": 1, "steps_per_epoch": 2, "patch_size": 64, "batch_size": 2}


def _items(n: int = 2, side: int = 128) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for s in range(n):
        smp = simulate_nuclei(shape=(side, side), seed=300 + s, diameter=(18, 30), cytoplasm=0.4,
                              density=0.3)
        out.append((f"img{s}", np.asarray(smp.image.data), smp.labels["nuclei"]))
    return out


def test_finetune_makes_a_loadable_model_whose_card_names_the_tiles(tmp_path):
    items = _items()
    job = finetune(items, out_dir=tmp_path / "ft", minutes=0.5, train_options=TINY,
                   tiles={"img0": [(0, 0, 64, 128), {"y0": 64, "x0": 0, "y1": 128, "x1": 128}]})
    assert job.status in ("running", "done")
    assert job.wait(120) == "done", job.error
    assert job.error is None and job.card is not None and job.card.exists()
    assert "Trained" in job.log_tail()
    seg = Segmenter(str(job.card))
    labels = seg(items[1][1])
    assert labels.shape == (128, 128)
    data = json.loads(job.card.read_text())["training"]["data"]
    tiles = data["labelled"]["tiles"]
    assert [(t["image"], t["y0"], t["y1"]) for t in tiles] == [
        ("img0", 0, 64), ("img0", 64, 128), ("img1", 0, 128)]
    expected = sum(len(np.unique(lab[y0:y1][lab[y0:y1] > 0])) for lab, (y0, y1) in [
        (items[0][2], (0, 64)), (items[0][2], (64, 128)), (items[1][2], (0, 128))])
    assert data["labelled"]["n_objects"] == expected
    assert "3 tile(s) of 2 image(s) (img0, img1)" in data["description"]
    assert sorted(p.name for p in (tmp_path / "ft" / "data" / "images").iterdir()) == [
        "img0_y0_x0.tif", "img0_y64_x0.tif", "img1.tif"]
    state = job.to_json()
    assert state["status"] == "done" and state["tiles"] == 3 and state["card"] == str(job.card)


def test_no_corrected_labels_is_refused(tmp_path):
    name, image, labels = _items(1, 64)[0]
    with pytest.raises(InvalidArgumentError, match="no corrected labels"):
        finetune([(name, image, np.zeros_like(labels))], out_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match="not inside the image"):
        finetune([(name, image, labels)], out_dir=tmp_path, tiles={name: [(0, 0, 65, 10)]})
    with pytest.raises(InvalidArgumentError, match="do not match"):
        finetune([(name, image, labels[:10])], out_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"weights .*missing"):
        finetune([(name, image, labels)], out_dir=tmp_path, base=tmp_path / "nothing.json")


def test_a_failing_training_is_reported_with_its_log(tmp_path):
    job = finetune(_items(2, 64), base="no-such-model", out_dir=tmp_path, train_options=TINY)
    assert job.wait(60) == "failed"
    assert job.card is None
    assert "'no-such-model'" in job.error and "exit code" in job.error
    assert "no-such-model" in job.to_json()["log_tail"]


def test_routes_rank_tiles_finetune_and_switch_unsaved_images(tmp_path):
    pytest.importorskip("fastapi")
    import tifffile
    from fastapi.testclient import TestClient

    from cellscale.label._app import make_app

    paths = []
    for i, (_, image, _) in enumerate(_items(2)):
        paths.append(tmp_path / f"im{i}.tif")
        tifffile.imwrite(paths[-1], image)
    client = TestClient(make_app(paths, model="nuclei"))
    client.app.state.finetune_options = TINY
    try:
        _check_routes(client)
    finally:  # never leave a training process behind
        for entry in client.app.state.finetune_jobs.values():
            entry["job"].cancel()


def _check_routes(client) -> None:
    res = client.get("/api/images/0/uncertain", params={"n": 3, "tile": 64})
    assert res.status_code == 200, res.text
    tiles = res.json()
    assert len(tiles) == 3 and {"y0", "x0", "y1", "x1", "score", "reason"} <= set(tiles[0])
    assert client.get("/api/images/7/uncertain").status_code == 404

    none = client.post("/api/finetune", json={"images": ["0"]})
    assert none.status_code == 422 and "no corrected labels" in none.json()["detail"]

    record = client.get("/api/images/0/labels").json()
    first = client.post("/api/images/0/edit", json={"op": "delete", "label": 1})
    assert first.status_code == 200, first.text
    saved = client.post("/api/images/0/save", json={"base_version": record["version"]})
    assert saved.status_code == 200, saved.text
    client.get("/api/images/1/labels")  # image 1 proposed by the shipped model, never saved
    assert client.post("/api/finetune", json={"minutes": -1}).status_code == 422
    start = client.post("/api/finetune", json={"images": ["0"], "minutes": 0.05})
    assert start.status_code == 200, start.text
    job = start.json()["job"]
    assert start.json()["status"] == "running" and start.json()["images"] == ["im0"]
    again = client.post("/api/finetune", json={"images": ["0"]})
    assert again.status_code == 409
    deadline = time.time() + 90
    while time.time() < deadline:
        state = client.get(f"/api/finetune/{job}").json()
        if state["status"] != "running":
            break
        time.sleep(1)
    assert state["status"] == "done", state["error"]
    assert Path(state["card"]).exists()
    assert state["switched"] == ["1"]  # image 0 has saved labels and keeps them
    app_images = client.app.state.workspace.images
    assert str(app_images[1].proposer.model) == state["card"]
    assert app_images[0].proposer.model != state["card"]
    after = client.get("/api/images/1/labels")
    assert after.status_code == 200 and after.json()["version"] == 0
    assert client.get("/api/finetune/nope").status_code == 404
