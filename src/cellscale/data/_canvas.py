"""Paste many overlapping patches into a label image, lowest score wins.

Renderers draw each object (a nucleus, a cell territory) on its own small
patch with a per-pixel *score* (how deep the pixel lies in the object); where
patches overlap, a pixel goes to the object with the lowest score, ties to the
higher label. :class:`MinCanvas` does this for all candidate pixels of a batch
of patches at once: the score and the label are packed into one unsigned
64-bit key whose order is (score ascending, label descending), and each pixel
keeps the smallest key (``numpy.minimum.at``). The result does not depend on
the order in which objects or batches are pasted, so any window of a huge
image agrees with the whole.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MinCanvas", "pad_for", "patch_candidates"]

_LOW = np.uint64(0xFFFFFFFF)
_SIGN = np.uint32(0x80000000)


def _score_bits(score: np.ndarray) -> np.ndarray:
    """float32 scores -> uint32 whose unsigned order is the float order."""
    # Adding +0 turns -0.0 into +0.0, which compares equal to it as a float.
    bits = (np.asarray(score, np.float32) + np.float32(0.0)).view(np.uint32)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _bits_score(bits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_score_bits`."""
    return np.where(bits & _SIGN, bits & ~_SIGN, ~bits).view(np.float32)


def _keys(score: np.ndarray, label: np.ndarray) -> np.ndarray:
    hi = _score_bits(score).astype(np.uint64) << np.uint64(32)
    return hi | (_LOW - np.asarray(label).astype(np.uint64))


class MinCanvas:
    """A label image where each pixel keeps its lowest-scoring candidate.

    Parameters
    ----------
    shape : (int, int)
        Window size ``(rows, columns)``, pixels.
    pad : int
        Candidates may lie up to ``pad`` pixels outside the window; they are
        kept on a margin and cropped away (cheaper than testing each one).
    values : bool
        Also keep a float32 value of each pixel's winner (e.g. its intensity).
    """

    def __init__(self, shape: tuple[int, int], *, pad: int = 0, values: bool = False) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.pad = int(max(pad, 0))
        #: Distance in the flat canvas between vertically adjacent pixels.
        self.stride = self.shape[1] + 2 * self.pad
        n = (self.shape[0] + 2 * self.pad) * self.stride
        self._key = np.full(n, _keys(np.float32(np.inf), np.uint32(0)), np.uint64)
        self._values = np.zeros(n, np.float32) if values else None

    def index(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Flat canvas index of window pixels (rows and columns may lie on the margin)."""
        return (np.asarray(rows) + self.pad) * self.stride + (np.asarray(cols) + self.pad)

    def add(
        self,
        index: np.ndarray,
        score: np.ndarray,
        label: np.ndarray,
        values: np.ndarray | None = None,
    ) -> None:
        """Offer candidate pixels: 1-D arrays of flat :meth:`index`, finite score, label.

        ``label`` must be below 2**32; one object offers a pixel at most once.
        """
        if index.size == 0:
            return
        key = _keys(score, label)
        np.minimum.at(self._key, index, key)
        if self._values is not None and values is not None:
            won = self._key[index] == key
            self._values[index[won]] = values[won]

    def _crop(self, flat: np.ndarray) -> np.ndarray:
        p, (h, w) = self.pad, self.shape
        return flat.reshape(h + 2 * p, self.stride)[p : p + h, p : p + w]

    def labels(self) -> np.ndarray:
        """Winning label per pixel, uint32 (0 where no candidate)."""
        key = self._crop(self._key)
        return (_LOW - (key & _LOW)).astype(np.uint32)

    def scores(self) -> np.ndarray:
        """Winning score per pixel, float32 (``inf`` where no candidate)."""
        return _bits_score((self._crop(self._key) >> np.uint64(32)).astype(np.uint32))

    def values(self) -> np.ndarray:
        """Winning value per pixel, float32 (0 where no candidate)."""
        if self._values is None:
            raise ValueError("this canvas keeps no values; create it with values=True")
        return np.ascontiguousarray(self._crop(self._values))


def patch_candidates(
    mask: np.ndarray, origin: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Canvas indices of the True pixels of square patches.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (n, p, p)
        Candidate pixels of n patches.
    origin : numpy.ndarray of int, shape (n,)
        Flat canvas index of each patch's top-left pixel (:meth:`MinCanvas.index`).
    stride : int
        The canvas' :attr:`MinCanvas.stride`.

    Returns
    -------
    patch, index : numpy.ndarray of int64
        For each True pixel in row-major order (the order of ``array[mask]``):
        the patch it belongs to and its flat canvas index.
    """
    n, p = mask.shape[0], mask.shape[1]
    patch, pix = np.nonzero(mask.reshape(n, p * p))
    row, col = np.divmod(pix, p)
    return patch, origin[patch] + row * stride + col


def pad_for(shape: tuple[int, int], iy: np.ndarray, ix: np.ndarray, half: np.ndarray) -> int:
    """Margin a :class:`MinCanvas` needs for patches of half-size ``half`` centred at ``iy, ix``."""
    if np.size(iy) == 0:
        return 0
    h, w = int(shape[0]), int(shape[1])
    return int(
        max(
            0,
            np.max(half - iy),
            np.max(iy + half - (h - 1)),
            np.max(half - ix),
            np.max(ix + half - (w - 1)),
        )
    )
