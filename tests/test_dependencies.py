"""Every package the code imports is declared in pyproject.toml, and optional ones say their extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cellscale"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_norm(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0]) for r in requirements}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imported_modules() -> dict[str, set[str]]:
    """Top-level module -> files of src/cellscale that import it (at any depth, lazily too)."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(SRC).as_posix())
    return found


def test_every_imported_package_is_declared():
    project = _project()
    required = _names(project["dependencies"])
    optional = set().union(*(_names(v) for v in project["optional-dependencies"].values()))
    installed = packages_distributions()
    undeclared = []
    for module, files in sorted(_imported_modules().items()):
        if module in sys.stdlib_module_names or module in ("cellscale", "__future__"):
            continue
        dists = {_norm(d) for d in installed.get(module, [])}
        if not dists:
            undeclared.append(f"{module} (not installed; imported by {sorted(files)})")
        elif not dists & (required | optional):
            undeclared.append(f"{module} from {sorted(dists)} (imported by {sorted(files)})")
    assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(undeclared)


@pytest.mark.parametrize("module", ["yaml", "psutil"])
def test_engine_imports_are_core_dependencies(module):
    """The engine reads YAML pipelines and sizes workers with psutil on a plain install."""
    dists = {_norm(d) for d in packages_distributions()[module]}
    assert dists & _names(_project()["dependencies"])
