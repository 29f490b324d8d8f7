"""Shared fixtures of the command-line tests."""

from __future__ import annotations

from collections.abc import Callable

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
