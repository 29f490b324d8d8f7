"""PNG and JPEG through Pillow.

Reading: greyscale (8-bit, 16-bit, 32-bit integer or float) gives axes
``"yx"``; colour gives axes ``"cyx"`` (channels first, like every other
cellscale image) with channel names ``red, green, blue[, alpha]``, except that
an RGB picture whose three channels are equal everywhere (a grey image saved
as colour) is read as one grey channel, ``"yx"``; greyscale
with alpha gives ``grey, alpha``. Palette images are expanded to RGB(A) and
1-bit images to 8-bit. These formats hold no pixel size. Pillow decodes a file
whole, so a lazy read defers the decoding of the whole file to ``compute()``.

Writing (PNG only; JPEG is lossy and refused): ``"yx"`` uint8/uint16, or
``"cyx"`` uint8 with 3 or 4 channels (RGB/RGBA).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import FileFormatError, ImageTooLargeError, InvalidImageError
from cellscale.io._common import Source, check_input_file
from cellscale.io._image import Image

_MODES = {
    # mode: (dtype, channel names or None for "yx", mode to convert to first)
    "1": ("uint8", None, "L"),
    "L": ("uint8", None, None),
    "I;16": ("uint16", None, None),
    "I;16B": ("uint16", None, None),
    "I;16L": ("uint16", None, None),
    "I": ("int32", None, None),
    "F": ("float32", None, None),
    "LA": ("uint8", ("grey", "alpha"), None),
    "RGB": ("uint8", ("red", "green", "blue"), None),
    "RGBA": ("uint8", ("red", "green", "blue", "alpha"), None),
    "CMYK": ("uint8", ("red", "green", "blue"), "RGB"),
    "YCbCr": ("uint8", ("red", "green", "blue"), "RGB"),
    "P": ("uint8", ("red", "green", "blue"), "RGB"),
    "PA": ("uint8", ("red", "green", "blue", "alpha"), "RGBA"),
}


def _pil_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image as PILImage

    return (OSError, SyntaxError, ValueError, struct.error, EOFError, PILImage.DecompressionBombError)


def open_png(path: Path, *, fmt: str) -> Source:
    """Read a PNG/JPEG header; return a :class:`Source` (``fmt`` is "png" or "jpeg")."""
    from PIL import Image as PILImage

    check_input_file(path, fmt.upper())
    try:
        with PILImage.open(path) as im:
            width, height, mode = im.width, im.height, im.mode
            if mode == "P" and "transparency" in im.info:
                mode = "PA"
    except PILImage.DecompressionBombError as exc:
        raise _too_large(path, exc) from exc
    except _pil_errors() as exc:
        raise FileFormatError(f"{path}: not a readable {fmt.upper()} file ({exc})") from exc
    if mode not in _MODES:
        raise FileFormatError(f"{path}: unsupported {fmt.upper()} pixel mode {mode!r}")
    dtype, names, _ = _MODES[mode]
    decoded: np.ndarray | None = None
    if names == ("red", "green", "blue"):
        # A grey picture saved as colour (three equal channels) is one grey channel.
        # Telling needs the pixels; Pillow decodes these formats whole anyway.
        colour = _decode(path, fmt)
        if np.array_equal(colour[0], colour[1]) and np.array_equal(colour[0], colour[2]):
            decoded, names = np.ascontiguousarray(colour[0]), None
    shape: tuple[int, ...] = (height, width) if names is None else (len(names), height, width)

    def pixels() -> np.ndarray:
        return decoded if decoded is not None else _decode(path, fmt)

    def load(lazy: bool) -> Any:
        if lazy:
            import dask
            import dask.array as da

            return da.from_delayed(dask.delayed(pixels)(), shape=shape, dtype=dtype)
        return pixels()

    return Source(
        path=path, format=fmt, shape=shape, dtype=np.dtype(dtype),
        axes="yx" if names is None else "cyx", load=load, channel_names=names,
    )


def _too_large(path: Path, exc: BaseException) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{path}: image is larger than Pillow decodes safely ({exc}); "
        f"convert it to TIFF or OME-Zarr"
    )


def _decode(path: Path, fmt: str) -> np.ndarray:
    """Decode the whole file into a ``(y, x)`` or ``(c, y, x)`` array."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            mode = "PA" if im.mode == "P" and "transparency" in im.info else im.mode
            convert = _MODES[mode][2]
            if convert is not None:
                im = im.convert(convert)
            array = np.asarray(im)
    except PILImage.DecompressionBombError as exc:
        raise _too_large(path, exc) from exc
    except _pil_errors() as exc:
        raise FileFormatError(f"{path}: not a readable {fmt.upper()} file ({exc})") from exc
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    if array.ndim == 3:
        array = np.moveaxis(array, -1, 0)
    return np.ascontiguousarray(array)


def write_png(image: Image, path: Path) -> None:
    """Write a ``"yx"`` or RGB(A) ``"cyx"`` image as PNG at ``path`` (a temporary path)."""
    from PIL import Image as PILImage

    where = f"{image.source}: " if image.source else ""
    if image.axes == "yx" and image.dtype in (np.uint8, np.uint16):
        array = np.asarray(image.data)
    elif image.axes == "cyx" and image.shape[0] in (3, 4) and image.dtype == np.uint8:
        array = np.moveaxis(np.asarray(image.data), 0, -1)
    else:
        raise InvalidImageError(
            f"{where}PNG holds 'yx' uint8/uint16 or 'cyx' uint8 with 3 or 4 channels; got axes "
            f"{image.axes!r}, shape {image.shape}, dtype {image.dtype}; write .ome.tif or .zarr"
        )
    PILImage.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")
