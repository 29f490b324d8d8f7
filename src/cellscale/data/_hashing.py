"""Random numbers that depend only on keys: a counter-based generator (SplitMix64).

A renderer draws the randomness of an object by hashing its key (e.g. the
image seed and the object's ``shape_seed``), never from a shared generator, so
the object is the same whichever window of a huge image draws it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hash_uniforms"]


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)  # a new array: x is not modified
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        return z


def hash_uniforms(keys: np.ndarray, n: int, *, salt: int = 0) -> np.ndarray:
    """Uniform numbers in (0, 1), ``n`` per key, that depend only on key and salt.

    Parameters
    ----------
    keys : numpy.ndarray of int, shape (m,)
        One key per row (e.g. a hashed ``(seed, shape_seed)``).
    n : int
        Numbers per key.
    salt : int
        Distinguishes independent streams for the same keys.

    Returns
    -------
    numpy.ndarray of float64, shape (m, n)
    """
    k = _splitmix(
        np.asarray(keys).astype(np.uint64) ^ _splitmix(np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
    )
    steps = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
    out = np.empty((k.size, n), np.float64)
    rows = max(1, (1 << 15) // max(n, 1))  # blocks that stay in cache
    for r0 in range(0, k.size, rows):
        with np.errstate(over="ignore"):
            z = _splitmix(k[r0 : r0 + rows, None] + steps[None, :])
        z >>= np.uint64(11)
        u = out[r0 : r0 + rows]
        u[:] = z
        u += 0.5
        u *= 1.0 / 2**53
    return out


def _cell_keys(seed: int, shape_seeds: np.ndarray) -> np.ndarray:
    s = _splitmix(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF))
    return _splitmix(np.asarray(shape_seeds, np.int64).astype(np.uint64) ^ s)
