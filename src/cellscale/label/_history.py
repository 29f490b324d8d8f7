"""The edit history of a labels store: ``history.json``, read, written, repaired.

``history.json`` holds ``{"format": "cellscale-label-history", "saves": [...]}``,
one record per save: ``version``, ``base_version``, ``author``, ``time`` (ISO
8601, UTC) and ``edits``. A file that cannot be read is moved aside beside the
store and a new history begun with a ``history-reset`` record, so a damaged
history never costs the labels.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["HISTORY_FILE", "LabelHistoryWarning", "free_path", "history_text", "now",
           "parse_history", "repair_history", "stamp"]

#: Name of the edit history inside a labels store.
HISTORY_FILE = "history.json"
_FORMAT = "cellscale-label-history"
_FIELDS = frozenset({"version", "author", "time", "edits"})


class LabelHistoryWarning(UserWarning):
    """A labels store's edit history was unreadable and has been moved aside."""


def now() -> str:
    """The time now, ISO 8601 in UTC with milliseconds (``2026-12-03T19:40:12.345Z``)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp() -> str:
    """The time now for a file name (``20261203T194012.345678Z``)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def free_path(folder: Path, name: str) -> Path:
    """``folder / name``, or with a random tag before its ending when that exists."""
    path = folder / name
    stem, dot, ending = name.rpartition(".")
    while path.exists():
        path = folder / f"{stem}-{uuid.uuid4().hex[:4]}{dot}{ending}"
    return path


def history_text(saves: list[dict[str, Any]]) -> str:
    """The JSON text of a history."""
    return json.dumps({"format": _FORMAT, "saves": saves}, indent=1)


def parse_history(text: str) -> list[dict[str, Any]]:
    """The saves of a history's text; ValueError when it is not one.

    Examples
    --------
    >>> parse_history(history_text([{"version": 1, "author": "a", "time": "t", "edits": []}]))
    [{'version': 1, 'author': 'a', 'time': 't', 'edits': []}]
    """
    record = json.loads(text)
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise ValueError("not a cellscale edit history (no 'format': 'cellscale-label-history')")
    saves = record.get("saves")
    if not isinstance(saves, list) or not all(isinstance(s, dict) and _FIELDS <= s.keys()
                                              for s in saves):
        raise ValueError("its 'saves' are not a list of save records")
    return saves


def repair_history(path: Path, aside: Path, version: int, reason: Exception
                   ) -> tuple[list[dict[str, Any]], str]:
    """Move an unreadable history to ``aside``; write a new one; return it and a sentence.

    The new history has one record at ``version`` (the store's) whose only
    edit, ``{"op": "history-reset", "moved_to": ..., "reason": ...}``, says
    what happened.
    """
    os.replace(path, aside)
    saves = [{"version": int(version), "base_version": int(version), "author": "cellscale",
              "time": now(), "edits": [{"op": "history-reset", "moved_to": aside.name,
                                        "reason": str(reason)[:200]}]}]
    tmp = path.with_name(f".{HISTORY_FILE}.partial-{uuid.uuid4().hex[:8]}")
    tmp.write_text(history_text(saves), encoding="utf-8")
    os.replace(tmp, path)
    message = (f"{path}: the edit history could not be read ({reason}); the labels are intact. "
               f"The unreadable history was moved to {aside} and a new history begun")
    return saves, message
