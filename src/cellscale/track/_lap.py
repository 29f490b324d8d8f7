"""Sparse linear assignment with "no link" alternatives (the u-track LAP).

Linking ``n`` objects to ``m`` candidates, where each object may also end
(cost ``end[i]``) and each candidate may also start anew (cost ``start[j]``), is
a minimum-weight perfect matching on the augmented ``(n + m) x (m + n)`` matrix
of Jaqaman et al. (2008, *Nature Methods* 5:695)::

    [ C        diag(end)  ]
    [ diag(start)   C'    ]

``C`` holds the candidate link costs (sparse), ``C'`` its transpose pattern at
cost 0 (it pairs the unused "end" of an object with the unused "start" of the
candidate it links to). A link ``i -> j`` is therefore chosen over ending
``i`` and starting ``j`` only when ``C[i, j] < end[i] + start[j]``, and links
compete globally. The matching is solved with SciPy's sparse LAPJV
(:func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["solve_links"]


def solve_links(
    n: int,
    m: int,
    rows: np.ndarray,
    cols: np.ndarray,
    cost: np.ndarray,
    end: float | np.ndarray,
    start: float | np.ndarray,
) -> np.ndarray:
    """Best one-to-one links between ``n`` objects and ``m`` candidates.

    Parameters
    ----------
    n, m : int
        Numbers of objects (rows) and candidates (columns).
    rows, cols : ndarray of int, shape (k,)
        Candidate pairs; each pair at most once.
    cost : ndarray of float, shape (k,)
        Cost of each candidate link (any sign).
    end : float or ndarray, shape (n,)
        Cost of an object having no link.
    start : float or ndarray, shape (m,)
        Cost of a candidate having no link.

    Returns
    -------
    ndarray of intp, shape (n,)
        The candidate each object links to, -1 for none.

    Examples
    --------
    >>> import numpy as np
    >>> solve_links(2, 2, np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 0.5, 5.0]), 2.0, 2.0)
    array([ 1, -1])
    """
    out = np.full(n, -1, np.intp)
    rows = np.asarray(rows, np.intp)
    cols = np.asarray(cols, np.intp)
    cost = np.asarray(cost, np.float64)
    if n == 0 or m == 0 or rows.size == 0:
        return out
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    end = np.broadcast_to(np.asarray(end, np.float64), (n,))
    start = np.broadcast_to(np.asarray(start, np.float64), (m,))
    k = rows.size
    r = np.concatenate([rows, np.arange(n), n + np.arange(m), n + cols])
    c = np.concatenate([cols, m + np.arange(n), np.arange(m), m + rows])
    w = np.concatenate([cost, end, start, np.zeros(k)])
    # Every perfect matching has n + m edges, so a common offset leaves the optimum
    # unchanged; it keeps weights positive (stored zeros would be dropped as non-edges).
    w = w - w.min() + 1.0
    graph = coo_matrix((w, (r, c)), shape=(n + m, m + n)).tocsr()
    _, match = min_weight_full_bipartite_matching(graph)
    match = match[:n]
    linked = match < m
    out[linked] = match[linked]
    return out
