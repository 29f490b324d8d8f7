"""Relations between objects: nuclei matched to cells, touching neighbours, spots per cell.

All vectorised over the label image (no loop over objects).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["channel_sums", "count_spots", "match_nuclei", "touching_pairs"]


def channel_sums(pixels: np.ndarray, labels: np.ndarray, n: int,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """Sum of each channel over each object; shape (n, c).

    ``mask`` (y, x), if given, restricts the sums to the pixels where it is True.
    """
    flat = labels.ravel() if mask is None else labels[mask]
    out = np.empty((n, pixels.shape[0]))
    for c, channel in enumerate(pixels):
        values = channel.ravel() if mask is None else channel[mask]
        out[:, c] = np.bincount(flat, values.astype(np.float64, copy=False), minlength=n + 1)[1:]
    return out


def match_nuclei(cells: np.ndarray, nuclei: np.ndarray, n_cells: int, n_nuclei: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Match each nucleus to the cell holding most of its pixels (more than half of them).

    A cell that holds the majority of several nuclei keeps the one with the largest
    overlap (ties: the lower id). Labels are compact (1..n).

    Returns
    -------
    cell_of_nucleus : numpy.ndarray, shape (n_nuclei,)
        Compact cell id of each nucleus' match, 0 when it has none.
    nucleus_of_cell : numpy.ndarray, shape (n_cells,)
        Compact nucleus id matched to each cell, 0 when it has none.
    """
    nuc = nuclei.ravel()
    inside = nuc > 0
    nuc, cel = nuc[inside], cells.ravel()[inside].astype(np.float64)
    area = np.bincount(nuc, minlength=n_nuclei + 1).astype(np.float64)
    safe = np.maximum(area, 1)
    mean = np.bincount(nuc, cel, minlength=n_nuclei + 1) / safe
    # a nucleus lying in one cell (or all in background) has zero spread; the mean is then
    # exactly that cell's id (an integer sum divided by its count)
    spread = np.bincount(nuc, (cel - mean[nuc]) ** 2, minlength=n_nuclei + 1)
    cell_of = np.where(spread == 0, mean, 0).astype(np.int64)
    overlap = np.where(spread == 0, np.where(cell_of > 0, area, 0), 0)
    mixed = np.flatnonzero(spread > 0)
    if mixed.size:
        pick = np.isin(nuc, mixed) & (cel > 0)
        key = nuc[pick].astype(np.int64) * (n_cells + 1) + cel[pick].astype(np.int64)
        pairs, counts = np.unique(key, return_counts=True)
        pn, pc = np.divmod(pairs, n_cells + 1)
        order = np.lexsort((pc, -counts, pn))  # per nucleus: largest overlap first
        pn, pc, counts = pn[order], pc[order], counts[order]
        first = np.ones(pn.size, dtype=bool)
        first[1:] = pn[1:] != pn[:-1]
        cell_of[pn[first]] = pc[first]
        overlap[pn[first]] = counts[first]
    majority = overlap * 2 > area
    cell_of = np.where(majority, cell_of, 0)
    # one nucleus per cell: the largest overlap wins
    candidates = np.flatnonzero(cell_of > 0)
    order = np.lexsort((candidates, -overlap[candidates], cell_of[candidates]))
    candidates = candidates[order]
    owners = cell_of[candidates]
    first = np.ones(candidates.size, dtype=bool)
    first[1:] = owners[1:] != owners[:-1]
    nucleus_of = np.zeros(n_cells + 1, dtype=np.int64)
    nucleus_of[owners[first]] = candidates[first]
    cell_of[candidates[~first]] = 0
    return cell_of[1:], nucleus_of[1:]


def touching_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs of objects that touch (8-connected: sides or corners), each once.

    Returns
    -------
    numpy.ndarray, shape (n_pairs, 2)
        Compact ids ``(a, b)`` with ``a < b``.
    """
    found = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :]),
                 (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])):
        edge = (a != b) & (a > 0) & (b > 0)
        pa, pb = a[edge].astype(np.int64), b[edge].astype(np.int64)
        found.append(np.minimum(pa, pb) << 32 | np.maximum(pa, pb))
    keys = np.unique(np.concatenate(found))
    return np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1)


def count_spots(labels: np.ndarray, n: int, y: np.ndarray, x: np.ndarray,
                gene: np.ndarray | None) -> tuple[np.ndarray, Any, int]:
    """Spots per object, in total and per gene.

    Spots are assigned by the pixel they fall in (coordinates rounded); spots
    outside the image or on background count for no object.

    Returns
    -------
    total : numpy.ndarray, shape (n,)
    per_gene : pandas.DataFrame (n, n_genes) or None
    outside : int
        Spots that fell on background or outside the image.
    """
    import pandas as pd

    yi, xi = np.rint(y).astype(np.int64), np.rint(x).astype(np.int64)
    ok = (yi >= 0) & (yi < labels.shape[0]) & (xi >= 0) & (xi < labels.shape[1])
    owner = np.zeros(yi.size, dtype=np.int64)
    owner[ok] = labels[yi[ok], xi[ok]]
    total = np.bincount(owner, minlength=n + 1)[1:]
    outside = int(np.count_nonzero(owner == 0))
    if gene is None:
        return total, None, outside
    genes, code = np.unique(gene, return_inverse=True)
    table = np.bincount(owner * genes.size + code, minlength=(n + 1) * genes.size)
    frame = pd.DataFrame(table.reshape(n + 1, genes.size)[1:], columns=[str(g) for g in genes])
    return total, frame, outside
