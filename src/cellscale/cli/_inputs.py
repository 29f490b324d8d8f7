"""Reading a command's inputs: whole images refused up front when too large, errors named."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Share of this machine's memory a command that reads its input whole may use.
WHOLE_READ_SHARE = 0.5

#: Memory such a command needs per pixel, all axes together: the pixels as
#: float32, the network's maps and the labels (an upper estimate).
WORK_BYTES_PER_PIXEL = 32

#: Commands that read their whole input into memory (and refuse it above
#: :func:`whole_read_limit`); ``cellscale info`` says so.
WHOLE_READ_COMMANDS = ("segment", "track", "evaluate")

AxesHelp = ("Axes of the input as stored, e.g. yx, cyx, yxc, tyx, zyx (default: from the "
            "file's metadata, else from its shape{default}).")


def whole_read_limit() -> int:
    """Bytes a command that reads its input whole may use (half of memory; 4 GB if unknown)."""
    from cellscale.io._common import physical_memory

    total = physical_memory()
    return int(total * WHOLE_READ_SHARE) if total else 4 * 10**9


def whole_read_need(info: Any) -> int:
    """Bytes a command needs to process an image read whole (anything with shape and dtype)."""
    import numpy as np

    pixels = int(np.prod(info.shape, dtype=np.float64))
    return max(pixels * np.dtype(info.dtype).itemsize, pixels * WORK_BYTES_PER_PIXEL)


def human(n: float) -> str:
    """``1.2 GB``-style size."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_fits(path: Path | str, *, command: str, limit: int | None = None,
               array: Any = None) -> None:
    """Refuse, before reading pixels, an input too large for ``command`` to read whole.

    The shape comes from the file's header, or from ``array`` (e.g. a lazily
    read label image) when given.

    Raises
    ------
    ImageTooLargeError
        Naming the file, its shape, the memory it needs and the limit.
    """
    import numpy as np

    from cellscale.errors import ImageTooLargeError
    from cellscale.io import describe

    limit = whole_read_limit() if limit is None else limit
    info = describe(path) if array is None else array
    need = whole_read_need(info)
    if need > limit:
        size = int(np.prod(info.shape, dtype=np.float64)) * np.dtype(info.dtype).itemsize
        raise ImageTooLargeError(
            f"{path}: shape {tuple(info.shape)} ({info.dtype}, {human(size)}); "
            f"'cellscale {command}' reads its input whole and would need about {human(need)}, "
            f"more than its limit of {human(limit)} (half of this machine's memory)",
            hint="read it lazily with read(..., lazy=True) and process it in pieces",
            option="lazy",
        )


@contextmanager
def named(path: Path | str) -> Iterator[None]:
    """Make a cellscale error raised inside the block name ``path`` if it does not already."""
    from cellscale.errors import CellscaleError

    try:
        yield
    except CellscaleError as exc:
        text = str(path)
        if text in exc.message or Path(text).name in exc.message:
            raise
        raise type(exc)(f"{text}: {exc.message}", hint=exc.hint, option=exc.option,
                        choices=exc.choices) from exc


def read_whole(path: Path, *, command: str, axes: str | None = None,
               default_axes: str | None = None) -> Any:
    """Read an image into memory for a command that cannot stream it.

    Refuses up front (from the header) when the pixels would take more than
    :func:`whole_read_limit`; errors name ``path``.
    """
    from cellscale.io import read

    with named(path):
        check_fits(path, command=command)
        return read(path, axes=axes, default_axes=default_axes, lazy=False)
