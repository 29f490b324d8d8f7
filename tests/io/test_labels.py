"""Label images: uint32 on disk, 0 = background, TIFF and OME-Zarr ``labels/<name>``."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import InvalidAxesError, InvalidImageError
from cellscale.io import read_labels, write_labels


def test_labels_tiff_roundtrip_is_compressed_uint32(tmp_path, labels2d):
    import tifffile

    out = write_labels(labels2d, tmp_path / "cells.tif", pixel_size=0.5)
    back = read_labels(out)
    assert back.dtype == np.uint32
    np.testing.assert_array_equal(back, labels2d)
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].compression != tifffile.COMPRESSION.NONE


def test_labels_zarr_is_ngff_label_image(tmp_path, labels2d):
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    out = write_labels(labels2d, tmp_path / "seg.zarr", pixel_size=0.5, name="nuclei")
    back = read_labels(out)
    assert back.dtype == np.uint32
    np.testing.assert_array_equal(back, labels2d)
    group = zarr.open_group(str(out), mode="r")
    assert group["labels"].attrs["ome"]["labels"] == ["nuclei"]
    label_attrs = group["labels/nuclei"].attrs["ome"]
    assert "image-label" in label_attrs
    assert label_attrs["multiscales"][0]["axes"][0]["unit"] == "micrometer"
    nodes = list(Reader(parse_url(str(out / "labels")))())
    assert nodes[-1].data[0].shape == labels2d.shape


def test_labels_zarr_pyramid_uses_nearest_neighbour(tmp_path, rng):
    lab = rng.integers(0, 50, size=(512, 512)).astype(np.uint16)
    out = write_labels(lab, tmp_path / "seg.zarr")
    low = read_labels(out, level=1)
    assert low.shape == (256, 256)
    assert set(np.unique(low)) <= set(np.unique(lab))  # no blended, invented labels


def test_lazy_labels_3d(tmp_path, labels2d):
    da = pytest.importorskip("dask.array")
    stack = da.from_array(np.stack([labels2d, labels2d * 2]), chunks=(1, 32, 32))
    out = write_labels(stack, tmp_path / "vol.zarr", axes="zyx",
                       pixel_size={"z": 2.0, "y": 0.5, "x": 0.5})
    back = read_labels(out, lazy=True)
    assert back.shape == (2, 64, 80)
    np.testing.assert_array_equal(back.compute()[1], labels2d * 2)


def test_bad_labels_are_refused(tmp_path, labels2d):
    with pytest.raises(InvalidImageError, match="integers"):
        write_labels(labels2d.astype(np.float32), tmp_path / "f.tif")
    with pytest.raises(InvalidImageError, match="0 .. 4294967295"):
        write_labels(labels2d - 1, tmp_path / "neg.tif")
    with pytest.raises(InvalidAxesError, match="'zyx' or 'tyx'"):
        write_labels(np.zeros((2, 8, 8), np.uint8), tmp_path / "v.tif")
    with pytest.raises(InvalidAxesError, match="no channel axis"):
        write_labels(np.zeros((2, 8, 8), np.uint8), tmp_path / "v.tif", axes="cyx")
    assert not list(tmp_path.iterdir())


def test_lazy_negative_labels_fail_and_leave_nothing(tmp_path, labels2d):
    da = pytest.importorskip("dask.array")
    bad = da.from_array(labels2d - 1, chunks=32)
    with pytest.raises(InvalidImageError, match="label values"):
        write_labels(bad, tmp_path / "bad.zarr")
    assert not list(tmp_path.iterdir())


def test_read_labels_refuses_float_files(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "prob.tif", np.random.default_rng(0).random((16, 16)))
    with pytest.raises(InvalidImageError, match=r"prob\.tif.*integers.*float64"):
        read_labels(tmp_path / "prob.tif")
