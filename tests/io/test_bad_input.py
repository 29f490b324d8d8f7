"""Bad input: every case raises a cellscale error that names the file and the problem."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellscale.errors import (
    FileFormatError,
    ImageTooLargeError,
    InputNotFoundError,
    InvalidArgumentError,
    InvalidAxesError,
    InvalidImageError,
    OutputExistsError,
    OutputNotWritableError,
    UnsupportedFormatError,
)
from cellscale.io import Image, describe, read, read_labels, write_image, write_labels


def _craft_tiff(path: Path, width: int, height: int, *, tile: int | None = None) -> Path:
    """Write a TIFF header + IFD by hand declaring ``width`` x ``height`` uint8 pixels.

    Without ``tile`` the single strip points past the end of the file. With
    ``tile`` every tile is sparse (offset 0, count 0), which TIFF readers fill
    with zeros, so the file is valid but holds no pixel data.
    """
    n_entries = 10 if tile else 9
    ifd_end = 8 + 2 + 12 * n_entries + 4
    entries: list[bytes] = []
    extra = b""

    def long(tag: int, value: int, count: int = 1) -> bytes:
        return struct.pack("<HHII", tag, 4, count, value)

    def short(tag: int, value: int) -> bytes:
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    entries += [long(256, width), long(257, height), short(258, 8), short(259, 1),
                short(262, 1), short(277, 1)]
    if tile:
        n_tiles = -(-width // tile) * -(-height // tile)
        entries += [long(322, tile), long(323, tile),
                    long(324, ifd_end, n_tiles), long(325, ifd_end + 4 * n_tiles, n_tiles)]
        extra = bytes(8 * n_tiles)
        entries = sorted(entries, key=lambda e: struct.unpack("<H", e[:2])[0])
    else:
        entries += [long(273, ifd_end), long(278, height), long(279, min(width * height, 2**32 - 1))]
        entries = sorted(entries, key=lambda e: struct.unpack("<H", e[:2])[0])
    blob = (b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", len(entries))
            + b"".join(entries) + struct.pack("<I", 0) + extra)
    path.write_bytes(blob)
    return path


@pytest.fixture
def good_tiff(tmp_path, cyx) -> Path:
    path = tmp_path / "good.tif"
    tifffile.imwrite(path, cyx, compression="zlib")
    return path


def test_missing_file(tmp_path):
    for path in (tmp_path / "nope.tif", tmp_path / "nope.zarr", tmp_path / "nope"):
        with pytest.raises(InputNotFoundError, match="nope.*no such"):
            read(path)
    with pytest.raises(InputNotFoundError, match="no files match"):
        read(str(tmp_path / "frames" / "*.tif"))


def test_folder_where_a_file_is_expected(tmp_path):
    (tmp_path / "image.tif").mkdir()
    with pytest.raises(InputNotFoundError, match=r"image\.tif: is a folder"):
        read(tmp_path / "image.tif")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(FileFormatError, match="empty_folder: folder holds no image files"):
        read(tmp_path / "empty_folder")


def test_empty_file(tmp_path):
    for name in ("empty.tif", "empty.png"):
        (tmp_path / name).touch()
        with pytest.raises(FileFormatError, match=rf"{name}: file is empty"):
            read(tmp_path / name)


def test_text_saved_as_image(tmp_path):
    (tmp_path / "notes.tif").write_text("these are my notes\n" * 20)
    with pytest.raises(FileFormatError, match=r"notes\.tif: not a readable TIFF"):
        read(tmp_path / "notes.tif")
    (tmp_path / "notes.png").write_text("these are my notes\n" * 20)
    with pytest.raises(FileFormatError, match=r"notes\.png: not a readable PNG"):
        read(tmp_path / "notes.png")


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_tiff(tmp_path, cyx, compression):
    full = tmp_path / "full.tif"
    tifffile.imwrite(full, cyx, compression=compression)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    with pytest.raises(FileFormatError, match=r"cut\.tif: .*truncated"):
        read(cut)
    cut.write_bytes(full.read_bytes()[:6])  # not even a whole header
    with pytest.raises(FileFormatError, match=r"cut\.tif"):
        read(cut)


def test_corrupt_tiff(tmp_path, good_tiff):
    blob = bytearray(good_tiff.read_bytes())
    garbled_header = bytearray(blob)
    garbled_header[:4] = b"\x13\x37\xca\xfe"
    (tmp_path / "bad_header.tif").write_bytes(bytes(garbled_header))
    with pytest.raises(FileFormatError, match=r"bad_header\.tif: not a readable TIFF"):
        read(tmp_path / "bad_header.tif")
    with tifffile.TiffFile(good_tiff) as tif:
        start, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    rng = np.random.default_rng(3)
    blob[start + 2 : start + count] = rng.integers(0, 256, count - 2, dtype=np.uint8).tobytes()
    (tmp_path / "bad_pixels.tif").write_bytes(bytes(blob))
    with pytest.raises(FileFormatError, match=r"bad_pixels\.tif: .*pixels"):
        read(tmp_path / "bad_pixels.tif")


def test_unknown_extension(tmp_path):
    (tmp_path / "scan.czi").write_bytes(b"\0" * 10)
    with pytest.raises(UnsupportedFormatError, match=r"scan\.czi: unsupported.*\.ome\.tif.*\.zarr"):
        read(tmp_path / "scan.czi")
    img = Image.from_array(np.zeros((4, 4), np.uint8), "yx")
    with pytest.raises(UnsupportedFormatError, match="cellscale writes"):
        write_image(img, tmp_path / "out.czi")
    with pytest.raises(UnsupportedFormatError, match="lossy"):
        write_image(img, tmp_path / "out.jpg")


def test_one_dimensional_array(tmp_path):
    tifffile.imwrite(tmp_path / "line.tif", np.arange(10, dtype=np.uint8))
    with pytest.raises(InvalidImageError, match=r"line\.tif: .*at least 2 dimensions.*\(10,\)"):
        read(tmp_path / "line.tif")
    with pytest.raises(InvalidImageError, match="at least 2-D"):
        write_labels(np.arange(10), tmp_path / "line_labels.tif")


def test_zero_size_array(tmp_path):
    import zarr

    zarr.create_array(str(tmp_path / "empty.zarr"), shape=(0, 16), dtype="uint8")
    with pytest.raises(InvalidImageError, match=r"empty\.zarr: .*zero-size"):
        read(tmp_path / "empty.zarr")
    with pytest.raises(InvalidImageError, match="at least 2-D"):
        write_labels(np.zeros((0, 5), np.uint8), tmp_path / "empty.tif")


def test_all_nan_image(tmp_path):
    tifffile.imwrite(tmp_path / "nan.tif", np.full((8, 8), np.nan, np.float32))
    with pytest.raises(InvalidImageError, match=r"nan\.tif: .*no finite values"):
        read(tmp_path / "nan.tif")


def test_header_declaring_1e10_pixels_is_not_allocated(tmp_path):
    huge = _craft_tiff(tmp_path / "huge.tif", 100_000, 100_000)
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"huge\.tif: .*truncated.*\(100000, 100000\)"):
            read(huge)
        with pytest.raises(FileFormatError, match="truncated"):
            read(huge, lazy=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6


def test_valid_sparse_1e10_pixel_tiff_is_read_lazily(tmp_path):
    sparse = _craft_tiff(tmp_path / "sparse.tif", 100_000, 100_000, tile=1024)
    img = read(sparse)
    assert img.is_lazy and img.shape == (100_000, 100_000)
    assert not img.data[-5:, -5:].compute().any()
    assert describe(sparse).lazy


def test_header_above_pixel_cap(tmp_path):
    _craft_tiff(tmp_path / "absurd.tif", 200_000, 200_000)
    with pytest.raises(ImageTooLargeError, match=r"absurd\.tif: .*\(200000, 200000\)"):
        read(tmp_path / "absurd.tif")


def test_paths_with_spaces_and_unicode(tmp_path, cyx):
    folder = tmp_path / "my data" / "Zellkerne ünï 画像"
    img = Image.from_array(cyx, "cyx", channel_names=["DNA", "Aktin ß"])
    for name in ("plate 1 – well A1.ome.tif", "plate 1 – well A1.zarr"):
        back = read(write_image(img, folder / name))
        assert back.channel_names == ("DNA", "Aktin ß")
        np.testing.assert_array_equal(back.data, cyx)
    write_image(Image.from_array(cyx[0].astype(np.uint8), "yx"), folder / "über 1.png")
    assert read(folder / "über 1.png").shape == (70, 90)
    assert read(str(folder / "*.png")).axes == "tyx"


def test_unwritable_output_folder(tmp_path, cyx, labels2d):
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file cannot hold other files")
    img = Image.from_array(cyx, "cyx")
    for name in ("out.ome.tif", "out.zarr"):
        with pytest.raises(OutputNotWritableError, match="a_file"):
            write_image(img, blocker / name)
    with pytest.raises(OutputNotWritableError):
        write_labels(labels2d, blocker / "labels.tif")


def test_existing_output_without_overwrite(tmp_path, cyx):
    img = Image.from_array(cyx, "cyx")
    for name in ("out.ome.tif", "out.zarr"):
        write_image(img, tmp_path / name)
        with pytest.raises(OutputExistsError, match="overwrite"):
            write_image(img, tmp_path / name)
        doubled = Image.from_array(cyx * 2, "cyx")
        write_image(doubled, tmp_path / name, overwrite=True)
        np.testing.assert_array_equal(read(tmp_path / name).data, cyx * 2)


def test_failing_writer_leaves_nothing(tmp_path, cyx):
    da = pytest.importorskip("dask.array")

    def explode(block):
        if block.sum() >= 0:
            raise RuntimeError("simulated failure mid-write")
        return block

    lazy = da.from_array(cyx, chunks=(1, 35, 45)).map_blocks(explode, dtype=cyx.dtype)
    img = Image.from_array(lazy, "cyx")
    for name in ("bad.zarr", "bad.ome.tif"):
        with pytest.raises(RuntimeError, match="simulated failure"):
            write_image(img, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_axes_errors_say_what_was_expected(tmp_path, cyx):
    tifffile.imwrite(tmp_path / "plane.tif", cyx[0])
    with pytest.raises(InvalidAxesError, match=r"plane\.tif: expected axes 'cyx'.*shape \(70, 90\)"):
        read(tmp_path / "plane.tif", axes="cyx")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((20, 30, 40), np.uint8))
    with pytest.raises(InvalidAxesError, match=r"stack\.tif: .*pass axes=.*'zyx', 'tyx'"):
        read(tmp_path / "stack.tif")
    assert describe(tmp_path / "stack.tif").axes is None


def test_bad_options(tmp_path, good_tiff):
    with pytest.raises(InvalidArgumentError, match="memory_budget"):
        read(good_tiff, memory_budget="lots")
    with pytest.raises(InvalidArgumentError, match="level 3 does not exist"):
        read(good_tiff, level=3)
    with pytest.raises(InvalidArgumentError, match="Image.from_array"):
        write_image(np.zeros((4, 4)), tmp_path / "x.tif")  # type: ignore[arg-type]


def test_zarr_stores_that_are_not_images(tmp_path, table):
    import zarr

    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(FileFormatError, match=r"plain\.zarr: .*no OME-NGFF"):
        read(tmp_path / "plain.zarr")
    from cellscale.io import write_table

    write_table(table, tmp_path / "cells.zarr")
    with pytest.raises(FileFormatError, match="AnnData table.*read_table"):
        read(tmp_path / "cells.zarr")
    with pytest.raises(InvalidImageError, match="label images must hold integers"):
        write_image(Image.from_array(np.ones((4, 4), np.float32), "yx"), tmp_path / "f.zarr")
        read_labels(tmp_path / "f.zarr")
