"""``cellscale label`` end to end in real headless Chromium (Debian's, driven by Playwright).

The real server (uvicorn, in a thread) serves a simulated nuclei image; the test
plants the errors a user corrects (a merged pair, a false positive, a missed
nucleus) through the REST API, then corrects them in the page with the mouse
and keyboard as a user would: split, delete, add a cell, save (Ctrl+S), reload,
undo (Ctrl+Z), and a save that conflicts with another session ("keep mine").

Screenshots of every step are kept in ``out/test-artifacts/label/`` under the
repository root (ignored by git), or in ``$CELLSCALE_TEST_ARTIFACTS/label/``.

Needs ``/usr/bin/chromium`` (``scripts/install-chromium.sh`` installs it): the
test is skipped without it, and fails when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
playwright_api = pytest.importorskip("playwright.sync_api")

import httpx

from cellscale.data import simulate_nuclei
from cellscale.label import LabelStore, labels_path
from cellscale.label._app import make_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]

if not CHROMIUM.exists():
    reason = (f"{CHROMIUM} is missing: the browser test needs Debian's chromium; install it with "
              "scripts/install-chromium.sh (sudo apt-get install -y chromium)")
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def _artifacts(*, clear: bool = True) -> Path:
    base = os.environ.get("CELLSCALE_TEST_ARTIFACTS")
    folder = (Path(base) if base else ROOT / "out" / "test-artifacts") / "label"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("[0-9]*.png") if clear else ():
        old.unlink()
    return folder


def _decode(record: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(record["data"]), "<u4").reshape(record["h"], record["w"])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


class Server:
    """The app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _contact_line(labels: np.ndarray, a: int, b: int) -> list[list[float]]:
    """A line along the boundary where objects a and b touch, a few pixels past both ends."""
    points = []
    for axis in (0, 1):
        lo = [slice(None), slice(None)]
        hi = [slice(None), slice(None)]
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        u, v = labels[tuple(lo)], labels[tuple(hi)]
        ys, xs = np.nonzero(((u == a) & (v == b)) | ((u == b) & (v == a)))
        points.append(np.stack([ys + 0.5 * (axis == 0), xs + 0.5 * (axis == 1)], axis=1))
    pts = np.concatenate(points)
    centre = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - centre)
    direction = vt[0]
    reach = np.abs((pts - centre) @ direction).max() + 5.0
    return [(centre - reach * direction).tolist(), (centre + reach * direction).tolist()]


def _plant_errors(api: httpx.Client, labels: np.ndarray) -> dict:
    """Merge the two proposals that touch most, paint a false positive, delete a nucleus."""
    contacts: dict[tuple[int, int], int] = {}
    for u, v in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = (u != v) & (u > 0) & (v > 0)
        for p, q in zip(u[m].tolist(), v[m].tolist()):
            key = (min(p, q), max(p, q))
            contacts[key] = contacts.get(key, 0) + 1
    (a, b), _ = max(contacts.items(), key=lambda kv: kv[1])
    line = _contact_line(labels, a, b)
    pair = {"a": labels == a, "b": labels == b, "line": line}
    assert api.post("/api/images/0/edit", json={"op": "merge", "a": a, "b": b}).status_code == 200

    from scipy import ndimage as ndi

    room = ndi.distance_transform_edt(labels == 0)
    room[:12], room[-12:], room[:, :12], room[:, -12:] = 0, 0, 0, 0
    fy, fx = (int(v) for v in np.unravel_index(np.argmax(room), room.shape))
    painted = api.post("/api/images/0/edit", json={"op": "paint", "points": [[fy, fx]],
                                                    "radius": 5}).json()
    false_positive = painted["label"]

    sizes = np.bincount(labels.ravel())
    others = [int(c) for c in np.unique(labels)[1:] if c not in (a, b)]
    touching = {p for pq in contacts for p in pq}
    lonely = [c for c in others if c not in touching] or others
    missed = max(lonely, key=lambda c: sizes[c])
    ys, xs = np.nonzero(labels == missed)
    api.post("/api/images/0/edit", json={"op": "delete", "label": missed})
    return {"pair": pair, "fp": (fy, fx, false_positive), "missed": labels == missed,
            "missed_at": (float(ys.mean()), float(xs.mean()))}


def test_label_page_end_to_end(tmp_path):
    import tifffile

    shots = _artifacts()
    sample = simulate_nuclei(shape=(192, 192), seed=1, diameter=20.0, density=0.3)
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, np.asarray(sample.image.data))
    server = Server(make_app([path], author="tester"))
    api = httpx.Client(base_url=server.url, timeout=60)
    try:
        proposals = _decode(api.get("/api/images/0/labels").json())
        planted = _plant_errors(api, proposals)
        n_planted = api.get("/api/images/0/labels").json()["objects"]
        _drive(server.url, api, planted, n_planted, path, shots)
    finally:
        api.close()
        server.stop()
    print(f"screenshots in {shots}")


def _drive(url: str, api: httpx.Client, planted: dict, n: int, path: Path, shots: Path) -> None:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            _settle(page, ready=True)
            assert page.get_by_test_id("status-count").inner_text() == str(n)
            assert page.get_by_test_id("status-version").inner_text() == "0"
            page.screenshot(path=shots / "01-opened.png")

            # Split the merged pair: draw a line along where the two nuclei touch.
            page.keyboard.press("s")
            _stroke(page, planted["pair"]["line"])
            _settle(page, count=n + 1)
            labels = _server_labels(api)
            for part in ("a", "b"):
                truth = planted["pair"][part]
                got = np.bincount(labels[truth], minlength=2)[1:].argmax() + 1
                assert _iou(labels == got, truth) > 0.7, part
            page.screenshot(path=shots / "02-split.png")

            # Delete the false positive: pick it (V, click), then Delete.
            fy, fx, fp = planted["fp"]
            page.keyboard.press("v")
            page.mouse.click(*_screen(page, fy, fx))
            _wait(page, lambda: page.get_by_test_id("status-selected").inner_text() == str(fp))
            page.keyboard.press("Delete")
            _settle(page, count=n)
            assert fp not in _server_labels(api)
            page.screenshot(path=shots / "03-deleted.png")

            # Add the missed nucleus with one click (A), seeded by the model's maps.
            page.keyboard.press("a")
            page.mouse.click(*_screen(page, *planted["missed_at"]))
            _settle(page, count=n + 1)
            labels = _server_labels(api)
            my, mx = (int(round(v)) for v in planted["missed_at"])
            assert labels[my, mx] > 0
            assert _iou(labels == labels[my, mx], planted["missed"]) > 0.6
            page.screenshot(path=shots / "04-added.png")

            # Save (Ctrl+S): version 1 on disk, equal to what the page shows.
            assert page.get_by_test_id("status-unsaved").inner_text() != ""
            page.keyboard.press("Control+s")
            _wait(page, lambda: page.get_by_test_id("status-version").inner_text() == "1")
            assert page.get_by_test_id("status-unsaved").inner_text() == ""
            saved, version = LabelStore(path, labels.shape).load()
            assert version == 1
            np.testing.assert_array_equal(saved, labels)
            np.testing.assert_array_equal(_page_labels(page, labels.shape), saved)
            page.screenshot(path=shots / "05-saved.png")

            # Reload: the edits are there; a new server on the image loads them from disk too.
            page.reload()
            _settle(page, ready=True)
            assert page.get_by_test_id("status-count").inner_text() == str(n + 1)
            assert page.get_by_test_id("status-version").inner_text() == "1"
            np.testing.assert_array_equal(_page_labels(page, labels.shape), saved)
            from fastapi.testclient import TestClient

            fresh = TestClient(make_app([path])).get("/api/images/0/labels").json()
            assert fresh["version"] == 1 and fresh["objects"] == n + 1
            page.screenshot(path=shots / "06-reloaded.png")

            # Undo (Ctrl+Z) takes the added cell away again, and redo (Ctrl+Y) brings it back.
            page.get_by_test_id("view").focus()
            page.keyboard.press("Control+z")
            _settle(page, count=n)
            assert _server_labels(api)[my, mx] == 0
            assert page.get_by_test_id("status-unsaved").inner_text() != ""
            page.screenshot(path=shots / "07-undone.png")
            page.keyboard.press("Control+y")
            _settle(page, count=n + 1)
            page.keyboard.press("Control+z")
            _settle(page, count=n)

            # Another session saves in between: Ctrl+S is refused with the reason, and
            # "keep mine" saves ours while keeping theirs as a conflict copy.
            other = LabelStore(path, labels.shape)
            other.save(saved, base_version=1, author="other", edits=[])
            page.keyboard.press("Control+s")
            _wait(page, lambda: page.get_by_test_id("conflict").is_visible())
            assert "version" in page.get_by_test_id("conflict-message").inner_text()
            assert page.get_by_test_id("status-version").inner_text() == "1"
            page.screenshot(path=shots / "08-conflict.png")
            page.get_by_test_id("keep-mine").click()
            _wait(page, lambda: page.get_by_test_id("status-version").inner_text() == "3")
            assert len(list(path.parent.glob("nuclei.labels.conflict-*.zarr"))) == 1
            assert LabelStore(path, labels.shape).load()[0][my, mx] == 0
            page.screenshot(path=shots / "09-kept-mine.png")
            assert not errors, errors
        finally:
            browser.close()
    assert labels_path(path).is_dir()


def _screen(page, y: float, x: float) -> tuple[float, float]:
    return tuple(page.evaluate("([y, x]) => window.cellscaleLabel.toScreen(y, x)", [y, x]))


def _stroke(page, line: list[list[float]], steps: int = 12) -> None:
    (y0, x0), (y1, x1) = line
    page.mouse.move(*_screen(page, y0, x0))
    page.mouse.down()
    for k in range(1, steps + 1):
        t = k / steps
        page.mouse.move(*_screen(page, y0 + t * (y1 - y0), x0 + t * (x1 - x0)))
    page.mouse.up()


def _wait(page, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            message = page.get_by_test_id("status-message").inner_text()
            raise AssertionError(f"the page did not get there; its message: {message!r}")
        page.wait_for_timeout(50)


def _settle(page, *, ready: bool = False, count: int | None = None) -> None:
    """Wait until the page is idle (no request in flight) and, if given, shows ``count`` objects."""
    if ready:
        _wait(page, lambda: page.evaluate("document.body.dataset.ready") in ("1", "error"))
        assert page.evaluate("document.body.dataset.ready") == "1", \
            page.get_by_test_id("status-message").inner_text()
    _wait(page, lambda: page.evaluate("document.body.dataset.busy || '0'") == "0")
    if count is not None:
        _wait(page, lambda: page.get_by_test_id("status-count").inner_text() == str(count))


def _server_labels(api: httpx.Client) -> np.ndarray:
    return _decode(api.get("/api/images/0/labels").json())


def _page_labels(page, shape: tuple[int, int]) -> np.ndarray:
    values = page.evaluate("Array.from(window.cellscaleLabel.state.labels)")
    return np.asarray(values, dtype=np.uint32).reshape(shape)


def test_tools_zoom_pan_and_a_bad_labels_file_in_the_page(tmp_path):
    import tifffile

    sample = simulate_nuclei(shape=(128, 128), seed=2, diameter=18.0, density=0.25)
    good, bad = tmp_path / "good.tif", tmp_path / "bad.tif"
    tifffile.imwrite(good, np.asarray(sample.image.data))
    tifffile.imwrite(bad, np.asarray(sample.image.data))
    LabelStore(bad, (64, 64)).save(np.ones((64, 64), np.uint32), base_version=0, author="x",
                                   edits=[])
    movie = tmp_path / "movie.tif"
    frames = [np.asarray(simulate_nuclei(shape=(96, 96), seed=s, diameter=16.0).image.data)
              for s in (3, 4)]
    tifffile.imwrite(movie, np.stack(frames), imagej=True, metadata={"axes": "TYX"})
    hist = tmp_path / "hist.tif"
    tifffile.imwrite(hist, np.asarray(sample.image.data))
    LabelStore(hist, (128, 128)).save(np.asarray(sample.labels["nuclei"]), base_version=0,
                                      author="x", edits=[])
    (labels_path(hist) / "history.json").write_text("{ not json")
    server = Server(make_app([good, bad, movie, hist]))
    api = httpx.Client(base_url=server.url, timeout=60)
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                _use_tools(browser.new_page(viewport={"width": 1000, "height": 760}), server.url,
                           api, _artifacts(clear=False), movie)
            finally:
                browser.close()
    finally:
        api.close()
        server.stop()


def _objects(labels: np.ndarray) -> list[int]:
    """Object ids, largest first."""
    sizes = np.bincount(labels.ravel())
    return [int(i) for i in np.argsort(sizes[1:])[::-1] + 1 if sizes[i] > 0]


def _centre(labels: np.ndarray, label: int) -> tuple[float, float]:
    """A pixel well inside an object (its deepest point)."""
    from scipy import ndimage as ndi

    depth = ndi.distance_transform_edt(labels == label)
    return tuple(float(v) for v in np.unravel_index(np.argmax(depth), depth.shape))


def _use_tools(page, url: str, api: httpx.Client, shots: Path, movie: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    _settle(page, ready=True)
    state = "window.cellscaleLabel.state"
    labels = _server_labels(api)
    n = len(_objects(labels))

    # Zoom with the wheel, pan with the middle button and with space + drag; a click still
    # picks the object under the pointer.
    scale = page.evaluate(f"{state}.scale")
    cx, cy = _screen(page, 64, 64)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -250)
    _wait(page, lambda: page.evaluate(f"{state}.scale") > scale * 1.2)
    ox = page.evaluate(f"{state}.ox")
    page.mouse.down(button="middle")
    page.mouse.move(cx + 40, cy + 10, steps=4)
    page.mouse.up(button="middle")
    assert abs(page.evaluate(f"{state}.ox") - (ox + 40)) < 1
    page.keyboard.down(" ")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 40, cy - 10, steps=4)
    page.mouse.up()
    page.keyboard.up(" ")
    assert abs(page.evaluate(f"{state}.ox") - ox) < 1
    box = page.get_by_test_id("view").bounding_box()

    def on_canvas(point: tuple[float, float]) -> bool:
        return (box["x"] + 5 < point[0] < box["x"] + box["width"] - 5
                and box["y"] + 5 < point[1] < box["y"] + box["height"] - 5)

    target = next(o for o in _objects(labels) if on_canvas(_screen(page, *_centre(labels, o))))
    page.keyboard.press("v")
    page.mouse.click(*_screen(page, *_centre(labels, target)))
    _wait(page, lambda: page.get_by_test_id("status-selected").inner_text() == str(target))
    page.screenshot(path=shots / "tools-01-zoomed.png")
    page.keyboard.press("0")  # fit the image again
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    assert page.get_by_test_id("help-panel").is_visible()
    assert "split the object" in page.get_by_test_id("help-panel").inner_text()
    page.get_by_test_id("help").click()
    assert not page.get_by_test_id("help-panel").is_visible()

    # Paint a new object with a bigger brush (]), then erase it away.
    from scipy import ndimage as ndi

    room = ndi.distance_transform_edt(labels == 0)
    room[:10], room[-10:], room[:, :10], room[:, -10:] = 0, 0, 0, 0
    py, px = (int(v) for v in np.unravel_index(np.argmax(room), room.shape))
    page.keyboard.press("b")
    for _ in range(2):
        page.keyboard.press("]")
    assert page.get_by_test_id("brush-size").inner_text() == "6"
    _stroke(page, [[py, px - 3], [py, px + 3]], steps=4)
    _settle(page, count=n + 1)
    painted = _server_labels(api)
    new = int(painted[py, px])
    assert new > 0 and new not in labels and (painted == new).sum() > 100
    assert page.get_by_test_id("status-selected").inner_text() == str(new)
    page.screenshot(path=shots / "tools-02-painted.png")
    page.keyboard.press("e")
    _stroke(page, [[py, px - 3], [py, px + 3]], steps=4)
    _settle(page, count=n)
    assert new not in _server_labels(api)

    # Fill: the picked object floods the clicked one (same value, 4-connected region).
    keep, gone = _objects(labels)[:2]
    page.keyboard.press("v")
    page.mouse.click(*_screen(page, *_centre(labels, keep)))
    page.keyboard.press("f")
    page.mouse.click(*_screen(page, *_centre(labels, gone)))
    _settle(page, count=n - 1)
    filled = _server_labels(api)
    assert gone not in filled and (filled == keep).sum() == ((labels == keep) | (labels == gone)).sum()
    page.get_by_test_id("undo").click()
    _settle(page, count=n)

    # Merge (M): click the object to keep, then the one to merge into it; undo, redo buttons.
    a, b = _objects(labels)[2:4]
    page.keyboard.press("m")
    page.mouse.click(*_screen(page, *_centre(labels, a)))
    page.mouse.click(*_screen(page, *_centre(labels, b)))
    _settle(page, count=n - 1)
    assert b not in _server_labels(api)
    page.get_by_test_id("undo").click()
    _settle(page, count=n)
    page.get_by_test_id("redo").click()
    _settle(page, count=n - 1)
    page.screenshot(path=shots / "tools-03-merged.png")
    np.testing.assert_array_equal(_page_labels(page, labels.shape), _server_labels(api))

    # A labels file that does not match its image: the page shows the server's reason.
    page.get_by_test_id("image-select").select_option("1")
    _wait(page, lambda: page.evaluate("document.body.dataset.ready") == "error")
    text = page.get_by_test_id("status-message").inner_text()
    assert "bad.labels.zarr" in text and "64" in text
    assert page.evaluate(f"{state}.labels") is None  # nothing of the other image on show
    assert page.get_by_test_id("status-count").inner_text() == "-"
    # The long message wraps the status line: the canvas's pixels follow its new size.
    _wait(page, lambda: page.evaluate(
        "(v => v.width === v.clientWidth && v.height === v.clientHeight)"
        "(document.getElementById('view'))"))

    # A movie: step to the next frame (.) and see its own labels.
    page.get_by_test_id("image-select").select_option("2")
    _settle(page, ready=True)
    assert page.get_by_test_id("frame").is_visible() and page.title().startswith("movie.tif")
    page.keyboard.press(".")  # the keys go to the image after choosing from the list
    _wait(page, lambda: page.get_by_test_id("frame").input_value() == "1")
    _settle(page, ready=True)
    second = _decode(api.get("/api/images/2/labels", params={"frame": 1}).json())
    np.testing.assert_array_equal(_page_labels(page, second.shape), second)
    assert page.get_by_test_id("status-count").inner_text() == str(len(_objects(second)))
    page.screenshot(path=shots / "tools-05-movie-frame-1.png")
    page.get_by_test_id("export-ctc").click()
    _wait(page, lambda: "tracks" in page.get_by_test_id("status-message").inner_text())
    assert (movie.parent / "movie_RES" / "res_track.txt").exists()

    # A corrupt edit history: the labels open, and the page says what happened to the history.
    page.get_by_test_id("image-select").select_option("3")
    _settle(page, ready=True)
    text = page.get_by_test_id("status-message").inner_text()
    assert "history" in text and "hist.labels.history-corrupt-" in text, text
    assert page.get_by_test_id("status-version").inner_text() == "1"
    page.screenshot(path=shots / "tools-06-corrupt-history.png")
    page.screenshot(path=shots / "tools-04-bad-labels.png")
    assert not errors, errors


def test_a_large_plane_is_labelled_through_a_window_that_follows_the_view(tmp_path):
    import tifffile

    # ?window=96 makes this 192 x 192 image "large": the page holds the labels of a 96 x 96
    # window over a subsampled overview, as it does for planes over 3072 pixels by default.
    sample = simulate_nuclei(shape=(192, 192), seed=5, diameter=18.0, density=0.3)
    path = tmp_path / "large.tif"
    tifffile.imwrite(path, np.asarray(sample.image.data))
    server = Server(make_app([path]))
    api = httpx.Client(base_url=server.url, timeout=60)
    shots = _artifacts(clear=False)
    state = "window.cellscaleLabel.state"

    def window() -> tuple[int, int, int, int]:
        return tuple(page.evaluate(f"[{state}.ly0, {state}.lx0, {state}.lh, {state}.lw]"))

    def page_matches_server() -> None:
        y0, x0, h, w = window()
        region = _decode(api.get("/api/images/0/labels",
                                 params={"y0": y0, "x0": x0, "h": h, "w": w}).json())
        np.testing.assert_array_equal(_page_labels(page, (h, w)), region)

    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 900, "height": 700})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(server.url + "/?window=96")
                _settle(page, ready=True)
                assert page.evaluate(f"{state}.windowed") and window() == (48, 48, 96, 96)
                page_matches_server()
                full = _server_labels(api)
                assert page.get_by_test_id("status-count").inner_text() == str(len(_objects(full)))
                page.screenshot(path=shots / "window-01-opened.png")

                # Zoom in on the top-left corner: the window moves there and its labels load.
                page.mouse.move(*_screen(page, 10, 10))
                page.mouse.wheel(0, -600)
                _wait(page, lambda: page.evaluate("document.body.dataset.window") == "0,0")
                _settle(page)
                page_matches_server()
                page.screenshot(path=shots / "window-02-corner.png")

                # Edit there (paint a new object), and the page's window still equals the server's.
                labels = _server_labels(api)
                from scipy import ndimage as ndi

                room = ndi.distance_transform_edt(labels[:90, :90] == 0)
                py, px = (int(v) for v in np.unravel_index(np.argmax(room), room.shape))
                page.keyboard.press("b")
                _stroke(page, [[py, px - 2], [py, px + 2]], steps=3)
                _settle(page, count=len(_objects(labels)) + 1)
                assert _server_labels(api)[py, px] > 0
                page_matches_server()

                # Pan to the far corner with the middle button, a drag at a time: the window follows.
                for _ in range(12):
                    page.mouse.move(800, 600)
                    page.mouse.down(button="middle")
                    page.mouse.move(100, 100, steps=4)
                    page.mouse.up(button="middle")
                    page.wait_for_timeout(400)  # the window follows once the view rests (250 ms)
                    _settle(page)
                    if page.evaluate("document.body.dataset.window") == "96,96":
                        break
                assert page.evaluate("document.body.dataset.window") == "96,96"
                _settle(page)
                page_matches_server()
                page.screenshot(path=shots / "window-03-far-corner.png")
                assert not errors, errors
            finally:
                browser.close()
    finally:
        api.close()
        server.stop()


def test_two_tabs_edit_and_save_the_same_labels_and_nothing_is_lost(tmp_path):
    import tifffile

    sample = simulate_nuclei(shape=(128, 128), seed=6, diameter=18.0, density=0.25)
    path = tmp_path / "shared.tif"
    tifffile.imwrite(path, np.asarray(sample.image.data))
    server = Server(make_app([path]))
    api = httpx.Client(base_url=server.url, timeout=60)
    shots = _artifacts(clear=False)
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                one, two = (browser.new_page(viewport={"width": 900, "height": 700})
                            for _ in range(2))
                for page in (one, two):
                    page.goto(server.url)
                    _settle(page, ready=True)
                labels = _server_labels(api)
                n = len(_objects(labels))
                first, second = _objects(labels)[:2]

                # Tab one deletes an object; tab two, left alone, sees it within a few seconds.
                one.keyboard.press("v")
                one.mouse.click(*_screen(one, *_centre(labels, first)))
                one.keyboard.press("Delete")
                _settle(one, count=n - 1)
                _wait(two, lambda: two.get_by_test_id("status-count").inner_text() == str(n - 1))
                _wait(two, lambda: "another tab" in two.get_by_test_id("status-message").inner_text())
                np.testing.assert_array_equal(_page_labels(two, labels.shape), _server_labels(api))

                # Tab one saves; tab two deletes another object and saves too: no conflict,
                # both edits are on disk.
                one.keyboard.press("Control+s")
                _wait(one, lambda: one.get_by_test_id("status-version").inner_text() == "1")
                two.keyboard.press("v")
                two.mouse.click(*_screen(two, *_centre(labels, second)))
                two.keyboard.press("Delete")
                _settle(two, count=n - 2)
                two.keyboard.press("Control+s")
                _wait(two, lambda: two.get_by_test_id("status-version").inner_text() == "2")
                assert not two.get_by_test_id("conflict").is_visible()
                saved, version = LabelStore(path, labels.shape).load()
                assert version == 2 and first not in saved and second not in saved
                assert not list(tmp_path.glob("shared.labels.conflict-*"))
                # Tab one hears of it too.
                _wait(one, lambda: one.get_by_test_id("status-count").inner_text() == str(n - 2))
                _wait(one, lambda: one.get_by_test_id("status-version").inner_text() == "2")
                two.screenshot(path=shots / "tabs-01-second-tab-saved.png")
            finally:
                browser.close()
    finally:
        api.close()
        server.stop()


def test_a_stroke_that_leaves_the_image_is_kept_on_it(tmp_path):
    import tifffile

    sample = simulate_nuclei(shape=(96, 96), seed=7, diameter=16.0, density=0.2)
    path = tmp_path / "edge.tif"
    tifffile.imwrite(path, np.asarray(sample.image.data))
    server = Server(make_app([path]))
    api = httpx.Client(base_url=server.url, timeout=60)
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 800, "height": 600})
                page.goto(server.url)
                _settle(page, ready=True)
                before = _server_labels(api)
                page.keyboard.press("b")
                # From inside the image, out past its right edge and far beyond the canvas.
                (y0, x0), (y1, x1) = [48.0, 80.0], [48.0, 400.0]
                page.mouse.move(*_screen(page, y0, x0))
                page.mouse.down()
                page.mouse.move(*_screen(page, y1, x1), steps=8)
                page.mouse.up()
                _settle(page)
                after = _server_labels(api)
                assert "outside" not in page.get_by_test_id("status-message").inner_text()
                changed = after != before
                assert changed[48, 80] and changed[48, 95]  # painted up to the edge
            finally:
                browser.close()
    finally:
        api.close()
        server.stop()

