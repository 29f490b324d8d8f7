"""What made each image's results: fingerprints of inputs and pipelines.

A results store records, in its root attributes (``cellscale/config``), what
it holds::

    pipelines:  {KEY: {"pipeline": {...steps and options...},
                       "models": {NAME: {"name", "version", "sha256", "card"}}}}
    images:     {IMAGE_ID: {"input": {"path", "bytes", "mtime_ns", "files"},
                            "read": {"axes", "channel_names"},
                            "pipeline": KEY, "fingerprint": HEX,
                            "elements": [[KIND, NAME], ...],
                            "state": "complete" | "replacing",
                            "cellscale_version": ..., "finished": ISO TIME}}

and, under ``cellscale/run``, the state of the last run (``running``,
``interrupted`` or ``complete``; see :mod:`cellscale.engine._run`).

An image's *fingerprint* hashes its input (absolute path, size in bytes and
latest modification time of the file, or of every file of a Zarr store), the
options it was read with, and its pipeline's key; the key hashes the
pipeline's steps and options and every model card it uses (the card holds the
network's sha256 and the post-processing thresholds). A re-run skips an image
only when the store's entry is complete, its fingerprint is the one the run
computes, and every element it lists is present. The chunk size chosen from
the workers' memory (when the pipeline does not fix one) and the cellscale
version are recorded but are not part of the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cellscale.engine._job import ImageRef
from cellscale.engine._pipeline import Pipeline

__all__ = ["fingerprint", "image_entry", "input_fingerprint", "matches", "pipeline_key",
           "pipeline_record"]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Absolute path, bytes, latest modification time (ns) and file count of an input.

    A folder (an OME-Zarr store) counts every file under it, so a rewritten
    chunk changes the fingerprint.
    """
    target = Path(path).absolute()
    if target.is_dir():
        size, latest, files = 0, 0, 0
        for root, _, names in os.walk(target):
            for name in names:
                info = os.stat(os.path.join(root, name))
                size, latest, files = size + info.st_size, max(latest, info.st_mtime_ns), files + 1
        return {"path": str(target), "bytes": size, "mtime_ns": latest, "files": files}
    info = target.stat()
    return {"path": str(target), "bytes": info.st_size, "mtime_ns": info.st_mtime_ns, "files": 1}


def _models(pipeline: Pipeline) -> dict[str, dict[str, str]]:
    from cellscale.models import model_info

    out: dict[str, dict[str, str]] = {}
    for step in pipeline.steps:
        model = getattr(step, "model", None)
        if isinstance(model, str) and model not in out:
            card = model_info(model)
            out[model] = {"name": card.name, "version": card.version, "sha256": card.sha256,
                          "card": _digest(card.model_dump(mode="json"))}
    return out


def pipeline_record(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's steps and options, and the cards of the models it uses."""
    return {"pipeline": pipeline.model_dump(mode="json"), "models": _models(pipeline)}


def pipeline_key(record: Mapping[str, Any]) -> str:
    """A short, stable key of a :func:`pipeline_record`."""
    return _digest(record)[:16]


def _read_options(ref: ImageRef) -> dict[str, Any]:
    names = list(ref.read_channel_names) if ref.read_channel_names else None
    return {"axes": ref.read_axes, "channel_names": names}


def fingerprint(ref: ImageRef, key: str) -> dict[str, Any]:
    """The input, read options and pipeline of ``ref``, with their hash ``"fingerprint"``.

    Computed once, when the run plans the image, so an input changed while it
    is processed is not recorded as what was processed.
    """
    parts = {"input": input_fingerprint(ref.path), "read": _read_options(ref), "pipeline": key}
    return {**parts, "fingerprint": _digest(parts)}


def image_entry(facts: Mapping[str, Any], elements: list[tuple[str, str]]) -> dict[str, Any]:
    """The store's record of one image: its :func:`fingerprint` facts and elements."""
    from cellscale import __version__

    return {**facts, "elements": [list(e) for e in elements], "state": "complete",
            "cellscale_version": __version__,
            "finished": datetime.now(UTC).isoformat(timespec="seconds")}


def matches(entry: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> bool:
    """True when a store ``entry`` is complete and has the fingerprint in ``facts``."""
    return bool(entry) and entry.get("state") == "complete" \
        and entry.get("fingerprint") == facts["fingerprint"]
