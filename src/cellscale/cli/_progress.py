"""Progress bars for long work: a spinner for single steps, a bar for Dask graphs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CELLSCALE_NO_PROGRESS")


@contextmanager
def progress(description: str) -> Iterator[None]:
    """Show ``description`` with a spinner, and a bar while Dask graphs compute.

    Writes to stderr and only to a terminal, so piping output or running in CI
    stays clean. Dask is only touched if the work imported it.
    """
    if not _enabled():
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} tasks"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        with _dask_callback(bar, task):
            yield


@contextmanager
def _dask_callback(bar: Any, task: Any) -> Iterator[None]:
    if "dask" not in sys.modules:
        # Most work never imports Dask; importing it here would cost ~0.3 s.
        try:
            import dask  # noqa: F401
        except ImportError:  # pragma: no cover - dask is a core dependency
            yield
            return
    from dask.callbacks import Callback

    class _Bar(Callback):  # type: ignore[misc]
        def _start_state(self, dsk: Any, state: Any) -> None:
            total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            bar.update(task, total=total, completed=len(state["finished"]))

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            bar.update(task, completed=len(state["finished"]))

    with _Bar():
        yield
