"""Shared protocol of the tracking peer runners (NumPy + the standard library only).

Input ``detections.json``: ``{"t": [...], "y": [...], "x": [...], "id": [...],
"area": [...], "shape": [h, w], "max_distance": D, "max_gap": G}`` (and
optionally ``"split_distance"``, laptrack's division cut-off); ``id`` is
the detection's label in its frame's mask. Output ``result.json``:
``{"track": [...]}`` (a track id per detection, in input order, 0 = dropped),
``{"parent": {track: parent_track}}`` (divisions), ``"seconds"`` (linking only,
after import) and ``"version"``. The benchmark, not the runner, relabels the
masks and scores them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def load() -> tuple[dict, Path]:
    folder = Path(sys.argv[1])
    return json.loads((folder / "detections.json").read_text()), folder


def save(folder: Path, track: list[int], parent: dict[int, int], seconds: float, version: str) -> None:
    payload = {"track": [int(v) for v in track], "parent": {str(k): int(v) for k, v in parent.items()},
               "seconds": seconds, "version": version}
    (folder / "result.json").write_text(json.dumps(payload))


now = time.perf_counter
