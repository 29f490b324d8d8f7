"""Render a simulated image in memory or lazily, chunk by chunk, with Dask.

A *scene* knows its global cell table and can render any window of the plane
(it draws a halo around the window itself). This module turns a scene into
arrays: one call over the whole plane for images that fit in memory, or Dask
arrays whose every chunk is one window call, so a writer can stream a
20,000² image to OME-Zarr holding only a few chunks at a time. Labels and the
clean signal do not depend on the chunking; the camera noise is drawn per chunk
(seeded by the chunk's position), so only the noise differs from the in-memory
image.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

import cellscale
from cellscale.data._optics import vignetting_field
from cellscale.data._options import SimulationOptions

__all__ = [
    "AUTO_CHUNK_PIXELS",
    "Scene",
    "SimulatedScene",
    "render_scene",
    "render_with_table",
    "sample_params",
    "use_chunks",
]

#: Images with more pixels than this (per plane) are rendered lazily by default.
AUTO_CHUNK_PIXELS = 4096 * 4096


class Scene(Protocol):
    """What :func:`render_scene` needs from a simulation."""

    shape: tuple[int, int]
    n_channels: int | None  # None: no channel axis
    dtype: np.dtype
    label_names: tuple[str, ...]
    seed: int

    def render(
        self, y0: int, y1: int, x0: int, x1: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Image ((c,) y, x) and labels (y, x) of rows y0:y1, columns x0:x1."""
        ...


def use_chunks(shape: Sequence[int], chunked: bool | None) -> bool:
    """Whether to render lazily: ``chunked`` if given, else when the plane is large."""
    if chunked is not None:
        return bool(chunked)
    return int(shape[0]) * int(shape[1]) > AUTO_CHUNK_PIXELS


def _chunk_rng(seed: int, iy: int, ix: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC4C4, iy, ix])


def render_scene(
    scene: Scene, *, chunked: bool, chunk_size: int = 2048
) -> tuple[Any, dict[str, Any]]:
    """Render ``scene`` into an image array and a dict of label arrays.

    Parameters
    ----------
    scene : Scene
        The simulation.
    chunked : bool
        False: NumPy arrays, rendered now. True: Dask arrays with
        ``chunk_size`` square chunks in y and x, rendered when computed.
    chunk_size : int
        Chunk side in pixels. Default 2048.

    Returns
    -------
    image : numpy.ndarray or dask.array.Array, shape ((c,) y, x)
    labels : dict of str to numpy.ndarray or dask.array.Array of uint32, shape (y, x)
    """
    h, w = scene.shape
    if not chunked:
        rng = np.random.default_rng([int(scene.seed) & 0xFFFFFFFF, 0xC4C4])
        return scene.render(0, h, 0, w, rng)
    import dask
    import dask.array as da

    cs = int(chunk_size)
    lead = () if scene.n_channels is None else (int(scene.n_channels),)
    image_rows: list[list[Any]] = []
    label_rows: dict[str, list[list[Any]]] = {name: [] for name in scene.label_names}
    render: Callable[..., Any] = dask.delayed(_render_chunk, pure=True)
    token = uuid.uuid4().hex[:12]
    for iy, y0 in enumerate(range(0, h, cs)):
        y1 = min(y0 + cs, h)
        image_rows.append([])
        for rows in label_rows.values():
            rows.append([])
        for ix, x0 in enumerate(range(0, w, cs)):
            x1 = min(x0 + cs, w)
            out = render(
                scene, y0, y1, x0, x1, iy, ix, dask_key_name=f"cellscale-sim-{token}-{iy}-{ix}"
            )
            image_rows[-1].append(
                da.from_delayed(out[0], shape=lead + (y1 - y0, x1 - x0), dtype=scene.dtype)
            )
            for name in scene.label_names:
                label_rows[name][-1].append(
                    da.from_delayed(out[1][name], shape=(y1 - y0, x1 - x0), dtype=np.uint32)
                )
    image = da.block(image_rows)
    labels = {name: da.block(rows) for name, rows in label_rows.items()}
    return image, labels


def _render_chunk(scene: Scene, y0: int, y1: int, x0: int, x1: int, iy: int, ix: int):
    return scene.render(y0, y1, x0, x1, _chunk_rng(scene.seed, iy, ix))


@dataclass
class SimulatedScene:
    """The part of a :class:`Scene` every simulator shares: options, resolved
    parameters (``p``, with ``"vignetting"``) and the global cells table."""

    opts: SimulationOptions
    p: dict[str, Any]
    cells: pd.DataFrame

    def __post_init__(self) -> None:
        self.shape = tuple(self.opts.shape)
        self.dtype = np.dtype(self.opts.dtype)
        self.seed = self.opts.seed

    def vignetting(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Illumination of a window: one field of view, or a mosaic of 2048² fields
        (a stitched scan) when the image is larger than 4096."""
        return vignetting_field(
            (y1 - y0, x1 - x0),
            offset=(y0, x0),
            full_shape=self.shape,
            strength=self.p["vignetting"],
            tile=2048 if max(self.shape) > 4096 else None,
        )


def render_with_table(
    scene: SimulatedScene, *, label: str
) -> tuple[Any, dict[str, Any], pd.DataFrame, bool]:
    """Render ``scene`` as its options say (in memory or chunked).

    Returns ``(image, labels, cells, lazy)``. In memory, ``cells`` keeps only the
    rows whose label is in ``labels[label]``, so rows and labels agree; chunked,
    the table is returned whole (checking would render everything).
    """
    opts = scene.opts
    lazy = use_chunks(opts.shape, opts.chunked)
    data, labels = render_scene(scene, chunked=lazy, chunk_size=opts.chunk_size)
    cells = scene.cells
    if not lazy:
        present = np.zeros(len(cells) + 1, bool)
        present[labels[label]] = True
        present[0] = False
        cells = cells[present[cells["label"].to_numpy()]].reset_index(drop=True)
    return data, labels, cells, lazy


def sample_params(
    function: str, opts: SimulationOptions, resolved: dict[str, Any], lazy: bool, **extra: Any
) -> dict[str, Any]:
    """The ``params`` of a simulated sample: what regenerates it."""
    return {
        "function": f"cellscale.data.{function}",
        "cellscale_version": cellscale.__version__,
        "options": opts.model_dump(mode="json"),
        "resolved": resolved,
        **extra,
        "lazy": lazy,
    }
