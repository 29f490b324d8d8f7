"""Score tracks with the Cell Tracking Challenge's own measures (py-ctcmetrics)."""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellscale.data._ctc import write_ctc_ground_truth, write_ctc_result
from cellscale.errors import InvalidArgumentError, MissingDependencyError

__all__ = ["DEFINITION", "score_tracking"]

#: How the scores are defined; benchmarks copy this into their output.
DEFINITION = {
    "TRA": "CTC tracking accuracy: 1 - AOGM / AOGM_0 (normalised acyclic oriented graph matching), py-ctcmetrics",
    "DET": "CTC detection accuracy: 1 - AOGM_D / AOGM_D0, py-ctcmetrics",
    "division_f1": "CTC branching correctness BC(i): F1 of detected divisions, a division matching when "
                   "mother and both daughters match within i frames (py-ctcmetrics); i = tolerance",
    "valid": "py-ctcmetrics' check that the result is a valid CTC result (1 valid, 0 not)",
}


def score_tracking(
    labels: np.ndarray,
    lineage: pd.DataFrame,
    true_labels: np.ndarray,
    true_lineage: pd.DataFrame,
    *,
    tolerance: int = 1,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """TRA, DET and division F1 of tracks against ground truth.

    Both are written as CTC folders (``01_RES``, ``01_GT``) and scored by
    ``ctc_metrics.evaluate_sequence`` (the challenge's reference measures in
    Python; nothing is re-implemented here).

    Parameters
    ----------
    labels, lineage : ndarray, DataFrame
        The tracking result (e.g. from :func:`cellscale.track.track`).
    true_labels, true_lineage : ndarray, DataFrame
        Ground truth; ``true_lineage`` may have gaps inside a track (CTC GT).
    tolerance : int, default 1
        Frames by which a detected division may be off and still count
        (``BC(tolerance)``); ``BC(0)`` is always reported too.
    workdir : path-like, optional
        Where to write the CTC folders (default a temporary folder, removed).

    Returns
    -------
    dict
        ``TRA``, ``DET``, ``division_f1`` (= ``BC(tolerance)``; NaN when
        neither the ground truth nor the result has a division), ``BC(0)``..,
        ``valid``, ``divisions_true``, ``tp_div``, ``fp_div``, ``fn_div`` and
        the AOGM error counts (``AOGM_FN``, ``AOGM_FP``, ``AOGM_EA`` ...).

    Raises
    ------
    MissingDependencyError
        py-ctcmetrics is not installed; it comes with the ``metrics`` extra
        (``pip install "cellscale[metrics]"``) and the ``test`` extra.
    """
    if int(tolerance) != tolerance or tolerance < 0:
        raise InvalidArgumentError(f"tolerance must be an integer >= 0, got {tolerance!r}")
    evaluate_sequence = _evaluate_sequence()
    if np.shape(labels) != np.shape(true_labels):
        raise InvalidArgumentError(
            f"result shape {np.shape(labels)} differs from ground-truth shape {np.shape(true_labels)}"
        )
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        gt = write_ctc_ground_truth(true_labels, true_lineage, root / "01_GT", seg_frames=[0], overwrite=True)
        res = write_ctc_result(labels, lineage, root / "01_RES", overwrite=True)
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always")
            scores = evaluate_sequence(str(res), str(gt), metrics=["Valid", "TRA", "DET", f"BC({tolerance})"],
                                       threads=1)
    out: dict[str, Any] = {
        "TRA": float(scores["TRA"]),
        "DET": float(scores["DET"]),
        "division_f1": _division_f1(scores, int(tolerance)),
        "tolerance_frames": int(tolerance),
        "valid": int(scores["Valid"]),
        "divisions_true": int(scores.get("gt_divisions", 0)),
        "tp_div": int(scores.get(f"tp_div({tolerance})") or 0),
        "fp_div": int(scores.get(f"fp_div({tolerance})") or 0),
        "fn_div": int(scores.get(f"fn_div({tolerance})") or 0),
        "warnings": [str(w.message) for w in caught],
    }
    for i in range(int(tolerance) + 1):
        out[f"BC({i})"] = _division_f1(scores, i)
    for key in ("AOGM", "AOGM_0", "AOGM_NS", "AOGM_FN", "AOGM_FP", "AOGM_ED", "AOGM_EA", "AOGM_EC"):
        if key in scores:
            out[key] = float(scores[key])
    return out


def _division_f1(scores: dict[str, Any], tolerance: int) -> float:
    """BC(tolerance). py-ctcmetrics gives none when the ground truth has no division: then it is 0
    if the result has any (all false) and NaN (undefined) if it has none either."""
    value = scores.get(f"BC({tolerance})")
    if value is not None:
        return float(value)
    fp = int(scores.get(f"fp_div({tolerance})") or 0)
    return 0.0 if fp else float("nan")


def _evaluate_sequence() -> Any:
    """py-ctcmetrics' scorer, or an error that names the extra that installs it."""
    try:
        from ctc_metrics import evaluate_sequence
    except ImportError as exc:
        raise MissingDependencyError(
            f"scoring tracks needs the py-ctcmetrics package, which cannot be imported ({exc}); "
            'install it with the metrics extra: pip install "cellscale[metrics]" '
            "(or pip install py-ctcmetrics)"
        ) from exc
    return evaluate_sequence
