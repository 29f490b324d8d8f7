"""Write then read every image format: pixels, axes, channel names and pixel size survive."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellscale.io import Image, read, write_image


def test_ome_tiff_keeps_channels_pixel_size_and_interval(tmp_path, rng):
    data = rng.integers(0, 255, size=(3, 2, 4, 40, 50), dtype=np.uint8)
    img = Image.from_array(
        data, "tczyx", channel_names=["DNA", "actin"],
        pixel_size={"z": 2.0, "y": 0.325, "x": 0.325}, time_interval=300.0,
    )
    for name in ("movie.ome.tif", "movie.tif", "movie.ome.tiff"):
        back = read(write_image(img, tmp_path / name))
        assert back.axes == "tczyx"
        assert back.channel_names == ("DNA", "actin")
        assert back.pixel_size == pytest.approx({"z": 2.0, "y": 0.325, "x": 0.325})
        assert back.time_interval == pytest.approx(300.0)
        np.testing.assert_array_equal(back.data, data)


def test_plain_tiff_axes_are_inferred_from_shape(tmp_path, cyx):
    tifffile.imwrite(tmp_path / "two.tif", cyx)
    tifffile.imwrite(tmp_path / "one.tif", cyx[0])
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[..., 1] = 200
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert read(tmp_path / "two.tif").axes == "cyx"
    assert read(tmp_path / "one.tif").axes == "yx"
    back = read(tmp_path / "rgb.tif")
    assert back.axes == "cyx" and back.shape == (3, 40, 30)
    np.testing.assert_array_equal(back.data[1], 200)


def test_explicit_axes_win_and_transpose(tmp_path, cyx):
    tifffile.imwrite(tmp_path / "stack.tif", cyx)
    img = read(tmp_path / "stack.tif", axes="zyx")
    assert img.axes == "zyx"
    yxc = read(tmp_path / "stack.tif", axes="xyc")  # any order is transposed to canonical
    assert yxc.axes == "cyx" and yxc.shape == (90, 70, 2)


def test_imagej_hyperstack_metadata(tmp_path, rng):
    data = rng.integers(0, 1000, size=(3, 5, 2, 32, 40), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "hyper.tif", data, imagej=True, resolution=(1 / 0.5, 1 / 0.5),
        metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um", "finterval": 60},
    )
    img = read(tmp_path / "hyper.tif")
    assert img.axes == "tczyx" and img.shape == (3, 2, 5, 32, 40)
    assert img.pixel_size == pytest.approx({"z": 1.5, "y": 0.5, "x": 0.5})
    assert img.time_interval == pytest.approx(60.0)
    np.testing.assert_array_equal(img.data, np.moveaxis(data, 2, 1))


def test_png_greyscale_16bit_and_rgb(tmp_path, rng):
    grey = rng.integers(0, 65535, size=(30, 40), dtype=np.uint16)
    back = read(write_image(Image.from_array(grey, "yx"), tmp_path / "grey.png"))
    assert back.axes == "yx" and back.dtype == np.uint16
    np.testing.assert_array_equal(back.data, grey)
    rgb = rng.integers(0, 255, size=(30, 40, 3), dtype=np.uint8)
    back = read(write_image(Image.from_array(rgb, "yxc"), tmp_path / "rgb.png"))
    assert back.axes == "cyx" and back.channel_names == ("red", "green", "blue")
    np.testing.assert_array_equal(back.data, np.moveaxis(rgb, -1, 0))


def test_jpeg_reads_as_rgb(tmp_path):
    from PIL import Image as PILImage

    rgb = np.full((16, 24, 3), (200, 30, 90), np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    img = read(tmp_path / "photo.jpg")
    assert img.axes == "cyx" and img.shape == (3, 16, 24)
    assert np.abs(img.data.astype(int) - np.moveaxis(rgb, -1, 0)).max() < 8


def test_ome_zarr_levels_pixel_size_and_channels(tmp_path, rng):
    data = rng.integers(0, 4000, size=(2, 3, 64, 96), dtype=np.uint16)
    img = Image.from_array(data, "czyx", channel_names=["DNA", "actin"],
                           pixel_size={"z": 1.0, "y": 0.25, "x": 0.25})
    out = write_image(img, tmp_path / "cells.zarr", n_levels=3, chunks=32)
    full = read(out)
    assert full.axes == "czyx" and full.channel_names == ("DNA", "actin")
    assert full.pixel_size == pytest.approx({"z": 1.0, "y": 0.25, "x": 0.25})
    np.testing.assert_array_equal(full.data, data)
    half = read(out, level=1)
    assert half.shape == (2, 3, 32, 48)  # z is never downsampled
    assert half.pixel_size == pytest.approx({"z": 1.0, "y": 0.5, "x": 0.5})
    assert read(out, level=2).shape == (2, 3, 16, 24)


def test_ome_zarr_is_ngff_05_that_zarr_and_ome_zarr_read(tmp_path, cyx):
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    img = Image.from_array(cyx, "cyx", channel_names=["DNA", "actin"], pixel_size=0.5)
    out = write_image(img, tmp_path / "cells.zarr", n_levels=2)
    group = zarr.open_group(str(out), mode="r")
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    axes = ome["multiscales"][0]["axes"]
    assert [a["name"] for a in axes] == ["c", "y", "x"]
    assert axes[1]["unit"] == "micrometer" and axes[0]["type"] == "channel"
    assert [c["label"] for c in ome["omero"]["channels"]] == ["DNA", "actin"]
    nodes = list(Reader(parse_url(str(out)))())
    assert [d.shape for d in nodes[0].data] == [(2, 70, 90), (2, 35, 45)]
    assert nodes[0].metadata["channel_names"] == ["DNA", "actin"]


@pytest.mark.slow
def test_ome_zarr_lower_levels_are_block_means_at_block_centres(tmp_path, rng):
    import zarr

    data = rng.integers(0, 4000, size=(2, 65, 97), dtype=np.uint16)  # odd: edge blocks dropped
    img = Image.from_array(data, "cyx", pixel_size=0.5)
    out = write_image(img, tmp_path / "cells.zarr", n_levels=3, chunks=16)
    for level in (1, 2):
        f = 2**level
        h, w = 65 // f, 97 // f
        mean = data[:, :h * f, :w * f].reshape(2, h, f, w, f).mean(axis=(2, 4))
        # each level is rounded to uint16, then averaged again: 0.5 per level at most
        np.testing.assert_allclose(read(out, level=level).data, mean, atol=0.5 * level)
    datasets = zarr.open_group(str(out), mode="r").attrs["ome"]["multiscales"][0]["datasets"]
    assert datasets[2]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 2.0, 2.0]},
        {"type": "translation", "translation": [0.0, 0.75, 0.75]},  # centre of a 4 x 4 block
    ]


def test_lazy_image_is_written_without_computing_it_whole(tmp_path, rng):
    da = pytest.importorskip("dask.array")
    data = rng.integers(0, 4000, size=(2, 300, 260), dtype=np.uint16)
    lazy = da.from_array(data, chunks=(1, 100, 100))
    img = Image.from_array(lazy, "cyx", pixel_size=0.5)
    for name in ("lazy.zarr", "lazy.ome.tif"):
        back = read(write_image(img, tmp_path / name))
        np.testing.assert_array_equal(back.data, data)
        assert back.pixel_size == pytest.approx({"y": 0.5, "x": 0.5})


def test_lazy_read_above_memory_budget(tmp_path, cyx):
    img = Image.from_array(cyx, "cyx", channel_names=["a", "b"])
    for name in ("big.ome.tif", "big.zarr", "big.png"):
        data = cyx[0].astype(np.uint8) if name.endswith("png") else cyx
        axes = "yx" if name.endswith("png") else "cyx"
        path = write_image(Image.from_array(data, axes) if name.endswith("png") else img,
                           tmp_path / name)
        small = read(path, memory_budget="1 kB")
        assert small.is_lazy, name
        np.testing.assert_array_equal(small.data.compute(), data)
        assert not read(path, memory_budget="1 GB").is_lazy
        assert read(path, memory_budget=10, lazy=False).is_lazy is False
        assert read(path, lazy=True).is_lazy


def test_pyramidal_tiff_level(tmp_path, rng):
    data = rng.integers(0, 255, size=(64, 64), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "pyr.ome.tif") as tif:
        tif.write(data, subifds=1, metadata={"axes": "YX", "PhysicalSizeX": 0.5,
                                             "PhysicalSizeY": 0.5})
        tif.write(data[::2, ::2], subfiletype=1)
    assert read(tmp_path / "pyr.ome.tif").shape == (64, 64)
    low = read(tmp_path / "pyr.ome.tif", level=1)
    assert low.shape == (32, 32) and low.pixel_size == pytest.approx({"y": 1.0, "x": 1.0})
    np.testing.assert_array_equal(low.data, data[::2, ::2])


def test_lazy_tiff_pickles_and_is_never_stale(tmp_path, cyx):
    import pickle

    path = tmp_path / "frame.ome.tif"
    write_image(Image.from_array(cyx, "cyx"), path)
    lazy = read(path, lazy=True).data
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy)).compute(), cyx)
    write_image(Image.from_array(cyx + 1, "cyx"), path, overwrite=True)
    np.testing.assert_array_equal(read(path, lazy=True).data.compute(), cyx + 1)


def test_single_channel_name_survives(tmp_path, cyx):
    img = Image.from_array(cyx, "cyx", channel_names=["DNA", "actin"]).channel("actin")
    for name in ("one.ome.tif", "one.zarr"):
        back = read(write_image(img, tmp_path / name))
        assert back.axes == "yx" and back.channel_names == ("actin",)


def test_reads_ngff_04_written_by_ome_zarr(tmp_path, cyx):
    import pickle
    import warnings

    import zarr
    from ome_zarr.format import FormatV04

    group = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    axes = [{"name": "c", "type": "channel"}] + [
        {"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    with warnings.catch_warnings():  # ome-zarr 0.18 deprecates coordinate_transformations
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_multiscale

        # API that ome-zarr 0.15 (spatialdata's dask pin) and 0.18 share; 0.18's
        # write_image ignores coordinate_transformations, 0.15's has no scale=.
        write_multiscale([cyx, cyx[:, ::2, ::2]], group, axes=axes, fmt=FormatV04(),
                         coordinate_transformations=[[{"type": "scale", "scale": [1, s, s]}]
                                                     for s in (0.4, 0.8)])
    img = read(tmp_path / "old.zarr", lazy=True)
    assert img.axes == "cyx" and img.pixel_size == pytest.approx({"y": 0.4, "x": 0.4})
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(img.data)).compute(), cyx)
    assert read(tmp_path / "old.zarr", level=1).shape == (2, 35, 45)
