"""One frame being labelled: its edit session and object count; the model's proposals."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["FrameState", "Proposer"]


class Proposer:
    """The model's proposals of one plane, with the model loaded once for every image and frame.

    Parameters
    ----------
    model : str, path-like or Segmenter
        A model name or card path (loaded on first use), or a loaded
        :class:`cellscale.segment.Segmenter` (``cellscale label`` loads it up
        front, so a bad ``--model`` is refused before the server starts).
    channels : list of str or int, optional
        The image channels fed to the model, in its order (with a model name).
    """

    def __init__(self, model: Any = "nuclei", channels: list[str | int] | None = None) -> None:
        self.model, self.channels = model, channels
        self._segmenter: Any = None
        self._lock = threading.Lock()  # one Segmenter, one plane at a time

    def __call__(self, plane: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Labels (y, x) and maps of one plane (:func:`cellscale.label.propose`)."""
        from cellscale.label import propose
        from cellscale.segment import Segmenter

        with self._lock:
            if self._segmenter is None:
                self._segmenter = (self.model if isinstance(self.model, Segmenter)
                                   else Segmenter(self.model, channels=self.channels))
            labels, maps, _ = propose(plane, self._segmenter)
        return labels, maps


class FrameState:
    """The edit session of one frame, and its objects' areas kept up to date patch by patch.

    Counting the objects of a large plane after every edit (a bincount of all
    its pixels: 0.4 s at 6144 x 6144) would cost more than the edit; instead
    each patch updates the areas from the block it replaced, read from a copy
    of the labels as they were (one more uint32 plane per open frame).
    """

    def __init__(self, session: Any, *, needs_maps: bool = False) -> None:
        self.session = session
        self.needs_maps = needs_maps  # labels from disk: the model's maps not made yet
        self.before = np.array(session.labels, dtype=np.uint32, copy=True)
        self.areas = np.bincount(self.before.ravel()).astype(np.int64)

    def count_patch(self, patch: Any) -> None:
        """Account for a patch the session just returned (an edit, undo or redo)."""
        y0, x0, y1, x1 = patch.y0, patch.x0, patch.y1, patch.x1
        old, new = self.before[y0:y1, x0:x1], np.asarray(patch.data, dtype=np.uint32)
        size = max(int(old.max(initial=0)), int(new.max(initial=0))) + 1
        if size > self.areas.size:
            self.areas = np.concatenate([self.areas, np.zeros(size - self.areas.size, np.int64)])
        self.areas[:size] += np.bincount(new.ravel(), minlength=size)
        self.areas[:size] -= np.bincount(old.ravel(), minlength=size)
        self.before[y0:y1, x0:x1] = new

    @property
    def objects(self) -> int:
        return int(np.count_nonzero(self.areas[1:]))

    @property
    def max_label(self) -> int:
        present = np.flatnonzero(self.areas[1:])
        return int(present[-1]) + 1 if present.size else 0
