"""``LabelStore``: the labels of one image on disk, with versions and an edit history.

Layout of ``<image stem>.labels.zarr`` (beside the image)::

    zarr.json                 OME-Zarr root group; attributes["cellscale_label"] =
                              {"version": N, "shape": [...], "axes": "yx" | "tyx",
                               "image": "<image file name>", "time": "<ISO UTC>"}
    labels/labels/            the label image (NGFF image-label, uint32, pyramid)
    history.json              {"format": "cellscale-label-history", "saves": [
                                {"version", "base_version", "author", "time", "edits": [...]}, ...]}

Every save writes a whole new store beside the old one (a hidden
``.<name>.partial-*`` folder) and renames it into place
(:func:`cellscale.io.atomic_output`), so readers see the old store or the new
one, never a mix. A save names the version it started from
(``base_version``); when the store on disk has moved on since (another tab or
user saved), :class:`LabelConflictError` is raised and nothing is written, or,
with ``force=True``, the other version is kept as
``<stem>.labels.conflict-<timestamp>.zarr`` before the new labels go in. A
lock file (``.<name>.lock``) makes the check and the write one step between
processes.

A history file that cannot be read does not cost the labels: it is moved
aside to ``<stem>.labels.history-corrupt-<timestamp>.json`` and a new history
starts with a record saying so; :attr:`LabelStore.notices` carries the
sentence for the user (also issued as a :class:`LabelHistoryWarning`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    CellscaleError,
    FileFormatError,
    InvalidArgumentError,
    InvalidImageError,
    OutputNotWritableError,
)
from cellscale.io import atomic_output, read_labels, write_labels
from cellscale.io._atomic import remove_path
from cellscale.io._common import suffix_of
from cellscale.label._history import (
    HISTORY_FILE,
    LabelHistoryWarning,
    free_path,
    history_text,
    now,
    parse_history,
    repair_history,
    stamp,
)

__all__ = ["LabelConflictError", "LabelShapeError",
           "LabelStore", "labels_path"]

#: Root-group attribute holding the store's version.
ATTRIBUTE = "cellscale_label"
_LABEL_NAME = "labels"


class LabelConflictError(CellscaleError):
    """The labels on disk changed since the version an edit started from.

    Attributes
    ----------
    path : pathlib.Path
        The labels store.
    base_version, disk_version : int
        The version the caller started from, and the one on disk.
    """

    def __init__(self, message: object = "", *, path: Path | None = None, base_version: int = 0,
                 disk_version: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path
        self.base_version = base_version
        self.disk_version = disk_version

    def __reduce__(self) -> tuple:
        return (_conflict, (self.message, self.hint, self.path, self.base_version,
                            self.disk_version))


def _conflict(message: str, hint: str | None, path: Path | None, base: int,
              disk: int) -> LabelConflictError:
    return LabelConflictError(message, hint=hint, path=path, base_version=base, disk_version=disk)


class LabelShapeError(InvalidImageError):
    """A labels store does not match its image's shape."""


def labels_path(image_path: str | os.PathLike[str]) -> Path:
    """Where the labels of an image live: ``<image stem>.labels.zarr`` beside it.

    The stem drops ``.ome.tif``, ``.ome.tiff``, ``.tif``, ``.tiff``, ``.zarr``,
    ``.png``, ``.jpg`` and ``.jpeg``.

    Examples
    --------
    >>> labels_path("/data/plate1/a01.ome.tif").as_posix()
    '/data/plate1/a01.labels.zarr'
    >>> labels_path("movie.zarr").name
    'movie.labels.zarr'
    """
    path = Path(image_path).expanduser()
    name = path.name.rstrip("/")
    suffix = suffix_of(path)
    if suffix and name.lower().endswith(suffix):
        name = name[: -len(suffix)]
    return path.with_name(f"{name}.labels.zarr")


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as JSON values (for edit records)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class LabelStore:
    """The saved labels of one image: load, save with a version check, history.

    Parameters
    ----------
    image_path : path-like
        The image the labels belong to; the store is :func:`labels_path` of it.
    shape : tuple of int
        ``(y, x)``, or ``(t, y, x)`` for a movie: the image's label planes.

    Attributes
    ----------
    path : pathlib.Path
        The labels store, ``<image stem>.labels.zarr``.
    shape : tuple of int
    axes : str
        ``"yx"`` or ``"tyx"``.
    notices : list of str
        Sentences for the user about what the store had to do (a history moved aside).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> image = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> store = LabelStore(image, (4, 5))
    >>> store.exists(), store.load()[1]
    (False, 0)
    >>> labels = np.zeros((4, 5), np.uint32); labels[1:3, 1:3] = 7
    >>> store.save(labels, base_version=0, author="ana", edits=[{"op": "paint", "label": 7}])
    1
    >>> [h["author"] for h in store.history()], int(store.load()[0].max())
    (['ana'], 7)
    """

    def __init__(self, image_path: str | os.PathLike[str], shape: Sequence[int]) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise InvalidArgumentError(
                f"label planes have shape (y, x) or (t, y, x) with positive sizes, got {shape}")
        self.image_path = Path(image_path).expanduser()
        self.path = labels_path(self.image_path).absolute()
        self.shape = shape
        self.axes = "yx" if len(shape) == 2 else "tyx"
        self.notices: list[str] = []
        self._lock_depth = 0
        self._thread_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r}, shape={self.shape})"

    # -- reading ------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether labels were saved (the store exists)."""
        return self.path.is_dir()

    def version(self) -> int:
        """The version on disk: 0 when nothing is saved, 1 for a store without a version."""
        if not self.exists():
            return 0
        return int(self._attributes().get("version", 1))

    def load(self) -> tuple[np.ndarray, int]:
        """The saved labels and their version.

        Returns
        -------
        labels : ndarray of uint32, shape ``self.shape``
            All zeros when nothing is saved.
        version : int
            0 when nothing is saved.

        Raises
        ------
        LabelShapeError
            The store holds labels of another shape (they belong to another image).
        FileFormatError
            The store cannot be read as OME-Zarr labels.
        """
        if not self.exists():
            return np.zeros(self.shape, np.uint32), 0
        version = self.version()
        try:
            data = read_labels(self.path, name=_LABEL_NAME, lazy=False)
        except CellscaleError as exc:
            raise FileFormatError(
                f"{self.path}: cannot read the saved labels ({exc.message}); move the folder "
                "aside (rename it) to start again from the model's proposals") from exc
        data = np.asarray(data)
        if tuple(data.shape) != self.shape:
            raise LabelShapeError(
                f"{self.path}: the saved labels have shape {tuple(data.shape)}, but the image "
                f"{self.image_path.name} has label planes of shape {self.shape}; they were drawn "
                "on another image (or the image changed). Rename or move the labels folder to "
                "start again from the model's proposals, or open the image they belong to")
        self._read_history()  # moves a corrupt history aside now, and says so
        return data.astype(np.uint32, copy=False), version

    def history(self) -> list[dict[str, Any]]:
        """Every save, oldest first: ``version``, ``base_version``, ``author``, ``time``, ``edits``."""
        if not self.exists():
            return []
        return self._read_history()

    # -- writing ------------------------------------------------------------------------
    def save(self, labels: np.ndarray, *, base_version: int, author: str = "unknown",
             edits: Sequence[dict[str, Any]] = (), force: bool = False) -> int:
        """Write ``labels`` as the next version, atomically.

        Parameters
        ----------
        labels : ndarray of int, shape ``self.shape``
            The whole label image (0 = background).
        base_version : int
            The version these labels were loaded at (0: nothing was saved).
        author : str
            Who saved (shown in the history).
        edits : sequence of dict
            What was done since ``base_version`` (JSON-ready records, e.g.
            :attr:`EditSession.edits`), appended to the history.
        force : bool
            Write even when the store moved on since ``base_version``, after
            keeping the other version as ``<stem>.labels.conflict-<time>.zarr``.

        Returns
        -------
        int
            The new version.

        Raises
        ------
        LabelConflictError
            The version on disk is not ``base_version`` and ``force`` is False;
            nothing is written.
        InvalidArgumentError
            Labels of another shape, non-integer labels, or edits that are not JSON.
        """
        labels = np.asarray(labels)
        if tuple(labels.shape) != self.shape:
            raise InvalidArgumentError(
                f"{self.path}: labels to save have shape {tuple(labels.shape)}; the image's "
                f"label planes have shape {self.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise InvalidArgumentError(f"{self.path}: labels must be integers, got {labels.dtype}")
        if isinstance(base_version, bool) or not isinstance(base_version, (int, np.integer)) \
                or base_version < 0:
            raise InvalidArgumentError(
                f"base_version must be the version the labels were loaded at (an integer >= 0, "
                f"0 when nothing was saved), got {base_version!r}")
        if not isinstance(author, str) or not author.strip():
            raise InvalidArgumentError("author must be a non-empty name")
        try:
            edit_list = json.loads(json.dumps(list(edits), default=_plain))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"edits must be JSON-ready records: {exc}") from exc
        with self._locked():
            disk = self.version()
            conflict_copy: Path | None = None
            if disk != int(base_version):
                if not force:
                    last = (self._read_history() or [{}])[-1]
                    who = f" by {last['author']} at {last['time']}" if "author" in last else ""
                    raise LabelConflictError(
                        f"{self.path}: the labels were saved{who} (version {disk}) after this copy "
                        f"was loaded (version {base_version}); nothing was written. Keep your "
                        "edits: reload to see the other version, or save again with force=True "
                        "to keep theirs as a conflict copy beside the labels and write yours",
                        path=self.path, base_version=int(base_version), disk_version=disk)
                if disk > 0:
                    conflict_copy = free_path(self.path.parent,
                                              f"{self._stem()}.labels.conflict-{stamp()}.zarr")
            saves = self._read_history() if disk > 0 else []
            entry: dict[str, Any] = {"version": disk + 1, "base_version": int(base_version),
                                     "author": author, "time": now(), "edits": edit_list}
            if conflict_copy is not None:
                entry["forced"] = True
                entry["conflict_copy"] = conflict_copy.name
            saves.append(entry)
            with atomic_output(self.path, overwrite=True) as tmp:
                self._write(tmp, labels, entry, saves)
                if conflict_copy is not None:
                    os.replace(self.path, conflict_copy)
            if conflict_copy is not None:
                self.notices.append(
                    f"{self.path}: another save (version {disk}) was kept as {conflict_copy}")
            return disk + 1

    def _write(self, tmp: Path, labels: np.ndarray, entry: dict[str, Any],
               saves: list[dict[str, Any]]) -> None:
        import zarr

        zarr_tmp = tmp.with_name(f"{tmp.name}.zarr")  # write_labels picks the format by the ending
        try:
            write_labels(labels, zarr_tmp, axes=self.axes, name=_LABEL_NAME)
            os.replace(zarr_tmp, tmp)
        finally:
            remove_path(zarr_tmp)
        group = zarr.open_group(str(tmp), mode="r+")
        group.attrs[ATTRIBUTE] = {"version": entry["version"], "shape": list(self.shape),
                                  "axes": self.axes, "image": self.image_path.name,
                                  "time": entry["time"]}
        (tmp / HISTORY_FILE).write_text(history_text(saves), encoding="utf-8")

    # -- helpers ------------------------------------------------------------------------
    def _stem(self) -> str:
        return self.path.name[: -len(".labels.zarr")]

    def _attributes(self) -> dict[str, Any]:
        import zarr

        try:
            attrs = dict(zarr.open_group(str(self.path), mode="r").attrs)
        except Exception as exc:  # zarr raises many kinds for a damaged store
            raise FileFormatError(
                f"{self.path}: not a readable OME-Zarr labels store ({exc}); move the folder "
                "aside (rename it) to start again from the model's proposals") from exc
        value = attrs.get(ATTRIBUTE, {})
        if not isinstance(value, dict) or not isinstance(value.get("version", 1), int):
            raise FileFormatError(
                f"{self.path}: the attribute {ATTRIBUTE!r} of zarr.json is damaged ({value!r}); "
                "move the folder aside (rename it) to start again from the model's proposals")
        return value

    def _read_history(self) -> list[dict[str, Any]]:
        """The saves of history.json; a corrupt file is moved aside and a new history begun."""
        path = self.path / HISTORY_FILE
        if not path.exists():
            return []
        try:
            return parse_history(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            with self._locked():  # one tab repairs; the others then read its new history
                try:
                    return parse_history(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError):
                    pass
                aside = free_path(self.path.parent,
                                  f"{self._stem()}.labels.history-corrupt-{stamp()}.json")
                saves, message = repair_history(path, aside, self.version(), exc)
            self.notices.append(message)
            warnings.warn(message, LabelHistoryWarning, stacklevel=3)
            return saves

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold this store's lock: a thread lock, and ``.<name>.lock`` between processes.

        Re-entrant within one thread (a save reads the history, which may repair
        it under the lock); the file lock is a no-op where ``fcntl`` is missing.
        """
        with self._thread_lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: no lock between processes
                fcntl = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(self.path.with_name(f".{self.path.name}.lock"), "a+b")  # noqa: SIM115
            except OSError as exc:
                raise OutputNotWritableError(
                    f"{self.path}: cannot save labels beside the image ({exc.strerror or exc}); "
                    "the folder must be writable: copy the image to a folder you can write "
                    "and open it there") from exc
            with handle:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                self._lock_depth = 1
                try:
                    yield
                finally:
                    self._lock_depth = 0
                    if fcntl is not None:
                        fcntl.flock(handle, fcntl.LOCK_UN)
