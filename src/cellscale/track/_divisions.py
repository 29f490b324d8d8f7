"""Divisions: a mother that ends, and two daughters that start near her.

The cost of a division (negative log-likelihood, up to constants) is computed
from the daughters' offsets ``o₁, o₂`` from the mother's predicted position
and their sizes, with Gaussian terms whose centres and widths are the movie's
*division model* (:class:`~cellscale.track._division_model.DivisionModel`,
learnt per movie by ``track``); with ``D`` the mother's diameter it adds

* ``|(o₁ + o₂) / 2|² / (2 (σ² + (mid_sd · D)²))``: the daughters' midpoint is
  where the mother was predicted to be;
* ``(ln(s / D) - sep_mean)² / (2 sep_sd²)``, ``s = |o₁ - o₂|``: sisters lie
  as far apart as this movie's sisters do;
* ``(ln((A₁ + A₂) / A_m) - size_mean)² / (2 size_sd²)``: together the
  daughters are as large, relative to the mother's last frame, as in this
  movie's divisions;
* ``ln(A₁ / A₂)² / (2 sisters_sd²)``: sisters are alike;
* a constant 0.5.

For the fixed textbook model (``TEXTBOOK``: an anaphase mother, daughters
together her size, a mother's diameter apart) ``sep_mean = ln 0.8``,
``sep_sd = 0.5``, ``size_mean = 0``, ``size_sd = 0.4``, ``sisters_sd = 0.35``,
``mid_sd = 0.15``.

A cell that touches the edge of the field is cut: it shows only part of itself
and its centroid moves inwards. Its area is then a lower bound, so

* a cut mother's diameter is taken as the largest of her own, that of her
  daughters together, and ``_MITOTIC = 0.8`` times the typical (median, uncut)
  cell diameter of the movie (a dividing cell is rounded up and condensed,
  somewhat smaller than a typical one);
* a size difference in the direction that a cut explains (the daughters look
  small next to an uncut mother, a cut sister looks smaller than the other)
  costs nothing up to a factor of ten (``_CUT_LOG = ln 10``: a cut cell may
  show as little as a tenth of itself) and is counted beyond that;
* the division costs ``_CUT_PREMIUM = 0.4`` more, for the evidence lost.

A division typical of its movie costs 0.5-1. With the textbook model on
simulated movies of that geometry (seeds 11-18, five scenarios,
ground-truth masks) 99 % of true divisions of uncut cells cost < 1.0 and no
false candidate < 2.1; with learnt models, on movies of ten division
geometries from two generators (development seeds 2, ground-truth masks), a
threshold of 2.0 found 498 of 578 divisions with 3 false ones (1.5, before
``_CONTINUED_PREMIUM``: 436 with 3), hence the default of 2.0.

Divisions are looked for twice:

* :func:`find_divisions`, at each frame pair while linking: a mother at ``t``
  and two objects at ``t + 1`` that no one else links to (one of them may be
  the object the mother was linked to: laptrack's "splitting"; such a
  division costs ``_CONTINUED_PREMIUM = 0.25`` more, as a neighbour pushed
  aside by a newborn cell looks the same);
* :func:`find_late_divisions`, after gap closing: a daughter (or the mother's
  last frame) missed by the segmentation, so that a daughter first shows two
  or more frames after the mother's last frame. The motion variance grows with
  the frames elapsed, sisters are compared when both show, and each missed
  frame costs ``_LATE_PREMIUM = 0.15`` more (nothing, for sisters that both show
  a frame late in a movie whose divisions usually look like that: the
  model's ``late`` >= 0.5). A late daughter at the edge of
  the field is not taken (she may have been outside it, like a cell that
  enters), nor one whose earlier sister is gone by the time she shows.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from cellscale.track._division_model import TEXTBOOK, DivisionModel, estimate
from cellscale.track._features import Frame, diameter
from cellscale.track._link import AREA_SIGMA

__all__ = ["division_costs", "estimate_from_divisions", "find_divisions", "find_late_divisions"]

#: Size ratio (as a log) that a cut by the edge of the field explains for free.
_CUT_LOG = float(np.log(10.0))
#: Smallest diameter of a cut mother, relative to the typical cell diameter.
_MITOTIC = 0.8
#: Extra cost of a division in which a cell is cut by the edge of the field.
_CUT_PREMIUM = 0.4
#: Extra cost per frame missed between a mother's last frame and her later daughter.
_LATE_PREMIUM = 0.15
#: Extra cost of a division whose mother had been linked on into one of the daughters.
_CONTINUED_PREMIUM = 0.25
#: A division the model is learnt from has sisters at most this many times
#: different in size, and their midpoint at most this many mother diameters
#: from where she was expected (see :func:`estimate_from_divisions`).
_CONFIDENT_SISTERS = 1.5
_CONFIDENT_MID = 0.15


def _censored(x: np.ndarray, explained: np.ndarray) -> np.ndarray:
    """``x`` (a log size ratio), shrunk towards 0 by ``_CUT_LOG`` where a cut explains its sign."""
    return np.where(explained, np.sign(x) * np.maximum(np.abs(x) - _CUT_LOG, 0.0), x)


def division_costs(
    area_m: np.ndarray,
    cut_m: np.ndarray,
    off1: np.ndarray,
    area1: np.ndarray,
    cut1: np.ndarray,
    off2: np.ndarray,
    area2: np.ndarray,
    cut2: np.ndarray,
    var: np.ndarray | float,
    *,
    grown: np.ndarray | float = 0.0,
    typical: float = 0.0,
    model: DivisionModel = TEXTBOOK,
) -> np.ndarray:
    """Costs of candidate divisions (see module notes).

    Parameters
    ----------
    area_m : ndarray, shape (k,)
        Mother areas (volumes).
    cut_m, cut1, cut2 : ndarray of bool, shape (k,)
        Whether the mother / each daughter touches the edge of the field.
    off1, off2 : ndarray, shape (k, d)
        Daughter positions relative to the mother's predicted position.
    area1, area2 : ndarray, shape (k,)
        Daughter areas.
    var : float or ndarray, shape (k,)
        Per-axis variance of the motion prediction.
    grown : float or ndarray, shape (k,)
        Frames for which both daughters may have grown since they were born
        (unseen): each widens the daughters-to-mother size term by the s.d. of
        a one-frame size change (0.3).
    typical : float
        Typical cell diameter of the movie (a floor for a cut mother's, see
        module notes); 0 for none.
    model : DivisionModel
        Centres and widths of the size, spacing and sister terms (see
        :mod:`cellscale.track._division_model`).

    Returns
    -------
    ndarray, shape (k,)
    """
    ndim = off1.shape[1]
    d_m = diameter(area_m, ndim)
    floor = np.maximum(diameter(area1 + area2, ndim), _MITOTIC * typical)
    d_m = np.where(cut_m, np.maximum(d_m, floor), d_m)
    mid = 0.5 * (off1 + off2)
    cost = np.sum(mid**2, axis=1) / (2.0 * (var + (model.mid_sd * d_m) ** 2))
    sep = np.maximum(np.linalg.norm(off1 - off2, axis=1), 1e-6)
    cost += (np.log(sep / d_m) - model.sep_mean) ** 2 / (2.0 * model.sep_sd**2)
    size = np.log((area1 + area2) / area_m) - model.size_mean
    size = _censored(size, (cut_m & (size > 0)) | ((cut1 | cut2) & (size < 0)))
    sisters = np.log(area1 / area2)
    sisters = _censored(sisters, (cut1 & (sisters < 0)) | (cut2 & (sisters > 0)))
    cost += size**2 / (2.0 * (model.size_sd**2 + AREA_SIGMA**2 * grown)) + sisters**2 / (2.0 * model.sisters_sd**2)
    return cost + np.where(cut_m | cut1 | cut2, _CUT_PREMIUM, 0.0) + 0.5


def _no_border(n: int, border: np.ndarray | None) -> np.ndarray:
    return np.zeros(n, bool) if border is None else border


def _greedy(cost: np.ndarray, m: np.ndarray, j1: np.ndarray, j2: np.ndarray) -> list[tuple[int, int, int]]:
    """Cheapest first, at most one division per mother and per daughter."""
    used_m: set[int] = set()
    used_d: set[int] = set()
    out = []
    for k in np.argsort(cost, kind="stable"):
        mk, a, b = int(m[k]), int(j1[k]), int(j2[k])
        if mk in used_m or a in used_d or b in used_d:
            continue
        used_m.add(mk)
        used_d.update((a, b))
        out.append((mk, a, b))
    return out


def find_divisions(
    a: Frame, b: Frame, nxt: np.ndarray, pred: np.ndarray, sigma: float, *, max_cost: float,
    typical: float = 0.0, model: DivisionModel = TEXTBOOK,
) -> list[tuple[int, int, int]]:
    """Divisions from frame ``t`` (``a``) to ``t + 1`` (``b``).

    Parameters
    ----------
    a, b : Frame
    nxt : ndarray of intp, shape (len(a),)
        Frame-to-frame links (-1 for none).
    pred : ndarray, shape (len(a), d)
        Predicted positions of ``a``'s objects at ``t + 1``.
    sigma : float
        Per-axis s.d. of the motion prediction error.
    max_cost : float
        Divisions costing more are not made.
    typical : float
        Typical cell diameter (see :func:`division_costs`).

    Returns
    -------
    list of (m, j1, j2)
        Mother index in ``a`` and daughter indices in ``b``, at most one division
        per mother and per daughter, chosen greedily by cost.
    """
    if len(a) == 0 or len(b) < 2:
        return []
    linked = np.zeros(len(b), bool)
    linked[nxt[nxt >= 0]] = True
    born = np.flatnonzero(~linked)
    if born.size == 0:
        return []
    ndim = a.pos.shape[1]
    reach = model.reach() * float(np.max(diameter(a.area, ndim))) + 3.0 * sigma
    tree_a = cKDTree(pred)
    tree_born = cKDTree(b.pos[born])
    cand: list[tuple[int, int, int]] = []
    for k, j1 in enumerate(born.tolist()):
        for m in tree_a.query_ball_point(b.pos[j1], reach):
            # A sister is born too, or is the mother's own link (never someone else's).
            if nxt[m] >= 0 and nxt[m] != j1:
                cand.append((m, j1, int(nxt[m])))
            cand += [(m, j1, int(born[q])) for q in tree_born.query_ball_point(pred[m], reach) if q > k]
    if not cand:
        return []
    m, j1, j2 = np.array(cand, np.intp).T
    cut_a, cut_b = _no_border(len(a), a.border), _no_border(len(b), b.border)
    cost = division_costs(a.area[m], cut_a[m], b.pos[j1] - pred[m], b.area[j1], cut_b[j1],
                          b.pos[j2] - pred[m], b.area[j2], cut_b[j2], sigma**2, typical=typical, model=model)
    # The mother's track was linked on into one "daughter": a neighbour that a newborn cell pushed
    # aside looks like that too, so the division has to explain more than the link did.
    cost += np.where(nxt[m] == j2, _CONTINUED_PREMIUM, 0.0)
    keep = cost < max_cost
    return _greedy(cost[keep], m[keep], j1[keep], j2[keep])


def _follow(g: int, t: int, nxt: np.ndarray, frame_of: np.ndarray) -> int:
    """The first detection at frame ``t`` or later on the track through ``g`` (-1 if it ends before)."""
    while g >= 0 and frame_of[g] < t:
        g = int(nxt[g])
    return g


def find_late_divisions(
    frame_of: np.ndarray,
    pos: np.ndarray,
    area: np.ndarray,
    border: np.ndarray,
    nxt: np.ndarray,
    prv: np.ndarray,
    is_mother: np.ndarray,
    is_daughter: np.ndarray,
    *,
    drift: np.ndarray,
    sigma: float,
    max_gap: int,
    max_cost: float,
    typical: float = 0.0,
    model: DivisionModel = TEXTBOOK,
) -> list[tuple[int, int, int]]:
    """Divisions with a daughter first seen two or more frames after the mother's last frame.

    A mother ``m`` at ``t`` qualifies if her track ends there or continues only
    into one of the two daughters; a daughter is an object at ``t + 1`` to
    ``t + 1 + max_gap`` that starts a track, or that ``m`` is linked to. At
    least one daughter comes at ``t + 2`` or later (same-frame divisions are
    :func:`find_divisions`'s), no late daughter is cut by the edge of the
    field (she may have been outside it, like any cell entering), and the
    earlier daughter's track lasts at least until the later one shows. When ``m``'s next frame could itself be the
    mother of the same late daughter (within ``max_cost``), the division is
    put there, a frame later (fewer frames missed).

    Parameters
    ----------
    frame_of, pos, area, border : ndarray
        Frame, position ``(n, d)``, area and edge contact of every detection.
    nxt, prv : ndarray of intp
        Links (frame-to-frame and gap closing), -1 for none.
    is_mother, is_daughter : ndarray of bool
        Detections already in a division.
    drift : ndarray, shape (t - 1, d)
        Field motion between consecutive frames.
    sigma : float
        Per-axis s.d. of the one-frame motion prediction error.
    max_gap : int
        Most frames a daughter may be missed.
    max_cost : float
        Divisions costing more are not made.
    typical : float
        Typical cell diameter (see :func:`division_costs`).

    Returns
    -------
    list of (m, d1, d2)
        Global detection indices, chosen greedily by cost.
    """
    n = frame_of.size
    if max_gap < 1 or n == 0:
        return []
    ndim = pos.shape[1]
    cum = np.vstack([np.zeros((1, ndim)), np.cumsum(drift, axis=0)])
    n_t = cum.shape[0]
    first = np.searchsorted(frame_of, np.arange(n_t + 1))  # detections are in frame order
    trees: dict[int, cKDTree] = {}

    def near(t: int, p: np.ndarray, r: float) -> list[int]:
        if t not in trees:
            trees[t] = cKDTree(pos[first[t] : first[t + 1]])
        return [int(first[t]) + q for q in trees[t].query_ball_point(p, r)]

    gap_in = np.zeros(n, bool)
    has_prv = prv >= 0
    gap_in[has_prv] = frame_of[has_prv] - frame_of[prv[has_prv]] > 1
    free = ~is_daughter & (frame_of > 0) & (~has_prv | gap_in)
    late = np.flatnonzero(free & (frame_of >= 2))
    if late.size == 0:
        return []
    reach = model.reach() * float(np.max(diameter(area, ndim))) + 3.0 * sigma
    cand: set[tuple[int, int, int]] = set()
    for d in late.tolist():
        td = int(frame_of[d])
        for t in range(max(td - 1 - max_gap, 0), td - 1):
            back = pos[d] - (cum[td] - cum[t])
            for m in near(t, back, reach * np.sqrt(td - t)):
                if is_mother[m] or (prv[d] >= 0 and prv[d] != m):
                    continue
                if nxt[m] >= 0 and nxt[m] != d:  # her track goes on: only into the other daughter
                    sisters = set() if is_daughter[nxt[m]] else {int(nxt[m])}
                else:
                    sisters = set()
                    for ts in range(t + 1, min(t + 2 + max_gap, n_t)):
                        here = pos[m] + cum[ts] - cum[t]
                        sisters.update(s for s in near(ts, here, reach * np.sqrt(ts - t))
                                       if free[s] and (prv[s] < 0 or prv[s] == m))
                for s in sisters - {d}:
                    # The earlier sister must still be there when the later one shows: a track
                    # that ends just before another starts next to it is more likely one cell
                    # (a cut cell whose visible part jumps) than two sisters.
                    early, later = sorted((d, s), key=lambda q: (frame_of[q], q))
                    if _follow(early, int(frame_of[later]), nxt, frame_of) >= 0:
                        cand.add((m, early, later))
    if not cand:
        return []
    m, j1, j2 = np.array(sorted(cand), np.intp).T  # j1 shows no later than j2
    t = frame_of[m]
    k1, k2 = frame_of[j1] - t, frame_of[j2] - t
    # Sisters are compared when both show: the later one's size at birth is
    # taken to have grown as her sister's did from birth to then.
    now1 = np.array([_follow(int(a), int(f), nxt, frame_of) for a, f in zip(j1, frame_of[j2])], np.intp)
    area2 = area[j2] * area[j1] / area[now1]
    off1 = pos[j1] - (pos[m] + cum[frame_of[j1]] - cum[t])
    off2 = pos[j2] - (pos[m] + cum[frame_of[j2]] - cum[t])
    cost = division_costs(area[m], border[m], off1, area[j1], border[j1], off2, area2, border[j2] | border[now1],
                          sigma**2 * k2, grown=k1 - 1, typical=typical, model=model)
    # In a movie whose daughters usually show a frame late, a frame missed is no evidence against a division.
    routine = (k1 == 2) & (k2 == 2) & (model.late >= 0.5)
    cost += np.where(routine, 0.0, _LATE_PREMIUM * (k2 - 1))
    # A daughter first seen late at the edge of the field was outside it: that
    # says nothing of where she was born, and cells entering look the same
    # (unless both sisters show together, as this movie's daughters do).
    keep = (cost < max_cost) & (routine | (~border[j2] & ~(border[j1] & (k1 >= 2))))
    # A mother whose "daughter" is her own next frame, when that frame could be
    # the mother of the same late daughter, is herself a frame later: the later
    # division misses fewer frames.
    later = {(int(a), int(b)) for a, b in zip(m[keep], j2[keep])}
    own = (nxt[m] == j1) & keep
    keep[own] = [(int(c), int(b)) not in later for c, b in zip(j1[own], j2[own])]
    return _greedy(cost[keep], m[keep], j1[keep], j2[keep])


def estimate_from_divisions(mothers: dict[int, tuple[int, int]], *, frame_of: np.ndarray, pos: np.ndarray,
                            area: np.ndarray, border: np.ndarray, drift: np.ndarray, sigma: float) -> DivisionModel:
    """Fit the movie's division model to the confident divisions of a first pass.

    Confident: no cell of the division is cut by the edge of the field, both
    daughters are first seen in the same frame (their sizes and distance are
    then measured, not extrapolated), and the two signs of a division that do
    not depend on its geometry are clear: the sisters are alike (at most
    ``_CONFIDENT_SISTERS`` times different in size) and their midpoint is
    where the mother was expected (within ``_CONFIDENT_MID`` of her diameter
    beyond the motion prediction's error). A neighbour that a newborn cell
    pushes aside, taken for a mother whose track goes on into one daughter,
    fails the second.

    Parameters
    ----------
    mothers : dict
        Mother -> (daughter, daughter), global detection indices.
    frame_of, pos, area, border : ndarray
        Frame, position ``(n, d)``, area and edge contact of every detection.
    drift : ndarray, shape (t - 1, d)
        Field motion between consecutive frames.
    sigma : float
        Per-axis s.d. of the one-frame motion prediction error.

    Returns
    -------
    DivisionModel
    """
    ndim = pos.shape[1]
    rows = [(m, a, b) for m, (a, b) in mothers.items()
            if not (border[m] or border[a] or border[b]) and frame_of[a] == frame_of[b]]
    m, a, b = np.array(rows, np.intp).reshape(-1, 3).T
    d_m = diameter(area[m], ndim)
    sep = np.maximum(np.linalg.norm(pos[a] - pos[b], axis=1), 1e-6)
    cum = np.vstack([np.zeros((1, ndim)), np.cumsum(drift, axis=0)])
    k = frame_of[a] - frame_of[m]
    mid = 0.5 * (pos[a] + pos[b]) - (pos[m] + cum[frame_of[a]] - cum[frame_of[m]])
    # The part of the midpoint's offset that the motion prediction's own error does not explain.
    extra = np.sign(mid) * np.sqrt(np.maximum(mid**2 - (sigma**2 * k)[:, None], 0.0)) / d_m[:, None]
    sisters = np.log(area[a] / area[b])
    ok = (np.abs(sisters) < np.log(_CONFIDENT_SISTERS)) & (np.linalg.norm(extra, axis=1) < _CONFIDENT_MID)
    return estimate(np.log((area[a] + area[b]) / area[m])[ok], np.log(sep / d_m)[ok], sisters[ok], extra[ok],
                    late=(k[ok] >= 2))
