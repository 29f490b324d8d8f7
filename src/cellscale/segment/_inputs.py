"""Check an image given to :func:`cellscale.segment.segment` and pick the model's channels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError
from cellscale.io import Image

__all__ = ["as_image", "channel_stack", "fill_blank", "refuse_blank", "select_channels"]

#: Other names of a role that mean the same stain (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "dna": ("dna", "dapi", "hoechst", "draq5", "nuclei", "nuclear"),
}


def as_image(image: Any, *, axes: str | None = None) -> Image:
    """A 2-D (``yx`` or ``cyx``) :class:`Image` from an Image or an array.

    Parameters
    ----------
    image : Image or array-like, shape (y, x) or matching ``axes``
        Pixels. Singleton ``t`` or ``z`` axes are dropped.
    axes : str, optional
        Axes of an array, e.g. ``"cyx"`` or ``"yxc"``; needed unless it is 2-D.
        Ignored for an Image, which names its axes.

    Raises
    ------
    InvalidAxesError
        For an array of 3 or more dimensions without ``axes``, or a time
        series or z-stack (more than one ``t`` or ``z`` position).
    InvalidImageError
        For an empty image or a non-numeric dtype.
    """
    if not isinstance(image, Image):
        arr = image if hasattr(image, "shape") and hasattr(image, "dtype") else np.asarray(image)
        if axes is None:
            if arr.ndim == 2:
                axes = "yx"
            else:
                raise InvalidAxesError(
                    f"expected axes 'yx' or 'cyx', got array of shape {tuple(arr.shape)}; "
                    "pass axes= (e.g. 'cyx' or 'yxc') for an image that is not 2-D"
                )
        if 0 in arr.shape:
            raise InvalidImageError(f"image is empty: shape {tuple(arr.shape)}")
        image = Image.from_array(arr, axes)
    for axis in "tz":
        if axis in image.axes:
            if image.sizes[axis] != 1:
                raise InvalidAxesError(
                    f"{_where(image)}segmentation works on 2-D images; this one has axes "
                    f"{image.axes!r} and shape {image.shape}",
                    hint=f"select one plane first, e.g. image.isel({axis}=0)", option="plane",
                )
            image = image.isel(**{axis: 0})
    kind = image.dtype.kind
    if kind not in "biuf":
        raise InvalidImageError(f"{_where(image)}image pixels must be real numbers, got {image.dtype}")
    return image


def channel_names(image: Image) -> tuple[str, ...]:
    """The image's channel names (one name for an image without a ``c`` axis)."""
    if "c" in image.axes:
        return tuple(image.channel_names or ())
    return tuple(image.channel_names or ("channel_0",))


def select_channels(
    image: Image, wanted: Sequence[str], channels: Sequence[str | int | None] | None = None,
    *, model: str = "the model",
) -> list[int | None]:
    """Indices of the image channels that feed the roles ``wanted``, in that order.

    With ``channels`` given, they name (or number) the image's channels, one
    per role; ``None`` (or ``"none"``) leaves a role blank: the model gets an
    empty channel there, e.g. ``(None, "phase")`` for the ``cells`` model on
    a transmitted-light or cytoplasm image without a nuclear stain (as
    Cellpose's "no nuclear channel"). At least one role needs a channel.
    Otherwise each role is matched to a channel of the same name
    (case-insensitive; DAPI, Hoechst, DRAQ5 also count as DNA); failing that,
    an image with exactly ``len(wanted)`` channels gives them in order.

    Raises
    ------
    InvalidArgumentError
        When the channels cannot be matched; the message lists the image's
        channels and the roles the model needs.
    """
    names = channel_names(image)
    need = (f"{model} needs {len(wanted)} channel(s) {list(wanted)} in that order; "
            f"the image has {len(names)}: {list(names)}")
    if channels is not None:
        if isinstance(channels, (str, int)):
            channels = [channels]
        if len(channels) != len(wanted):
            raise InvalidArgumentError(f"{len(channels)} channel(s) {list(channels)} given, but {need}")
        found = [None if _blank(names, c) else _find(names, c, need) for c in channels]
        if all(i is None for i in found):
            raise InvalidArgumentError(f"every channel given is 'none': {need}; give at least one")
        return found
    lower = [n.lower() for n in names]
    found = []
    for role in wanted:
        options = ALIASES.get(role.lower(), (role.lower(),))
        hit = next((lower.index(o) for o in options if o in lower), None)
        found.append(hit)
    if all(i is not None for i in found) and len(set(found)) == len(found):
        return [int(i) for i in found]  # type: ignore[arg-type]
    if len(names) == len(wanted):
        return list(range(len(names)))
    missing = [role for role, i in zip(wanted, found) if i is None]
    blank = len(names) < len(wanted) and len(wanted) > 1
    raise InvalidArgumentError(
        f"{need}; none is named {', '.join(map(repr, missing))}",
        hint="choose the image's channels for the model with channels=, in the model's order"
             + ("; 'none' leaves a role blank (e.g. an image without a nuclear stain)" if blank else ""),
        option="channels",
        choices=[",".join(names[: len(wanted)])] if len(names) >= len(wanted) else
        [",".join(["none"] * (len(wanted) - len(names)) + list(names))] if blank else (),
    )


def _blank(names: tuple[str, ...], channel: str | int | None) -> bool:
    """Whether ``channel`` asks for a blank role (None or "none", unless a channel is named so)."""
    if channel is None:
        return True
    return isinstance(channel, str) and channel.lower() == "none" and \
        channel.lower() not in (n.lower() for n in names)


def refuse_blank(chosen: Sequence[int | None], what: str) -> None:
    """Refuse blank roles where they are not supported (``what`` names the path)."""
    if any(i is None for i in chosen):
        raise InvalidArgumentError(f"{what} needs every channel of the model; 'none' is not supported there")


def _find(names: tuple[str, ...], channel: str | int, need: str) -> int:
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not -len(names) <= int(channel) < len(names):
            raise InvalidArgumentError(f"channel index {channel} is out of range: {need}")
        return int(channel) % len(names)
    if isinstance(channel, str):
        if channel in names:
            return names.index(channel)
        lower = [n.lower() for n in names]
        if channel.lower() in lower:
            return lower.index(channel.lower())
    raise InvalidArgumentError(f"no channel {channel!r} in the image: {need}")


def fill_blank(data: np.ndarray, indices: Sequence[int | None]) -> np.ndarray:
    """The channels read for the non-blank ``indices``, with zeros where a role is blank.

    Parameters
    ----------
    data : ndarray, shape (k, ...)
        One channel per index that is not None, in order.
    indices : sequence of int or None
        The roles' channels, None for a blank role (see :func:`select_channels`).

    Returns
    -------
    ndarray, shape (len(indices), ...)
        ``data`` itself when no role is blank.
    """
    if all(i is not None for i in indices) or len(data) == len(indices):
        return data
    out = np.zeros((len(indices), *data.shape[1:]), dtype=data.dtype)
    out[[k for k, i in enumerate(indices) if i is not None]] = data
    return out


def channel_stack(image: Image, indices: Sequence[int | None]) -> np.ndarray:
    """The chosen channels as one in-memory array of shape (c, y, x), checked for NaN.

    A blank role (index None) is a channel of zeros.

    Raises
    ------
    InvalidImageError
        When a chosen channel holds NaN or infinite values.
    """
    data = image.data
    data = data[[i for i in indices if i is not None]] if "c" in image.axes else data[None]
    data = fill_blank(np.asarray(data.compute() if hasattr(data, "compute") else data), indices)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            names = channel_names(image)
            which = [names[i] for c, i in enumerate(indices) if i is not None and bad[c].any()]
            raise InvalidImageError(
                f"{_where(image)}image holds {int(bad.sum())} NaN or infinite pixel(s) "
                f"(channel(s) {which}); replace them first, e.g. with numpy.nan_to_num"
            )
    return data


def _where(image: Image) -> str:
    return f"{image.source}: " if image.source else ""
