"""Gap closing: a track that ends, continued by one that starts a few frames later.

Gap closing links the end of one track segment to the start of another up to
``max_gap`` missing frames later, with the motion cost scaled by the time
elapsed, solved globally by the same LAP as frame-to-frame links. (Divisions
are in :mod:`cellscale.track._divisions`.)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from cellscale.track._lap import solve_links
from cellscale.track._link import cut_variance, motion_cost, size_cost

__all__ = ["close_gaps"]


def close_gaps(
    frame_of: np.ndarray,
    pos: np.ndarray,
    area: np.ndarray,
    velocity: np.ndarray,
    ends: np.ndarray,
    starts: np.ndarray,
    *,
    border: np.ndarray | None = None,
    drift: np.ndarray,
    sigma: float,
    kappa: float,
    max_gap: int,
    chi_max: float,
    gap_penalty: float,
    radius: float,
) -> list[tuple[int, int]]:
    """Link segment ends to segment starts across 1..``max_gap`` missing frames.

    Parameters
    ----------
    frame_of, pos, area, velocity : ndarray
        Frame, position ``(n, d)``, area and last displacement ``(n, d)`` (NaN
        when unknown) of every detection of the movie.
    ends, starts : ndarray of intp
        Detections that end a segment early / start one late.
    border : ndarray of bool, optional
        Whether each detection touches the edge of the field (its centroid is
        less certain: see :func:`cellscale.track._link.cut_variance`).
    drift : ndarray, shape (t - 1, d)
        Field motion between consecutive frames.
    sigma, kappa : float
        Motion statistics (see :class:`cellscale.track._link.Motion`).
    max_gap : int
        Most missing frames bridged.
    chi_max, gap_penalty, radius : float
        Link threshold (as for frame links), extra cost per missing frame, and
        the search radius for one frame (scaled by the square root of the time).

    Returns
    -------
    list of (end, start)
        Global detection indices linked.
    """
    if max_gap < 1 or ends.size == 0 or starts.size == 0:
        return []
    ndim = pos.shape[1]
    cum = np.vstack([np.zeros((1, ndim)), np.cumsum(drift, axis=0)])
    rows, cols, costs = [], [], []
    end_frame, start_frame = frame_of[ends], frame_of[starts]
    v = velocity[ends]
    known = ~np.isnan(v).any(axis=1)
    if drift.shape[0]:
        own = np.where(known[:, None], v - drift[np.clip(end_frame - 1, 0, len(drift) - 1)], 0.0)
    else:
        own = np.zeros_like(v)
    by_frame = {int(t): np.flatnonzero(start_frame == t) for t in np.unique(start_frame)}
    trees = {t: cKDTree(pos[starts[idx]]) for t, idx in by_frame.items()}
    for te in np.unique(end_frame).tolist():
        e_idx = np.flatnonzero(end_frame == te)
        for dt in range(2, max_gap + 2):
            ts = te + dt
            if ts not in trees:
                continue
            field = cum[min(ts, cum.shape[0] - 1)] - cum[te]
            persist = kappa * (1.0 - kappa**dt) / (1.0 - kappa) if kappa < 1.0 else float(dt)
            pred = pos[ends[e_idx]] + field + persist * own[e_idx]
            pairs = cKDTree(pred).sparse_distance_matrix(trees[ts], radius * np.sqrt(dt), output_type="ndarray")
            if pairs.size == 0:
                continue
            r_e, s_idx = e_idx[pairs["i"]], by_frame[ts][pairs["j"]]
            a_e, a_s = area[ends[r_e]], area[starts[s_idx]]
            var = sigma**2 * dt
            if border is not None:
                var = var + cut_variance(a_e, a_s, border[ends[r_e]] | border[starts[s_idx]], ndim)
            c = motion_cost(pairs["v"] ** 2, var) + size_cost(a_e, a_s)
            rows.append(r_e)
            cols.append(s_idx)
            costs.append(c + gap_penalty * (dt - 1))
    if not rows:
        return []
    alt = chi_max**2 / 4.0
    link = solve_links(ends.size, starts.size, np.concatenate(rows), np.concatenate(cols), np.concatenate(costs),
                       alt, alt)
    return [(int(ends[k]), int(starts[link[k]])) for k in np.flatnonzero(link >= 0)]
