"""The division model of a movie: what its divisions look like, estimated from the movie itself.

How a division looks differs between cell lines, markers and microscopes:
daughters may each be 0.4-1.0 times the mother's interphase size, the mother
may round up (shrink) or stretch before she divides, sisters may be born
touching or pushed apart. A fixed model fits one of these and misses the
others, so the three size/shape terms of a division's cost
(:func:`cellscale.track._divisions.division_costs`) are Gaussians in log space
whose centres and widths are estimated per movie:

* ``size``: ``ln((A₁ + A₂) / A_m)``, the daughters' joint size relative to the
  mother's last frame;
* ``sep``: ``ln(s / D_m)``, the sisters' distance relative to the mother's
  diameter;
* ``sisters``: ``ln(A₁ / A₂)`` (centred on 0: which sister is which is arbitrary);
* ``mid``: the distance from the sisters' midpoint to where the mother was
  predicted, relative to her diameter (centred on 0; beyond the motion
  prediction's own error: sisters pushed apart, or by their neighbours, move
  on their own).

:data:`BROAD` is wide enough for all the geometries above; ``track`` first
finds divisions with it, keeps the confident ones (no cell cut by the edge of
the field, both daughters first seen in the same frame), and fits the model to
them with :func:`estimate`: medians and scaled MADs, shrunk towards
:data:`BROAD` by ``PRIOR_N`` pseudo-divisions, so that a movie with a handful
of divisions keeps most of the broad model and one with many gets its own.
The confident divisions are those the broad model already accepted, so they
are the typical ones: their spread understates the movie's, and widths are
widened by ``WIDEN`` (and never fall below ``MIN_SD``). A second pass then
tracks with the fitted model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["BROAD", "DivisionModel", "estimate"]

#: Weight of the broad model in an estimate, in divisions.
PRIOR_N = 3.0
#: Narrowest width of any term (log units): sizes and distances of real cells scatter.
MIN_SD = 0.15
#: Factor on fitted widths (confident divisions are the typical ones).
WIDEN = 1.25
_MAD = 1.4826  # MAD -> s.d. for a Gaussian


@dataclass(frozen=True)
class DivisionModel:
    """Log-normal size and spacing terms of a division's cost.

    Attributes
    ----------
    size_mean, size_sd : float
        Mean and s.d. of ``ln((A₁ + A₂) / A_m)``.
    sep_mean, sep_sd : float
        Mean and s.d. of ``ln(s / D_m)`` (sisters' distance / mother's diameter).
    sisters_sd : float
        S.d. of ``ln(A₁ / A₂)``.
    mid_sd : float
        S.d. (per axis) of the sisters' midpoint about the mother's predicted
        position, in mother diameters, beyond the motion prediction's error.
    late : float
        Fraction of divisions whose daughters are first seen a frame late (a
        frame with neither mother nor daughters).
    n : int
        Divisions the model was estimated from (0: not estimated).
    """

    size_mean: float
    size_sd: float
    sep_mean: float
    sep_sd: float
    sisters_sd: float
    mid_sd: float
    late: float = 0.0
    n: int = 0

    def reach(self) -> float:
        """How far from the mother a daughter is looked for, in mother diameters.

        Half the sisters' distance two s.d. above its mean, plus a fifth of a
        diameter (1.3 for :data:`TEXTBOOK`).
        """
        return 0.5 * float(np.exp(self.sep_mean + 2.0 * self.sep_sd)) + 0.2

    def as_dict(self) -> dict[str, float]:
        """The model as plain numbers (for ``lineage.attrs`` and config files)."""
        return {k: (int(v) if k == "n" else round(float(v), 4)) for k, v in asdict(self).items()}


#: The model of a textbook mitosis (an elongated anaphase mother, two daughters
#: that together match her, a mother's diameter apart), the fixed model of
#: cellscale before 0.x; kept for comparison and tests.
TEXTBOOK = DivisionModel(size_mean=0.0, size_sd=0.4, sep_mean=float(np.log(0.8)), sep_sd=0.5, sisters_sd=0.35,
                         mid_sd=0.15, late=0.0)

#: A model that admits every common geometry: daughters together 0.8-2.5x the
#: mother's last frame (each 0.4-1.0x her interphase size, a rounded mother
#: smaller than that), sisters 0.6-2.7 mother diameters apart, and sisters
#: up to about 2x different in size.
BROAD = DivisionModel(size_mean=0.4, size_sd=0.5, sep_mean=0.1, sep_sd=0.55, sisters_sd=0.45, mid_sd=0.18, late=0.2)


def _robust(x: np.ndarray, centre: float | None = None) -> tuple[float, float]:
    m = float(np.median(x)) if centre is None else centre
    return m, _MAD * float(np.median(np.abs(x - m)))


def estimate(size: np.ndarray, sep: np.ndarray, sisters: np.ndarray, mid: np.ndarray, *,
             late: np.ndarray | None = None, prior: DivisionModel = BROAD,
             prior_n: float = PRIOR_N) -> DivisionModel:
    """Fit a division model to confident divisions.

    Parameters
    ----------
    size, sep, sisters : ndarray, shape (k,)
        ``ln((A₁ + A₂) / A_m)``, ``ln(s / D_m)`` and ``ln(A₁ / A₂)`` of each division.
    mid : ndarray, shape (k, d)
        Offset of the sisters' midpoint from the mother's prediction, in
        mother diameters, less the motion prediction's error (as estimated).
    late : ndarray of bool, shape (k,), optional
        Whether each division's daughters were first seen a frame late.
    prior : DivisionModel
        What to shrink towards.
    prior_n : float
        Weight of the prior, in divisions.

    Returns
    -------
    DivisionModel
        ``prior`` itself (``n = 0``) when ``k = 0``.

    Examples
    --------
    >>> m = estimate(np.log([1.0, 1.1, 0.9, 1.0] * 5), np.log([0.7] * 20), np.zeros(20), np.zeros((20, 2)))
    >>> round(m.size_mean, 2), round(m.sep_mean, 2), m.n
    (0.05, -0.3, 20)
    """
    k = int(np.size(size))
    if k == 0:
        return prior
    w = k / (k + prior_n)

    def mix(x: np.ndarray, mean0: float, sd0: float, centre: float | None = None) -> tuple[float, float]:
        m, sd = _robust(np.asarray(x, np.float64), centre)
        mean = w * m + (1 - w) * mean0
        # Pooled variance: the spread of the data about the new mean, and the prior's.
        var = w * (sd**2 + (m - mean) ** 2) + (1 - w) * (sd0**2 + (mean0 - mean) ** 2)
        return mean, max(WIDEN * float(np.sqrt(var)), MIN_SD)

    size_mean, size_sd = mix(size, prior.size_mean, prior.size_sd)
    sep_mean, sep_sd = mix(sep, prior.sep_mean, prior.sep_sd)
    _, sisters_sd = mix(sisters, 0.0, prior.sisters_sd, centre=0.0)
    _, mid_sd = mix(np.asarray(mid, np.float64).ravel(), 0.0, prior.mid_sd, centre=0.0)
    late_rate = w * float(np.mean(late)) + (1 - w) * prior.late if late is not None else prior.late
    return DivisionModel(size_mean, size_sd, sep_mean, sep_sd, sisters_sd, max(mid_sd, 0.05), late_rate, n=k)
