"""How sure the segment step was about each image: object size and confidence, per image.

The segment step leaves its :class:`~cellscale.segment._estimate.Estimate`
in ``job.extras`` (``"segment_estimate"`` for a 2-D image,
``"segment_estimate_per_frame"`` for a movie, as plain dicts with ``scale``,
``diameter``, ``confidence`` and ``warnings``). From it:

* :func:`add_quality_columns` gives every row of the image's cell table the
  columns ``segment_confidence`` and ``segment_diameter`` (the image's, or
  the row's frame's; NaN where not measured), so a table filtered or pooled
  across images keeps how sure the model was;
* :func:`image_quality` makes the per-image record the results store keeps
  beside the image's fingerprint (``cellscale/config`` ``images[ID]["quality"]``)
  and the :class:`~cellscale.engine._run.RunReport` carries;
* :func:`flags` says what to warn the user of: the record's warnings, and a
  confidence below :data:`~cellscale.segment._estimate.LOW_CONFIDENCE`.

No ground truth is needed: the confidence is the agreement between the
image's segmentation and that of the image flipped (see
:mod:`cellscale.segment._estimate`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["COLUMNS", "add_quality_columns", "flags", "image_quality"]

#: Cell-table columns added per row: the image's (or frame's) estimate.
COLUMNS = {"segment_confidence": "confidence", "segment_diameter": "diameter"}

#: Frames named in a movie's summary warning, at most.
_FRAMES_NAMED = 10


def _value(estimate: Mapping[str, Any], key: str) -> float:
    value = estimate.get(key)
    return float("nan") if value is None else float(value)


def add_quality_columns(table: Any, extras: Mapping[str, Any]) -> None:
    """Add ``segment_confidence`` and ``segment_diameter`` to every row of ``table`` (in place).

    Parameters
    ----------
    table : anndata.AnnData
        A cell table of one image; a movie's has an ``obs["t"]`` column.
    extras : mapping
        The job's extras, holding the segment step's ``"segment_estimate"``
        or ``"segment_estimate_per_frame"``. Without either, nothing is added.

    Examples
    --------
    >>> import anndata as ad, pandas as pd
    >>> t = ad.AnnData(obs=pd.DataFrame({"t": [0, 1, 1]}, index=["a", "b", "c"]))
    >>> frames = [{"confidence": 0.9, "diameter": 15.0}, {"confidence": 0.4, "diameter": None}]
    >>> add_quality_columns(t, {"segment_estimate_per_frame": frames})
    >>> t.obs["segment_confidence"].tolist(), t.obs["segment_diameter"].tolist()
    ([0.9, 0.4, 0.4], [15.0, nan, nan])
    """
    frames = extras.get("segment_estimate_per_frame")
    single = extras.get("segment_estimate")
    for column, key in COLUMNS.items():
        if frames is not None and "t" in table.obs:
            values = np.array([_value(f, key) for f in frames], dtype=np.float64)
            table.obs[column] = values[table.obs["t"].to_numpy(np.int64)]
        elif single is not None:
            table.obs[column] = np.full(table.n_obs, _value(single, key), dtype=np.float64)


def _frame_list(frames: Sequence[int]) -> str:
    named = ", ".join(str(k) for k in frames[:_FRAMES_NAMED])
    return named + (", ..." if len(frames) > _FRAMES_NAMED else "")


def _movie(frames: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One movie's record: median diameter, lowest confidence, the worst frame's warnings."""
    diameters = [f["diameter"] for f in frames if f.get("diameter") is not None]
    confidences = [f["confidence"] for f in frames if f.get("confidence") is not None]
    warned = [k for k, f in enumerate(frames) if f.get("warnings")]
    warnings: list[str] = []
    if warned:
        def rank(k: int) -> float:
            c = frames[k].get("confidence")
            return 2.0 if c is None else float(c)

        worst = min(warned, key=rank)
        warnings = [f"frame {worst}: {w}" for w in frames[worst]["warnings"]]
        if len(warned) > 1:
            warnings.append(f"{len(warned)} of {len(frames)} frames have warnings "
                            f"(frames {_frame_list(warned)})")
    return {"diameter": statistics.median(diameters) if diameters else None,
            "confidence": min(confidences) if confidences else None,
            "warnings": warnings,
            "frames": [dict(f) for f in frames]}


def image_quality(extras: Mapping[str, Any], n_objects: int | None = None
                  ) -> dict[str, Any] | None:
    """The store's and the report's record of how sure segmentation was about one image.

    Parameters
    ----------
    extras : mapping
        The job's extras (see :func:`add_quality_columns`).
    n_objects : int, optional
        Objects found (rows of the image's table).

    Returns
    -------
    dict or None
        ``{"diameter", "confidence", "warnings", "n_objects"}`` and, for a 2-D
        image, ``"scale"``; for a movie the diameter is the frames' median,
        the confidence the lowest frame's, the warnings the worst frame's (and
        how many frames have any), and ``"frames"`` lists each frame's
        estimate. None when the pipeline has no segment step.

    Examples
    --------
    >>> record = image_quality({"segment_estimate": {"scale": 1.0, "diameter": 15.0,
    ...                         "confidence": 0.5, "warnings": ["low confidence (0.50)"]}}, 61)
    >>> record["confidence"], record["n_objects"], flags(record)
    (0.5, 61, ['low confidence (0.50)'])
    """
    frames = extras.get("segment_estimate_per_frame")
    single = extras.get("segment_estimate")
    if frames is not None:
        record = _movie(frames)
    elif single is not None:
        record = {"scale": single.get("scale"), "diameter": single.get("diameter"),
                  "confidence": single.get("confidence"),
                  "warnings": list(single.get("warnings") or [])}
    else:
        return None
    record["n_objects"] = n_objects
    return record


def flags(record: Mapping[str, Any] | None) -> list[str]:
    """What to warn the user of for one image: its warnings, or its low confidence.

    Empty when the image is not flagged (no record, no warning, and a
    confidence of at least :data:`~cellscale.segment._estimate.LOW_CONFIDENCE`
    or none measured).

    Examples
    --------
    >>> flags({"confidence": 0.95, "warnings": []})
    []
    >>> flags({"confidence": 0.42, "warnings": []})
    ['low confidence (0.42): the model finds different objects when the image is flipped']
    """
    from cellscale.segment._estimate import LOW_CONFIDENCE

    if not record:
        return []
    out = [str(w) for w in record.get("warnings") or []]
    confidence = record.get("confidence")
    if not out and confidence is not None and confidence < LOW_CONFIDENCE:
        out.append(f"low confidence ({confidence:.2f}): the model finds different objects "
                   "when the image is flipped")
    return out
