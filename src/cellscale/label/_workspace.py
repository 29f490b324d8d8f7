"""The images a labelling server has open: their pixels, edit sessions and saves.

No web code here: :mod:`cellscale.label._app` maps HTTP routes onto a
:class:`Workspace`, and tests can drive one directly. Every image is read and
proposed on first use (not when the server starts), and every request on one
image holds that image's lock, so two browser tabs never edit it at once.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import (
    CellscaleError,
    InvalidArgumentError,
    InvalidAxesError,
    InvalidImageError,
)
from cellscale.label._frame import FrameState, Proposer
from cellscale.label._plane import (
    as_int,
    as_pairs,
    clip_region,
    encode_labels,
    label_under,
    user_message,
)

__all__ = ["EDIT_ARGS", "OpenImage", "Workspace"]

#: The arguments each edit operation takes (``label`` of paint/fill/split is optional here:
#: paint and fill then start a new object, split cuts the object most under the line).
EDIT_ARGS: dict[str, tuple[set[str], set[str]]] = {
    "paint": ({"points", "radius"}, {"label"}),
    "erase": ({"points", "radius"}, {"label"}),
    "fill": ({"y", "x"}, {"label"}),
    "delete": ({"label"}, set()),
    "merge": ({"a", "b"}, set()),
    "split": ({"line"}, {"label"}),
    "add_cell": ({"y", "x"}, set()),
}


class OpenImage:
    """One image being labelled: its pixels, its label store and one edit session per frame.

    Parameters
    ----------
    path : Path
        The image file (any format :func:`cellscale.io.read` reads): 2-D, with
        optional channels (``c``) and frames (``t``).
    model : str or Proposer
        How proposals are made when no labels were saved: a model name or card
        path (with ``channels``), or a :class:`Proposer` shared between images.
    channels : list of str or int, optional
        The image channels fed to the model, in its order.
    axes : str, optional
        Axes of the file as stored (e.g. ``"tyx"`` for a plain multi-page TIFF
        movie, which the shape rules would read as channels).
    """

    def __init__(self, path: Path, *, model: Any = "nuclei",
                 channels: list[str | int] | None = None, axes: str | None = None) -> None:
        self.path = Path(path)
        self.axes = axes
        self.proposer = model if isinstance(model, Proposer) else Proposer(model, channels)
        self.lock = threading.RLock()
        self.image: Any = None
        self.store: Any = None
        self.version = 0
        self.frames: dict[int, FrameState] = {}
        self.saved: np.ndarray | None = None  # labels read from the store, (t, y, x)
        self.error: str | None = None
        self.messages: list[str] = []
        self.seq = 0  # changes to the labels so far (edits, undos, redos): pages resync on a jump

    # -- facts ------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Frames of the movie (1 for one image, or while the image is not open)."""
        return self.image.sizes.get("t", 1) if self.image is not None else 1

    @property
    def plane_shape(self) -> tuple[int, int]:
        """``(y, x)`` of one plane (the image must be open)."""
        return (self.image.sizes["y"], self.image.sizes["x"])

    def summary(self, index: int) -> dict[str, Any]:
        """What ``GET /api/images`` says about this image (reads only the header if not open)."""
        from cellscale.label import labels_path

        entry: dict[str, Any] = {"id": str(index), "name": self.path.name,
                                 "has_saved_labels": labels_path(self.path).exists(),
                                 "version": self.version if self.image is not None else None,
                                 "error": self.error}
        try:
            if self.image is not None:
                sizes, names = self.image.sizes, self.image.channel_names
            else:
                from cellscale.io import describe

                info = describe(self.path, axes=self.axes)
                if info.axes is None:
                    raise InvalidAxesError(
                        f"{self.path}: cannot tell the axes of an array of shape "
                        f"{tuple(info.shape)} from its shape", option="axes",
                        choices=("tyx", "cyx", "zyx"))
                sizes, names = dict(zip(info.axes, info.shape)), info.channel_names
        except (CellscaleError, OSError) as exc:
            entry.update(shape=None, channels=[], frames=None, error=self.error or user_message(exc))
            return entry
        n_channels = sizes.get("c", 1)
        entry.update(shape=[sizes.get("y"), sizes.get("x")], frames=sizes.get("t", 1),
                     channels=list(names) if names else [str(i) for i in range(n_channels)])
        if self.image is None and entry["has_saved_labels"]:
            from cellscale.label import LabelStore

            planes = ((sizes["t"],) if "t" in sizes else ()) + (sizes["y"], sizes["x"])
            try:  # the version on disk; a store that cannot be read says so when opened
                entry["version"] = LabelStore(self.path, planes).version()
            except (CellscaleError, OSError, ValueError):
                pass
        elif self.image is None:
            entry["version"] = 0
        return entry

    # -- opening ----------------------------------------------------------------
    def open(self) -> None:
        """Read the pixels and the saved labels (if any); raises a clear error on bad input.

        Labels are proposed per frame on first use (:meth:`frame`), not here. A
        failure is tried again on the next request, so a user who follows the
        message (moves a mismatched labels folder aside, say) need not restart.
        """
        if self.image is not None:
            return
        try:
            self._open()
        except CellscaleError as exc:
            self.error = user_message(exc)
            raise
        self.error = None

    def _open(self) -> None:
        from cellscale.io import read
        from cellscale.label import LabelStore

        image = read(self.path, axes=self.axes, lazy=False)
        if "z" in image.axes and image.sizes["z"] > 1:
            raise InvalidImageError(
                f"{self.path}: a z-stack (axes {image.axes!r}); 'cellscale label' labels 2-D "
                "images and movies (axes yx, cyx, tyx, tcyx): give one plane or a projection")
        if "z" in image.axes:
            image = type(image).from_array(
                image.data[(slice(None),) * image.axes.index("z") + (0,)],
                image.axes.replace("z", ""), channel_names=image.channel_names,
                pixel_size=image.pixel_size, source=image.source)
        sizes = image.sizes
        shape = ((sizes["t"],) if "t" in sizes else ()) + (sizes["y"], sizes["x"])
        store = LabelStore(self.path, shape)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if store.exists():
                labels, version = store.load()
                self.saved = np.asarray(labels, dtype=np.uint32).reshape((-1,) + shape[-2:])
            else:
                version = 0
        found = [str(w.message) for w in caught] + list(getattr(store, "notices", []))
        self.messages.extend(dict.fromkeys(found))  # each sentence once
        self.image, self.store, self.version = image, store, int(version)

    def plane(self, frame: int = 0, channel: int = 0) -> np.ndarray:
        """The pixels of one frame and channel, shape (y, x)."""
        self.open()
        frame, channel = self._check_frame(frame), int(channel)
        data, axes = self.image.data, self.image.axes
        n_channels = self.image.sizes.get("c", 1)
        if not 0 <= channel < n_channels:
            raise InvalidArgumentError(
                f"{self.path.name}: channel {channel} does not exist; the image has "
                f"{n_channels} channel(s), 0 .. {n_channels - 1}")
        index = tuple(frame if a == "t" else channel if a == "c" else slice(None) for a in axes)
        return np.asarray(data[index])

    def _check_frame(self, frame: int) -> int:
        frame = int(frame)
        if not 0 <= frame < self.n_frames:
            raise InvalidArgumentError(
                f"{self.path.name}: frame {frame} does not exist; the image has "
                f"{self.n_frames} frame(s), 0 .. {self.n_frames - 1}")
        return frame

    def frame(self, frame: int = 0) -> FrameState:
        """The edit session of one frame: saved labels, else the model's proposals."""
        from cellscale.label import EditSession

        self.open()
        frame = self._check_frame(frame)
        if frame not in self.frames:
            if self.saved is not None:  # the model's maps are made when add-cell needs them
                labels, maps = self.saved[frame], {}
            else:
                labels, maps = self.proposer(self._frame_image(frame))
            self.frames[frame] = FrameState(EditSession(labels, maps or None),
                                            needs_maps=self.saved is not None)
        return self.frames[frame]

    def _frame_image(self, frame: int) -> Any:
        """One frame of the image as an Image (axes yx or cyx), for the model."""
        if "t" not in self.image.axes:
            return self.image
        return type(self.image).from_array(
            self.image.data[frame], self.image.axes.replace("t", ""),
            channel_names=self.image.channel_names, pixel_size=self.image.pixel_size)

    # -- state ------------------------------------------------------------------
    def unsaved(self) -> bool:
        """Whether any frame has edits since the last save (or load)."""
        return any(f.session.edits for f in self.frames.values())

    def status(self, frame: int = 0) -> dict[str, Any]:
        """Object count of a frame, version, unsaved changes, change count and messages.

        ``seq`` counts the changes to the labels (every frame); a page that
        sees it move by more than its own edit knows another tab or client
        edited the same labels, and reloads them.
        """
        state = self.frame(frame)
        messages, self.messages = self.messages, []
        return {"objects": state.objects, "version": self.version, "unsaved": self.unsaved(),
                "max_label": state.max_label, "seq": self.seq, "messages": messages}

    def labels_json(self, frame: int = 0, region: tuple[int, int, int | None, int | None] = (
            0, 0, None, None)) -> dict[str, Any]:
        """The labels of a frame (or of a ``(y0, x0, h, w)`` region), as ``GET .../labels`` says."""
        labels = self.frame(frame).session.labels
        y0, x0, y1, x1 = clip_region(labels.shape, *region)
        block = labels[y0:y1, x0:x1]
        return {"version": self.version, "y0": y0, "x0": x0, "h": y1 - y0, "w": x1 - x0,
                "shape": list(labels.shape), "dtype": "<u4", "data": encode_labels(block),
                **self.status(frame)}

    # -- edits ------------------------------------------------------------------
    def edit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one edit operation (``{"op": ..., args...}``); the Patch's JSON plus the status."""
        body = dict(body)
        op = body.pop("op", None)
        frame = as_int(body.pop("frame", 0) or 0, "frame")
        if op not in EDIT_ARGS:
            raise InvalidArgumentError(
                f"unknown edit operation {op!r}; choose one of {', '.join(EDIT_ARGS)}")
        required, optional = EDIT_ARGS[op]
        missing, extra = required - body.keys(), body.keys() - required - optional
        if missing or extra:
            raise InvalidArgumentError(
                f"edit {op!r} takes {', '.join(sorted(required | optional))}"
                + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                + (f"; unknown {', '.join(sorted(extra))}" if extra else ""))
        state = self.frame(frame)
        session = state.session
        if op == "add_cell" and state.needs_maps:  # labels loaded from disk: no maps yet
            _, maps = self.proposer(self._frame_image(frame))
            session.maps = {k: np.asarray(v, dtype=np.float32) for k, v in maps.items()}
            state.needs_maps = False
        if op in ("paint", "erase"):
            body["points"] = as_pairs(body["points"], "points")
        if op == "split":
            body["line"] = as_pairs(body["line"], "line")
            if body.get("label") is None:
                body["label"] = label_under(session.labels, body["line"])
        if op in ("paint", "fill") and not body.get("label"):
            body["label"] = session.new_label()
        if op == "erase" and not body.get("label"):
            body.pop("label", None)
        patch = getattr(session, op)(**body)
        used = body.get("label") if op in ("paint", "fill", "split") else None
        return self._patch_json(patch, frame, label=used)

    def undo(self, frame: int = 0) -> dict[str, Any] | None:
        """Undo a frame's last edit: the restored block's JSON, or None when there is none."""
        patch = self.frame(frame).session.undo()
        return None if patch is None else self._patch_json(patch, frame)

    def redo(self, frame: int = 0) -> dict[str, Any] | None:
        """Redo a frame's last undone edit: the block's JSON, or None when there is none."""
        patch = self.frame(frame).session.redo()
        return None if patch is None else self._patch_json(patch, frame)

    def _patch_json(self, patch: Any, frame: int, *, label: int | None = None) -> dict[str, Any]:
        self.frames[frame].count_patch(patch)
        self.seq += 1
        out = dict(patch.to_json())
        out.setdefault("shape", list(np.shape(patch.data)))
        out.update(frame=frame, **self.status(frame))
        if label is not None:
            out["label"] = int(label)
        return out

    # -- saving -----------------------------------------------------------------
    def save(self, *, base_version: int, author: str | None, force: bool = False) -> dict[str, Any]:
        """Save every frame's labels as the next version; raises LabelConflictError on a race.

        Every page and client of this server edits the same session, so a
        ``base_version`` older than the session's own (another tab saved the
        same session since) is no conflict: the session's version is the base.
        A conflict is a save by another server or program since the session's
        version; nothing is written then, unless ``force`` (theirs is kept as a
        conflict copy). Frames never opened keep their saved labels, or get the
        model's proposals.
        """
        self.open()
        if int(base_version) <= self.version:
            base_version = self.version
        planes = [self.frame(t).session.labels for t in range(self.n_frames)]
        labels = planes[0] if "t" not in self.image.axes else np.stack(planes)
        edits = [dict(e, frame=t) if "t" in self.image.axes else e
                 for t, f in sorted(self.frames.items()) for e in f.session.edits]
        kwargs = {"force": True} if force else {}
        version = self.store.save(labels, base_version=int(base_version), author=author or "unknown",
                                  edits=edits, **kwargs)
        self.version = int(version)
        self.saved = np.asarray(labels).reshape((-1,) + self.plane_shape)
        for f in self.frames.values():
            f.session.mark_saved()
        return {"version": self.version, "unsaved": False}

    def recover(self, stamp: str) -> Path | None:
        """Keep unsaved edits beside the image (:func:`cellscale.label._exports.recover`)."""
        from cellscale.label._exports import recover

        return recover(self, stamp)

    def history(self) -> list[dict[str, Any]]:
        """The saves of the labels store, oldest first (empty when nothing was saved)."""
        self.open()
        return self.store.history() if self.store.exists() else []

    def export_ctc(self) -> dict[str, Any]:
        """Track the movie's labels into a CTC result (:func:`cellscale.label._exports.export_ctc`)."""
        from cellscale.label._exports import export_ctc

        return export_ctc(self)


class Workspace:
    """The images one labelling server serves, by id (their position on the command line).

    Parameters
    ----------
    images : list of Path
        Image files.
    model, channels, axes
        Proposal model and channels, axes of the files (see :class:`OpenImage`).
    author : str, optional
        Default author of saves.
    """

    def __init__(self, images: list[Path], *, model: str = "nuclei",
                 channels: list[str | int] | None = None, author: str | None = None,
                 axes: str | None = None) -> None:
        proposer = model if isinstance(model, Proposer) else Proposer(model, channels)
        self.images = [OpenImage(Path(p), model=proposer, axes=axes) for p in images]
        self.author = author

    def get(self, image_id: str) -> OpenImage:
        """The image of an id; InvalidArgumentError (404 on the web) for an unknown one."""
        if not str(image_id).isdigit() or not 0 <= int(image_id) < len(self.images):
            raise KeyError(f"no image with id {image_id!r}; ids are 0 .. {len(self.images) - 1}")
        return self.images[int(image_id)]

    def recover(self) -> list[Path]:
        """Keep every image's unsaved edits beside it (:meth:`OpenImage.recover`); the paths."""
        import datetime as dt

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        written = []
        for image in self.images:
            with image.lock:
                path = image.recover(stamp)
            if path is not None:
                written.append(path)
        return written

    def list(self) -> list[dict[str, Any]]:
        """What ``GET /api/images`` returns: one summary per image, by id."""
        return [im.summary(i) for i, im in enumerate(self.images)]
