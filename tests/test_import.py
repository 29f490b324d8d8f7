"""`import cellscale` must stay fast and free of heavy optional dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "distributed", "fastapi", "spatialdata", "tensorflow")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_is_fast_and_light():
    # Best of three, in fresh interpreters: the machine is shared and times drift.
    code = (
        "import json, sys, time; t = time.perf_counter(); import cellscale; "
        "d = time.perf_counter() - t; "
        f"print(json.dumps({{'s': d, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))"
    )
    runs = [_run(code) for _ in range(3)]
    assert min(r["s"] for r in runs) < 0.5
    assert runs[0]["heavy"] == []


def test_subpackages_do_not_import_heavy_dependencies():
    code = (
        "import json, sys; import cellscale.io, cellscale.data, cellscale.metrics, cellscale.cli; "
        f"print(json.dumps({{'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))"
    )
    assert _run(code)["heavy"] == []
