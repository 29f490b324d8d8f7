"""Shared fixtures of the command-line tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellscale.cli import main


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """Run ``cellscale ARGS...`` in this process; returns ``(exit code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as stop:
            main(list(args))
        out = capsys.readouterr()
        return int(stop.value.code or 0), out.out, out.err

    return run


@pytest.fixture(scope="session")
def dask_processes() -> Any:
    """``tests/engine/dask_processes.py``, loaded once: the session's Dask processes, free ports."""
    path = Path(__file__).parents[1] / "engine" / "dask_processes.py"
    spec = importlib.util.spec_from_file_location("_cli_dask", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.shared()


@pytest.fixture(scope="module")
def scheduler(dask_processes) -> str:
    """A real `dask scheduler` with two `dask worker` processes on loopback (shared)."""
    return dask_processes.address()
