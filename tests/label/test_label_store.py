"""LabelStore: round trips, atomic saves, version conflicts, bad stores and histories."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

import cellscale.label._store as store_module
from cellscale.errors import (
    CellscaleError,
    InvalidArgumentError,
    InvalidImageError,
    OutputNotWritableError,
)
from cellscale.io import read_labels, write_labels
from cellscale.label import (
    LabelConflictError,
    LabelHistoryWarning,
    LabelShapeError,
    LabelStore,
    labels_path,
)


def _labels(shape=(32, 40), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, np.uint32)
    for i in range(1, 6):
        y, x = rng.integers(0, shape[-2] - 6), rng.integers(0, shape[-1] - 6)
        out[..., y:y + 5, x:x + 5] = i
    return out


@pytest.mark.parametrize(("name", "expected"), [
    ("a.tif", "a.labels.zarr"), ("a.ome.tif", "a.labels.zarr"), ("a.ome.tiff", "a.labels.zarr"),
    ("b.TIFF", "b.labels.zarr"), ("c.zarr", "c.labels.zarr"), ("d.png", "d.labels.zarr"),
    ("e.f.tif", "e.f.labels.zarr"),
])
def test_labels_path_beside_the_image(tmp_path, name, expected):
    assert labels_path(tmp_path / name) == tmp_path / expected


def test_nothing_saved_loads_zeros_at_version_0(tmp_path):
    store = LabelStore(tmp_path / "img.tif", (6, 7))
    assert not store.exists()
    labels, version = store.load()
    assert version == 0 and labels.shape == (6, 7) and labels.dtype == np.uint32 and not labels.any()
    assert store.history() == []


def test_save_load_round_trip_and_history(tmp_path):
    store = LabelStore(tmp_path / "img.ome.tif", (32, 40))
    first = _labels()
    assert store.save(first, base_version=0, author="ana",
                      edits=[{"op": "paint", "label": np.uint32(3), "bbox": [0, 0, 5, 5]}]) == 1
    assert store.path == tmp_path / "img.labels.zarr" and store.exists()
    labels, version = store.load()
    np.testing.assert_array_equal(labels, first)
    assert version == 1 and labels.dtype == np.uint32
    second = first.copy()
    second[second == 2] = 0
    assert store.save(second, base_version=1, author="ben", edits=[{"op": "delete", "label": 2}]) == 2
    labels, version = LabelStore(tmp_path / "img.ome.tif", (32, 40)).load()
    np.testing.assert_array_equal(labels, second)
    assert version == 2
    history = store.history()
    assert [h["version"] for h in history] == [1, 2]
    assert [h["author"] for h in history] == ["ana", "ben"]
    assert history[0]["edits"] == [{"op": "paint", "label": 3, "bbox": [0, 0, 5, 5]}]
    assert history[1]["time"].endswith("Z") and "T" in history[1]["time"]
    # the store is plain OME-Zarr labels that the rest of cellscale reads
    np.testing.assert_array_equal(read_labels(store.path), second)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_movie_labels_round_trip(tmp_path):
    store = LabelStore(tmp_path / "movie.tif", (3, 16, 20))
    labels = _labels((3, 16, 20), seed=2)
    labels[1] *= 2
    store.save(labels, base_version=0, author="ana")
    np.testing.assert_array_equal(store.load()[0], labels)


def test_a_failing_write_leaves_the_old_store_intact(tmp_path, monkeypatch):
    store = LabelStore(tmp_path / "img.tif", (32, 40))
    old = _labels()
    store.save(old, base_version=0, author="ana")

    def broken(labels, path, **kwargs):
        Path(path).mkdir()
        (Path(path) / "half-written").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "write_labels", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save(np.zeros_like(old), base_version=1, author="ben")
    monkeypatch.undo()
    labels, version = store.load()
    np.testing.assert_array_equal(labels, old)
    assert version == 1 and len(store.history()) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == \
        ["img.labels.zarr"]


def test_a_second_tab_saving_from_an_old_version_is_refused_or_kept_aside(tmp_path):
    image = tmp_path / "img.tif"
    LabelStore(image, (32, 40)).save(_labels(), base_version=0, author="setup")
    tab1, tab2 = LabelStore(image, (32, 40)), LabelStore(image, (32, 40))
    mine, v1 = tab1.load()
    theirs, v2 = tab2.load()
    assert v1 == v2 == 1
    mine[mine == 1] = 0
    theirs[theirs == 2] = 9
    assert tab1.save(mine, base_version=v1, author="ana") == 2
    with pytest.raises(LabelConflictError, match=r"version 2.*version 1") as info:
        tab2.save(theirs, base_version=v2, author="ben")
    assert isinstance(info.value, CellscaleError)
    assert info.value.disk_version == 2 and info.value.base_version == 1
    assert "ana" in str(info.value) and "force=True" in str(info.value)
    np.testing.assert_array_equal(tab2.load()[0], mine)  # nothing written
    # force: ben's labels go in, ana's are kept as a conflict copy
    assert tab2.save(theirs, base_version=v2, author="ben", force=True) == 3
    np.testing.assert_array_equal(tab2.load()[0], theirs)
    copies = sorted(tmp_path.glob("img.labels.conflict-*.zarr"))
    assert len(copies) == 1
    np.testing.assert_array_equal(read_labels(copies[0]), mine)
    last = tab2.history()[-1]
    assert last["forced"] and last["conflict_copy"] == copies[0].name and last["base_version"] == 1
    assert [h["author"] for h in tab2.history()] == ["setup", "ana", "ben"]
    assert any("conflict" in n for n in tab2.notices)


@pytest.mark.parametrize("shared", [False, True])
def test_concurrent_saves_from_one_version_let_exactly_one_through(tmp_path, shared):
    """Four tabs (own stores, or one server's store used by four threads) save at once."""
    image = tmp_path / "img.tif"
    start = threading.Barrier(4)
    results: list[object] = []
    one = LabelStore(image, (32, 40))

    def save(i: int) -> None:
        store = one if shared else LabelStore(image, (32, 40))
        start.wait()
        try:
            results.append(store.save(_labels(seed=i), base_version=0, author=f"user{i}"))
        except LabelConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r for r in results if isinstance(r, int)) == [1]
    assert sum(isinstance(r, LabelConflictError) for r in results) == 3
    assert len(LabelStore(image, (32, 40)).history()) == 1


def test_labels_of_another_shape_are_refused_with_a_clear_message(tmp_path):
    image = tmp_path / "img.tif"
    LabelStore(image, (32, 40)).save(_labels(), base_version=0, author="ana")
    with pytest.raises(LabelShapeError, match=r"shape \(32, 40\).*\(40, 40\).*img\.labels\.zarr|"
                                              r"img\.labels\.zarr.*\(32, 40\).*\(40, 40\)") as info:
        LabelStore(image, (40, 40)).load()
    assert isinstance(info.value, InvalidImageError)
    assert "proposals" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="shape"):
        LabelStore(image, (32, 40)).save(np.zeros((8, 8), np.uint32), base_version=1, author="a")


def test_a_corrupt_history_is_moved_aside_and_the_labels_kept(tmp_path):
    image = tmp_path / "img.tif"
    store = LabelStore(image, (32, 40))
    labels = _labels()
    store.save(labels, base_version=0, author="ana")
    store.save(labels, base_version=1, author="ana")
    (store.path / "history.json").write_text('{"format": "cellscale-label-hist', encoding="utf-8")
    fresh = LabelStore(image, (32, 40))
    with pytest.warns(LabelHistoryWarning, match="labels are intact"):
        loaded, version = fresh.load()
    np.testing.assert_array_equal(loaded, labels)
    assert version == 2  # the version lives in zarr.json, not in the history
    aside = list(tmp_path.glob("img.labels.history-corrupt-*.json"))
    assert len(aside) == 1 and aside[0].read_text() == '{"format": "cellscale-label-hist'
    assert len(fresh.notices) == 1 and aside[0].name in fresh.notices[0]
    history = fresh.history()
    assert history[0]["edits"][0]["op"] == "history-reset"
    assert history[0]["edits"][0]["moved_to"] == aside[0].name
    assert fresh.save(labels, base_version=2, author="ben") == 3
    assert [h["version"] for h in fresh.history()] == [2, 3]


def test_tabs_opening_a_corrupt_history_at_once_move_it_aside_once(tmp_path):
    image = tmp_path / "img.tif"
    LabelStore(image, (32, 40)).save(_labels(), base_version=0, author="ana")
    (labels_path(image) / "history.json").write_text("{", encoding="utf-8")
    start = threading.Barrier(4)
    histories: list[list] = []

    def open_tab() -> None:
        store = LabelStore(image, (32, 40))
        start.wait()
        histories.append(store.history())

    with pytest.warns(LabelHistoryWarning):
        threads = [threading.Thread(target=open_tab) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(histories) == 4 and all(h == histories[0] for h in histories)
    assert len(list(tmp_path.glob("img.labels.history-corrupt-*.json"))) == 1


@pytest.mark.parametrize("text", ["[]", '{"format": "cellscale-label-history", "saves": [1]}',
                                  "\xff\xfe garbage"])
def test_other_damaged_histories_are_handled_too(tmp_path, text):
    store = LabelStore(tmp_path / "img.tif", (32, 40))
    store.save(_labels(), base_version=0, author="ana")
    (store.path / "history.json").write_bytes(text.encode("latin-1"))
    with pytest.warns(LabelHistoryWarning):
        history = store.history()
    assert history[0]["edits"][0]["op"] == "history-reset"
    assert json.loads((store.path / "history.json").read_text())["saves"] == history


def test_labels_written_by_segment_open_at_version_1(tmp_path):
    labels = _labels()
    write_labels(labels, tmp_path / "img.labels.zarr")
    store = LabelStore(tmp_path / "img.tif", (32, 40))
    loaded, version = store.load()
    np.testing.assert_array_equal(loaded, labels)
    assert version == 1 and store.history() == []
    assert store.save(labels, base_version=1, author="ana") == 2


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"\(y, x\) or \(t, y, x\)"):
        LabelStore(tmp_path / "a.tif", (5,))
    store = LabelStore(tmp_path / "a.tif", (4, 4))
    with pytest.raises(InvalidArgumentError, match="JSON"):
        store.save(np.zeros((4, 4), np.uint32), base_version=0, edits=[{"op": object()}])
    with pytest.raises(InvalidArgumentError, match="integers"):
        store.save(np.zeros((4, 4), np.float32), base_version=0)
    with pytest.raises(InvalidArgumentError, match="base_version"):
        store.save(np.zeros((4, 4), np.uint32), base_version="1")
    with pytest.raises(InvalidArgumentError, match="author"):
        store.save(np.zeros((4, 4), np.uint32), base_version=0, author=" ")
    assert not store.exists()


def test_an_unreadable_store_says_what_to_do(tmp_path):
    path = tmp_path / "img.labels.zarr"
    path.mkdir()
    (path / "zarr.json").write_text("not json")
    with pytest.raises(CellscaleError, match="img.labels.zarr.*move the folder aside"):
        LabelStore(tmp_path / "img.tif", (4, 4)).load()


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    store = LabelStore(blocker / "img.tif", (4, 4))
    with pytest.raises(OutputNotWritableError, match="cannot save labels beside the image.*writable"):
        store.save(np.zeros((4, 4), np.uint32), base_version=0, author="ana")
