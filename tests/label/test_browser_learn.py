"""Active learning in the labelling page, in real headless Chromium (see test_browser.py).

The tiles where the model is least sure are outlined (U) and visited (N); a correction is
saved and the model fine-tuned from the page on a tiny budget; the image without saved
labels is then proposed by the new model. A file of its own: the fine-tuning takes most of
its 20-30 s. Needs /usr/bin/chromium like test_browser.py (skipped without it, failing
when CI is set); screenshots go to the same folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

# The helpers (server in a thread, Chromium, waits) and the skip without Chromium are
# test_browser.py's.
_spec = importlib.util.spec_from_file_location(
    "_label_browser_helpers", Path(__file__).with_name("test_browser.py"))
_tb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tb)  # type: ignore[union-attr]

import httpx

from cellscale.data import simulate_nuclei
from cellscale.label._app import make_app

ARGS, CHROMIUM, Server, playwright_api = _tb.ARGS, _tb.CHROMIUM, _tb.Server, _tb.playwright_api
_artifacts, _centre, _objects, _screen = _tb._artifacts, _tb._centre, _tb._objects, _tb._screen
_server_labels, _settle, _wait = _tb._server_labels, _tb._settle, _tb._wait


def test_uncertain_tiles_and_fine_tuning_from_the_page(tmp_path):
    import tifffile

    paths = []
    for i in range(2):
        sample = simulate_nuclei(shape=(128, 128), seed=10 + i, diameter=18.0, density=0.25)
        paths.append(tmp_path / f"im{i}.tif")
        tifffile.imwrite(paths[-1], np.asarray(sample.image.data))
    app = make_app(paths)
    # A tiny training budget: the test checks the loop, not the model's accuracy.
    app.state.finetune_options = {"epochs": 1, "steps_per_epoch": 2, "patch_size": 64,
                                  "batch_size": 2}
    server = Server(app)
    api = httpx.Client(base_url=server.url, timeout=60)
    shots = _artifacts(clear=False)
    state = "window.cellscaleLabel.state"
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 760})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(server.url)
                _settle(page, ready=True)
                api.get("/api/images/1/labels")  # image 1: proposed, never saved

                # U outlines the tiles where the model is least sure; N zooms on each in turn.
                page.keyboard.press("u")
                _settle(page)
                tiles = page.evaluate(f"{state}.uncertain")
                assert len(tiles) >= 2 and tiles[0]["score"] >= tiles[-1]["score"]
                page.keyboard.press("n")
                assert page.evaluate(f"{state}.uncertainAt") == 0
                t = tiles[0]
                cy, cx = (t["y0"] + t["y1"]) / 2 - 0.5, (t["x0"] + t["x1"]) / 2 - 0.5  # pixels
                sx, sy = _screen(page, cy, cx)
                box = page.get_by_test_id("view").bounding_box()
                assert abs(sx - (box["x"] + box["width"] / 2)) < 2  # the tile is centred
                assert abs(sy - (box["y"] + box["height"] / 2)) < 2
                page.screenshot(path=shots / "learn-01-uncertain-tile.png")

                # Correct (delete an object) and save, then fine-tune on it from the page.
                page.keyboard.press("0")
                labels = _server_labels(api)
                target = _objects(labels)[0]
                page.keyboard.press("v")
                page.mouse.click(*_screen(page, *_centre(labels, target)))
                page.keyboard.press("Delete")
                _settle(page, count=len(_objects(labels)) - 1)
                page.keyboard.press("Control+s")
                _wait(page, lambda: page.get_by_test_id("status-version").inner_text() == "1")
                page.get_by_test_id("finetune-minutes").fill("0.05")
                page.get_by_test_id("finetune").click()
                _wait(page, lambda: page.evaluate("document.body.dataset.finetune || ''") != "",
                      timeout=150)
                text = page.get_by_test_id("status-message").inner_text()
                assert page.evaluate("document.body.dataset.finetune") == "done", text
                assert "fine-tuned model ready" in text and ".json" in text
                images = app.state.workspace.images
                assert str(images[1].proposer.model).endswith(".json")  # proposes with the new model
                assert images[0].version == 1 and target not in _server_labels(api)
                page.screenshot(path=shots / "learn-02-fine-tuned.png")
                assert not errors, errors
            finally:
                browser.close()
    finally:
        for entry in getattr(app.state, "finetune_jobs", {}).values():
            entry["job"].cancel()
        api.close()
        server.stop()
