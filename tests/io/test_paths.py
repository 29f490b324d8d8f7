"""check_output: an output never is, contains or lies inside an input, whatever overwrite says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cellscale.errors import InvalidArgumentError, OutputExistsError
from cellscale.io import check_output


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "raw.tif").write_bytes(b"II*\x00raw")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "f0.tif").write_bytes(b"frame")
    (tmp_path / "store.zarr").mkdir()
    (tmp_path / "store.zarr" / "zarr.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize(("output", "inputs", "kind", "relation"), [
    ("raw.tif", ["raw.tif"], "file", "is the input"),
    ("store.zarr", ["store.zarr"], "dir", "is the input"),
    ("frames", ["frames"], "dir", "is the input"),
    ("frames/out", ["frames"], "dir", "lies inside the input"),
    ("store.zarr/labels.tif", ["store.zarr"], "file", "lies inside the input"),
    (".", ["frames/f0.tif"], "dir", "contains the input"),
])
def test_overlap_with_an_input_is_refused(files, output, inputs, kind, relation, overwrite):
    with pytest.raises(OutputExistsError, match=relation) as info:
        check_output(files / output, [files / i for i in inputs], kind=kind, overwrite=overwrite)
    assert info.value.option == "output"
    assert (files / "raw.tif").read_bytes() == b"II*\x00raw"


def test_symlink_and_hard_link_to_an_input_are_the_input(files):
    (files / "link.tif").symlink_to(files / "raw.tif")
    os.link(files / "raw.tif", files / "hard.tif")
    for name in ("link.tif", "hard.tif"):
        with pytest.raises(OutputExistsError, match="is the input"):
            check_output(files / name, [files / "raw.tif"], overwrite=True)


def test_glob_pattern_inputs_are_expanded(files):
    with pytest.raises(OutputExistsError, match="is the input"):
        check_output(files / "frames" / "f0.tif", [str(files / "frames" / "*.tif")],
                     overwrite=True)


def test_existing_folder_for_a_file_and_file_for_a_folder(files):
    (files / "folder.tif").mkdir()
    with pytest.raises(OutputExistsError, match="existing folder"):
        check_output(files / "folder.tif", overwrite=True)
    with pytest.raises(OutputExistsError, match="existing file"):
        check_output(files / "raw.tif", kind="dir", overwrite=True)
    assert (files / "folder.tif").is_dir()


def test_protected_folders_are_never_replaced(files, monkeypatch):
    monkeypatch.chdir(files / "frames")
    for target in (files / "frames", files, Path.home(), Path("/")):
        with pytest.raises(OutputExistsError, match="never used as an output folder"):
            check_output(target, kind="dir", overwrite=True)


def test_exists_overwrite_and_resume(files):
    with pytest.raises(OutputExistsError, match="already exists") as info:
        check_output(files / "raw.tif")
    assert info.value.option == "overwrite" and "overwrite=True" in str(info.value)
    assert check_output(files / "raw.tif", overwrite=True) == (files / "raw.tif").absolute()
    assert check_output(files / "store.zarr", [files / "raw.tif"], kind="dir", resume=True).is_dir()
    assert check_output(files / "new" / "deep.tif", [files / "raw.tif"]).parent.is_dir()


def test_kind_must_be_known(files):
    with pytest.raises(InvalidArgumentError, match="kind"):
        check_output(files / "x", kind="folder")  # type: ignore[arg-type]


def test_writers_never_replace_a_folder_with_a_file(tmp_path: Path):
    import numpy as np

    from cellscale.io import Image, write_image, write_labels

    folder = tmp_path / "labels.tif"
    folder.mkdir()
    (folder / "keep.txt").write_text("a user's file")
    with pytest.raises(OutputExistsError, match="existing folder"):
        write_labels(np.ones((8, 8), np.uint32), folder, overwrite=True)
    with pytest.raises(OutputExistsError, match="existing folder"):
        write_image(Image.from_array(np.ones((8, 8), np.uint16), "yx"), folder, overwrite=True)
    assert (folder / "keep.txt").read_text() == "a user's file"
    (tmp_path / "img.zarr").write_text("a file, not a store")
    with pytest.raises(OutputExistsError, match="existing file"):
        write_image(Image.from_array(np.ones((8, 8), np.uint16), "yx"), tmp_path / "img.zarr",
                    overwrite=True)
