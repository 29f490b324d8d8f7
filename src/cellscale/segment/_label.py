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
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

__all__ = ["label"]

_SKIMAGE: Callable[[np.ndarray], np.ndarray] | None = None


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
