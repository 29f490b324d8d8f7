"""Axis inference rules, memory budgets and ``describe``."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError
from cellscale.io import Image, describe, infer_axes, parse_memory, write_image


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((512, 512), "yx"), ((3, 512, 512), "cyx"), ((8, 64, 64), "cyx"),
     ((480, 640, 3), "yxc"), ((480, 640, 4), "yxc")],
)
def test_shape_rules(shape, axes):
    assert infer_axes(shape) == axes


@pytest.mark.parametrize("shape", [(40, 512, 512), (9, 64, 64), (4, 64, 4), (2, 3, 64, 64)])
def test_ambiguous_shapes_ask_for_axes(shape):
    with pytest.raises(InvalidAxesError, match="pass axes="):
        infer_axes(shape)


def test_too_few_or_many_dimensions():
    with pytest.raises(InvalidImageError, match="at least 2 dimensions"):
        infer_axes((10,))
    with pytest.raises(InvalidAxesError, match="at most 5"):
        infer_axes((2,) * 6)


def test_parse_memory():
    assert parse_memory("2 GB") == 2_000_000_000
    assert parse_memory("512MB") == 512_000_000
    assert parse_memory("1.5 GiB") == int(1.5 * 2**30)
    assert parse_memory(4096) == 4096
    for bad in ("two gigs", "-1 GB", True, None):
        with pytest.raises(InvalidArgumentError):
            parse_memory(bad)


def test_describe_reads_no_pixels(tmp_path, cyx):
    import shutil

    img = Image.from_array(cyx, "cyx", channel_names=["DNA", "actin"], pixel_size=0.5)
    out = write_image(img, tmp_path / "cells.zarr", n_levels=2)
    for level in ("s0", "s1"):  # with the pixel chunks gone, only metadata is left to read
        shutil.rmtree(out / level / "c")
    info = describe(out)
    assert (info.format, info.axes, info.shape, info.dtype) == ("ome-zarr", "cyx", (2, 70, 90), "uint16")
    assert info.channel_names == ("DNA", "actin") and info.n_levels == 2
    assert info.pixel_size == pytest.approx({"y": 0.5, "x": 0.5})
    assert info.size_on_disk > 0 and not info.lazy
    assert "DNA, actin" in info.summary()


def test_describe_tiff_and_lazy_flag(tmp_path, cyx):
    tifffile.imwrite(tmp_path / "x.tif", np.moveaxis(cyx, 0, -1)[..., :2])
    info = describe(tmp_path / "x.tif", memory_budget=100)
    assert info.format == "tiff" and info.lazy
    assert info.size_on_disk == (tmp_path / "x.tif").stat().st_size
