"""The engine tests run against real `dask scheduler` / `dask worker` processes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _processes():
    spec = importlib.util.spec_from_file_location("_engine_dask", Path(__file__).with_name(
        "dask_processes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.shared()


@pytest.fixture(scope="session")
def client():
    from distributed import Client

    with Client(_processes().address(), timeout="30s") as active:
        yield active
