"""`.ci/run` runs exactly the README's set-up and test commands, and they lint and run doctests."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> dict[str, str]:
    """The Quick start's numbered commands: '1' -> the line under '# 1. ...'."""
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md has no Quick start bash block"
    commands, number = {}, None
    for line in block.group(1).splitlines():
        if m := re.match(r"# (\d)\.", line):
            number = m.group(1)
        elif line.strip() and not line.startswith("#") and number and number not in commands:
            commands[number] = line.strip()
    return commands


def test_ci_runs_the_readme_set_up_and_test_commands():
    commands = _readme_commands()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands["1"] in ci and commands["3"] in ci
    assert ci[-1] == commands["3"]  # last: under `set -e` an && list fails the script only there


def test_the_test_command_lints_and_runs_the_doctests():
    assert "ruff check" in _readme_commands()["3"]
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in pytest_ini["addopts"] and "src/cellscale" in pytest_ini["testpaths"]
    assert any(r.startswith("ruff") for r in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"])
