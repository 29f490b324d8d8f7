"""Accuracy metrics, defined once for tests, benchmarks and model cards.

Instance segmentation is scored by matching true and predicted objects
one-to-one by intersection over union (IoU) and counting true positives,
false positives and false negatives at each IoU threshold
(:func:`match_instances`); :func:`aggregate` pools images into data-set
scores. ``MatchResult.to_dict()`` carries the definition into benchmark output.
"""

from __future__ import annotations

from cellscale.metrics._matching import (
    DEFAULT_THRESHOLDS,
    DEFINITION,
    MatchResult,
    aggregate,
    match_instances,
)

__all__ = ["DEFAULT_THRESHOLDS", "DEFINITION", "MatchResult", "aggregate", "match_instances"]
