"""Cutting a large 2-D plane into chunks with halos.

A plane of ``height × width`` pixels is cut into *cores*: a regular grid of
``chunk_size × chunk_size`` squares (smaller at the bottom and right edges)
that tile the plane without overlap. Each chunk is processed over its
*region*: the core grown by ``halo`` pixels on every side, clipped to the
plane. Cores start at multiples of ``chunk_size``, so a Zarr array chunked by
``chunk_size`` receives exactly one chunk per core (parallel writes never
share a Zarr chunk).

The halo is derived from the objects' size (:func:`halo_for`): an object
whose centroid lies in a core reaches at most ``max_diameter`` pixels beyond
it, and the network needs ``context`` more pixels around each of its pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cellscale.errors import InvalidArgumentError

__all__ = ["Chunk", "ChunkPlan", "halo_for", "plan_chunks"]


def halo_for(max_diameter: float, *, context: int = 0, size_multiple: int = 16) -> int:
    """Halo (pixels) for objects at most ``max_diameter`` across.

    Parameters
    ----------
    max_diameter : float
        Largest object diameter in pixels (a model card's ``diameter_range[1]``).
    context : int
        Extra pixels of input a model needs around an output pixel.
    size_multiple : int
        The halo is rounded up to a multiple of this.

    Returns
    -------
    int
        ``max_diameter + context``, rounded up to ``size_multiple``.

    Examples
    --------
    >>> halo_for(40, context=24, size_multiple=16)
    64
    """
    if not max_diameter > 0:
        raise InvalidArgumentError(f"max_diameter must be > 0 pixels, got {max_diameter!r}")
    value = float(max_diameter) + max(int(context), 0)
    return int(math.ceil(value / size_multiple) * size_multiple)


@dataclass(frozen=True)
class Chunk:
    """One chunk: grid position, core and region as ``(y0, y1, x0, x1)`` (half-open)."""

    index: tuple[int, int]
    core: tuple[int, int, int, int]
    region: tuple[int, int, int, int]

    @property
    def region_shape(self) -> tuple[int, int]:
        """``(h, w)`` of the region."""
        y0, y1, x0, x1 = self.region
        return y1 - y0, x1 - x0

    def core_in_region(self) -> tuple[slice, slice]:
        """Slices that cut the core out of an array covering the region."""
        cy0, cy1, cx0, cx1 = self.core
        ry0, _, rx0, _ = self.region
        return slice(cy0 - ry0, cy1 - ry0), slice(cx0 - rx0, cx1 - rx0)


@dataclass(frozen=True)
class ChunkPlan:
    """The chunks of a plane, in row-major order (``chunks[i * n_x + j]``)."""

    shape: tuple[int, int]
    chunk_size: int
    halo: int
    grid: tuple[int, int]
    chunks: tuple[Chunk, ...]

    def __len__(self) -> int:
        return len(self.chunks)

    def at(self, i: int, j: int) -> Chunk:
        """The chunk in grid row ``i``, column ``j``."""
        return self.chunks[i * self.grid[1] + j]

    def neighbours(self, chunk: Chunk) -> list[Chunk]:
        """The up to 8 chunks around ``chunk`` (not itself)."""
        i, j = chunk.index
        out = []
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if (di or dj) and 0 <= a < self.grid[0] and 0 <= b < self.grid[1]:
                    out.append(self.at(a, b))
        return out

    @property
    def max_region(self) -> tuple[int, int]:
        """Largest region ``(h, w)`` of any chunk."""
        return (max(c.region_shape[0] for c in self.chunks),
                max(c.region_shape[1] for c in self.chunks))


def plan_chunks(shape: tuple[int, int], *, chunk_size: int, halo: int) -> ChunkPlan:
    """Cut a plane of ``shape = (height, width)`` into cores and halo regions.

    Parameters
    ----------
    shape : (int, int)
        The plane's ``(height, width)``.
    chunk_size : int
        Core side in pixels. Must be at least ``halo`` so that an object kept
        by one chunk reaches only into its 8 neighbours.
    halo : int
        Pixels added around each core (clipped at the plane's edges).

    Returns
    -------
    ChunkPlan

    Examples
    --------
    >>> plan = plan_chunks((1000, 700), chunk_size=512, halo=64)
    >>> plan.grid, plan.at(1, 0).core, plan.at(1, 0).region
    ((2, 2), (512, 1000, 0, 512), (448, 1000, 0, 576))
    """
    height, width = (int(s) for s in shape)
    if height < 1 or width < 1:
        raise InvalidArgumentError(f"cannot plan chunks for an empty plane of shape {shape}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidArgumentError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if halo < 0:
        raise InvalidArgumentError(f"halo must be >= 0, got {halo}")
    if chunk_size < halo and (height > chunk_size or width > chunk_size):
        raise InvalidArgumentError(
            f"chunk_size ({chunk_size}) must be at least the halo ({halo} pixels, from the "
            f"largest object size); use chunk_size >= {halo}")
    ny, nx = math.ceil(height / chunk_size), math.ceil(width / chunk_size)
    chunks = []
    for i in range(ny):
        for j in range(nx):
            y0, x0 = i * chunk_size, j * chunk_size
            y1, x1 = min(y0 + chunk_size, height), min(x0 + chunk_size, width)
            region = (max(y0 - halo, 0), min(y1 + halo, height),
                      max(x0 - halo, 0), min(x1 + halo, width))
            chunks.append(Chunk((i, j), (y0, y1, x0, x1), region))
    return ChunkPlan((height, width), int(chunk_size), int(halo), (ny, nx), tuple(chunks))
