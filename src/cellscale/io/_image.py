"""The :class:`Image` container: an array with named axes, channel names and pixel size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError

#: The axes an image may have, in the order they are always stored (OME-NGFF order).
AXES_ORDER = "tczyx"
SPATIAL_AXES = "zyx"


def is_lazy_array(data: Any) -> bool:
    """Return True when ``data`` is a Dask array (checked without importing Dask)."""
    return type(data).__module__.split(".")[0] == "dask"


def validate_axes(axes: str, shape: Sequence[int]) -> str:
    """Check an axes string against a shape and return it lower-cased.

    Parameters
    ----------
    axes : str
        Letters from ``"tczyx"``, each at most once, e.g. ``"cyx"``.
    shape : sequence of int
        The array's shape; its length must equal ``len(axes)``.

    Raises
    ------
    InvalidAxesError
        If a letter is unknown or repeated, ``y``/``x`` are missing, or the number
        of axes differs from the number of dimensions.
    """
    if not isinstance(axes, str):
        raise InvalidAxesError(f"axes must be a string such as 'cyx', got {axes!r}")
    axes = axes.lower()
    unknown = sorted(set(axes) - set(AXES_ORDER))
    if unknown:
        raise InvalidAxesError(
            f"unknown axis letter(s) {', '.join(map(repr, unknown))} in axes {axes!r}; "
            f"valid letters are t, c, z, y, x"
        )
    if len(set(axes)) != len(axes):
        raise InvalidAxesError(f"axes {axes!r} name the same axis twice")
    if "y" not in axes or "x" not in axes:
        raise InvalidAxesError(f"axes {axes!r} must include 'y' and 'x'")
    if len(axes) != len(shape):
        raise InvalidAxesError(
            f"expected axes {axes!r} ({len(axes)} dimensions), "
            f"got array of shape {tuple(shape)} ({len(shape)} dimensions)"
        )
    return axes


def _canonical(axes: str) -> str:
    return "".join(a for a in AXES_ORDER if a in axes)


@dataclass(frozen=True, eq=False)
class Image:
    """An image: pixels plus what they mean.

    Axes are always stored in the canonical order ``t, c, z, y, x`` (a subset of
    it); construct with :meth:`from_array` to have any other order transposed.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array, shape matching ``axes``
        The pixels. A Dask array means the image is read lazily.
    axes : str
        Named axes, a subsequence of ``"tczyx"``, e.g. ``"cyx"``.
    channel_names : tuple of str, optional
        One name per entry along ``c``; None when the image has no ``c`` axis.
    pixel_size : mapping of str to float
        Physical size of a pixel in micrometres for the spatial axes that are
        known, e.g. ``{"y": 0.65, "x": 0.65}``. Empty when unknown.
    time_interval : float, optional
        Seconds between frames along ``t``, if known.
    source : str, optional
        Where the image came from (a path), for messages.

    Examples
    --------
    >>> import numpy as np
    >>> from cellscale.io import Image
    >>> img = Image.from_array(np.zeros((64, 64, 2), np.uint16), axes="yxc",
    ...                        channel_names=["DNA", "membrane"])
    >>> img.axes, img.shape
    ('cyx', (2, 64, 64))
    >>> img.channel("membrane").axes
    'yx'
    """

    data: Any
    axes: str
    channel_names: tuple[str, ...] | None = None
    pixel_size: Mapping[str, float] = field(default_factory=dict)
    time_interval: float | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.data.shape)
        axes = validate_axes(self.axes, shape)
        if axes != _canonical(axes):
            raise InvalidAxesError(
                f"Image axes must be in the order t, c, z, y, x; got {axes!r} "
                f"(use Image.from_array to transpose)"
            )
        object.__setattr__(self, "axes", axes)
        if any(s == 0 for s in shape):
            raise InvalidImageError(f"{self._where()}image has a zero-size axis: shape {shape}")
        if "c" in axes:
            n_c = shape[axes.index("c")]
            names = self.channel_names
            if names is None:
                names = tuple(f"channel_{i}" for i in range(n_c))
            names = tuple(str(n) for n in names)
            if len(names) != n_c:
                raise InvalidImageError(
                    f"{self._where()}got {len(names)} channel name(s) {list(names)} "
                    f"for {n_c} channel(s)"
                )
            if len(set(names)) != len(names):
                raise InvalidImageError(f"{self._where()}channel names repeat: {list(names)}")
            object.__setattr__(self, "channel_names", names)
        elif self.channel_names is not None:
            if len(self.channel_names) != 1:
                raise InvalidImageError(
                    f"{self._where()}image has no 'c' axis but "
                    f"{len(self.channel_names)} channel names were given"
                )
            object.__setattr__(self, "channel_names", tuple(str(n) for n in self.channel_names))
        sizes = {}
        for key, value in dict(self.pixel_size).items():
            if key not in SPATIAL_AXES:
                raise InvalidImageError(f"pixel_size keys must be among 'z', 'y', 'x'; got {key!r}")
            value = float(value)
            if not np.isfinite(value) or value <= 0:
                raise InvalidImageError(f"pixel size along {key!r} must be > 0, got {value}")
            sizes[key] = value
        object.__setattr__(self, "pixel_size", sizes)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_array(
        cls,
        data: Any,
        axes: str,
        *,
        channel_names: Sequence[str] | None = None,
        pixel_size: Mapping[str, float] | float | None = None,
        time_interval: float | None = None,
        source: str | None = None,
    ) -> Image:
        """Make an Image from an array whose axes are in any order.

        ``pixel_size`` may be a single number (the same size in y and x, in µm).
        """
        axes = validate_axes(axes, data.shape)
        canonical = _canonical(axes)
        if canonical != axes:
            data = data.transpose([axes.index(a) for a in canonical])
        if pixel_size is None:
            pixel_size = {}
        elif not isinstance(pixel_size, Mapping):
            pixel_size = {"y": float(pixel_size), "x": float(pixel_size)}
        return cls(
            data=data,
            axes=canonical,
            channel_names=tuple(channel_names) if channel_names is not None else None,
            pixel_size=pixel_size,
            time_interval=time_interval,
            source=source,
        )

    # -- facts --------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the pixel array, in the order of :attr:`axes`."""
        return tuple(int(s) for s in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of the pixels."""
        return np.dtype(self.data.dtype)

    @property
    def sizes(self) -> dict[str, int]:
        """Axis name to length, e.g. ``{"c": 2, "y": 512, "x": 512}``."""
        return dict(zip(self.axes, self.shape))

    @property
    def is_lazy(self) -> bool:
        """True when the pixels are a Dask array, read on demand."""
        return is_lazy_array(self.data)

    @property
    def nbytes(self) -> int:
        """Size of the pixels in memory once loaded, in bytes."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    # -- views --------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    def _replace(self, **changes: Any) -> Image:
        kwargs = {
            "data": self.data,
            "axes": self.axes,
            "channel_names": self.channel_names,
            "pixel_size": self.pixel_size,
            "time_interval": self.time_interval,
            "source": self.source,
        }
        kwargs.update(changes)
        return Image(**kwargs)

    def compute(self) -> Image:
        """Return the same image with its pixels loaded into a NumPy array."""
        if not self.is_lazy:
            return self
        return self._replace(data=np.asarray(self.data.compute()))

    def channel_index(self, name: str | int) -> int:
        """Index along ``c`` of a channel given by name or position."""
        if "c" not in self.axes:
            raise InvalidAxesError(f"{self._where()}image has no channel axis (axes {self.axes!r})")
        names = self.channel_names or ()
        if isinstance(name, (int, np.integer)):
            if not -len(names) <= int(name) < len(names):
                raise InvalidArgumentError(
                    f"{self._where()}channel index {name} out of range for {len(names)} channels"
                )
            return int(name) % len(names)
        if name not in names:
            raise InvalidArgumentError(
                f"{self._where()}no channel named {name!r}; "
                f"channels are {', '.join(map(repr, names))}"
            )
        return names.index(name)

    def channel(self, name: str | int) -> Image:
        """One channel as an Image without a ``c`` axis."""
        i = self.channel_index(name)
        return self.isel(c=i)._replace(channel_names=(self.channel_names[i],))  # type: ignore[index]

    def isel(self, **indices: int) -> Image:
        """Select one position along the named axes, dropping them.

        Examples
        --------
        >>> import numpy as np
        >>> from cellscale.io import Image
        >>> Image(np.zeros((3, 8, 8)), axes="tyx").isel(t=1).axes
        'yx'
        """
        index: list[Any] = [slice(None)] * len(self.axes)
        for axis, pos in indices.items():
            if axis not in self.axes:
                raise InvalidAxesError(f"{self._where()}image has no axis {axis!r} (axes {self.axes!r})")
            index[self.axes.index(axis)] = int(pos)
        axes = "".join(a for a in self.axes if a not in indices)
        names = None if "c" in indices else self.channel_names
        return self._replace(data=self.data[tuple(index)], axes=axes, channel_names=names)

    def __repr__(self) -> str:
        kind = "lazy" if self.is_lazy else "in memory"
        parts = [f"axes={self.axes!r}", f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.channel_names and "c" in self.axes:
            parts.append(f"channels={list(self.channel_names)}")
        if self.pixel_size:
            parts.append(f"pixel_size={self.pixel_size}")
        parts.append(kind)
        return f"Image({', '.join(parts)})"

