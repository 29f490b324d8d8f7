"""Shared file protocol of the peer runners (numpy + tifffile only).

A *set folder* holds ``images/<name>.tif`` (``(y, x)`` or ``(c, y, x)``, the
channels the method gets, in order) and ``labels/<name>.tif`` (``uint32``
instances, 0 = background). A runner's ``predict`` writes
``<out>/<name>.tif`` (labels) and ``<out>/result.json``: per-image timings,
peak memory of its own process and package versions. The benchmark, not the
runner, scores the labels (with :mod:`cellscale.metrics`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import tifffile


def read_set(folder: str | os.PathLike[str], *, labels: bool = True, limit: int | None = None):
    """Return ``(names, images, labels)`` of a set folder, sorted by name."""
    folder = Path(folder)
    names = sorted(p.name[: -len(".tif")] for p in (folder / "images").glob("*.tif"))
    if not names:
        raise SystemExit(f"{folder}/images holds no .tif images")
    names = names[:limit] if limit else names
    images = [tifffile.imread(folder / "images" / f"{n}.tif") for n in names]
    labs = [tifffile.imread(folder / "labels" / f"{n}.tif") for n in names] if labels else None
    return names, images, labs


def write_labels(out: Path, name: str, labels: np.ndarray) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(out / f"{name}.tif", np.asarray(labels).astype(np.uint32), compression="zlib")


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_json(path: Path, payload: dict) -> None:
    payload = {**payload, "peak_rss_mib": peak_rss_mib(), "python": platform.python_version()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


class Clock:
    """``with clock("name"):`` adds the block's wall time to ``clock.times[name]``."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._name = ""
        self._t0 = 0.0

    def __call__(self, name: str) -> Clock:
        self._name = name
        return self

    def __enter__(self):  # returns self
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.times[self._name] = self.times.get(self._name, 0.0) + time.perf_counter() - self._t0
