"""Failed images: one paragraph naming the file, and no worker traceback on the terminal.

A task that raises makes its Dask worker log the whole traceback
(``distributed.worker - ERROR - Compute Failed``), which a local cluster's
workers print on the user's terminal beside the paragraph the run reports.
Tasks therefore run through :func:`guarded`, which returns the error as a
value; the driving process raises it again with :func:`unwrap` and turns any
error into one paragraph with :func:`explain`.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cellscale.errors import CellscaleError

__all__ = ["TaskError", "explain", "guarded", "unwrap"]


class TaskError(CellscaleError, RuntimeError):
    """An image failed: the reason, naming its file, with advice where there is some."""


class _RemoteError(RuntimeError):
    """An unexpected error of a task, as ``"TypeName: message"``."""


@dataclass(frozen=True)
class _Failed:
    """A task's failure, returned (not raised) so the worker does not log a traceback."""

    error: CellscaleError | None
    text: str
    trace: str


def guarded(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; an exception comes back as a :class:`_Failed` value.

    A task that raises makes the Dask worker log the whole traceback
    (``distributed.worker - ERROR - Compute Failed``) on the terminal, beside
    the one paragraph the run reports for it; returned, it is reported once.
    """
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001  # reported by the driver, with the image's path
        error = exc if isinstance(exc, CellscaleError) else None
        return _Failed(error, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def unwrap(value: Any) -> Any:
    """A task's result, or its error raised here (with its traceback when CELLSCALE_DEBUG is set)."""
    if isinstance(value, _Failed):
        if os.environ.get("CELLSCALE_DEBUG"):
            print(value.trace, file=sys.stderr)
        raise value.error if value.error is not None else _RemoteError(value.text)
    return value


def explain(exc: BaseException, path: str | None = None) -> CellscaleError:
    """``exc`` as one paragraph naming ``path``, keeping a cellscale error's advice.

    Errors cellscale raises on purpose say what is wrong; anything else
    (a decompression error from a damaged chunk, a dead worker) is named and
    explained.
    """
    if isinstance(exc, CellscaleError):
        message, hint = exc.message, exc.hint
        option, choices = exc.option, exc.choices
    else:
        name = type(exc).__name__
        text = str(exc) if isinstance(exc, _RemoteError) else f"{name}: {exc}"
        message, hint, option, choices = text, None, None, ()
        if name == "KilledWorker":
            message += (" (a worker died, usually from running out of memory: give workers more "
                        "memory or set a smaller chunk_size in the pipeline)")
        elif path is not None:
            message = (f"cannot read or process the image ({message}); the file may be damaged "
                       f"or truncated: check that it opens in another viewer, or write it again")
    if path is not None and path not in message:
        message = f"{path}: {message}"
    return TaskError(" ".join(message.split()), hint=hint, option=option, choices=choices)
