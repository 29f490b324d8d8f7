"""Codebooks for multiplexed FISH: binary barcodes over imaging rounds and colours.

A barcode has one bit per (round, colour) image, ``rounds * colours`` bits in
round-major order (bit ``r * colours + c`` is colour ``c`` of round ``r``). A
molecule of a gene lights up in exactly the images whose bit is 1. As in
MERFISH, every barcode has the same number of 1 bits (constant Hamming weight,
so brightness does not hint at the gene) and any two differ in at least
``min_distance`` bits, so that ``min_distance - 1`` read errors are detected and
``(min_distance - 1) // 2`` corrected. Blank barcodes (valid words given to no
gene) measure the false-positive rate of a decoder.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd

from cellscale.errors import InvalidArgumentError

__all__ = ["BLANK_PREFIX", "bit_names", "codebook_bits", "hamming_distances", "make_codebook"]

#: Names of blank barcodes start with this prefix (``"Blank-01"``, ...).
BLANK_PREFIX = "Blank-"

_MAX_WORDS = 200_000


def bit_names(rounds: int, colours: int) -> list[str]:
    """Column names of a codebook table: ``r{round}c{colour}``, round-major."""
    return [f"r{r}c{c}" for r in range(rounds) for c in range(colours)]


def make_codebook(
    genes: list[str],
    *,
    rounds: int,
    colours: int,
    weight: int | None = None,
    min_distance: int | None = None,
    n_blank: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Draw a constant-weight binary codebook for ``genes`` plus blank barcodes.

    Parameters
    ----------
    genes : list of str
        Gene names, in order; must be unique and not start with ``"Blank-"``.
    rounds : int
        Imaging rounds (>= 1).
    colours : int
        Colour channels per round (>= 1); a barcode has ``rounds * colours`` bits.
    weight : int, optional
        Number of 1 bits per barcode. Default ``max(2, rounds * colours // 4)``
        (MERFISH's 4-of-16 for 8 rounds x 2 colours).
    min_distance : int, optional
        Smallest Hamming distance between two barcodes (>= 2; even, as any two
        words of equal weight differ in an even number of bits). Default: 4 when
        a code that large exists for the genes and blanks (error-correcting),
        else 2.
    n_blank : int, optional
        Number of blank barcodes. Default ``max(1, len(genes) // 10)``.
    seed : int, default 0
        Seed of the random word order; the same arguments give the same codebook.

    Returns
    -------
    pandas.DataFrame
        Index ``gene`` (genes, then ``Blank-01``, ...), one uint8 column per bit
        named ``r{round}c{colour}``, and a bool column ``blank``.

    Raises
    ------
    InvalidArgumentError
        If the sizes are invalid or no codebook with that many words exists.

    Examples
    --------
    >>> cb = make_codebook(["ACTB", "GAPDH", "MKI67"], rounds=8, colours=2, seed=1)
    >>> cb.shape, sorted(set(codebook_bits(cb).sum(axis=1).tolist()))
    ((4, 17), [4])
    """
    genes = [str(g) for g in genes]
    if len(set(genes)) != len(genes):
        raise InvalidArgumentError(f"gene names repeat: {genes}")
    if any(g.startswith(BLANK_PREFIX) for g in genes):
        raise InvalidArgumentError(f"gene names may not start with {BLANK_PREFIX!r}")
    if rounds < 1 or colours < 1:
        raise InvalidArgumentError(f"rounds and colours must be >= 1, got {rounds}, {colours}")
    n_bits = rounds * colours
    if weight is None:
        weight = max(2, n_bits // 4)
    if not 1 <= weight < n_bits:
        raise InvalidArgumentError(f"weight must be in 1..{n_bits - 1} for {n_bits} bits, got {weight}")
    if comb(n_bits, weight) > _MAX_WORDS:
        raise InvalidArgumentError(
            f"C({n_bits}, {weight}) = {comb(n_bits, weight)} candidate words is too many; "
            f"use fewer bits or a smaller weight"
        )
    n_blank = max(1, len(genes) // 10) if n_blank is None else int(n_blank)
    n_words = len(genes) + n_blank
    rng = np.random.default_rng(seed)
    words = np.array(list(combinations(range(n_bits), weight)))
    cand = np.zeros((len(words), n_bits), np.uint8)
    np.put_along_axis(cand, words, 1, axis=1)
    cand = cand[rng.permutation(len(cand))]
    tries = [min_distance] if min_distance is not None else [4, 2]
    chosen = None
    for d in tries:
        if d < 2:
            raise InvalidArgumentError(f"min_distance must be >= 2, got {d}")
        chosen = _greedy(cand, d, n_words)
        if chosen is not None:
            break
    if chosen is None:
        raise InvalidArgumentError(
            f"no {weight}-of-{n_bits} codebook with {n_words} words "
            f"({len(genes)} genes + {n_blank} blanks) and min distance {tries[-1]} was found; "
            f"add rounds or colours, or ask for fewer genes"
        )
    names = genes + [f"{BLANK_PREFIX}{i + 1:02d}" for i in range(n_blank)]
    table = pd.DataFrame(chosen, columns=bit_names(rounds, colours), index=pd.Index(names, name="gene"))
    table["blank"] = [False] * len(genes) + [True] * n_blank
    return table


def _greedy(cand: np.ndarray, min_distance: int, n_words: int) -> np.ndarray | None:
    """First ``n_words`` candidates (in order) pairwise at least ``min_distance`` apart."""
    chosen = np.zeros((n_words, cand.shape[1]), np.int64)
    n = 0
    weight = int(cand[0].sum())
    for word in cand.astype(np.int64):
        # For equal-weight words, distance = 2 * (weight - overlap).
        if n and np.any(2 * (weight - chosen[:n] @ word) < min_distance):
            continue
        chosen[n] = word
        n += 1
        if n == n_words:
            return chosen.astype(np.uint8)
    return None


def codebook_bits(codebook: pd.DataFrame) -> np.ndarray:
    """The barcodes of a codebook table as a ``(words, bits)`` uint8 array."""
    cols = [c for c in codebook.columns if c != "blank"]
    return codebook[cols].to_numpy(np.uint8)


def hamming_distances(bits: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances of binary words, shape ``(n, n)``, int64."""
    b = np.asarray(bits, np.int64)
    return b @ (1 - b).T + (1 - b) @ b.T
