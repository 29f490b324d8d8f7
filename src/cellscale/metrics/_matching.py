"""Instance segmentation accuracy: match objects by IoU and count hits and misses."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError
from cellscale.metrics._assignment import match_at
from cellscale.metrics._overlap import check_labels, overlaps

#: IoU thresholds 0.5, 0.55, ..., 0.95 (written out so each is the exact double).
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)

DEFINITION = (
    "Objects of the true and predicted label images (0 = background) are matched "
    "one-to-one; a pair may match at threshold t when IoU >= t; the matching has the "
    "most pairs possible, ties broken by largest total IoU. TP = matched pairs, "
    "FP = unmatched predictions, FN = unmatched true objects. precision = TP/(TP+FP), "
    "recall = TP/(TP+FN), f1 = 2TP/(2TP+FP+FN), average_precision = TP/(TP+FP+FN) "
    "(the Cellpose/StarDist 'AP', not an area under a PR curve), mean_ap = mean of "
    "average_precision over t = 0.5:0.95:0.05. A ratio with a zero denominator is 1.0 "
    "when there are no true and no predicted objects and 0.0 otherwise; "
    "mean_matched_iou is null when TP = 0. Dataset scores sum TP/FP/FN over images."
)

_Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray, both_empty: bool) -> np.ndarray:
    """``num / den`` with ``0/0`` read as 1.0 when nothing exists, else 0.0."""
    out = np.full(num.shape, 1.0 if both_empty else 0.0)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _frozen(arr: Any, dtype: Any) -> np.ndarray:
    out = np.array(arr, dtype=dtype)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Counts and scores of one matching, one entry per IoU threshold.

    All per-threshold fields are 1-D arrays aligned with ``thresholds``
    (read-only). Build it with :func:`match_instances` or :func:`aggregate`;
    the ratio fields follow from the counts.

    Attributes
    ----------
    thresholds : ndarray of float, shape (n_thresholds,)
        Increasing IoU thresholds ``t``; a pair may match when ``IoU >= t``.
    tp, fp, fn : ndarray of int64, shape (n_thresholds,)
        Matched pairs, unmatched predictions, unmatched true objects.
    precision : ndarray of float, shape (n_thresholds,)
        ``TP / (TP + FP)``.
    recall : ndarray of float, shape (n_thresholds,)
        ``TP / (TP + FN)``.
    f1 : ndarray of float, shape (n_thresholds,)
        ``2 TP / (2 TP + FP + FN)``.
    average_precision : ndarray of float, shape (n_thresholds,)
        ``TP / (TP + FP + FN)``, the "AP" of the Cellpose and StarDist papers
        (a per-threshold count ratio, *not* the area under a precision-recall
        curve used for object detection).
    mean_matched_iou : ndarray of float, shape (n_thresholds,)
        Mean IoU of the matched pairs; NaN where ``TP == 0``.
    sum_matched_iou : ndarray of float, shape (n_thresholds,)
        Sum of the IoU of the matched pairs (what :func:`aggregate` adds up).
    n_true, n_pred : int
        Number of true and predicted objects (over all images when aggregated).
    n_images : int
        Number of image pairs these counts cover.

    Notes
    -----
    A zero denominator happens only when an image (or data set) has no true
    objects, no predicted objects, or neither. With neither, every ratio is
    1.0: nothing was missed and nothing invented. With only one side empty,
    the ratios are 0.0.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    sum_matched_iou: np.ndarray
    n_true: int
    n_pred: int
    n_images: int = 1
    _pairs: tuple[_Pairs, ...] | None = field(default=None, repr=False)
    precision: np.ndarray = field(init=False, repr=False)
    recall: np.ndarray = field(init=False, repr=False)
    f1: np.ndarray = field(init=False, repr=False)
    average_precision: np.ndarray = field(init=False, repr=False)
    mean_matched_iou: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tp, fp, fn = (np.asarray(x, dtype=np.int64) for x in (self.tp, self.fp, self.fn))
        empty = self.n_true == 0 and self.n_pred == 0
        derived = {
            "thresholds": _frozen(self.thresholds, np.float64),
            "tp": _frozen(tp, np.int64),
            "fp": _frozen(fp, np.int64),
            "fn": _frozen(fn, np.int64),
            "sum_matched_iou": _frozen(self.sum_matched_iou, np.float64),
            "precision": _frozen(_ratio(tp, tp + fp, empty), np.float64),
            "recall": _frozen(_ratio(tp, tp + fn, empty), np.float64),
            "f1": _frozen(_ratio(2 * tp, 2 * tp + fp + fn, empty), np.float64),
            "average_precision": _frozen(_ratio(tp, tp + fp + fn, empty), np.float64),
            "mean_matched_iou": _frozen(
                np.where(tp > 0, self.sum_matched_iou / np.maximum(tp, 1), np.nan),
                np.float64,
            ),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def _index(self, threshold: float) -> int:
        hits = np.flatnonzero(np.isclose(self.thresholds, threshold, rtol=0, atol=1e-9))
        if hits.size == 0:
            raise InvalidArgumentError(
                f"threshold {threshold} was not computed; computed thresholds are "
                f"{[float(t) for t in self.thresholds]}"
            )
        return int(hits[0])

    def f1_at(self, threshold: float) -> float:
        """F1 score at one of the computed ``thresholds``."""
        return float(self.f1[self._index(threshold)])

    def ap_at(self, threshold: float) -> float:
        """``TP / (TP + FP + FN)`` at one of the computed ``thresholds``."""
        return float(self.average_precision[self._index(threshold)])

    @property
    def mean_ap(self) -> float:
        """``average_precision`` averaged over t = 0.5, 0.55, ..., 0.95.

        Raises
        ------
        InvalidArgumentError
            If any of those ten thresholds was not computed.
        """
        return float(np.mean([self.ap_at(t) for t in DEFAULT_THRESHOLDS]))

    def pairs(self, threshold: float) -> _Pairs:
        """Matched pairs at one of the computed ``thresholds``.

        Returns
        -------
        true_ids : ndarray, shape (tp,)
            Labels in ``true`` of the matched objects, increasing.
        pred_ids : ndarray, shape (tp,)
            Labels in ``pred`` of their partners.
        iou : ndarray of float, shape (tp,)
            IoU of each pair.

        Raises
        ------
        InvalidArgumentError
            For a result of :func:`aggregate`, which keeps no pairs (label ids
            of different images would collide).
        """
        if self._pairs is None:
            raise InvalidArgumentError(
                f"pairs are not kept for results aggregated over {self.n_images} images; "
                "call pairs() on the result of match_instances for one image"
            )
        return self._pairs[self._index(threshold)]

    def to_dict(self) -> dict[str, Any]:
        """Scores and counts as plain Python types (JSON-serialisable; NaN -> None)."""

        def clean(values: np.ndarray) -> list[Any]:
            return [None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()]

        try:
            mean_ap: float | None = self.mean_ap
        except InvalidArgumentError:
            mean_ap = None
        return {
            "metric": "cellscale.metrics.match_instances",
            "definition": DEFINITION,
            "n_images": self.n_images,
            "n_true": self.n_true,
            "n_pred": self.n_pred,
            "mean_ap": mean_ap,
            "thresholds": self.thresholds.tolist(),
            "tp": self.tp.tolist(),
            "fp": self.fp.tolist(),
            "fn": self.fn.tolist(),
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "f1": self.f1.tolist(),
            "average_precision": self.average_precision.tolist(),
            "mean_matched_iou": clean(self.mean_matched_iou),
        }


def _check_thresholds(thresholds: float | Sequence[float]) -> np.ndarray:
    try:
        values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"thresholds must be a number or a sequence of numbers in (0, 1], got {thresholds!r}"
        ) from exc
    if values.ndim != 1 or values.size == 0:
        raise InvalidArgumentError(
            f"thresholds must be a number or a non-empty 1-D sequence, got {thresholds!r}"
        )
    bad = values[~((values > 0) & (values <= 1))]
    if bad.size:
        raise InvalidArgumentError(
            f"IoU thresholds must lie in (0, 1], got {bad.tolist()}"
        )
    return np.unique(values)


def match_instances(
    true: np.ndarray,
    pred: np.ndarray,
    *,
    thresholds: float | Sequence[float] = DEFAULT_THRESHOLDS,
) -> MatchResult:
    """Match predicted objects to true objects by IoU and score the result.

    Parameters
    ----------
    true : ndarray of int, shape (y, x) or (z, y, x)
        Ground-truth label image; 0 is background, every other value is one
        object. Ids need not be consecutive.
    pred : ndarray of int, same shape as `true`
        Predicted label image, same conventions.
    thresholds : float or sequence of float, optional
        IoU thresholds in (0, 1]; sorted and de-duplicated. Default
        0.5, 0.55, ..., 0.95.

    Returns
    -------
    MatchResult
        Counts, scores and matched pairs for each threshold.

    Raises
    ------
    InvalidImageError
        If an array is not an integer 2-D/3-D label image, has negative
        labels, or the shapes differ.
    InvalidArgumentError
        If a threshold is outside (0, 1].

    Notes
    -----
    ``IoU(a, b) = |a & b| / |a | b|`` in pixels (voxels). The IoU of every pair
    of objects that share a pixel comes from a sparse contingency table, so the
    cost grows with the number of pixels and touching pairs, not with
    ``n_true * n_pred``.

    At threshold ``t`` a pair is a candidate when ``IoU >= t`` (so a pair with
    IoU exactly 0.5 counts at t = 0.5). The matching is one-to-one, has the
    largest possible number of pairs, and among those the largest total IoU.
    For ``t > 0.5`` candidates never share an object and the matching is read
    off directly; at ``t = 0.5`` an object can have two candidates only when
    both IoUs are exactly 0.5, and those, like every case with ``t < 0.5``, are
    solved exactly by sparse minimum-weight bipartite matching
    (:func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`). A
    greedy matching can find fewer pairs below 0.5.

    Then ``TP`` = matched pairs, ``FP = n_pred - TP``, ``FN = n_true - TP`` and
    the scores are those listed in :class:`MatchResult`; ``average_precision``
    is ``TP / (TP + FP + FN)`` as in the Cellpose and StarDist papers.

    Examples
    --------
    >>> import numpy as np
    >>> from cellscale.metrics import match_instances
    >>> true = np.zeros((20, 20), dtype=np.uint16)
    >>> true[0:10, 0:10] = 1
    >>> pred = np.zeros_like(true)
    >>> pred[0:10, 5:15] = 7           # overlaps 50 px; union 150 px; IoU = 1/3
    >>> result = match_instances(true, pred, thresholds=(0.3, 0.5))
    >>> result.tp.tolist(), result.fp.tolist(), result.fn.tolist()
    ([1, 0], [0, 1], [0, 1])
    >>> result.f1_at(0.3), result.f1_at(0.5)
    (1.0, 0.0)
    >>> result.pairs(0.3)[1].tolist()
    [7]
    """
    thresholds = _check_thresholds(thresholds)
    true, pred = check_labels(true, pred)
    ov = overlaps(true, pred)
    n_true, n_pred = int(ov.true_ids.size), int(ov.pred_ids.size)
    tp, sums, pairs = [], [], []
    for t in thresholds:
        chosen = match_at(ov.pair_true, ov.pair_pred, ov.iou, float(t), n_true, n_pred)
        ious = ov.iou[chosen]
        tp.append(chosen.size)
        sums.append(float(ious.sum()))
        matched_true = ov.true_ids[ov.pair_true[chosen]]
        matched_pred = ov.pred_ids[ov.pair_pred[chosen]]
        pairs.append(tuple(_frozen(a, a.dtype) for a in (matched_true, matched_pred, ious)))
    tp_arr = np.asarray(tp, dtype=np.int64)
    return MatchResult(
        thresholds=thresholds,
        tp=tp_arr,
        fp=n_pred - tp_arr,
        fn=n_true - tp_arr,
        sum_matched_iou=np.asarray(sums),
        n_true=n_true,
        n_pred=n_pred,
        n_images=1,
        _pairs=tuple(pairs),
    )


def aggregate(results: Iterable[MatchResult]) -> MatchResult:
    """Pool the matchings of many images into data-set scores.

    TP, FP, FN, the matched IoU sums and the object counts are summed over
    images and the ratios recomputed from the sums (micro-averaging, as
    benchmarks report scores), so large images weigh more than small ones.

    Parameters
    ----------
    results : iterable of MatchResult
        Results with identical ``thresholds``.

    Returns
    -------
    MatchResult
        Summed counts; ``n_images`` is the total; it keeps no ``pairs``.

    Raises
    ------
    InvalidArgumentError
        If `results` is empty or the thresholds differ.

    Examples
    --------
    >>> import numpy as np
    >>> from cellscale.metrics import aggregate, match_instances
    >>> a = np.array([[1, 1, 0, 2, 2]])
    >>> perfect = match_instances(a, a)
    >>> missed = match_instances(a, np.zeros_like(a))
    >>> total = aggregate([perfect, missed])
    >>> int(total.tp[0]), int(total.fn[0]), total.ap_at(0.5)
    (2, 2, 0.5)
    """
    results = list(results)
    if not results:
        raise InvalidArgumentError("aggregate() needs at least one MatchResult, got none")
    thresholds = results[0].thresholds
    for i, r in enumerate(results):
        if not isinstance(r, MatchResult):
            raise InvalidArgumentError(
                f"aggregate() takes MatchResult objects, item {i} is {type(r).__name__}"
            )
        if r.thresholds.shape != thresholds.shape or not np.array_equal(r.thresholds, thresholds):
            raise InvalidArgumentError(
                f"all results must use the same thresholds; result 0 has "
                f"{thresholds.tolist()}, result {i} has {r.thresholds.tolist()}"
            )
    return MatchResult(
        thresholds=thresholds,
        tp=np.sum([r.tp for r in results], axis=0),
        fp=np.sum([r.fp for r in results], axis=0),
        fn=np.sum([r.fn for r in results], axis=0),
        sum_matched_iou=np.sum([r.sum_matched_iou for r in results], axis=0),
        n_true=sum(r.n_true for r in results),
        n_pred=sum(r.n_pred for r in results),
        n_images=sum(r.n_images for r in results),
        _pairs=None,
    )
