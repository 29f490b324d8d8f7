"""Tracks as a table: one row per cell and frame (napari's tracks layer format)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellscale.track._features import frame_features

__all__ = ["tracks_table"]


def tracks_table(labels: np.ndarray, lineage: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and frame: where each track is, and its parent.

    Parameters
    ----------
    labels : ndarray, shape (t, y, x) or (t, z, y, x), integer
        Track label images (as returned by :func:`cellscale.track.track`).
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent``.

    Returns
    -------
    pandas.DataFrame
        Columns ``track_id, t, y, x`` (``t, z, y, x`` for 3-D), ``area`` and
        ``parent`` (the parent track, 0 for none), sorted by ``track_id, t``.
        ``df[["track_id", "t", "y", "x"]].to_numpy()`` is napari's tracks
        ``data``; ``{k: [p] for k, p in zip(df.track_id, df.parent) if p}`` its
        ``graph``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> lab = np.zeros((2, 8, 8), np.uint16); lab[:, 2:4, 2:4] = 1
    >>> lin = pd.DataFrame({"label": [1], "begin": [0], "end": [1], "parent": [0]})
    >>> tracks_table(lab, lin)[["track_id", "t", "y", "x"]].values.tolist()
    [[1.0, 0.0, 2.5, 2.5], [1.0, 1.0, 2.5, 2.5]]
    """
    labels = np.asarray(labels)
    spatial = ["z", "y", "x"][-(labels.ndim - 1):]
    parts = []
    for t in range(labels.shape[0]):
        f = frame_features(labels[t])
        if len(f):
            part = pd.DataFrame(f.pos, columns=spatial)
            part.insert(0, "t", t)
            part.insert(0, "track_id", f.labels)
            part["area"] = f.area.astype(np.int64)
            parts.append(part)
    cols = ["track_id", "t", *spatial, "area"]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    parent = dict(zip(lineage["label"].astype(int), lineage["parent"].astype(int)))
    df["parent"] = df["track_id"].map(parent).fillna(0).astype(np.int64)
    return df.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
