"""Optimal one-to-one matching of objects whose IoU reaches a threshold."""

from __future__ import annotations

import numpy as np


def match_at(
    pair_true: np.ndarray,
    pair_pred: np.ndarray,
    iou: np.ndarray,
    threshold: float,
    n_true: int,
    n_pred: int,
) -> np.ndarray:
    """Return the indices of the candidate pairs matched at ``threshold``.

    Among the pairs with ``iou >= threshold`` the matching is one-to-one and
    has the largest possible number of pairs; among matchings of that size it
    has the largest total IoU.

    Pairs whose true and pred object have no other candidate are matched
    directly. For ``threshold > 0.5`` that is every pair: ``IoU(a, b) > 0.5``
    means ``|a & b| > |a | b| / 2 >= |b| / 2``, so ``b`` shares more than half
    of its pixels with ``a`` and cannot do so with another disjoint object.
    At exactly ``0.5`` two partners are possible only when both IoUs equal
    0.5 exactly; such ties, and everything below 0.5, go to the optimal
    assignment of :func:`_optimal`.
    """
    candidates = np.flatnonzero(iou >= threshold)
    if candidates.size == 0:
        return candidates
    ct = pair_true[candidates]
    cp = pair_pred[candidates]
    lonely = (np.bincount(ct, minlength=n_true)[ct] == 1) & (
        np.bincount(cp, minlength=n_pred)[cp] == 1
    )
    if lonely.all():
        return candidates
    rest = candidates[~lonely]
    chosen = _optimal(pair_true[rest], pair_pred[rest], iou[rest])
    return np.sort(np.concatenate((candidates[lonely], rest[chosen])))


def _optimal(pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """Maximum-cardinality, then maximum-IoU, matching of a sparse bipartite graph.

    The rectangular problem is made square so that a perfect matching always
    exists (the standard reduction): rows are the ``a`` true objects followed
    by one "unmatched" row per pred object; columns are the ``b`` pred objects
    followed by one "unmatched" column per true object.

    - true ``i`` -> pred ``j``: ``1 + (1 - iou) / (k + 1)`` with ``k = min(a, b)``
    - true ``i`` -> its own unmatched column: ``2``
    - pred ``j``'s unmatched row -> pred ``j``: ``2``
    - pred ``j``'s unmatched row -> true ``i``'s unmatched column, for every edge
      ``(i, j)``: ``1``

    A matching of ``m`` real pairs then costs ``2 (a + b) - 2 m + sum(d)`` with
    ``d = (1 - iou) / (k + 1)`` and ``sum(d) < 1``, so more pairs always win and
    ties go to the larger total IoU. All costs are positive, so no edge is lost
    as an explicit zero. Returns indices into the given pair arrays.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    true_nodes, ti = np.unique(pair_true, return_inverse=True)
    pred_nodes, pj = np.unique(pair_pred, return_inverse=True)
    a, b = true_nodes.size, pred_nodes.size
    k = min(a, b)
    ar_a, ar_b = np.arange(a), np.arange(b)
    rows = np.concatenate((ti, ar_a, a + ar_b, a + pj))
    cols = np.concatenate((pj, b + ar_a, ar_b, b + ti))
    cost = np.concatenate(
        (1.0 + (1.0 - iou) / (k + 1), np.full(a + b, 2.0), np.ones(iou.size))
    )
    graph = coo_matrix((cost, (rows, cols)), shape=(a + b, a + b)).tocsr()
    row_of, col_of = min_weight_full_bipartite_matching(graph)
    real = (row_of < a) & (col_of < b)
    matched_t, matched_p = row_of[real], col_of[real]
    # Map each chosen (true, pred) node pair back to its index in the edge list.
    edge_key = ti.astype(np.int64) * b + pj
    order = np.argsort(edge_key)
    return order[np.searchsorted(edge_key[order], matched_t.astype(np.int64) * b + matched_p)]
