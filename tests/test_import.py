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


def test_segmenting_path_does_not_import_scipy_ndimage():
    # scipy.ndimage costs ~0.45 s at import (SciPy 1.17); the `cellscale segment`
    # command (network + post-processing) does not need it.
    code = (
        "import json, sys; import cellscale.cli._segment, cellscale.segment, cellscale.models; "
        "from cellscale.segment import instances_from_maps; import numpy as np; "
        "fg = np.zeros((32, 32), np.float32); fg[4:12, 4:12] = 1; fg[14:30, 14:30] = 1; "
        "d = fg * 0.9; n = int(instances_from_maps(fg, d).max()); "
        "print(json.dumps({'n': n, 'ndimage': 'scipy.ndimage' in sys.modules}))"
    )
    assert _run(code) == {"n": 2, "ndimage": False}
