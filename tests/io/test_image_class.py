"""The Image container: named axes, channel names, pixel size, checked at the boundary."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError
from cellscale.io import Image


def test_from_array_transposes_to_canonical_order():
    data = np.arange(2 * 4 * 3 * 5).reshape(4, 5, 3, 2)  # y x c t
    img = Image.from_array(data, "yxct", channel_names=["a", "b", "c"], pixel_size=0.5)
    assert img.axes == "tcyx"
    assert img.shape == (2, 3, 4, 5)
    assert img.pixel_size == {"y": 0.5, "x": 0.5}
    np.testing.assert_array_equal(img.data[1, 2], data[:, :, 2, 1])


def test_axes_must_match_shape_with_a_clear_message():
    with pytest.raises(InvalidAxesError, match=r"expected axes 'cyx'.*shape \(512, 512\)"):
        Image.from_array(np.zeros((512, 512)), "cyx")


@pytest.mark.parametrize("axes", ["yy", "qyx", "zx"])
def test_bad_axes_letters_are_rejected(axes):
    with pytest.raises(InvalidAxesError):
        Image.from_array(np.zeros((3, 4, 5))[..., 0] if len(axes) == 2 else np.zeros((3, 4, 5)), axes)


def test_canonical_order_is_required_by_the_constructor():
    with pytest.raises(InvalidAxesError, match="from_array"):
        Image(np.zeros((4, 4, 2)), axes="yxc")


def test_channel_names_checked_and_defaulted():
    img = Image(np.zeros((2, 4, 4)), axes="cyx")
    assert img.channel_names == ("channel_0", "channel_1")
    with pytest.raises(InvalidImageError, match="3 channel name"):
        Image(np.zeros((2, 4, 4)), axes="cyx", channel_names=("a", "b", "c"))
    with pytest.raises(InvalidImageError, match="repeat"):
        Image(np.zeros((2, 4, 4)), axes="cyx", channel_names=("a", "a"))


def test_channel_selection_by_name_and_errors_list_choices():
    img = Image(np.stack([np.zeros((4, 4)), np.ones((4, 4))]), axes="cyx", channel_names=("DNA", "membrane"))
    mem = img.channel("membrane")
    assert mem.axes == "yx" and mem.channel_names == ("membrane",)
    assert float(mem.data.sum()) == 16.0
    with pytest.raises(InvalidArgumentError, match="'DNA', 'membrane'"):
        img.channel("CD3")


def test_zero_size_and_bad_pixel_size_rejected():
    with pytest.raises(InvalidImageError, match="zero-size"):
        Image(np.zeros((0, 4)), axes="yx")
    with pytest.raises(InvalidImageError, match="> 0"):
        Image(np.zeros((4, 4)), axes="yx", pixel_size={"y": -1.0})


def test_lazy_image_computes_to_same_values():
    da = pytest.importorskip("dask.array")
    data = np.random.default_rng(0).random((3, 8, 8))
    img = Image(da.from_array(data, chunks=(1, 8, 8)), axes="tyx")
    assert img.is_lazy
    loaded = img.compute()
    assert not loaded.is_lazy
    np.testing.assert_array_equal(loaded.data, data)
    assert img.isel(t=2).shape == (8, 8)
