"""Models given by URL: downloaded once into the cache, checked, then used offline."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest

from cellscale.errors import FileFormatError, InputNotFoundError, InvalidArgumentError
from cellscale.models import _runtime, load_model, model_info


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class Server:
    """A real HTTP server on 127.0.0.1 serving one folder, in a background thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.running = False


@pytest.fixture
def server(tmp_path):
    (tmp_path / "site").mkdir()
    srv = Server(tmp_path / "site")
    yield srv
    srv.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_once_then_use_cache_offline(tmp_path, make_model, server):
    tiny = make_model(tmp_path / "site" / "v1", "tiny")
    url = f"{server.url}/v1/tiny.json"
    cache = tmp_path / "cache"
    first = load_model(url, cache_dir=cache)
    card = first.card
    assert first.source == url
    assert first.path == (cache / card.sha256 / "tiny.onnx").resolve()
    assert first.path.read_bytes() == tiny.onnx.read_bytes()
    assert not list(cache.rglob("*.part"))

    server.stop()
    _runtime._open_cached.cache_clear()  # a fresh load, not the in-memory session
    again = load_model(url, cache_dir=cache)
    assert again is not first and again.path == first.path and again.card == card
    assert model_info(url, cache_dir=cache) == card


def test_cache_dir_from_environment(tmp_path, make_model, server, monkeypatch):
    make_model(tmp_path / "site", "tiny")
    monkeypatch.setenv("CELLSCALE_CACHE", str(tmp_path / "envcache"))
    model = load_model(f"{server.url}/tiny.json")
    assert model.path.is_relative_to((tmp_path / "envcache").resolve())


def test_card_names_its_network_relative_to_the_card(tmp_path, make_model, server):
    site = tmp_path / "site"
    tiny = make_model(site / "nets", "tiny")
    card = tiny.card.read_text().replace('"file": "tiny.onnx"', '"file": "nets/tiny.onnx"')
    (site / "card.json").write_text(card)
    model = load_model(f"{server.url}/card.json", cache_dir=tmp_path / "cache")
    assert model.path.name == "tiny.onnx"


def test_model_info_downloads_only_the_card(tmp_path, make_model, server):
    make_model(tmp_path / "site", "tiny")
    cache = tmp_path / "cache"
    assert model_info(f"{server.url}/tiny.json", cache_dir=cache).name == "tiny"
    assert not list(cache.rglob("*.onnx"))


def test_downloaded_network_with_wrong_checksum_is_not_cached(tmp_path, make_model, server):
    make_model(tmp_path / "site", "tiny", sha256="a" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(FileFormatError, match=r"tiny\.onnx: checksum mismatch.*nothing was cached"):
        load_model(f"{server.url}/tiny.json", cache_dir=cache)
    assert not list(cache.rglob("*.onnx")) and not list(cache.rglob("*.part"))


def test_missing_card_on_server(tmp_path, server):
    url = f"{server.url}/nope.json"
    with pytest.raises(
        InputNotFoundError, match=r"nope\.json: could not download the model card \(HTTP 404"
    ):
        load_model(url, cache_dir=tmp_path / "cache")


def test_missing_network_on_server(tmp_path, make_model, server):
    make_model(tmp_path / "site", "tiny").onnx.unlink()
    with pytest.raises(
        InputNotFoundError, match=r"tiny\.onnx: could not download the model network"
    ):
        load_model(f"{server.url}/tiny.json", cache_dir=tmp_path / "cache")


def test_not_a_card_on_server_names_the_url(tmp_path, server):
    (tmp_path / "site" / "x.json").write_text('{"name": 1}')
    url = f"{server.url}/x.json"
    with pytest.raises(FileFormatError, match=rf"{url}: not a valid model card"):
        load_model(url, cache_dir=tmp_path / "cache")


def test_unreachable_url_fails_fast_and_clearly(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/models/nuclei.json"
    start = time.perf_counter()
    with pytest.raises(
        InputNotFoundError,
        match=r"could not download the model card.*download it by hand.*local path",
    ) as info:
        load_model(url, cache_dir=tmp_path / "cache", timeout=2)
    assert url in str(info.value)
    assert time.perf_counter() - start < 5


def test_other_schemes_are_refused(tmp_path):
    with pytest.raises(InvalidArgumentError, match="unsupported URL scheme 'ftp'"):
        load_model("ftp://example.org/m.json", cache_dir=tmp_path)
