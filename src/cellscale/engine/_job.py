"""One image going through a pipeline: what steps read from and add to.

A :class:`Job` is built on the machine that drives the run. Chunk work is
handed to ``job.map``, which runs it on the Dask cluster (large images) or in
the current process (a small image processed whole inside one task). Chunk
functions receive small, picklable descriptions (:class:`ImageRef`,
:class:`~cellscale.engine._plan.Chunk`, paths) and read the pixels they need
themselves, so no image travels between machines; intermediate label images
live in Zarr arrays in ``job.scratch`` (a folder every worker can reach).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.engine._plan import ChunkPlan
from cellscale.segment._inputs import fill_blank

__all__ = ["ImageRef", "Job", "LabelLayer", "read_region", "serial_map"]

Mapper = Callable[[Callable[..., Any], Iterable[Any]], list[Any]]


@dataclass(frozen=True)
class ImageRef:
    """A picklable description of one input image.

    Attributes
    ----------
    path : str
        Where to read it (:func:`cellscale.io.read`).
    image_id : str
        Its name in the results store.
    axes : str
        Axes, e.g. ``"cyx"``.
    shape : tuple of int
        Shape along ``axes``.
    channel_names : tuple of str
        One name per channel (``("channel_0",)`` without a ``c`` axis).
    pixel_size : dict of str to float
        µm per pixel along ``y``/``x`` where known.
    read_axes : str or None
        Axes passed to :func:`cellscale.io.read` (when given by the user).
    read_channel_names : tuple of str or None
        Channel names passed to :func:`cellscale.io.read` (when given by the user).
    """

    path: str
    image_id: str
    axes: str
    shape: tuple[int, ...]
    channel_names: tuple[str, ...]
    pixel_size: dict[str, float] = field(default_factory=dict)
    read_axes: str | None = None
    read_channel_names: tuple[str, ...] | None = None

    @property
    def plane(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.shape[self.axes.index("y")], self.shape[self.axes.index("x")]

    @property
    def n_frames(self) -> int:
        """Length of the time axis (1 without one)."""
        return self.shape[self.axes.index("t")] if "t" in self.axes else 1


@dataclass
class LabelLayer:
    """A stitched label image of one job, in a scratch Zarr array.

    Attributes
    ----------
    compartment : str
        ``"cells"`` or ``"nuclei"``.
    path : str
        Zarr array of shape ``(y, x)`` (or ``(t, y, x)`` for movies), uint32.
    counts : list of int
        Objects kept per chunk (plan order); chunk ``k`` owns ids
        ``offsets[k] + 1 .. offsets[k] + counts[k]``.
    offsets : list of int
        Running totals of ``counts``.
    """

    compartment: str
    path: str
    counts: list[int]
    offsets: list[int]

    @property
    def n(self) -> int:
        """Number of objects."""
        return int(sum(self.counts))


@dataclass
class Job:
    """The state of one image in a pipeline run.

    Attributes
    ----------
    ref : ImageRef
    plan : ChunkPlan
        How the plane is cut (one chunk for small images).
    scratch : pathlib.Path
        A folder for this image's intermediate arrays (removed after the run).
    map : callable
        ``map(fn, items) -> list``: runs ``fn`` on each item, in parallel where
        the job runs on a cluster.
    compute_scheduler : str or None
        Dask scheduler for small whole-image reductions (``None``: the default,
        e.g. the cluster's client).
    labels : dict of str to LabelLayer
        Label images made so far, by compartment.
    tables : dict of str to anndata.AnnData
        Cell tables made so far, by name; each annotates ``table_regions[name]``.
    table_regions : dict of str to str
        The compartment each table annotates.
    timings : dict of str to float
        Seconds per step.
    extras : dict
        Anything else a step leaves for later steps or the store (e.g. the
        lineage of the ``track`` step).
    """

    ref: ImageRef
    plan: ChunkPlan
    scratch: Path
    map: Mapper
    compute_scheduler: str | None = None
    labels: dict[str, LabelLayer] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    table_regions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def scratch_path(self, name: str) -> str:
        """A path in this job's scratch folder."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        return str(self.scratch / name)


def serial_map(fn: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
    """``map`` that runs in this process, in order."""
    return [fn(item) for item in items]


_OPEN: dict[tuple[Any, ...], Any] = {}


def open_image(ref: ImageRef) -> Any:
    """The image of ``ref``, opened lazily once per process."""
    from cellscale.io import read

    key = (ref.path, ref.read_axes, ref.read_channel_names)
    if key not in _OPEN:
        if len(_OPEN) > 64:
            _OPEN.clear()
        names = list(ref.read_channel_names) if ref.read_channel_names else None
        _OPEN[key] = read(ref.path, axes=ref.read_axes, channel_names=names, lazy=True)
    return _OPEN[key]


def read_region(ref: ImageRef, region: tuple[int, int, int, int], *,
                channels: list[int | None] | None = None, t: int | None = None) -> np.ndarray:
    """Pixels of a ``(y0, y1, x0, x1)`` region as ``(c, h, w)`` (in memory).

    Parameters
    ----------
    ref : ImageRef
    region : (int, int, int, int)
        Half-open ``y0, y1, x0, x1``.
    channels : list of int or None, optional
        Channel indices; default all. None gives a blank (zero) channel there
        (a model role left empty, see :func:`cellscale.segment.select_channels`).
    t : int, optional
        Frame of a movie (required when the image has a ``t`` axis).
    """
    image = open_image(ref)
    index: list[Any] = []
    y0, y1, x0, x1 = region
    for axis in image.axes:
        if axis == "t":
            index.append(0 if t is None else t)
        elif axis == "c":
            index.append([c for c in channels if c is not None] if channels is not None
                         else slice(None))
        elif axis == "z":
            index.append(0)
        elif axis == "y":
            index.append(slice(y0, y1))
        else:
            index.append(slice(x0, x1))
    block = image.data[tuple(index)]
    if hasattr(block, "compute"):
        block = block.compute(scheduler="synchronous")
    block = np.asarray(block)
    if "c" not in image.axes:
        block = block[None]
    return block if channels is None else fill_blank(block, channels)


def worker_threads() -> int:
    """Threads the network runtime may use in this process (1 on Dask workers)."""
    return int(os.environ.get("CELLSCALE_ENGINE_THREADS", "1"))
