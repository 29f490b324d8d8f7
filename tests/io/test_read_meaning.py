"""Reading by meaning: default axes, grey PNGs saved as RGB, damaged chunks, error advice."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from cellscale.errors import FileFormatError, InputNotFoundError, InvalidAxesError
from cellscale.io import Image, describe, read, write_image


def test_default_axes_read_a_plain_multipage_tiff_as_a_movie(tmp_path: Path):
    for n in (5, 40):  # the shape rules would say 'cyx' for 5 pages and refuse 40
        f = tmp_path / f"movie{n}.tif"
        tifffile.imwrite(f, np.zeros((n, 32, 32), np.uint16), metadata=None,
                         photometric="minisblack")
        assert read(f, default_axes="tyx").axes == "tyx"
    # Metadata and explicit axes still win over the default.
    tifffile.imwrite(tmp_path / "z.ome.tif", np.zeros((4, 32, 32), np.uint16),
                     metadata={"axes": "ZYX"})
    assert read(tmp_path / "z.ome.tif", default_axes="tyx").axes == "zyx"
    assert read(tmp_path / "movie5.tif", axes="zyx", default_axes="tyx").axes == "zyx"
    # A default that does not fit the dimensions is ignored.
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((32, 32), np.uint16))
    assert read(tmp_path / "flat.tif", default_axes="tyx").axes == "yx"


def test_ambiguous_axes_error_carries_its_advice(tmp_path: Path):
    f = tmp_path / "stack.tif"
    tifffile.imwrite(f, np.zeros((40, 32, 32), np.uint16), metadata=None)
    with pytest.raises(InvalidAxesError) as info:
        read(f)
    err = info.value
    assert str(f) in err.message and "pass axes=" in str(err) and "pass axes=" not in err.message
    assert err.option == "axes" and err.choices[:2] == ("zyx", "tyx")
    again = pickle.loads(pickle.dumps(err))  # crosses Dask workers intact
    assert (type(again), str(again), again.option, again.choices) == (
        type(err), str(err), err.option, err.choices)
    assert isinstance(pickle.loads(pickle.dumps(InputNotFoundError("x"))), FileNotFoundError)


def test_grey_png_saved_as_rgb_is_one_grey_channel(tmp_path: Path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (30, 40), dtype=np.uint8)
    PILImage.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "grey.png")
    image = read(tmp_path / "grey.png")
    assert image.axes == "yx" and np.array_equal(np.asarray(image.data), grey)
    assert describe(tmp_path / "grey.png").axes == "yx"
    assert np.array_equal(np.asarray(read(tmp_path / "grey.png", lazy=True).data), grey)
    # Real colour, and grey with alpha, keep their channels.
    colour = np.stack([grey, 255 - grey, grey], -1)
    PILImage.fromarray(colour).save(tmp_path / "colour.png")
    assert read(tmp_path / "colour.png").channel_names == ("red", "green", "blue")
    PILImage.fromarray(np.stack([grey] * 4, -1), mode="RGBA").save(tmp_path / "rgba.png")
    assert read(tmp_path / "rgba.png").axes == "cyx"


def test_corrupt_zarr_chunk_is_one_error_naming_the_store(tmp_path: Path):
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    store = write_image(Image.from_array(pixels, "yx"), tmp_path / "img.ome.zarr")
    chunk = next(p for p in sorted(store.rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"not zstd at all")
    with pytest.raises(FileFormatError, match="damaged or incomplete") as info:
        read(store, lazy=False)
    assert str(store) in str(info.value)
