"""Sparse overlap table of two label images: areas and IoU of every touching pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cellscale.errors import InvalidImageError

# Above this ratio of largest id to pixel count, ids are compacted with a sort
# (np.unique) instead of a lookup table of size ``max_id + 1``.
_LUT_MAX_RATIO = 4


@dataclass(frozen=True, eq=False)
class Overlaps:
    """Objects of two label images and the IoU of every overlapping pair.

    Objects are numbered ``0 .. n - 1`` in increasing order of their label id;
    ``true_ids[i]`` is the label of true object ``i``.
    """

    true_ids: np.ndarray  # (n_true,) original label ids, increasing
    pred_ids: np.ndarray  # (n_pred,)
    true_areas: np.ndarray  # (n_true,) int64 pixel counts
    pred_areas: np.ndarray  # (n_pred,)
    pair_true: np.ndarray  # (n_pairs,) int64 index into true_ids
    pair_pred: np.ndarray  # (n_pairs,) int64 index into pred_ids
    intersection: np.ndarray  # (n_pairs,) int64 pixel counts, all > 0
    iou: np.ndarray  # (n_pairs,) float64 in (0, 1]


def check_labels(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``true`` and ``pred`` as arrays after checking they are comparable labels."""
    true = np.asarray(true)
    pred = np.asarray(pred)
    for name, arr in (("true", true), ("pred", pred)):
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidImageError(
                f"{name} must be an integer label image (0 = background), got dtype "
                f"{arr.dtype}; convert masks with skimage.measure.label"
            )
        if arr.ndim not in (2, 3):
            raise InvalidImageError(
                f"{name} must be a 2-D (y, x) or 3-D (z, y, x) label image, "
                f"got array of shape {arr.shape}"
            )
        if arr.size and np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
            raise InvalidImageError(
                f"{name} has negative labels (min {arr.min()}); labels must be >= 0"
            )
    if true.shape != pred.shape:
        raise InvalidImageError(
            f"true and pred must have the same shape, got {true.shape} and {pred.shape}"
        )
    return true, pred


def _compact(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Renumber labels to ``0`` (background) and ``1 .. n`` in increasing id order.

    Returns the renumbered pixels (int64), the original ids of objects ``1 .. n``
    and their areas.
    """
    if flat.size == 0:
        return flat.astype(np.int64), flat[:0].copy(), np.zeros(0, np.int64)
    max_id = int(flat.max())
    if max_id <= _LUT_MAX_RATIO * flat.size + 2**16:
        counts = np.bincount(flat.astype(np.intp, copy=False), minlength=1)
        ids = np.flatnonzero(counts)
        ids = ids[ids > 0]
        lut = np.zeros(max_id + 1, dtype=np.int64)
        lut[ids] = np.arange(1, ids.size + 1)
        return lut[flat], ids.astype(flat.dtype), counts[ids].astype(np.int64)
    ids, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    if ids[0] == 0:
        return inverse, ids[1:], counts[1:].astype(np.int64)
    return inverse + 1, ids, counts.astype(np.int64)


def overlaps(true: np.ndarray, pred: np.ndarray) -> Overlaps:
    """Build the sparse contingency table of two checked label images.

    Only pairs that share at least one pixel are listed, so memory grows with
    the number of touching pairs, never with ``n_true * n_pred``. Pixels are
    visited in memory order and equal consecutive (true, pred) pairs are
    collapsed into runs before sorting, which makes the sort small for
    compact objects.
    """
    ct, true_ids, true_areas = _compact(true.reshape(-1))
    cp, pred_ids, pred_areas = _compact(pred.reshape(-1))
    n_pred = pred_ids.size
    both = (ct > 0) & (cp > 0)
    keys = (ct[both] - 1) * n_pred + (cp[both] - 1)
    if keys.size:
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        run_keys = keys[starts]
        run_lengths = np.diff(np.append(starts, keys.size))
        order = np.argsort(run_keys, kind="stable")
        run_keys = run_keys[order]
        run_lengths = run_lengths[order]
        first = np.flatnonzero(np.concatenate(([True], run_keys[1:] != run_keys[:-1])))
        pair_keys = run_keys[first]
        intersection = np.add.reduceat(run_lengths, first).astype(np.int64)
    else:
        pair_keys = np.zeros(0, np.int64)
        intersection = np.zeros(0, np.int64)
    pair_true, pair_pred = np.divmod(pair_keys, max(n_pred, 1))
    union = true_areas[pair_true] + pred_areas[pair_pred] - intersection
    iou = intersection / union
    return Overlaps(
        true_ids=true_ids,
        pred_ids=pred_ids,
        true_areas=true_areas,
        pred_areas=pred_areas,
        pair_true=pair_true,
        pair_pred=pair_pred,
        intersection=intersection,
        iou=iou,
    )
