"""Pictures and blocks of a plane as the labelling server sends them, its messages, its checks.

No web code here: PNG rendering, label encoding, region clipping, the
wording of errors for the page, and the checks of values a request sends.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from cellscale.errors import CellscaleError, InvalidArgumentError

__all__ = ["as_int", "as_pairs", "clip_region", "encode_labels", "label_under", "render_composite",
           "render_plane", "user_message"]

#: Colours of a composite of 2 channels (green, magenta) and of 3 (red, green, blue).
COMPOSITE_COLOURS = {2: ((0, 1, 0), (1, 0, 1)), 3: ((1, 0, 0), (0, 1, 0), (0, 0, 1))}


def encode_labels(labels: np.ndarray) -> str:
    """Base64 text of a label array as little-endian uint32, row by row."""
    return base64.b64encode(np.ascontiguousarray(labels, dtype="<u4").tobytes()).decode("ascii")


def render_plane(plane: np.ndarray, *, lo: float | None = None, hi: float | None = None
                 ) -> tuple[bytes, float, float]:
    """An 8-bit greyscale PNG of one image plane, and the contrast range used.

    Parameters
    ----------
    plane : ndarray, shape (y, x)
        Pixel values of any real dtype.
    lo, hi : float, optional
        Values shown black and white. Default: the plane's 1st and 99.8th
        percentiles (as the models normalise their inputs).

    Returns
    -------
    (bytes, float, float)
        The PNG file's bytes, ``lo`` and ``hi``.
    """
    from PIL import Image as PILImage

    from cellscale.segment._normalise import percentile_range

    values = np.asarray(plane, dtype=np.float32)
    if lo is None or hi is None:
        p_lo, p_hi = percentile_range(values)
        lo = p_lo if lo is None else lo
        hi = p_hi if hi is None else hi
    span = max(float(hi) - float(lo), 1e-12)
    scaled = np.clip((values - lo) * (255.0 / span), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(scaled, mode="L").save(out, format="PNG", compress_level=1)
    return out.getvalue(), float(lo), float(hi)


def render_composite(planes: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of 2 channels (green, magenta) or 3 (red, green, blue).

    Each channel's contrast runs from its 1st to its 99.8th percentile.

    Parameters
    ----------
    planes : ndarray, shape (c, y, x), c = 2 or 3
    """
    from PIL import Image as PILImage

    from cellscale.segment._normalise import percentile_range

    stack = np.asarray(planes, dtype=np.float32)
    if stack.ndim != 3 or stack.shape[0] not in COMPOSITE_COLOURS:
        raise InvalidArgumentError(
            f"a composite shows 2 or 3 channels, got {stack.shape[0] if stack.ndim == 3 else 1}")
    rgb = np.zeros(stack.shape[1:] + (3,), np.float32)
    for plane, colour in zip(stack, COMPOSITE_COLOURS[stack.shape[0]]):
        lo, hi = percentile_range(plane)
        scaled = np.clip((plane - lo) / max(hi - lo, 1e-12), 0, 1)
        rgb += scaled[..., None] * np.asarray(colour, np.float32)
    out = io.BytesIO()
    PILImage.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), mode="RGB").save(
        out, format="PNG", compress_level=1)
    return out.getvalue()


def user_message(exc: BaseException) -> str:
    """An error's text for the page, with advice for the server's user rather than Python's."""
    if isinstance(exc, CellscaleError) and exc.option == "channels":
        example = ",".join(exc.choices[0].split(",")) if exc.choices else "DNA,membrane or 0,1"
        return (f"{exc.message}; start the server with the image's channels for the model, in "
                f"its order: cellscale label --channels CHANNELS (e.g. {example}), or "
                "make_app(..., channels=[...])")
    if isinstance(exc, CellscaleError) and exc.option == "axes":
        example = f"e.g. {', '.join(exc.choices[:3])}" if exc.choices else "e.g. tyx or cyx"
        return (f"{exc.message}; start the server with the file's axes: cellscale label --axes "
                f"AXES ({example}; tyx is a movie, cyx channels), or make_app(..., axes=...)")
    return str(exc)


def clip_region(shape: tuple[int, ...], y0: int = 0, x0: int = 0, h: int | None = None,
                w: int | None = None) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` of the region ``h`` x ``w`` at ``(y0, x0)``, clipped to ``shape``.

    None for ``h``/``w`` reaches the edge. Raises InvalidArgumentError for a
    region that lies outside the plane or has a negative size.

    Examples
    --------
    >>> clip_region((100, 80), 90, 70, 50, 50)
    (90, 70, 100, 80)
    """
    rows, cols = int(shape[-2]), int(shape[-1])
    if not (0 <= y0 < rows and 0 <= x0 < cols) or (h is not None and h < 1) or \
            (w is not None and w < 1):
        raise InvalidArgumentError(
            f"region y0={y0}, x0={x0}, h={h}, w={w} is outside the plane of {rows} x {cols} "
            "pixels; y0 and x0 must lie inside it and h, w be 1 or more")
    return (y0, x0, rows if h is None else min(rows, y0 + h), cols if w is None else min(cols, x0 + w))


def label_under(labels: np.ndarray, line: list[tuple[float, float]]) -> int:
    """The object most of a drawn line crosses (the one to split)."""
    from skimage.draw import line as draw_line

    h, w = labels.shape
    hits: list[np.ndarray] = []
    for (y0, x0), (y1, x1) in zip(line[:-1], line[1:]):
        rr, cc = draw_line(int(round(y0)), int(round(x0)), int(round(y1)), int(round(x1)))
        keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        hits.append(labels[rr[keep], cc[keep]])
    values = np.concatenate(hits) if hits else np.zeros(0, np.uint32)
    values = values[values > 0]
    if values.size == 0:
        raise InvalidArgumentError("the split line crosses no object; draw it across the object "
                                   "to cut")
    ids, counts = np.unique(values, return_counts=True)
    return int(ids[np.argmax(counts)])


def as_int(value: Any, name: str) -> int:
    """An integer argument of a request; InvalidArgumentError (422) naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")
    return int(number)


def as_pairs(value: Any, name: str) -> list[tuple[float, float]]:
    """A list of ``[y, x]`` pairs from a request, as floats; InvalidArgumentError otherwise."""
    try:
        pairs = [(float(y), float(x)) for y, x in value]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{name} must be a list of [y, x] pairs of numbers, got {value!r}"[:300]) from None
    return pairs
