"""Per-image, per-channel percentile normalisation, as a model card prescribes."""

from __future__ import annotations

import math

import numpy as np

from cellscale.errors import InvalidArgumentError

__all__ = ["apply_ranges", "normalise", "percentile_range"]

#: Percentiles of larger channels are taken on a regular subsample of about this many pixels.
MAX_SAMPLES = 1 << 21


def percentile_range(
    channel: np.ndarray, *, low: float = 1.0, high: float = 99.8, max_samples: int = MAX_SAMPLES,
) -> tuple[float, float]:
    """The values at the ``low`` and ``high`` percentiles of one channel.

    Parameters
    ----------
    channel : ndarray, shape (y, x)
        Finite pixel values.
    low, high : float
        Percentiles in [0, 100], ``low < high``.
    max_samples : int
        Channels with more pixels are subsampled on a regular grid (every
        ``s``-th row and column) to about this many pixels; the result is
        deterministic. Default 2**21.

    Returns
    -------
    (float, float)
        ``(lo, hi)`` with ``lo <= hi``. When the ``high`` percentile equals the
        ``low`` one (a mostly flat channel with a few bright pixels), ``hi`` is
        the channel's maximum instead; ``lo == hi`` only for a constant channel.
    """
    if not 0.0 <= low < high <= 100.0:
        raise InvalidArgumentError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
    arr = np.asarray(channel)
    stride = max(1, math.ceil(math.sqrt(arr.size / max_samples)))
    sample = arr[::stride, ::stride] if arr.ndim == 2 else arr.reshape(-1)[:: stride * stride]
    lo, hi = np.percentile(sample, [low, high])
    if hi <= lo:
        hi = sample.max()
    if hi <= lo:
        hi = arr.max()
    return float(lo), float(max(hi, lo))


def normalise(
    data: np.ndarray, *, low: float = 1.0, high: float = 99.8, max_samples: int = MAX_SAMPLES,
) -> np.ndarray:
    """Map each channel's ``low`` percentile to 0 and ``high`` percentile to 1.

    Values are not clipped (a bright nucleus may exceed 1). A constant channel
    becomes all zeros.

    Parameters
    ----------
    data : ndarray, shape (c, y, x)
        Finite pixel values of any real dtype.
    low, high : float
        Percentiles, as in a model card's ``inputs.normalisation``.
    max_samples : int
        See :func:`percentile_range`.

    Returns
    -------
    ndarray of float32, shape (c, y, x)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(100, dtype=np.uint16).reshape(1, 10, 10)
    >>> y = normalise(x, low=0, high=100)
    >>> float(y.min()), float(y.max())
    (0.0, 1.0)
    """
    ranges = [percentile_range(data[c], low=low, high=high, max_samples=max_samples)
              for c in range(data.shape[0])]
    return apply_ranges(data, ranges)


def apply_ranges(data: np.ndarray, ranges: list[tuple[float, float]]) -> np.ndarray:
    """Map each channel's ``(lo, hi)`` to ``(0, 1)``; a channel with ``hi <= lo`` becomes 0.

    What :func:`normalise` does with percentile ranges; use it directly to
    normalise pieces of a large image with ranges taken from the whole image.

    Parameters
    ----------
    data : ndarray, shape (c, y, x)
        Pixel values.
    ranges : list of (float, float)
        One ``(lo, hi)`` per channel.

    Returns
    -------
    ndarray of float32, shape (c, y, x)
        A new array.
    """
    out = np.array(data, dtype=np.float32)  # always a copy
    for c, (lo, hi) in enumerate(ranges):
        if hi > lo:
            out[c] -= np.float32(lo)
            out[c] *= np.float32(1.0 / (hi - lo))
        else:
            out[c] = 0.0
    return out
