"""``track``: label images in, label images relabelled by track + lineage out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cellscale.errors import InvalidArgumentError
from cellscale.track._division_model import BROAD, TEXTBOOK, DivisionModel
from cellscale.track._divisions import estimate_from_divisions, find_divisions, find_late_divisions
from cellscale.track._events import close_gaps
from cellscale.track._features import Frame, check_inputs, diameter, movie_features
from cellscale.track._link import Motion, link_pair, reach_sds

__all__ = ["track"]


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not np.isfinite(value):
        raise InvalidArgumentError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def track(
    labels: Any,
    *,
    image: Any = None,
    max_distance: float | None = None,
    max_gap: int = 3,
    divisions: bool = True,
    chi_max: float = 4.0,
    division_cost: float = 2.0,
    overlap_weight: float = 2.0,
    intensity_weight: float = 0.0,
    gap_penalty: float = 1.0,
    repair_splits: bool = True,
    learn_divisions: bool = True,
    source: str | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Follow segmented cells through time.

    Frame-to-frame links are chosen by a global sparse linear assignment
    (u-track/TrackMate's LAP framework, Jaqaman et al. 2008) with costs from
    the distance to a motion prediction, size change and overlap; divisions
    are found among objects that appear next to a cell, a second LAP bridges
    missed detections, and a last pass finds divisions whose daughter (or the
    mother's last frame) was missed (see :mod:`cellscale.track._link`,
    :mod:`cellscale.track._divisions` and :mod:`cellscale.track._events` for
    the costs). Cells cut by the edge of the field are allowed for: their size
    and centroid are less certain.

    Parameters
    ----------
    labels : ndarray, shape (t, y, x) or (t, z, y, x), integer
        One label image per frame (0 = background), e.g. from
        :func:`cellscale.segment.segment`. Ids need not agree between frames.
    image : ndarray, same shape, optional
        The intensity movie; used only when ``intensity_weight > 0``.
    max_distance : float, optional
        Farthest a cell may be from its predicted position one frame later,
        pixels. Default: twice the median cell diameter. The search also never
        goes beyond the distance at which the motion cost alone reaches the
        link threshold (5 estimated standard deviations for ``chi_max = 4``).
    max_gap : int, default 3
        Most consecutive frames a cell may be missing (a missed detection, a
        flicker at the border) and still keep its track; 0 disables gap closing.
    divisions : bool, default True
        Look for cell divisions (with ``max_gap > 0`` also those whose
        daughter shows up to ``max_gap`` frames late).
    chi_max : float, default 4.0
        Link threshold in standard deviations of the motion prediction error.
    division_cost : float, default 2.0
        Largest cost of an accepted division (a division typical of the movie
        costs 0.5-1; see :mod:`cellscale.track._divisions`).
    overlap_weight : float, default 2.0
        Bonus for a link per unit of IoU between the two masks.
    intensity_weight : float, default 0.0
        Weight of the mean-intensity change in link costs (needs ``image``).
    gap_penalty : float, default 1.0
        Extra cost per missing frame of a gap-closing link.
    repair_splits : bool, default True
        A "division" whose one daughter lives at most two frames and lies
        within the other's outline (an over-segmented cell) is undone, and its
        pixels are given to the sister; so is such a fragment that starts a
        track of its own beside a cell whose track goes on.
    learn_divisions : bool, default True
        Learn what this movie's divisions look like (daughters' size relative
        to the mother, sisters' distance, how alike sisters are, how often
        daughters show a frame late) from its confident divisions, found with
        a broad model in a first pass, then track again with that model (see
        :mod:`cellscale.track._division_model`). False: one pass with the
        fixed model of a textbook mitosis (earlier versions' behaviour).
    source : str, optional
        File named in error messages.
    on_frame : callable, optional
        Called as ``on_frame(t, n_frames)`` after each frame of the first pass
        is linked (progress; the second pass, with the learnt division model,
        takes about as long again).
    timings : dict, optional
        Filled with seconds spent in ``"features"``, ``"linking"``,
        ``"events"`` and ``"relabel"``.

    Returns
    -------
    labels : ndarray of uint32, same shape
        Each cell keeps one id from frame to frame; a daughter, or a cell after
        a gap, gets a new id.
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent`` (frames zero-based, ``end``
        inclusive, ``parent`` 0 for none): the Cell Tracking Challenge
        ``res_track.txt`` table. A track continued after a gap has the
        segment before it as its only child's parent. With ``divisions``,
        ``lineage.attrs["division_model"]`` holds the division model used
        (a dict; ``n`` = divisions it was learnt from, 0 for none).

    Raises
    ------
    InvalidImageError
        Labels that are not integer ``tyx``/``tzyx`` images of at least two
        frames, or an image of another shape.
    InvalidArgumentError
        Out-of-range options.

    Examples
    --------
    >>> import numpy as np
    >>> movie = np.zeros((3, 32, 32), np.uint16)
    >>> movie[0, 4:9, 4:9] = 7; movie[1, 5:10, 5:10] = 2; movie[2, 6:11, 6:11] = 5
    >>> out, lineage = track(movie)
    >>> [int(out[t].max()) for t in range(3)], lineage.values.tolist()
    ([1, 1, 1], [[1, 0, 2, 0]])
    """
    arr, img = check_inputs(labels, image, source)
    _positive("max_distance", max_distance)
    _positive("chi_max", chi_max)
    _positive("division_cost", division_cost, allow_zero=True)
    _positive("overlap_weight", overlap_weight, allow_zero=True)
    _positive("intensity_weight", intensity_weight, allow_zero=True)
    _positive("gap_penalty", gap_penalty, allow_zero=True)
    if int(max_gap) != max_gap or max_gap < 0:
        raise InvalidArgumentError(f"max_gap must be an integer >= 0, got {max_gap!r}")
    clock = {"features": 0.0, "linking": 0.0, "events": 0.0, "relabel": 0.0}
    n_t, ndim = arr.shape[0], arr.ndim - 1

    t0 = time.perf_counter()
    use_img = img if intensity_weight > 0 else None
    frames, pair_overlaps = movie_features(arr, use_img, with_overlaps=overlap_weight > 0)
    sizes = np.array([len(f) for f in frames])
    offset = np.concatenate([[0], np.cumsum(sizes)])
    n_det = int(offset[-1])
    frame_of = np.repeat(np.arange(n_t), sizes)
    pos = np.concatenate([f.pos for f in frames]) if n_det else np.zeros((0, ndim))
    area = np.concatenate([f.area for f in frames]) if n_det else np.zeros(0)
    border = np.concatenate([_edge(f) for f in frames]) if n_det else np.zeros(0, bool)
    clock["features"] += time.perf_counter() - t0
    all_diam = diameter(area, ndim)
    # Typical cell diameter: the median of the cells not cut by the edge of the field.
    whole = all_diam[~border] if (~border).any() else all_diam
    typical = float(np.median(whole)) if n_det else 0.0
    if max_distance is None:
        max_distance = 2.0 * float(np.median(all_diam)) if n_det else 1.0

    ctx = _Movie(frames=frames, overlaps=pair_overlaps, offset=offset, frame_of=frame_of, pos=pos, area=area,
                 border=border, all_diam=all_diam, typical=typical, max_distance=float(max_distance))
    opts = {"max_gap": int(max_gap), "divisions": divisions, "chi_max": chi_max, "division_cost": division_cost,
            "overlap_weight": overlap_weight, "intensity_weight": intensity_weight, "gap_penalty": gap_penalty,
            "repair_splits": repair_splits}
    model = BROAD if learn_divisions else TEXTBOOK
    links = _link_movie(ctx, model=model, on_frame=on_frame, clock=clock, **opts)
    if divisions and learn_divisions and n_det:
        # Learn what this movie's divisions look like from the confident ones, and track again with that.
        te = time.perf_counter()
        model = estimate_from_divisions(links.mothers, frame_of=frame_of, pos=pos, area=area, border=border,
                                        drift=links.drift, sigma=links.sigma)
        clock["events"] += time.perf_counter() - te
        if model.n:
            links = _link_movie(ctx, model=model, on_frame=None, clock=clock, **opts)
    nxt, prv, mothers, merge_into = links.nxt, links.prv, links.mothers, links.merge_into

    tr = time.perf_counter()
    out, lineage = _relabel(arr, frames, offset, frame_of, nxt, prv, mothers, merge_into)
    clock["relabel"] += time.perf_counter() - tr
    if timings is not None:
        timings.update(clock)
    if divisions:
        lineage.attrs["division_model"] = model.as_dict()
    return out, lineage


@dataclass
class _Movie:
    """Per-detection features of a movie, in frame order (what both tracking passes read)."""

    frames: list[Frame]
    overlaps: list
    offset: np.ndarray
    frame_of: np.ndarray
    pos: np.ndarray
    area: np.ndarray
    border: np.ndarray
    all_diam: np.ndarray
    typical: float
    max_distance: float


@dataclass
class _Links:
    """What one tracking pass found (detection indices)."""

    nxt: np.ndarray  #: next detection on the track, -1 for none
    prv: np.ndarray  #: previous detection, -1 for none
    mothers: dict[int, tuple[int, int]]  #: mother -> daughters
    merge_into: dict[int, int]  #: fragment -> the sister it is given to
    drift: np.ndarray  #: field motion per frame pair, (t - 1, d)
    sigma: float  #: per-axis s.d. of the motion prediction error


def _link_movie(ctx: _Movie, *, model: DivisionModel, max_gap: int, divisions: bool, chi_max: float,
                division_cost: float, overlap_weight: float, intensity_weight: float, gap_penalty: float,
                repair_splits: bool, on_frame: Callable[[int, int], None] | None, clock: dict[str, float],
                ) -> _Links:
    """Frame-to-frame links, divisions, gap closing and split repair with one division model."""
    frames, pair_overlaps, offset, frame_of = ctx.frames, ctx.overlaps, ctx.offset, ctx.frame_of
    pos, area, border, all_diam, typical = ctx.pos, ctx.area, ctx.border, ctx.all_diam, ctx.typical
    max_distance = ctx.max_distance
    n_t, n_det, ndim = len(frames), int(offset[-1]), pos.shape[1]
    nxt = np.full(n_det, -1, np.intp)
    prv = np.full(n_det, -1, np.intp)
    velocity = np.full((n_det, ndim), np.nan)
    mothers: dict[int, tuple[int, int]] = {}
    # Prior motion scale: a tenth of a cell diameter per frame (per axis).
    motion = Motion(ndim, prior=max(0.1 * float(np.median(all_diam)) if n_det else 1.0, 0.3))
    drift = np.zeros((max(n_t - 1, 0), ndim))
    for t in range(n_t - 1):
        a, b = frames[t], frames[t + 1]
        ga, gb = offset[t], offset[t + 1]
        ov = pair_overlaps[t]
        tl = time.perf_counter()
        vel = velocity[ga : ga + len(a)]
        if len(a) == 0 or len(b) == 0:
            if on_frame is not None:
                on_frame(t + 1, n_t)
            continue
        passes = 2 if motion.sigma is None else 1
        if motion.sigma is None:
            motion.sigma = max(motion.initial_sigma(a, b), motion.prior)
            motion.spread = motion.sigma
        for _ in range(passes):
            reach = np.sqrt(float(motion.sigma) ** 2 + motion.spread**2)
            radius = min(float(max_distance), reach_sds(chi_max) * reach + 1.0)
            local, residual = link_pair(a, b, vel, motion, radius=radius, chi_max=chi_max, overlap=ov,
                                        overlap_weight=overlap_weight, intensity_weight=intensity_weight)
            done = local >= 0
            if passes == 2 and done.any():
                motion.update(b.pos[local[done]] - a.pos[done], residual[done], vel[done])
        clock["linking"] += time.perf_counter() - tl
        te = time.perf_counter()
        if divisions:
            still, _moving = motion.predict(a, vel)
            for m, j1, j2 in find_divisions(a, b, local, still, float(motion.sigma),
                                            max_cost=division_cost, typical=typical,
                                            model=model):
                local[m] = -1
                mothers[ga + m] = (gb + j1, gb + j2)
        clock["events"] += time.perf_counter() - te
        done = np.flatnonzero(local >= 0)
        src, dst = ga + done, gb + local[done]
        nxt[src], prv[dst] = dst, src
        velocity[dst] = pos[dst] - pos[src]
        drift[t] = motion.drift
        motion.update(pos[dst] - pos[src], residual[done], vel[done])
        if on_frame is not None:
            on_frame(t + 1, n_t)

    te = time.perf_counter()
    daughters = {d for pair in mothers.values() for d in pair}
    is_mother = np.zeros(n_det, bool)
    is_mother[list(mothers)] = True
    is_daughter = np.zeros(n_det, bool)
    is_daughter[list(daughters)] = True
    sigma = float(motion.sigma or 1.0)
    if max_gap > 0 and n_det:
        ends = np.flatnonzero((nxt < 0) & (frame_of < n_t - 1) & ~is_mother)
        starts = np.flatnonzero((prv < 0) & (frame_of > 0) & ~is_daughter)
        radius = min(float(max_distance), reach_sds(chi_max) * sigma + 1.0)
        for e, s in close_gaps(frame_of, pos, area, velocity, ends, starts, border=border, drift=drift,
                               sigma=sigma, kappa=motion.kappa, max_gap=int(max_gap),
                               chi_max=chi_max, gap_penalty=gap_penalty, radius=radius):
            nxt[e], prv[s] = s, e
    if divisions and max_gap > 0 and n_det:
        # A daughter (or the mother's last frame) missed by the segmentation.
        for m, d1, d2 in find_late_divisions(frame_of, pos, area, border, nxt, prv, is_mother, is_daughter,
                                             drift=drift, sigma=sigma, max_gap=int(max_gap),
                                             max_cost=division_cost, typical=typical,
                                            model=model):
            if nxt[m] >= 0:
                prv[nxt[m]] = -1
                nxt[m] = -1
            mothers[m] = (d1, d2)
    merge_into: dict[int, int] = {}
    if repair_splits:
        _repair_splits(mothers, nxt, prv, frame_of, pos, all_diam, merge_into, n_t)
    clock["events"] += time.perf_counter() - te

    return _Links(nxt, prv, mothers, merge_into, drift, sigma)


def _edge(f: Frame) -> np.ndarray:
    return f.border if f.border is not None else np.zeros(len(f), bool)


def _chain(g: int, nxt: np.ndarray) -> list[int]:
    out = [g]
    while nxt[out[-1]] >= 0:
        out.append(int(nxt[out[-1]]))
    return out


def _fragment_of(short: list[int], long_: list[int], nxt: np.ndarray, frame_of: np.ndarray, pos: np.ndarray,
                 diam: np.ndarray, n_t: int, mothers: dict[int, tuple[int, int]]) -> bool:
    """Whether track ``short`` (at most two frames, ending before the movie does) lies within ``long_``."""
    last = short[-1]
    if len(short) > 2 or frame_of[last] == n_t - 1 or last in mothers or len(long_) < len(short):
        return False
    if any(frame_of[short[k]] != frame_of[long_[k]] for k in range(len(short))):
        return False
    return all(np.linalg.norm(pos[s] - pos[q]) < 0.4 * (diam[s] + diam[q]) for s, q in zip(short, long_))


def _repair_splits(mothers: dict[int, tuple[int, int]], nxt: np.ndarray, prv: np.ndarray,
                   frame_of: np.ndarray, pos: np.ndarray, diam: np.ndarray,
                   merge_into: dict[int, int], n_t: int) -> None:
    """Give short-lived fragments inside a cell back to it (see ``track``).

    A "division" into a cell and such a fragment is undone; so is a fragment
    that starts a track of its own beside a cell whose track goes on.
    """
    for m, (d1, d2) in list(mothers.items()):
        c1, c2 = _chain(d1, nxt), _chain(d2, nxt)
        short, long_ = (c1, c2) if len(c1) <= len(c2) else (c2, c1)
        if not _fragment_of(short, long_, nxt, frame_of, pos, diam, n_t, mothers):
            continue
        del mothers[m]
        nxt[m], prv[long_[0]] = long_[0], m
        prv[short[0]] = -1
        for s, q in zip(short, long_):
            merge_into[s] = q
    daughters = {d for pair in mothers.values() for d in pair}
    starts = np.flatnonzero((prv < 0) & (frame_of > 0))
    if starts.size == 0:
        return
    first = np.searchsorted(frame_of, np.arange(n_t + 1))  # detections are in frame order
    for s in starts.tolist():
        if s in daughters or s in merge_into or prv[s] >= 0:
            continue
        t = int(frame_of[s])
        here = np.arange(first[t], first[t + 1])
        near = here[(here != s) & (np.sum((pos[here] - pos[s]) ** 2, axis=1) < (0.4 * (diam[here] + diam[s])) ** 2)]
        for q in near.tolist():
            # The cell the fragment came off: on a track that was there before.
            if prv[q] < 0 or q in merge_into or q in daughters or q in mothers:
                continue
            short, long_ = _chain(s, nxt), _chain(q, nxt)
            if _fragment_of(short, long_, nxt, frame_of, pos, diam, n_t, mothers):
                for a, b in zip(short, long_):  # a fragment that starts a short track of its own
                    merge_into[a] = b
                    if nxt[a] >= 0:
                        prv[nxt[a]] = -1
                        nxt[a] = -1
                break
            if nxt[q] < 0 and t < n_t - 1 and len(short) > 1:
                # The cell's track ends on one piece, and the other piece goes on as a new track.
                merge_into[q] = s
                nxt[prv[q]], prv[s] = s, prv[q]
                prv[q] = -1
                break


def _relabel(arr: np.ndarray, frames: list[Frame], offset: np.ndarray, frame_of: np.ndarray,
             nxt: np.ndarray, prv: np.ndarray, mothers: dict[int, tuple[int, int]],
             merge_into: dict[int, int]) -> tuple[np.ndarray, pd.DataFrame]:
    """Track ids from the links, label images relabelled by them, and the CTC lineage.

    A track starts at a detection with no predecessor, at a daughter, and after
    a gap (a link over missing frames: the CTC format wants a new label whose
    parent is the stretch before). Ids count up in order of first detection.
    """
    n_det = int(offset[-1])
    n_t = len(frames)
    merged = np.zeros(n_det, bool)
    merged[list(merge_into)] = True
    child_mother = np.full(n_det, -1, np.intp)
    for m, pair in mothers.items():
        child_mother[list(pair)] = m
    linked = prv >= 0
    gap = np.zeros(n_det, bool)
    gap[linked] = frame_of[linked] - frame_of[prv[linked]] > 1
    head = ~merged & (~linked | (child_mother >= 0) | gap)
    parent_det = np.where(child_mother >= 0, child_mother, np.where(gap, prv, -1))
    # Every detection's head, by pointer jumping along ``prv`` (log of the longest track steps).
    root = np.where(head | ~linked, np.arange(n_det), prv)
    while True:
        nxt_root = root[root]
        if np.array_equal(nxt_root, root):
            break
        root = nxt_root
    heads = np.flatnonzero(head)
    id_of_head = np.zeros(n_det, np.int64)
    id_of_head[heads] = np.arange(1, heads.size + 1)
    track_of = id_of_head[root]
    if merge_into:
        src = np.fromiter(merge_into.keys(), np.intp, len(merge_into))
        dst = np.fromiter(merge_into.values(), np.intp, len(merge_into))
        track_of[src] = track_of[dst]
    end = np.zeros(heads.size + 1, np.int64)
    np.maximum.at(end, track_of, frame_of)
    has_parent = parent_det[heads] >= 0
    parent = np.where(has_parent, track_of[np.where(has_parent, parent_det[heads], 0)], 0)
    lineage = pd.DataFrame({"label": np.arange(1, heads.size + 1, dtype=np.int64),
                            "begin": frame_of[heads].astype(np.int64), "end": end[1:],
                            "parent": parent.astype(np.int64)})
    out = np.zeros(arr.shape, np.uint32)
    for t in range(n_t):
        f = frames[t]
        if len(f) == 0:
            continue
        lut = np.zeros(int(f.labels[-1]) + 1, np.uint32)
        lut[f.labels] = track_of[offset[t] : offset[t + 1]]
        _apply_lut(lut, arr[t], out[t])
    return out, lineage


def _apply_lut(lut: np.ndarray, labels: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = lut[labels]``, a block of rows at a time (the index copy stays in cache: ~2x faster)."""
    step = max(1, (1 << 16) // max(1, labels[0].size if labels.ndim > 1 else 1))
    for s in range(0, labels.shape[0], step):
        np.take(lut, labels[s : s + step], out=out[s : s + step])
