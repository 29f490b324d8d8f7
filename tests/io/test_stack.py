"""Folders of frames and glob patterns, stacked along a new axis in natural order."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellscale.errors import InvalidAxesError, InvalidImageError
from cellscale.io import describe, read


@pytest.fixture
def frames(tmp_path, rng):
    folder = tmp_path / "frames"
    folder.mkdir()
    data = rng.integers(0, 1000, size=(11, 20, 30), dtype=np.uint16)
    for i, frame in enumerate(data):  # frame_2 must come before frame_10
        tifffile.imwrite(folder / f"frame_{i}.tif", frame)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.tif").write_bytes(b"junk")
    return folder, data


def test_folder_is_stacked_along_t_in_natural_order(frames):
    folder, data = frames
    img = read(folder)
    assert img.axes == "tyx" and img.shape == (11, 20, 30)
    np.testing.assert_array_equal(img.data, data)


def test_glob_pattern_and_explicit_stack_axis(frames):
    folder, data = frames
    img = read(str(folder / "frame_1*.tif"), axes="zyx")
    assert img.axes == "zyx"
    np.testing.assert_array_equal(img.data, data[[1, 10]])


def test_lazy_stack_matches(frames):
    folder, data = frames
    img = read(folder, memory_budget="1 kB")
    assert img.is_lazy
    np.testing.assert_array_equal(img.data.compute(), data)


def test_stack_of_multichannel_frames(tmp_path, cyx):
    for i in range(3):
        tifffile.imwrite(tmp_path / f"t{i}.tif", cyx + i)
    img = read(str(tmp_path / "t*.tif"))
    assert img.axes == "tcyx" and img.shape == (3, 2, 70, 90)
    info = describe(str(tmp_path / "t*.tif"))
    assert info.axes == "tcyx" and info.format.startswith("stack of 3")


def test_stack_error_names_the_file_that_differs(frames):
    folder, _ = frames
    tifffile.imwrite(folder / "frame_7.tif", np.zeros((20, 31), np.uint16))
    with pytest.raises(InvalidImageError, match=r"frame_7\.tif: shape \(20, 31\)"):
        read(folder)


def test_stack_axes_must_match(frames):
    folder, _ = frames
    with pytest.raises(InvalidAxesError, match="stack axis first"):
        read(folder, axes="yx")
