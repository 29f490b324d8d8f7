"""The labelling server's REST API (FastAPI's TestClient), and the ``cellscale label`` command."""

from __future__ import annotations

import base64
import io
import json
import signal
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient
from PIL import Image as PILImage

from cellscale.data import simulate_nuclei
from cellscale.label import LabelStore, labels_path
from cellscale.label._app import make_app


def _decode(record: dict) -> np.ndarray:
    raw = base64.b64decode(record["data"])
    return np.frombuffer(raw, dtype="<u4").reshape(record["h"], record["w"])


@pytest.fixture(scope="module")
def sample():
    return simulate_nuclei(shape=(128, 128), seed=1, diameter=20.0, density=0.3)


@pytest.fixture
def image_path(tmp_path: Path, sample) -> Path:
    import tifffile

    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, np.asarray(sample.image.data))
    return path


def _client(*images: Path, **options) -> TestClient:
    return TestClient(make_app(list(images), **options))


class Mirror:
    """The page's copy of the labels: the labels endpoint, then every patch written in."""

    def __init__(self, client: TestClient, image: str = "0") -> None:
        self.client, self.url = client, f"/api/images/{image}"
        record = client.get(f"{self.url}/labels").json()
        self.labels, self.version = _decode(record).copy(), record["version"]
        self.objects = record["objects"]

    def post(self, what: str, body: dict | None = None) -> dict | None:
        res = self.client.post(f"{self.url}/{what}", json=body)
        assert res.status_code == 200, res.text
        patch = res.json()
        if patch is not None:
            self.labels[patch["y0"]:patch["y0"] + patch["h"], patch["x0"]:patch["x0"] + patch["w"]] = \
                _decode(patch)
            self.objects = patch["objects"]
            # The count the server keeps patch by patch is the true count.
            assert self.objects == np.count_nonzero(np.bincount(self.labels.ravel())[1:])
            assert patch["max_label"] == self.labels.max()
        return patch

    def server(self) -> np.ndarray:
        return _decode(self.client.get(f"{self.url}/labels").json())


def test_list_page_and_static_files(image_path):
    client = _client(image_path)
    [entry] = client.get("/api/images").json()
    assert entry["id"] == "0" and entry["name"] == "nuclei.tif"
    assert entry["shape"] == [128, 128] and entry["frames"] == 1 and len(entry["channels"]) == 1
    assert entry["has_saved_labels"] is False and entry["version"] == 0
    page = client.get("/")
    assert page.status_code == 200 and 'id="view"' in page.text and "/static/app.js" in page.text
    assert 'type="module"' in page.text
    for name, words in (("app.js", "function setTool"), ("labels.js", "function applyPatch"),
                        ("view.js", "function draw"), ("state.js", "function request"),
                        ("learn.js", "function startFinetune")):
        script = client.get(f"/static/{name}")
        assert script.status_code == 200 and words in script.text
        assert "javascript" in script.headers["content-type"]  # modules need a script type
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/api/images/7/labels").status_code == 404
    assert client.get("/api/images/x/labels").status_code == 404


def test_plane_png_is_the_image_with_its_contrast(image_path, sample):
    client = _client(image_path)
    res = client.get("/api/images/0/plane.png")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    png = np.asarray(PILImage.open(io.BytesIO(res.content)))
    pixels = np.asarray(sample.image.data, dtype=np.float64)
    lo, hi = float(res.headers["X-Lo"]), float(res.headers["X-Hi"])
    assert png.shape == (128, 128) and png.dtype == np.uint8
    assert pixels.min() <= lo < hi <= pixels.max()
    # Brighter pixels are brighter in the PNG: the nuclei (ground truth) outshine the background.
    truth = np.asarray(sample.labels["nuclei"]) > 0
    assert png[truth].mean() > png[~truth].mean() + 40
    given = client.get("/api/images/0/plane.png", params={"lo": 0, "hi": float(pixels.max())})
    assert float(given.headers["X-Lo"]) == 0
    expected = np.clip(pixels * (255.0 / pixels.max()), 0, 255).astype(np.uint8)
    got = np.asarray(PILImage.open(io.BytesIO(given.content)))
    assert np.abs(got.astype(int) - expected).max() <= 1
    bad = client.get("/api/images/0/plane.png", params={"channel": 3})
    assert bad.status_code == 422 and "channel 3" in bad.json()["detail"]
    assert client.get("/api/images/0/plane.png", params={"frame": 2}).status_code == 422


def test_labels_are_the_proposals_and_every_edit_comes_back_as_a_patch(image_path):
    client = _client(image_path)
    page = Mirror(client)
    assert page.version == 0 and page.labels.shape == (128, 128)
    assert page.objects == len(np.unique(page.labels)) - 1 >= 5  # the model found nuclei

    # paint without a label starts a new object, and says which
    empty = np.argwhere(page.labels == 0)
    y, x = (int(v) for v in empty[len(empty) // 2])
    patch = page.post("edit", {"op": "paint", "points": [[y, x]], "radius": 2})
    new = patch["label"]
    assert new == page.labels.max() and page.labels[y, x] == new and patch["unsaved"] is True
    page.post("edit", {"op": "erase", "points": [[y, x]], "radius": 3})
    assert page.labels[y, x] == 0
    a, b = (int(v) for v in np.unique(page.labels)[1:3])
    page.post("edit", {"op": "merge", "a": a, "b": b})
    assert b not in page.labels and a in page.labels
    page.post("edit", {"op": "delete", "label": a})
    assert a not in page.labels
    ys, xs = np.nonzero(page.labels == 0)
    patch = page.post("edit", {"op": "fill", "y": int(ys[0]), "x": int(xs[0]), "label": 999})
    assert page.labels[ys[0], xs[0]] == 999 and patch["label"] == 999
    page.post("undo")
    # add a cell where the model saw a nucleus that was deleted above
    cy, cx = (int(round(v)) for v in np.argwhere(_decode(client.get(
        "/api/images/0/labels").json()) == 0).mean(axis=0))
    page.post("edit", {"op": "add_cell", "y": cy, "x": cx})
    np.testing.assert_array_equal(page.labels, page.server())
    assert page.objects == len(np.unique(page.labels)) - 1


def test_undo_all_returns_the_proposals_and_redo_replays(image_path):
    client = _client(image_path)
    page = Mirror(client)
    start = page.labels.copy()
    a = int(np.unique(start)[1])
    page.post("edit", {"op": "delete", "label": a})
    page.post("edit", {"op": "paint", "points": [[5, 5], [5, 30]], "radius": 2})
    after = page.labels.copy()
    assert page.post("undo") is not None and page.post("undo") is not None
    np.testing.assert_array_equal(page.labels, start)
    assert page.post("undo") is None  # nothing left: null, not an error
    page.post("redo"), page.post("redo")
    np.testing.assert_array_equal(page.labels, after)
    assert page.post("redo") is None


def test_split_cuts_a_merged_pair_along_the_drawn_line(tmp_path):
    import tifffile

    # Two touching discs, merged into one label by the user: the line drawn across the neck
    # gives them back as two objects. No label given: the server cuts the one under the line.
    yy, xx = np.mgrid[:64, :64]
    image = np.zeros((64, 64), np.uint16) + 100
    for cx in (22, 40):
        image[(yy - 32) ** 2 + (xx - cx) ** 2 < 100] = 2000
    path = tmp_path / "pair.tif"
    tifffile.imwrite(path, image)
    client = _client(path)
    page = Mirror(client)
    ids = [int(v) for v in np.unique(page.labels)[1:]]
    if len(ids) == 2:
        page.post("edit", {"op": "merge", "a": ids[0], "b": ids[1]})
    assert len(np.unique(page.labels)) - 1 == 1
    page.post("edit", {"op": "split", "line": [[18, 31], [46, 31]]})
    parts = [int(v) for v in np.unique(page.labels)[1:]]
    assert len(parts) == 2
    left, right = (page.labels[32, 20], page.labels[32, 42])
    assert left and right and left != right
    bad = client.post("/api/images/0/edit", json={"op": "split", "line": [[1, 1], [1, 5]]})
    assert bad.status_code == 422 and "crosses no object" in bad.json()["detail"]


@pytest.mark.parametrize("body, words", [
    ({"op": "explode"}, "unknown edit operation 'explode'"),
    ({"op": "merge", "a": 1}, "missing b"),
    ({"op": "delete", "label": 1, "colour": "red"}, "unknown colour"),
    ({"op": "delete", "label": 10**6}, "10000"),
    ({"op": "paint", "points": [1, 2], "radius": 2}, "list of [y, x] pairs"),
    ({"op": "split", "line": "across"}, "list of [y, x] pairs"),
    ({"op": "delete", "label": 1, "frame": "first"}, "frame must be an integer"),
])
def test_bad_edits_are_refused_with_the_reason(image_path, body, words):
    client = _client(image_path)
    before = Mirror(client).server()
    res = client.post("/api/images/0/edit", json=body)
    assert res.status_code == 422 and words in res.json()["detail"]
    np.testing.assert_array_equal(Mirror(client).server(), before)


def test_save_writes_the_store_and_a_new_server_loads_it(image_path):
    client = _client(image_path, author="ana")
    page = Mirror(client)
    a = int(np.unique(page.labels)[1])
    page.post("edit", {"op": "delete", "label": a})
    res = client.post("/api/images/0/save", json={"base_version": 0})
    assert res.status_code == 200 and res.json()["version"] == 1
    assert labels_path(image_path).is_dir()
    saved, version = LabelStore(image_path, (128, 128)).load()
    np.testing.assert_array_equal(saved, page.labels)
    assert version == 1
    [entry] = client.get("/api/images/0/history").json()
    assert entry["author"] == "ana" and entry["version"] == 1
    assert [e["op"] for e in entry["edits"]] == ["delete"]
    assert client.get("/api/images/0/labels").json()["unsaved"] is False
    assert client.post("/api/images/0/save", json={}).status_code == 422  # no base_version
    bad = client.post("/api/images/0/save", json={"base_version": "latest"})
    assert bad.status_code == 422 and "base_version must be an integer" in bad.json()["detail"]
    assert client.post("/api/images/0/undo", json={"frame": [0]}).status_code == 422

    again = _client(image_path)
    listed = again.get("/api/images").json()[0]
    assert listed["has_saved_labels"] is True and listed["version"] == 1  # before it is opened
    record = again.get("/api/images/0/labels").json()
    assert record["version"] == 1
    np.testing.assert_array_equal(_decode(record), page.labels)


def test_two_sessions_saving_the_same_labels_conflict_and_no_edit_is_lost(image_path):
    first, second = _client(image_path, author="ana"), _client(image_path, author="ben")
    one, two = Mirror(first), Mirror(second)
    ids = [int(v) for v in np.unique(one.labels)[1:3]]
    one.post("edit", {"op": "delete", "label": ids[0]})
    two.post("edit", {"op": "delete", "label": ids[1]})
    assert first.post("/api/images/0/save", json={"base_version": 0}).json()["version"] == 1
    res = second.post("/api/images/0/save", json={"base_version": 0})
    assert res.status_code == 409
    assert "version" in res.json()["detail"] and str(labels_path(image_path).name) in \
        res.json()["detail"]
    # Nothing was written: the store holds the first session's labels.
    np.testing.assert_array_equal(LabelStore(image_path, (128, 128)).load()[0], one.labels)
    # "Keep mine": the second session's labels go in, the first's are kept as a copy.
    forced = second.post("/api/images/0/save", json={"base_version": 0, "force": True})
    assert forced.status_code == 200 and forced.json()["version"] == 2
    np.testing.assert_array_equal(LabelStore(image_path, (128, 128)).load()[0], two.labels)
    copies = list(image_path.parent.glob("nuclei.labels.conflict-*.zarr"))
    assert len(copies) == 1


def test_labels_that_do_not_match_the_image_are_reported_and_kept(image_path):
    wrong = np.ones((64, 64), np.uint32)
    LabelStore(image_path, (64, 64)).save(wrong, base_version=0, author="x", edits=[])
    before = sorted(p.name for p in labels_path(image_path).rglob("*"))
    client = _client(image_path)
    res = client.get("/api/images/0/labels")
    assert res.status_code == 422
    detail = res.json()["detail"]
    assert labels_path(image_path).name in detail and "64" in detail and "128" in detail
    assert client.post("/api/images/0/save", json={"base_version": 0}).status_code == 422
    assert client.get("/api/images").json()[0]["error"] == detail
    assert sorted(p.name for p in labels_path(image_path).rglob("*")) == before
    np.testing.assert_array_equal(LabelStore(image_path, (64, 64)).load()[0], wrong)
    # Following the advice (move the labels aside) works without restarting the server.
    labels_path(image_path).rename(image_path.with_name("elsewhere.labels.zarr"))
    res = client.get("/api/images/0/labels")
    assert res.status_code == 200 and res.json()["version"] == 0
    assert client.get("/api/images").json()[0]["error"] is None


def test_a_corrupt_history_is_reported_and_the_labels_kept(image_path):
    client = _client(image_path)
    page = Mirror(client)
    client.post("/api/images/0/save", json={"base_version": 0})
    (labels_path(image_path) / "history.json").write_text("{ not json")
    fresh = _client(image_path)
    record = fresh.get("/api/images/0/labels").json()
    np.testing.assert_array_equal(_decode(record), page.labels)
    assert record["version"] == 1
    assert any("history" in m for m in record["messages"])
    assert fresh.get("/api/images/0/history").status_code == 200
    # The message is said once, then the page has it.
    assert fresh.get("/api/images/0/labels").json()["messages"] == []


def test_cli_refuses_a_missing_image_and_a_port_in_use(tmp_path, image_path, capsys):
    from cellscale.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["label", str(tmp_path / "missing.tif")])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "missing.tif" in err and "no such image" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as stop:
            main(["label", str(image_path), "--port", str(port)])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and f"port {port}" in err and "--port" in err


def test_cli_prints_the_address_and_serves(image_path, monkeypatch, capsys):
    from cellscale.cli import _label, main

    served = {}
    monkeypatch.setattr(_label, "_serve", lambda app, host, port: served.update(
        app=app, host=host, port=port))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(SystemExit) as stop:
        main(["label", str(image_path), "--port", str(port), "--author", "ana"])
    out = capsys.readouterr().out
    assert stop.value.code in (0, None)
    assert f"http://localhost:{port}/" in out and f"ssh -L {port}:localhost:{port}" in out
    client = TestClient(served["app"])
    assert json.loads(client.get("/api/images").text)[0]["name"] == "nuclei.tif"
    with pytest.raises(SystemExit):
        main(["label", str(image_path), "--port", str(port), "--host", "0.0.0.0"])
    captured = capsys.readouterr()
    assert served["host"] == "0.0.0.0" and "no login" in captured.err and "ssh -L" not in captured.out


@pytest.fixture
def movie_path(tmp_path: Path) -> Path:
    import tifffile

    frames = np.stack([np.asarray(simulate_nuclei(shape=(96, 96), seed=s, diameter=16.0).image.data)
                       for s in range(3)])
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames, imagej=True, metadata={"axes": "TYX"})
    return path


def test_a_movie_is_labelled_frame_by_frame_and_saved_whole(movie_path):
    client = _client(movie_path)
    assert client.get("/api/images").json()[0]["frames"] == 3
    planes = [_decode(client.get("/api/images/0/labels", params={"frame": t}).json())
              for t in range(3)]
    assert all(p.max() > 0 for p in planes) and not np.array_equal(planes[0], planes[1])
    png0 = client.get("/api/images/0/plane.png", params={"frame": 0}).content
    assert png0 != client.get("/api/images/0/plane.png", params={"frame": 2}).content
    a = int(np.unique(planes[1])[1])
    res = client.post("/api/images/0/edit", json={"op": "delete", "label": a, "frame": 1})
    assert res.status_code == 200 and res.json()["frame"] == 1
    assert client.post("/api/images/0/undo", json={"frame": 0}).json() is None  # frame 0: no edit
    np.testing.assert_array_equal(
        _decode(client.get("/api/images/0/labels", params={"frame": 0}).json()), planes[0])
    assert client.post("/api/images/0/save", json={"base_version": 0}).json()["version"] == 1
    saved, _ = LabelStore(movie_path, (3, 96, 96)).load()
    assert saved.shape == (3, 96, 96) and a not in saved[1]
    np.testing.assert_array_equal(saved[2], planes[2])
    [entry] = client.get("/api/images/0/history").json()
    assert entry["edits"][0]["frame"] == 1
    fresh = _client(movie_path)
    np.testing.assert_array_equal(
        _decode(fresh.get("/api/images/0/labels", params={"frame": 1}).json()), saved[1])


def test_a_plain_multipage_tiff_is_a_movie_when_axes_say_so(tmp_path, movie_path):
    import tifffile

    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, tifffile.imread(movie_path), photometric="minisblack")
    assert _client(plain).get("/api/images").json()[0]["frames"] == 1  # read as 3 channels
    # 20 pages: the shape does not tell; the page is told how to say the axes.
    many = tmp_path / "many.tif"
    tifffile.imwrite(many, np.zeros((20, 32, 32), np.uint16), photometric="minisblack")
    client = _client(many)
    assert "--axes" in client.get("/api/images").json()[0]["error"]
    res = client.get("/api/images/0/labels")
    assert res.status_code == 422 and "cellscale label --axes" in res.json()["detail"]
    assert _client(many, axes="tyx").get("/api/images").json()[0]["frames"] == 20
    assert _client(plain, axes="tyx").get("/api/images").json()[0]["frames"] == 3


def test_a_z_stack_is_refused_with_the_reason(tmp_path):
    import tifffile

    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((4, 32, 32), np.uint16), imagej=True, metadata={"axes": "ZYX"})
    res = _client(path).get("/api/images/0/labels")
    assert res.status_code == 422 and "z-stack" in res.json()["detail"]


def test_cli_refuses_an_unknown_model_before_serving(image_path, capsys):
    from cellscale.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["label", str(image_path), "--model", "no-such-model"])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "no-such-model" in err


def test_the_command_serves_the_page(image_path):
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "cellscale", "label", str(image_path),
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, listed = time.monotonic() + 60, None
        while listed is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                listed = httpx.get(f"http://127.0.0.1:{port}/api/images", timeout=5).json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert listed and listed[0]["name"] == "nuclei.tif", proc.poll()
        assert 'id="view"' in httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        url = f"http://127.0.0.1:{port}/api/images/0"
        labels = _decode(httpx.get(f"{url}/labels", timeout=60).json())
        httpx.post(f"{url}/edit", json={"op": "delete", "label": int(labels.max())}, timeout=30)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C, with an edit nobody saved
        out = proc.communicate(timeout=60)[0]
    assert f"http://localhost:{port}/" in out and proc.returncode == 0, out
    [kept] = list(image_path.parent.glob("nuclei.labels.unsaved-*.zarr"))
    assert "unsaved edits kept in" in out


def test_a_movie_exports_as_a_cell_tracking_challenge_result(movie_path, image_path):
    client = _client(movie_path)
    a = int(np.unique(_decode(client.get("/api/images/0/labels").json()))[1])
    client.post("/api/images/0/edit", json={"op": "delete", "label": a, "frame": 0})
    res = client.post("/api/images/0/export-ctc")
    assert res.status_code == 200, res.text
    out = res.json()
    folder = Path(out["folder"])
    assert folder == movie_path.parent / "movie_RES" and out["frames"] == 3 and out["tracks"] > 0
    assert sorted(p.name for p in folder.iterdir()) == ["mask000.tif", "mask001.tif",
                                                         "mask002.tif", "res_track.txt"]
    import tifffile

    first = tifffile.imread(folder / "mask000.tif")
    # The edit is in the export: one object fewer in frame 0 than the model proposed.
    assert len(np.unique(first)) - 1 == client.get("/api/images/0/labels").json()["objects"]
    assert len((folder / "res_track.txt").read_text().split("\n")) >= out["tracks"]
    assert client.post("/api/images/0/export-ctc").status_code == 200  # replaces the last one
    one = _client(image_path).post("/api/images/0/export-ctc")
    assert one.status_code == 422 and "not a movie" in one.json()["detail"]


def test_add_cell_on_saved_labels_is_seeded_by_the_model_too(image_path, sample):
    first = _client(image_path)
    proposals = Mirror(first).labels
    first.post("/api/images/0/save", json={"base_version": 0})
    client = _client(image_path)  # loads the saved labels: no model run until add-cell
    page = Mirror(client)
    frame = client.app.state.workspace.images[0].frames[0]
    assert frame.needs_maps and not frame.session.maps
    sizes = np.bincount(proposals.ravel())
    target = int(np.argmax(sizes[1:]) + 1)
    from scipy import ndimage as ndi

    depth = ndi.distance_transform_edt(proposals == target)
    cy, cx = (int(v) for v in np.unravel_index(np.argmax(depth), depth.shape))  # well inside
    page.post("edit", {"op": "delete", "label": target})
    page.post("edit", {"op": "add_cell", "y": cy, "x": cx})
    added = page.labels[cy, cx]
    mask = page.labels == added
    truth = proposals == target
    assert (mask & truth).sum() / (mask | truth).sum() > 0.6
    assert frame.session.edits[-1]["source"] in ("maps", "prob") and "prob" in frame.session.maps


def test_channels_are_shown_one_at_a_time_or_as_a_composite(tmp_path):
    import tifffile

    image = np.zeros((2, 64, 64), np.uint16) + 10
    image[0, :32] = 1000  # channel 0 bright at the top
    image[1, :, :32] = 1000  # channel 1 bright on the left
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, image, photometric="minisblack", metadata={"axes": "CYX"})
    client = _client(path)
    assert len(client.get("/api/images").json()[0]["channels"]) == 2
    one = np.asarray(PILImage.open(io.BytesIO(
        client.get("/api/images/0/plane.png", params={"channel": 1}).content)))
    assert one.ndim == 2 and one[:, :32].mean() > 200 and one[:, 32:].mean() < 50
    res = client.get("/api/images/0/plane.png", params={"channels": "0,1"})
    rgb = np.asarray(PILImage.open(io.BytesIO(res.content)))
    assert rgb.shape == (64, 64, 3)
    # channel 0 green, channel 1 magenta: top-right is green only, bottom-left magenta only
    np.testing.assert_array_equal(rgb[5, 60], [0, 255, 0])
    np.testing.assert_array_equal(rgb[60, 5], [255, 0, 255])
    np.testing.assert_array_equal(rgb[5, 5], [255, 255, 255])
    # Which channel the nuclei model should see is not clear: the page is told how to say it.
    res = client.get("/api/images/0/labels")
    assert res.status_code == 422 and "cellscale label --channels" in res.json()["detail"]
    labelled = _client(path, channels=[1]).get("/api/images/0/labels")
    assert labelled.status_code == 200
    for bad, words in (("0,x", "channel indices"), ("0,0,1,1", "2 or 3 channels"),
                       ("0,5", "channel 5")):
        res = client.get("/api/images/0/plane.png", params={"channels": bad})
        assert res.status_code == 422 and words in res.json()["detail"], bad


def test_clients_of_one_server_share_the_session_and_its_saves(image_path):
    client = _client(image_path)
    page = Mirror(client)
    seq = client.get("/api/images/0/status").json()["seq"]
    a, b = (int(v) for v in np.unique(page.labels)[1:3])
    assert page.post("edit", {"op": "delete", "label": a})["seq"] == seq + 1
    assert client.post("/api/images/0/save", json={"base_version": 0}).json()["version"] == 1
    page.post("edit", {"op": "delete", "label": b})
    # A second tab still at version 0 saves the same session: no conflict, nothing lost.
    res = client.post("/api/images/0/save", json={"base_version": 0})
    assert res.status_code == 200 and res.json()["version"] == 2
    saved, _ = LabelStore(image_path, (128, 128)).load()
    assert a not in saved and b not in saved
    status = client.get("/api/images/0/status").json()
    assert status["seq"] == seq + 2 and status["version"] == 2 and status["unsaved"] is False


def test_a_server_stopping_with_unsaved_edits_keeps_them_beside_the_image(image_path, monkeypatch,
                                                                          capsys):
    from cellscale.cli import _label, main
    from cellscale.io import read_labels

    edited = {}

    def serve(app, host, port):  # a user edits, then stops the server without saving
        client = TestClient(app)
        page = Mirror(client)
        page.post("edit", {"op": "delete", "label": int(np.unique(page.labels)[1])})
        edited["labels"] = page.labels.copy()

    monkeypatch.setattr(_label, "_serve", serve)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(SystemExit):
        main(["label", str(image_path), "--port", str(port)])
    err = capsys.readouterr().err
    [kept] = list(image_path.parent.glob("nuclei.labels.unsaved-*.zarr"))
    assert str(kept) in " ".join(err.split()) and not labels_path(image_path).exists()
    np.testing.assert_array_equal(np.asarray(read_labels(kept, lazy=False)), edited["labels"])
