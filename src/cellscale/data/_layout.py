"""Where cells go: random sequential placement of discs with soft contacts.

Cells are placed tile by tile (tiles of a fixed size, independent of how the
image is later rendered), so placing millions of cells for a 20,000² image
needs memory for one tile's candidates plus the positions table. Within a tile,
candidate centres are ordered by a random key weighted by a smooth density field
(colonies, islands) and accepted greedily in that order unless they overlap an
accepted disc by more than ``overlap`` (a fraction of the sum of radii); the
greedy pass is vectorised (Luby rounds with fixed priorities give exactly the
sequential result). Accepted cells of earlier tiles constrain later tiles, so
there are no seams.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["greedy_independent_set", "place_discs"]

#: Side of the placement tiles, pixels. Fixed so that a layout does not depend
#: on the chunking used to render it.
LAYOUT_TILE = 1024


def greedy_independent_set(priority: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Accept items in increasing ``priority`` unless they conflict with an accepted one.

    Parameters
    ----------
    priority : numpy.ndarray of float, shape (n,)
        Distinct priorities; lower goes first.
    pairs : numpy.ndarray of int, shape (m, 2)
        Conflicting pairs.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        The accepted items: the same set a sequential greedy pass would accept.
    """
    n = priority.size
    state = np.zeros(n, np.int8)  # 0 undecided, 1 accepted, -1 rejected
    a, b = pairs[:, 0], pairs[:, 1]
    while True:
        und = state == 0
        if not und.any():
            break
        live = und[a] & und[b]
        a, b = a[live], b[live]
        best = np.full(n, np.inf)
        np.minimum.at(best, a, priority[b])
        np.minimum.at(best, b, priority[a])
        win = und & (priority < best)
        state[win] = 1
        lose = np.zeros(n, bool)
        lose[a[win[b]]] = True
        lose[b[win[a]]] = True
        state[lose & und & ~win] = -1
    return state == 1


def place_discs(
    shape: Sequence[int],
    *,
    seed: int,
    count_per_pixel: Callable[[np.ndarray, np.ndarray], np.ndarray],
    draw_attributes: Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray],
    overlap: float = 0.1,
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    oversample: float = 3.0,
    tile: int = LAYOUT_TILE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place discs in an image plane by random sequential addition.

    Parameters
    ----------
    shape : (int, int)
        Plane size, pixels.
    seed : int
        Seed; the layout is a function of the arguments only.
    count_per_pixel : callable (y, x) -> array
        Target number of discs per pixel at full-image coordinates (arrays of
        equal shape, result >= 0); integrated per tile on a coarse grid to set
        the tile's target count, and used to thin the candidates so they follow
        it (no discs where it is 0).
    draw_attributes : callable (rng, y, x) -> array of shape (n,) or (n, k)
        Draws the radii (pixels) of candidates at ``y, x`` (arrays of n), or an
        array whose first column is the radius and whose other columns are
        carried along (e.g. a cell type chosen from the position).
    overlap : float
        Two discs conflict when closer than ``(r_i + r_j) * (1 - overlap)``;
        0 gives non-overlapping discs, 0.2 crowded, touching ones. Default 0.1.
    weight : callable (y, x) -> array, optional
        Relative preference for a position (> 0); candidates in heavier places
        are tried first, which concentrates discs in clusters.
    oversample : float
        Candidates per target disc. Default 3.
    tile : int
        Side of the placement tiles, pixels.

    Returns
    -------
    y, x : numpy.ndarray of float64, shape (n,)
        Accepted centres (full-image pixel coordinates), in tile raster order
        and, within a tile, in acceptance order.
    attributes : numpy.ndarray, shape (n,) or (n, k)
        What ``draw_attributes`` drew for the accepted discs.
    """
    h, w = int(shape[0]), int(shape[1])
    done: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    r_max_seen = 0.0
    n_ty, n_tx = -(-h // tile), -(-w // tile)
    for ty in range(n_ty):
        for tx in range(n_tx):
            y0, x0 = ty * tile, tx * tile
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x1A7, ty, tx])
            gy, gx = np.meshgrid(
                np.linspace(y0, y1 - 1, 16), np.linspace(x0, x1 - 1, 16), indexing="ij"
            )
            c_grid = np.asarray(count_per_pixel(gy, gx), float)
            target = float(np.mean(c_grid)) * (y1 - y0) * (x1 - x0)
            n_target = int(rng.poisson(max(target, 0.0)))
            if n_target == 0:
                continue
            fill = max(float(c_grid.mean()) / max(float(c_grid.max()), 1e-12), 0.02)
            m = int(np.ceil(n_target * oversample / fill)) + 8
            cy = rng.uniform(y0, y1, m)
            cx = rng.uniform(x0, x1, m)
            c_here = np.asarray(count_per_pixel(cy, cx), float)
            keep = rng.random(m) * max(float(c_here.max()), 1e-12) < c_here
            cy, cx = cy[keep], cx[keep]
            m = cy.size
            if m == 0:
                continue
            attr = np.asarray(draw_attributes(rng, cy, cx), float)
            cr = attr if attr.ndim == 1 else attr[:, 0]
            key = rng.exponential(1.0, m)
            if weight is not None:
                key = key / np.maximum(np.asarray(weight(cy, cx), float), 1e-9)
            reach = (r_max_seen + float(cr.max())) * (1 - overlap)
            # Candidates that conflict with discs accepted in earlier (neighbouring) tiles.
            prev = [
                done[k]
                for k in ((ty - 1, tx - 1), (ty - 1, tx), (ty - 1, tx + 1), (ty, tx - 1))
                if k in done
            ]
            if prev:
                py, px, pr = (np.concatenate(v) for v in list(zip(*prev, strict=True))[:3])
                if py.size:
                    near = cKDTree(np.column_stack([cy, cx])).sparse_distance_matrix(
                        cKDTree(np.column_stack([py, px])), reach, output_type="ndarray"
                    )
                    i, j = near["i"], near["j"]
                    bad = near["v"] < (cr[i] + pr[j]) * (1 - overlap)
                    ok = np.ones(m, bool)
                    ok[i[bad]] = False
                    cy, cx, cr, key, attr = cy[ok], cx[ok], cr[ok], key[ok], attr[ok]
            if cy.size == 0:
                continue
            tree = cKDTree(np.column_stack([cy, cx]))
            pairs = tree.query_pairs(2.0 * float(cr.max()) * (1 - overlap), output_type="ndarray")
            if pairs.size:
                d = np.hypot(cy[pairs[:, 0]] - cy[pairs[:, 1]], cx[pairs[:, 0]] - cx[pairs[:, 1]])
                pairs = pairs[d < (cr[pairs[:, 0]] + cr[pairs[:, 1]]) * (1 - overlap)]
            accepted = greedy_independent_set(key, pairs.reshape(-1, 2))
            idx = np.flatnonzero(accepted)
            idx = idx[np.argsort(key[idx], kind="stable")][:n_target]
            done[(ty, tx)] = (cy[idx], cx[idx], cr[idx], attr[idx])
            r_max_seen = max(r_max_seen, float(cr[idx].max()) if idx.size else 0.0)
    if not done:
        empty = np.zeros(0)
        return (
            empty,
            empty,
            np.asarray(draw_attributes(np.random.default_rng(0), empty, empty), float),
        )
    y, x, _, attrs = (np.concatenate(v) for v in zip(*done.values(), strict=True))
    return y, x, attrs
