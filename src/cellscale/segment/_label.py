"""Connected-component labelling without importing :mod:`scipy.ndimage`.

Post-processing labels a few binary masks per image, and nothing else it does
needs SciPy. ``import scipy.ndimage`` costs about 0.45 s (SciPy 1.17 builds
its array-API wrappers, parsing 169 docstrings, at import), a fifth of the
whole ``cellscale segment`` command on a 2048² image. scikit-image's compiled
labeller (``skimage.measure._ccomp``, what :func:`skimage.measure.label`
calls) imports in milliseconds and numbers components in the same raster
order as :func:`scipy.ndimage.label`, but runs about half as fast (40 vs 20
ms on a 2048² mask). So :func:`label` uses SciPy's when ``scipy.ndimage`` is
already imported (a long-running process, the engine, a notebook: no import
to pay), else scikit-image's; the labels are the same either way. The
scikit-image module is private, so when it is missing or changes signature
:func:`label` falls back to SciPy.

Masks of nuclei are sparse (a few to 20 % of the pixels): for them
:func:`label` works on runs, the horizontal stretches of mask pixels in each
row, with NumPy alone. Runs of consecutive rows that overlap are joined
(union-find by index: hooking to the smaller root, then pointer jumping), and
components are numbered by their first run, i.e. in the same raster order.
On the masks of a 2048² nuclei image (2-6 % foreground) that takes 8-11 ms,
against 43-46 ms for scikit-image's labeller; flooding labels five such masks
per image. Denser masks (tissue) go to the compiled labellers, which are
faster there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

__all__ = ["RUNS_BELOW", "label", "label_runs"]

_SKIMAGE: Callable[[np.ndarray], np.ndarray] | None = None

#: Masks with a smaller fraction of foreground pixels are labelled by runs.
RUNS_BELOW = 0.2


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a 2-D boolean mask, numbered 1 .. n in raster order.

    Parameters
    ----------
    mask : ndarray of bool, shape (y, x)

    Returns
    -------
    labels : ndarray of int, shape (y, x)
        0 outside the mask.
    n : int
        Number of components.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[1, 1, 0, 1], [0, 0, 0, 1], [1, 0, 1, 0]], bool)
    >>> lab, n = label(m)
    >>> n, lab.tolist()
    (4, [[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 4, 0]])
    """
    global _SKIMAGE
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.ndim == 2 and np.count_nonzero(mask) < RUNS_BELOW * mask.size:
        return label_runs(mask)
    if "scipy.ndimage" not in sys.modules:
        if _SKIMAGE is None:
            _SKIMAGE = _skimage_labeller()
        if _SKIMAGE is not None:
            labels = _SKIMAGE(mask)
            return labels, int(labels.max()) if labels.size else 0
    from scipy import ndimage as ndi

    labels, n = ndi.label(mask)
    return labels, int(n)


def _skimage_labeller() -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        from skimage.measure._ccomp import label_cython

        probe = np.array([[1, 0, 1], [1, 1, 0]], bool)
        if label_cython(probe, background=0, connectivity=1).tolist() == [[1, 0, 2], [1, 1, 0]]:
            return lambda m: label_cython(m, background=0, connectivity=1)
    except (ImportError, TypeError, ValueError, AttributeError):  # pragma: no cover - old/new skimage
        pass
    return None  # pragma: no cover


def label_runs(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`label` computed from the mask's runs (fast for sparse masks).

    Parameters
    ----------
    mask : ndarray of bool, shape (y, x)

    Returns
    -------
    labels : ndarray of int32, shape (y, x)
        0 outside the mask, components 1 .. n in raster order.
    n : int
        Number of components.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[1, 1, 0, 1], [0, 1, 0, 1], [1, 1, 0, 0]], bool)
    >>> lab, n = label_runs(m)
    >>> n, lab.tolist()
    (2, [[1, 1, 0, 2], [0, 1, 0, 2], [1, 1, 0, 0]])
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    h, w = mask.shape
    out = np.zeros(h * w, np.int32)
    # One False column after each row, so that no run continues into the next row.
    stride = w + 1
    padded = np.zeros((h, stride), bool)
    padded[:, :w] = mask
    flat = padded.reshape(-1)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if flat.size and flat[0]:
        edges = np.concatenate(([0], edges))
    starts, ends = edges[0::2], edges[1::2]  # [start, end) of each run, in ``flat``
    n = starts.size
    if n == 0:
        return out.reshape(h, w), 0
    # The runs of the next row that overlap run i (4-connected): next[lo[i]:hi[i]].
    lo = np.searchsorted(ends, starts + stride, side="right")
    hi = np.searchsorted(starts, ends + stride, side="left")
    count = np.maximum(hi - lo, 0)
    first = np.repeat(np.arange(n), count)
    second = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    root = np.arange(n)
    while True:
        a, b = root[first], root[second]
        small, large = np.minimum(a, b), np.maximum(a, b)
        joined = small != large
        if not joined.any():
            break
        np.minimum.at(root, large[joined], small[joined])
        while True:  # point every run at its root
            up = root[root]
            if np.array_equal(up, root):
                break
            root = up
    # A component's root is its first run in raster order.
    number = np.cumsum(root == np.arange(n), dtype=np.int32)
    lengths = ends - starts
    rows = starts // stride
    offset = np.repeat(starts - rows - np.cumsum(lengths) + lengths, lengths)
    out[offset + np.arange(int(lengths.sum()))] = np.repeat(number[root], lengths)
    return out.reshape(h, w), int(number[-1])
