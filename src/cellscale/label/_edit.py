"""``EditSession``: the labelling tools on one label plane, each an undoable step.

Every tool works inside one bounding box: it reads the labels there, writes
the edited block back, keeps the block before and after for undo/redo, and
returns the block after as a :class:`~cellscale.label.Patch`. The session
keeps each label's bounding box (a superset, updated from the edited blocks),
so finding an object never scans the whole image; only flood-filling the
background and the first look at object sizes (:meth:`EditSession.median_diameter`)
read every pixel.

Coordinates are pixel indices, as in :mod:`cellscale.label._geometry`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.label._geometry import (
    Box,
    boxes_of,
    check_point,
    check_points,
    rounded_point,
    stroke_mask,
    union,
)
from cellscale.label._patch import Patch
from cellscale.label._tools import add_cell_mask, holding, split_parts

__all__ = ["DEFAULT_DIAMETER", "EditSession"]

#: Object diameter (pixels) ``add_cell`` assumes when the image has no objects yet.
DEFAULT_DIAMETER = 16.0
_MAX_LABEL = 2**32 - 1


@dataclass
class _Step:
    y0: int
    x0: int
    before: np.ndarray
    after: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes)


class EditSession:
    """Edit one label plane with undo/redo, one bounding box at a time.

    Parameters
    ----------
    labels : ndarray of int, shape (y, x)
        The starting labels (copied; 0 = background).
    maps : mapping of str to ndarray of float, shape (y, x), optional
        The model's maps for :meth:`add_cell`: ``"prob"``, the foreground
        probability 0-1; other keys are kept but unused.
    diameter : float, optional
        Typical object diameter in pixels for :meth:`add_cell`; default the
        median of the objects present, else :data:`DEFAULT_DIAMETER`.
    max_undo_bytes : int
        Undo/redo memory; the oldest steps are forgotten beyond it. Default 256 MiB.

    Attributes
    ----------
    labels : ndarray of uint32, shape (y, x)
        The current labels.
    edits : list of dict
        Records of the edits since :meth:`mark_saved`: ``op`` (``"paint"``,
        ``"erase"``, ``"fill"``, ``"delete"``, ``"merge"``, ``"split"``,
        ``"add_cell"``, ``"undo"``, ``"redo"``), ``bbox`` ``[y0, x0, y1, x1]``
        and the op's arguments (``label`` or ``labels``, ``points``, ...).

    Examples
    --------
    >>> s = EditSession(np.zeros((8, 8), np.uint32))
    >>> p = s.paint([(2, 2), (2, 5)], 1, s.new_label())
    >>> p.bbox, int(s.labels.sum())
    ((1, 1, 4, 7), 14)
    >>> s.undo().bbox, int(s.labels.sum()), s.redo() is not None, int(s.labels.sum())
    ((1, 1, 4, 7), 0, True, 14)
    """

    def __init__(self, labels: np.ndarray, maps: Mapping[str, np.ndarray] | None = None, *,
                 diameter: float | None = None, max_undo_bytes: int = 256 * 2**20) -> None:
        arr = np.asarray(labels)
        if arr.ndim != 2 or 0 in arr.shape:
            raise InvalidImageError(f"expected a label plane of shape (y, x), got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidImageError(f"labels must be integers (0 = background), got {arr.dtype}")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > _MAX_LABEL):
            raise InvalidImageError(f"label values must lie in 0 .. {_MAX_LABEL}")
        self.labels = np.array(arr, dtype=np.uint32, copy=True)
        self.shape = (int(arr.shape[0]), int(arr.shape[1]))
        self.maps: dict[str, np.ndarray] = {}
        for key, value in (maps or {}).items():
            m = np.asarray(value, dtype=np.float32)
            if m.shape != self.shape:
                raise InvalidArgumentError(
                    f"map {key!r} has shape {m.shape}; the labels have shape {self.shape}")
            self.maps[str(key)] = m
        if diameter is not None and (
                isinstance(diameter, bool) or not isinstance(diameter, (int, float, np.number))
                or not math.isfinite(diameter) or diameter <= 0):
            raise InvalidArgumentError(f"diameter must be a positive number of pixels, got {diameter!r}")
        self._diameter = None if diameter is None else float(diameter)
        self.max_undo_bytes = int(max_undo_bytes)
        self._boxes: dict[int, Box] = boxes_of(self.labels)
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self.edits: list[dict[str, Any]] = []

    # -- queries ------------------------------------------------------------------------
    def new_label(self) -> int:
        """An unused label: one more than the largest present (or lately present)."""
        top = max(self._boxes, default=0) + 1
        if top > _MAX_LABEL:
            raise InvalidArgumentError(f"no label left: {_MAX_LABEL} is in use")
        return top

    def box(self, label: int) -> Box:
        """The bounding box ``(y0, x0, y1, x1)`` of an object; InvalidArgumentError if absent."""
        label = self._label(label)
        box = self._boxes.get(label)
        if box is not None and not (self.labels[box[0]:box[2], box[1]:box[3]] == label).any():
            del self._boxes[label]
            box = None
        if box is None:
            raise InvalidArgumentError(f"label {label} is not in the image")
        return box

    def median_diameter(self) -> float:
        """The objects' median equivalent diameter in pixels (computed once), or the given one."""
        if self._diameter is None:
            if not self._boxes:
                return DEFAULT_DIAMETER  # not cached: objects may come
            flat = self.labels.ravel()
            if max(self._boxes) < 2**24:
                counts = np.bincount(flat)[1:]
                areas = counts[counts > 0]
            else:
                areas = np.unique(flat[flat > 0], return_counts=True)[1]
            if not areas.size:
                return DEFAULT_DIAMETER
            self._diameter = float(2 * math.sqrt(float(np.median(areas)) / math.pi))
        return self._diameter

    # -- tools --------------------------------------------------------------------------
    def paint(self, points: Sequence[Sequence[float]], radius: float, label: int, *,
              overwrite: bool = True) -> Patch:
        """Paint a brush stroke: discs of ``radius`` along the polyline ``points``.

        ``overwrite=False`` paints background pixels only.
        """
        label = self._label(label)
        pts = check_points(points, self.shape)
        box, mask = stroke_mask(pts, self._radius(radius), self.shape)
        block = self._block(box)
        if not overwrite:
            mask &= block == 0
        new = block.copy()
        new[mask] = label
        return self._commit(box, block, new, {"op": "paint", "label": label,
                                              "points": pts.tolist(), "radius": float(radius)})

    def erase(self, points: Sequence[Sequence[float]], radius: float,
              label: int | None = None) -> Patch:
        """Set the pixels of a brush stroke to 0 (only those of ``label`` when given)."""
        pts = check_points(points, self.shape)
        if label is not None:
            label = self._label(label)
            self.box(label)
        box, mask = stroke_mask(pts, self._radius(radius), self.shape)
        block = self._block(box)
        if label is not None:
            mask &= block == label
        new = block.copy()
        new[mask] = 0
        return self._commit(box, block, new, {"op": "erase", "label": label,
                                              "points": pts.tolist(), "radius": float(radius)})

    def fill(self, y: float, x: float, label: int) -> Patch:
        """Flood-fill the 4-connected region of the clicked pixel's value with ``label``."""
        label = self._label(label)
        iy, ix = rounded_point(check_point((y, x), self.shape), self.shape)
        value = int(self.labels[iy, ix])
        area = self.box(value) if value else (0, 0, *self.shape)
        block = self._block(area)
        region = holding(block == value, iy - area[0], ix - area[1])
        rows, cols = np.any(region, axis=1), np.any(region, axis=0)
        r0, r1 = int(np.argmax(rows)), len(rows) - int(np.argmax(rows[::-1]))
        c0, c1 = int(np.argmax(cols)), len(cols) - int(np.argmax(cols[::-1]))
        box = (area[0] + r0, area[1] + c0, area[0] + r1, area[1] + c1)
        block = block[r0:r1, c0:c1]
        new = np.where(region[r0:r1, c0:c1], np.uint32(label), block)
        return self._commit(box, block, new, {"op": "fill", "label": label, "from": value,
                                              "point": [float(y), float(x)]})

    def delete(self, label: int) -> Patch:
        """Remove an object (its pixels become background)."""
        box = self.box(label)
        block = self._block(box)
        new = np.where(block == label, np.uint32(0), block)
        return self._commit(box, block, new, {"op": "delete", "label": int(label)})

    def merge(self, a: int, b: int) -> Patch:
        """Give object ``b``'s pixels label ``a`` (they need not touch)."""
        self.box(a)  # both must exist
        box_b = self.box(b)
        if int(a) == int(b):
            raise InvalidArgumentError(f"cannot merge label {a} with itself; pick two objects")
        block = self._block(box_b)
        new = np.where(block == b, np.uint32(a), block)
        return self._commit(box_b, block, new, {"op": "merge", "labels": [int(a), int(b)]})

    def split(self, label: int, line: Sequence[Sequence[float]]) -> Patch:
        """Cut an object along a drawn line into parts, each with a new label.

        The object's pixels off the line fall into 4-connected parts; parts of
        at least 2 % of the object (and 4 pixels) become objects, and the line's
        pixels and any crumbs join the nearest part. When the line does not
        cut the object, its two ends (moved onto the object if outside) seed a
        watershed of the object's distance transform instead.

        Raises
        ------
        InvalidArgumentError
            Unknown label, fewer than two points, or a line whose two ends
            fall on the same pixel of the object.
        """
        box = self.box(label)
        pts = check_points(line, self.shape, least=2, what="line point")
        block = self._block(box)
        parts = split_parts(block == label, pts, box, self.shape)
        if parts is None:
            raise InvalidArgumentError(
                f"the line does not split label {label}: draw it across the object, or from the "
                "middle of one part to the middle of the other")
        n = int(parts.max())
        first = self.new_label()
        if first + n - 1 > _MAX_LABEL:
            raise InvalidArgumentError(f"no label left for {n} parts")
        new = block.copy()
        inside = parts > 0
        new[inside] = parts[inside].astype(np.uint32) + np.uint32(first - 1)
        return self._commit(box, block, new, {"op": "split", "label": int(label),
                                              "labels": list(range(first, first + n)),
                                              "line": pts.tolist()})

    def add_cell(self, y: float, x: float) -> Patch:
        """Add the object under a click on background, seeded by the model's maps.

        With a ``"prob"`` map that exceeds 0.5 at the click: the object the
        model's maps decode to under the click (with ``"distance"`` and
        ``"centre"`` maps), else the region of ``prob > 0.5`` 4-connected to
        the click; either way on background pixels only, within 2.5 median
        object diameters around the click. Otherwise: a disc of the median
        diameter, on background pixels. The record's ``source`` says which
        (``"maps"``, ``"prob"``, ``"disc"``); see
        :func:`cellscale.label._tools.add_cell_mask`.

        Raises
        ------
        InvalidArgumentError
            The click is outside the image or on an existing object.
        """
        point = check_point((y, x), self.shape, "click")
        iy, ix = rounded_point(point, self.shape)
        if self.labels[iy, ix]:
            raise InvalidArgumentError(
                f"the click at (y={y:g}, x={x:g}) is on object {int(self.labels[iy, ix])}; "
                "click on background to add a cell")
        box, mask, source = add_cell_mask(self.labels, self.maps, point, self.median_diameter())
        label = self.new_label()
        block = self._block(box)
        new = np.where(mask, np.uint32(label), block)
        return self._commit(box, block, new, {"op": "add_cell", "label": label,
                                              "point": [float(y), float(x)], "source": source})

    # -- undo ---------------------------------------------------------------------------
    def undo(self) -> Patch | None:
        """Undo the last edit; returns the restored block, or None when there is nothing to undo."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(step)
        return self._restore(step, step.before, "undo")

    def redo(self) -> Patch | None:
        """Redo the last undone edit; None when there is nothing to redo."""
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(step)
        return self._restore(step, step.after, "redo")

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has a step to redo."""
        return bool(self._redo)

    def mark_saved(self) -> None:
        """Forget the edit records (they were saved); undo/redo stay available."""
        self.edits = []

    # -- internals ----------------------------------------------------------------------
    def _label(self, label: Any) -> int:
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
            raise InvalidArgumentError(f"a label is a positive integer, got {label!r}")
        if not 1 <= int(label) <= _MAX_LABEL:
            raise InvalidArgumentError(
                f"label must be in 1 .. {_MAX_LABEL} (0 is background), got {int(label)}")
        return int(label)

    def _radius(self, radius: Any) -> float:
        if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)) \
                or not math.isfinite(radius) or not 0 < radius <= max(self.shape):
            raise InvalidArgumentError(
                f"radius must be a positive number of pixels up to {max(self.shape)}, got {radius!r}")
        return float(radius)

    def _block(self, box: Box) -> np.ndarray:
        return self.labels[box[0]:box[2], box[1]:box[3]]

    def _commit(self, box: Box, block: np.ndarray, new: np.ndarray,
                record: dict[str, Any]) -> Patch:
        """Write ``new`` over the view ``block``; one undo step when anything changed."""
        if np.array_equal(block, new):
            return Patch(box[0], box[1], new)
        before = block.copy()
        block[...] = new
        record["bbox"] = list(box)
        step = _Step(box[0], box[1], before, new.copy(), record)
        self._undo.append(step)
        self._redo.clear()
        self._trim()
        self._reindex(box, before, new)
        self.edits.append(record)
        return Patch(box[0], box[1], new.copy())

    def _restore(self, step: _Step, data: np.ndarray, op: str) -> Patch:
        box = (step.y0, step.x0, step.y0 + data.shape[0], step.x0 + data.shape[1])
        current = self._block(box)
        old = current.copy()
        current[...] = data
        self._reindex(box, old, data)
        self.edits.append({"op": op, "of": step.record.get("op"), "bbox": list(box)})
        return Patch(step.y0, step.x0, data.copy())

    def _reindex(self, box: Box, before: np.ndarray, after: np.ndarray) -> None:
        """Grow the boxes of the labels that gained pixels when ``box`` went ``before`` -> ``after``.

        Boxes only grow: a label that lost pixels keeps its (now loose) box, and
        one that vanished keeps it until :meth:`box` finds it empty.
        """
        changed = before != after
        gained = boxes_of(np.where(changed, after, np.uint32(0)), box[0], box[1])
        for value, b in gained.items():
            old = self._boxes.get(value)
            self._boxes[value] = b if old is None else union(old, b)

    def _trim(self) -> None:
        total = sum(s.nbytes for s in self._undo)
        while len(self._undo) > 1 and total > self.max_undo_bytes:
            total -= self._undo.pop(0).nbytes
