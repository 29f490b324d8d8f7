"""Frame-to-frame linking: motion prediction, candidate links and their costs.

Costs are negative log-likelihoods (up to constants) of a link ``i -> j``:

* motion: ``|p_j - p̂_i|² / (2 σ²)`` up to ``HUBER_K = 2`` standard deviations
  and linear beyond (a Huber loss: cell motion is heavier-tailed than a
  Gaussian, and a cell 5 σ from its prediction with no other cell near is
  still itself), with ``p̂_i`` the better of two
  predictions (u-track's multiple motion models): the object moved with the
  field (``g``, the median displacement of last frame's links: stage drift),
  or it kept a fraction ``κ`` of its own last velocity relative to the field
  (``p_i + g + κ (v_i - g)``). ``σ`` (per axis) and ``κ`` are estimated from
  the links already made (robustly: ``σ² = median |r|² / median χ²_d``; ``κ``
  the regression of a displacement on the one before), so nothing is tuned
  per movie;
* size: ``ln(A_j / A_i)² / (2 · 0.3²)``, capped at ``SIZE_CAP = 3`` (a cell
  dimmed, partly hidden or under-segmented for a frame is still itself);
* a cell cut by the edge of the field (either end of the link) shows a part
  of itself that changes as it moves: its size term counts a quarter, and its
  motion variance grows by ``(CUT_SHIFT · D)²`` per axis (``CUT_SHIFT =
  0.15``, ``D`` its diameter), as the centroid of the visible part moves;
* overlap: ``-w · IoU`` (objects that overlap their previous self are
  usually it).

An object ends (and a candidate starts) at cost ``χ_max² / 4`` each, so a link
is made only when its cost is below ``χ_max² / 2``: at equal size and no
overlap, when the object is within ``reach_sds(χ_max)`` standard deviations of
where it was predicted (5 for the default ``χ_max = 4``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from cellscale.track._features import Frame, diameter
from cellscale.track._lap import solve_links

__all__ = ["Motion", "cut_variance", "link_costs", "motion_cost", "reach_sds", "size_cost"]

#: S.d. of the log size change of a cell from one frame to the next.
AREA_SIGMA = 0.3
#: Motion errors beyond this many standard deviations cost linearly, not
#: quadratically (a Huber loss): cell motion has heavier tails than a Gaussian.
HUBER_K = 2.0
#: Largest size term of a link: a cell partly hidden by a neighbour, or cut by
#: the segmentation, changes apparent size without becoming another cell.
SIZE_CAP = 3.0
#: Centroid shift of a cell cut by the edge of the field, per axis, in diameters
#: (see :func:`cut_variance`).
CUT_SHIFT = 0.15
_CHI2_MEDIAN = {1: 0.455, 2: 1.386, 3: 2.366}


@dataclass
class Motion:
    """Running estimates of the motion statistics of a movie.

    Attributes
    ----------
    sigma : float or None
        Per-axis standard deviation of a link's prediction error, pixels.
    drift : ndarray, shape (d,)
        Median displacement of last frame's links (the field's motion).
    kappa : float
        Fraction of an object's own velocity (relative to the field) that it
        keeps from one frame to the next, in [0, 1].
    spread : float
        Per-axis standard deviation of displacements relative to the field:
        the extra uncertainty for an object whose velocity is not yet known.
    prior, prior_n : float
        Prior guess of ``sigma`` and ``spread`` (pixels) and its weight in
        links: estimates from a handful of cells lean on it, those from many
        cells do not.
    """

    ndim: int
    prior: float = 1.0
    prior_n: float = 5.0
    sigma: float | None = None
    spread: float = 0.0
    drift: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kappa: float = 0.0
    _sxy: float = 0.0
    _sxx: float = 0.0
    _n_sigma: float = 0.0
    _s2: float = 0.0
    _v2: float = 0.0

    def __post_init__(self) -> None:
        if self.drift.size == 0:
            self.drift = np.zeros(self.ndim)

    def predict(self, frame: Frame, velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions at the next frame under the two motion models (field, persistent)."""
        still = frame.pos + self.drift
        moving = still + self.kappa * np.where(np.isnan(velocity), 0.0, velocity - self.drift)
        return still, moving

    def update(self, disp: np.ndarray, residual: np.ndarray, prev_disp: np.ndarray) -> None:
        """Fold in the links of one frame pair.

        Parameters
        ----------
        disp : ndarray, shape (k, d)
            Displacements of the links made.
        residual : ndarray, shape (k, d)
            Their prediction errors.
        prev_disp : ndarray, shape (k, d)
            The displacement of the same objects one frame earlier (NaN where unknown).
        """
        if disp.shape[0] >= 1:
            drift = np.median(disp, axis=0)
            ok = ~np.isnan(prev_disp).any(axis=1)
            if ok.sum() >= 3:
                u, w = disp[ok] - drift, prev_disp[ok] - self.drift
                self._sxy = 0.7 * self._sxy + float(np.sum(u * w))
                self._sxx = 0.7 * self._sxx + float(np.sum(w * w))
                self.kappa = float(np.clip(self._sxy / self._sxx, 0.0, 1.0)) if self._sxx > 0 else 0.0
            chi = _CHI2_MEDIAN.get(self.ndim, self.ndim)
            # Mean, not median: fast cells are the ones this spread is for.
            rel = float(np.mean(np.sum((disp - drift) ** 2, axis=1))) / self.ndim
            s2 = float(np.median(np.sum(residual**2, axis=1))) / chi
            n = float(disp.shape[0])
            w_old = 0.8 * self._n_sigma  # older frames count less, frame by frame
            self._n_sigma = w_old + n
            self._s2 = (w_old * self._s2 + n * s2) / self._n_sigma
            self._v2 = (w_old * self._v2 + n * rel) / self._n_sigma
            self.drift = drift
            # A few links say little: shrink towards the prior (``prior_n`` pseudo-links).
            w, p2 = self._n_sigma, self.prior**2
            self.sigma = float(np.sqrt((w * self._s2 + self.prior_n * p2) / (w + self.prior_n)))
            self.spread = float(np.sqrt((w * self._v2 + self.prior_n * p2) / (w + self.prior_n)))
        self.sigma = max(float(self.sigma or self.prior), 0.05)

    def initial_sigma(self, a: Frame, b: Frame) -> float:
        """A first ``σ`` from nearest-neighbour distances between two frames."""
        if len(a) == 0 or len(b) == 0:
            return 1.0
        d, _ = cKDTree(b.pos).query(a.pos)
        return max(float(np.sqrt(np.median(d**2) / _CHI2_MEDIAN.get(self.ndim, self.ndim))), 0.3)


def motion_cost(d2: np.ndarray, var: np.ndarray | float) -> np.ndarray:
    """Cost of a prediction error of squared length ``d2`` at per-axis variance ``var``.

    ``d² / (2 var)`` up to ``HUBER_K`` standard deviations, linear beyond.
    """
    z = np.sqrt(np.asarray(d2, np.float64) / var)
    return np.where(z <= HUBER_K, 0.5 * z**2, HUBER_K * z - 0.5 * HUBER_K**2)


def cut_variance(area_a: np.ndarray, area_b: np.ndarray, cut: np.ndarray, ndim: int) -> np.ndarray:
    """Per-axis variance added to the motion of a cell cut by the edge of the field.

    What is seen of a cut cell changes as it moves across the edge, and the
    centroid of the visible part moves with it. The s.d. is ``CUT_SHIFT · D``,
    ``D`` the diameter of the larger view, and 0 for cells that are not cut.
    """
    sd = CUT_SHIFT * diameter(np.maximum(area_a, area_b), ndim)
    return np.where(cut, sd**2, 0.0)


def reach_sds(chi_max: float) -> float:
    """Standard deviations at which the motion cost alone reaches the link threshold ``chi_max² / 2``."""
    c = 0.5 * chi_max**2
    return chi_max if c <= 0.5 * HUBER_K**2 else (c + 0.5 * HUBER_K**2) / HUBER_K


def size_cost(area_a: np.ndarray, area_b: np.ndarray, cut: np.ndarray | bool = False) -> np.ndarray:
    """Cost of a change in size, ``ln(A_b / A_a)² / (2 · 0.3²)`` (a quarter of it for cells cut by
    the edge of the field), capped at ``SIZE_CAP``."""
    q = np.where(cut, 0.25, 1.0) * np.log(area_b / area_a) ** 2 / (2.0 * AREA_SIGMA**2)
    return np.minimum(q, SIZE_CAP)


def _pairs_within(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tree_a, tree_b = cKDTree(a), cKDTree(b)
    rec = tree_a.sparse_distance_matrix(tree_b, radius, output_type="ndarray")
    return rec["i"].astype(np.intp), rec["j"].astype(np.intp), rec["v"].astype(np.float64)


def link_costs(
    a: Frame,
    b: Frame,
    velocity: np.ndarray,
    motion: Motion,
    *,
    radius: float,
    overlap: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    overlap_weight: float,
    intensity_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate links between two frames and their costs.

    Parameters
    ----------
    a, b : Frame
        Objects at frames ``t`` and ``t + 1``.
    velocity : ndarray, shape (len(a), d)
        Last displacement of each object of ``a`` (NaN for new objects).
    motion : Motion
        Current motion statistics (``sigma`` set).
    radius : float
        Largest distance from a prediction to a candidate, pixels.
    overlap : (i, j, iou), optional
        Overlapping pairs (always candidates, whatever their distance).
    overlap_weight, intensity_weight : float
        Weights of the IoU bonus and of the intensity-ratio term.

    Returns
    -------
    i, j : ndarray of intp
        Candidate pairs (unique).
    cost : ndarray of float
        Link costs.
    residual : ndarray, shape (k, d)
        Prediction error of each candidate under its better motion model.
    """
    still, moving = motion.predict(a, velocity)
    # One search from both predictions (the second only where it differs).
    other = np.flatnonzero((moving != still).any(axis=1))
    i, j, _ = _pairs_within(np.concatenate([still, moving[other]]), b.pos, radius)
    if other.size:
        i = np.where(i < len(a), i, other[np.clip(i - len(a), 0, other.size - 1)])
    parts = [(i, j, None)]
    if overlap is not None and overlap[0].size:
        parts.append((overlap[0], overlap[1], np.full(overlap[0].size, np.inf)))
    i = np.concatenate([p[0] for p in parts])
    j = np.concatenate([p[1] for p in parts])
    if i.size == 0:
        z = np.zeros(0, np.intp)
        return z, z, np.zeros(0), np.zeros((0, a.pos.shape[1]))
    key = np.unique(i.astype(np.int64) * max(len(b), 1) + j)
    i, j = (key // max(len(b), 1)).astype(np.intp), (key % max(len(b), 1)).astype(np.intp)
    r_still = b.pos[j] - still[i]
    r_moving = b.pos[j] - moving[i]
    d_still, d_moving = np.sum(r_still**2, axis=1), np.sum(r_moving**2, axis=1)
    use_moving = d_moving < d_still
    residual = np.where(use_moving[:, None], r_moving, r_still)
    d2 = np.minimum(d_still, d_moving)
    sigma = float(motion.sigma or 1.0)
    # An object whose velocity is unknown (new, or a daughter) may move like any
    # cell: its prediction error adds the spread of velocities (Gaussian NLL,
    # with the normalising log term so that wider is not free).
    new = np.isnan(velocity[i]).any(axis=1)
    var = np.where(new, sigma**2 + motion.spread**2, sigma**2)
    cost = 0.5 * a.pos.shape[1] * np.log(var / sigma**2)
    # A cell cut by the edge of the field changes size as it enters or leaves,
    # and the centroid of what is seen of it moves.
    cut = a.border[i] | b.border[j] if a.border is not None and b.border is not None else np.zeros(i.size, bool)
    if cut.any():
        var = var + cut_variance(a.area[i], b.area[j], cut, a.pos.shape[1])
    cost += motion_cost(d2, var)
    cost += size_cost(a.area[i], b.area[j], cut)
    if a.intensity is not None and b.intensity is not None and intensity_weight > 0:
        ratio = np.maximum(b.intensity[j], 1e-9) / np.maximum(a.intensity[i], 1e-9)
        cost += intensity_weight * np.log(ratio) ** 2 / (2.0 * AREA_SIGMA**2)
    if overlap is not None and overlap[0].size and overlap_weight:
        iou = np.zeros(key.size)
        iou[np.searchsorted(key, overlap[0].astype(np.int64) * max(len(b), 1) + overlap[1])] = overlap[2]
        cost -= overlap_weight * iou
    return i, j, cost, residual


def link_pair(
    a: Frame,
    b: Frame,
    velocity: np.ndarray,
    motion: Motion,
    *,
    radius: float,
    chi_max: float,
    overlap: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    overlap_weight: float,
    intensity_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Link frame ``t`` to ``t + 1``.

    Returns
    -------
    nxt : ndarray of intp, shape (len(a),)
        Index in ``b`` each object of ``a`` links to, -1 for none.
    residual : ndarray, shape (len(a), d)
        Prediction error of each link (NaN where none).
    """
    i, j, cost, res = link_costs(a, b, velocity, motion, radius=radius, overlap=overlap,
                                 overlap_weight=overlap_weight, intensity_weight=intensity_weight)
    alt = chi_max**2 / 4.0
    nxt = solve_links(len(a), len(b), i, j, cost, alt, alt)
    residual = np.full(a.pos.shape, np.nan)
    if i.size:
        chosen = nxt[i] == j
        residual[i[chosen]] = res[chosen]
    return nxt, residual
