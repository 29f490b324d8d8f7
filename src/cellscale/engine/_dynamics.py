"""Per-cell dynamics of a tracked movie: track, parent, generation, cycle length, speed.

Pure pandas/NumPy on a movie's measurement rows and its lineage (the Cell
Tracking Challenge convention of :func:`cellscale.track.track`: a track
occupies every frame ``begin..end``; a gap is a new track whose parent is the
earlier one; a division is a parent with two or more children).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["cell_dynamics"]


def _lineage_maps(lineage: pd.DataFrame) -> tuple[dict[int, int], dict[int, int], dict[int, int],
                                                    dict[int, list[int]]]:
    labels = lineage["label"].to_numpy().astype(np.int64)
    begin = dict(zip(labels.tolist(), lineage["begin"].to_numpy().astype(np.int64).tolist()))
    end = dict(zip(labels.tolist(), lineage["end"].to_numpy().astype(np.int64).tolist()))
    parent = dict(zip(labels.tolist(), lineage["parent"].to_numpy().astype(np.int64).tolist()))
    children: dict[int, list[int]] = {int(k): [] for k in labels}
    for k, p in parent.items():
        if p in children:
            children[p].append(k)
    return begin, end, parent, children


def _generations(parent: dict[int, int], children: dict[int, list[int]]) -> dict[int, int]:
    generation: dict[int, int] = {}
    for label in parent:
        chain = []
        k = label
        while k not in generation:  # walk up to a known generation or a root
            chain.append(k)
            p = parent[k]
            if p not in parent or p in chain:  # root (0 / unknown parent) or a (bad) cycle
                generation[k] = 0
                chain.pop()
                break
            k = p
        for k in reversed(chain):
            p = parent[k]
            generation[k] = generation[p] + (1 if len(children[p]) >= 2 else 0)
    return generation


def _cycle_lengths(begin: dict[int, int], end: dict[int, int], parent: dict[int, int],
                   children: dict[int, list[int]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for label in parent:
        first, seen = label, {label}
        while parent[first] in children and len(children[parent[first]]) == 1 \
                and parent[first] not in seen:  # up through gap continuations
            first = parent[first]
            seen.add(first)
        last = label
        while len(children[last]) == 1 and children[last][0] not in seen:  # down through gaps
            last = children[last][0]
            seen.add(last)
        born = parent[first] in children and len(children[parent[first]]) >= 2
        divides = len(children[last]) >= 2
        out[label] = float(end[last] - begin[first] + 1) if born and divides else np.nan
    return out


def cell_dynamics(obs: pd.DataFrame, lineage: pd.DataFrame, *,
                  pixel_size: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per-row dynamics of a tracked movie's measurement table.

    Parameters
    ----------
    obs : pandas.DataFrame
        One row per cell and frame with columns ``label`` (the track label),
        ``t`` (frame), ``centroid_y`` and ``centroid_x`` (pixels).
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent`` (CTC convention, parent 0 = none),
        as returned by :func:`cellscale.track.track`.
    pixel_size : mapping, optional
        Pixel size per axis (``{"y": ..., "x": ...}``, µm); when given with both
        axes, ``speed_um`` is added.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``obs``, with columns:

        ``track_id`` (int64)
            The row's track label.
        ``parent`` (int64)
            The track's parent track, 0 for none.
        ``generation`` (int64)
            0 for a track without parent; the parent's generation + 1 when the
            parent divided (two or more children); the parent's generation for
            a gap continuation (a single child).
        ``cell_cycle_length`` (float64)
            For a cell born by a division and ending in one: frames from the
            first frame of its branch to the last, ``end - begin + 1``, gap
            continuations counted as the same cell; NaN otherwise.
        ``speed`` (float64)
            Distance (pixels) of the centroid from the previous position of the
            same track, or from the parent's last position for the first frame
            of a track, divided by the frames elapsed (pixels per frame); NaN
            when there is no previous position.
        ``speed_um`` (float64)
            The same in µm per frame; only when ``pixel_size`` is given.

    Notes
    -----
    Tracks missing from ``lineage`` get parent 0, generation 0 and a NaN
    cycle length.
    """
    begin, end, parent, children = _lineage_maps(lineage)
    generation = _generations(parent, children)
    cycle = _cycle_lengths(begin, end, parent, children)

    track = obs["label"].to_numpy().astype(np.int64)
    t = obs["t"].to_numpy().astype(np.int64)
    y = obs["centroid_y"].to_numpy().astype(float)
    x = obs["centroid_x"].to_numpy().astype(float)
    out = pd.DataFrame(index=obs.index)
    out["track_id"] = track
    out["parent"] = np.array([parent.get(int(k), 0) for k in track], dtype=np.int64)
    out["generation"] = np.array([generation.get(int(k), 0) for k in track], dtype=np.int64)
    out["cell_cycle_length"] = np.array([cycle.get(int(k), np.nan) for k in track], dtype=float)

    # Previous position: the previous row of the same track, else the parent's last row.
    order = np.lexsort((t, track))
    prev = np.full(len(track), -1, dtype=np.int64)
    same = track[order][1:] == track[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    last_row: dict[int, int] = {}
    for i in order:  # sorted by (track, t): the last assignment is the latest frame
        last_row[int(track[i])] = int(i)
    firsts = order[np.r_[True, ~same]] if len(order) else order
    for i in firsts:
        p = out["parent"].iat[int(i)]
        j = last_row.get(int(p))
        if p and j is not None and t[j] < t[i]:
            prev[i] = j
    has = prev >= 0
    dt = np.where(has, t - t[np.where(has, prev, 0)], 1).astype(float)
    dy = np.where(has, y - y[np.where(has, prev, 0)], np.nan)
    dx = np.where(has, x - x[np.where(has, prev, 0)], np.nan)
    out["speed"] = np.hypot(dy, dx) / dt
    if pixel_size is not None and {"y", "x"} <= set(pixel_size):
        out["speed_um"] = np.hypot(dy * float(pixel_size["y"]), dx * float(pixel_size["x"])) / dt
    return out
