"""The results store as one run sees it: what it holds, and committing each image.

:class:`StoreLedger` is used only by the process that drives a run (one
writer per store). It

* reads the store's record of what it holds (``cellscale/config``:
  ``pipelines`` and per-image ``images`` entries; see
  :mod:`cellscale.engine._provenance`) and the state of the last run;
* creates the store only when the first image is committed, so a run in which
  nothing succeeds (or that is stopped before) leaves no empty store;
* commits an image: an existing entry is first marked ``replacing`` (listing
  old and new elements), the staged elements are renamed in (table last),
  elements of the image's previous pipeline that the new one does not make are
  removed, and the entry is written complete — each attribute update one file
  rename; complete entries are written at most every ``SAVE_EVERY_S`` seconds
  (or ten times as long as a write takes, for very large stores) and when the
  run ends or stops (an image whose elements are in but whose
  entry is not is simply redone by the next run);
* with ``overwrite``, builds a new store under a temporary name beside the old
  one and swaps it in when the run ends (the old store is untouched until
  then, and kept when nothing succeeded);
* marks the run ``running`` while it goes, ``interrupted`` when stopped, and
  ``complete`` at the end.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cellscale.engine._commit import publish
from cellscale.engine._job import Job

__all__ = ["StoreLedger"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StoreLedger:
    """The driving process's view of a results store during one run.

    Parameters
    ----------
    store : pathlib.Path
        The results store (absolute); it may not exist yet.
    overwrite : bool
        Replace the whole store when the run ends, instead of adding to it.
    """

    def __init__(self, store: Path, *, overwrite: bool = False) -> None:
        from cellscale.io import open_store

        self.target = store
        self.overwrite = overwrite
        self.pipelines: dict[str, Any] = {}
        self.images: dict[str, Any] = {}
        self.present: set[tuple[str, str]] = set()
        self.previous_run: dict[str, Any] = {}
        self.path = store
        self.created = False
        self.created_now = False
        self.active = False
        self.dirty = False
        self._saved_at = 0.0
        self._save_took = 0.0
        self._owners: dict[tuple[str, str], str] | None = None
        if overwrite:
            self.path = store.with_name(f".{store.name}.partial-{uuid.uuid4().hex[:8]}")
        elif store.exists():
            existing = open_store(store)
            self.pipelines = dict(existing.config.get("pipelines") or {})
            self.images = dict(existing.config.get("images") or {})
            self.previous_run = dict(existing.run)
            self.present = {(k, n) for k in ("images", "labels", "points", "tables")
                            for n in getattr(existing, k)}
            self.created = True
        self._run: dict[str, Any] = {"state": "running", "started": _now()}

    @property
    def resumes_interrupted(self) -> bool:
        """True when the last run into this store did not finish."""
        return self.previous_run.get("state") in ("running", "interrupted")

    def owner(self, kind: str, name: str) -> str | None:
        """The image whose entry lists the element ``kind/name``, if any."""
        if self._owners is None:
            self._owners = {(k, n): image_id for image_id, entry in self.images.items()
                            for k, n in entry.get("elements", [])}
        return self._owners.get((kind, name))

    def has_all(self, elements: list[list[str]] | list[tuple[str, str]]) -> bool:
        """True when every ``(kind, name)`` is in the store."""
        return all((k, n) in self.present for k, n in elements)

    #: Seconds between rewrites of the store's record while images are committed.
    SAVE_EVERY_S = 2.0

    def _save(self) -> None:
        from cellscale.io._store import set_store_attrs

        start = time.monotonic()
        self.dirty = False

        used = {entry.get("pipeline") for entry in self.images.values()}
        self.pipelines = {k: v for k, v in self.pipelines.items() if k in used}
        set_store_attrs(self.path, config={"pipelines": self.pipelines, "images": self.images},
                        run=self._run)
        self._saved_at = time.monotonic()
        self._save_took = self._saved_at - start

    def _ensure(self) -> None:
        """Before the first commit: create the store if needed and mark the run running."""
        from cellscale.io import create_store

        if self.active:
            return
        if not self.created:
            create_store(self.path, config={"pipelines": {}, "images": {}})
            self.created = self.created_now = True
        self.active = True
        self._save()

    def commit(self, job: Job, elements: list[tuple[str, str]], entry: dict[str, Any],
               record: dict[str, Any]) -> None:
        """Move a finished image's staged ``elements`` into the store and record it."""
        from cellscale.io._store import remove_element

        self._ensure()
        image_id = job.ref.image_id
        old = self.images.get(image_id)
        new = [list(e) for e in elements]
        stale = [e for e in (old or {}).get("elements", []) if e not in new]
        if old is not None:
            self.images[image_id] = {**old, "state": "replacing",
                                     "elements": new + stale}
            self._save()
        publish(job, elements, self.path)
        for kind, name in stale:
            remove_element(self.path, kind, name)
            self.present.discard((kind, name))
        self.present.update(tuple(e) for e in new)  # type: ignore[misc]
        self.images[image_id] = entry
        self.pipelines[entry["pipeline"]] = record
        # The complete entry may wait a little (the record grows with the images, and
        # rewriting it after every small image would cost O(n^2)): elements without an
        # entry are redone by the next run, never taken for another pipeline's.
        self._owners = None
        if time.monotonic() - self._saved_at > max(self.SAVE_EVERY_S, 10 * self._save_took):
            self._save()
        else:
            self.dirty = True

    def interrupted(self) -> None:
        """Mark the run interrupted (the store keeps the images committed so far).

        A store this run created before any image was complete is removed.
        """
        from cellscale.io._atomic import remove_path

        finished = any(e.get("state") == "complete" for e in self.images.values())
        if self.overwrite or (self.created_now and not finished):
            remove_path(self.path)  # the old store is untouched; no empty store is left
        elif self.active:
            self._run.update(state="interrupted", stopped=_now())
            self._save()

    def finish(self, failed: dict[str, str]) -> bool:
        """Mark the run complete (and swap in an overwriting store).

        Returns False, and leaves no store behind, when the store did not exist
        (or is being overwritten) and nothing was committed.
        """
        from cellscale.io._atomic import remove_path, rename_into_place

        if self.overwrite and not self.active:
            remove_path(self.path)
            return False
        if not self.created:
            return False
        self._run.update(state="complete", finished=_now(), failed=dict(failed))
        self._save()
        if self.overwrite:
            rename_into_place(self.path, self.target, aside=self.target.parent)
        return True
