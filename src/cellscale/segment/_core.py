"""The one segmentation core: an image of any size, in chunks, to stitched labels.

``cellscale segment`` (:class:`~cellscale.segment.Segmenter`), the engine's
chunked ``segment`` step and training's scoring all segment through here, so
the same options give the same labels through every door.

1. **Global pass** (:mod:`cellscale.segment._global`: :func:`image_settings`,
   :func:`assess`), once per image: the channels'
   normalisation ranges, from the regular subsample
   :func:`~cellscale.segment.percentile_range` takes of the whole image, and
   the resize factor (:mod:`cellscale.segment._scale`), from the model card's
   pixel size, a given ``diameter``, or, for ``diameter="auto"``, from
   passes at several scales over at most :data:`ESTIMATE_CHUNKS` chunks (the
   ones with most signal in the subsample), and a confidence from a flipped
   pass (:func:`assess`, :mod:`cellscale.segment._estimate`).
2. **Per region** (:func:`region_labels`, :mod:`cellscale.segment._region`): normalise with the global ranges,
   resize by the global factor, run the network in blended tiles
   (:func:`~cellscale.segment.predict_tiled`), decode the maps
   (:func:`~cellscale.segment.decode_maps`) and map the labels back. Maps of
   a shrunk image are first resized back (linear) and decoded on the image's
   own grid, so large objects get smooth outlines rather than staircases of
   ``1 / scale`` pixels; an enlarged image's labels are shrunk back (nearest).
3. **Stitching** (:mod:`cellscale.segment._stitch`): each chunk keeps the
   objects whose centroid lies in its core; cores are filled from the chunk's
   and its neighbours' kept objects.

:func:`segment_chunked` runs the three serially in this process, one row of
chunks at a time (memory: three rows of regions plus the output); the engine
runs :func:`region_labels` on Dask workers with the same plan
(:func:`plan_for`). An image no larger than ``chunk_size`` is one chunk, and
its labels are the region's labels as they are.

The halo (:func:`halo_pixels`) assumes objects are at most the card's
``diameter_range[1]`` pixels across *in the resized frame* and that the
network needs ``overlap / 2`` more pixels of context; both are divided by the
resize factor to give image pixels. Larger objects may be cut at a region's
edge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from cellscale.segment._estimate import Estimate
from cellscale.segment._global import (
    ESTIMATE_CHUNKS,
    assess,
    estimate_chunks,
    estimate_on,
    fixed_scale,
    halo_pixels,
    image_settings,
    measuring_labels,
    plan_for,
    read_block,
    sample,
)
from cellscale.segment._plan import Chunk, ChunkPlan
from cellscale.segment._region import (
    CHUNK_SIZE,
    TILE_SIZE,
    Settings,
    Timings,
    add_time,
    network_maps,
    region_labels,
)
from cellscale.segment._stitch import assemble_core, chunk_offsets, keep_core_objects
from cellscale.segment._tiling import default_overlap

# The names the rest of cellscale imports from here; each is defined once, in
# _region (one region), _global (the global pass) or below (the serial driver).
__all__ = ["CHUNK_SIZE", "ESTIMATE_CHUNKS", "TILE_SIZE", "Estimate", "Settings", "Timings",
           "assess", "default_overlap", "estimate_chunks", "estimate_on", "fixed_scale",
           "halo_pixels", "image_settings", "measuring_labels", "network_maps",
           "plan_for", "read_block", "region_labels", "sample", "segment_chunked"]


def segment_chunked(
    model: Any,
    image: Any,
    channels: Sequence[int | None],
    *,
    compartments: Sequence[str],
    diameter: float | str | None = "auto",
    pixel_size: float | None = None,
    tile_size: int = TILE_SIZE,
    overlap: int | None = None,
    batch_size: int = 4,
    chunk_size: int = CHUNK_SIZE,
    out: Callable[[str, tuple[int, int]], Any] | None = None,
    timings: Timings | None = None,
) -> tuple[dict[str, Any], Estimate]:
    """Segment a 2-D image chunk by chunk in this process.

    Parameters
    ----------
    model : Model
        The loaded network.
    image : Image
        In memory or lazy (only the subsample and one row of regions are read at a time).
    channels : sequence of int or None
        Channels feeding the model's inputs, in its order (None: a blank role, read as zeros).
    compartments : sequence of str
        Object kinds to return.
    diameter, pixel_size
        As for :class:`~cellscale.segment.Segmenter` (``pixel_size`` already
        resolved: the user's, else the file's).
    tile_size, overlap, batch_size
        Network tiling; ``overlap`` None: the model's default.
    chunk_size : int
        Chunk core side (default :data:`CHUNK_SIZE`).
    out : callable, optional
        ``out(compartment, shape)`` returns an array-like to write labels into
        (e.g. a Zarr array); default in-memory arrays.
    timings : dict, optional
        Adds seconds to ``"normalise"`` (reading, channels, normalising, resizing),
        ``"network"`` and ``"postprocess"`` (decoding, resizing back, stitching)
        and ``"estimate"`` (the passes at other scales and the flipped pass).

    Returns
    -------
    labels : dict of str to array
        uint32 labels per compartment, numbered ``1 .. n``.
    estimate : Estimate
        The resize factor used, the objects' diameter, the confidence and warnings.
    """
    source = str(getattr(image, "source", "") or "")
    card = model.card
    shape = (image.sizes["y"], image.sizes["x"])
    t0 = time.perf_counter()
    samples, stride = sample(image, channels, source=source)
    scale = fixed_scale(card, diameter=diameter, pixel_size=pixel_size)
    settings = image_settings(card, samples, compartments=compartments, scale=scale,
                              tile_size=tile_size, overlap=overlap, batch_size=batch_size)
    add_time(timings, "normalise", t0)

    def labels_of(chunk: Chunk, spec: Settings) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        block = read_block(image, channels, chunk.region)
        add_time(timings, "normalise", t)
        return region_labels(model, block, spec, timings=timings, source=source)

    plan = plan_for(shape, card, scale=settings.scale, overlap=settings.overlap,
                    chunk_size=chunk_size)
    picked = estimate_chunks(plan, samples, stride, settings.ranges)
    kind = estimate_on(compartments)
    t0 = time.perf_counter()
    blocks = [read_block(image, channels, c.region) for c in picked]
    add_time(timings, "normalise", t0)
    t0 = time.perf_counter()
    estimate = assess(model, blocks, settings, kind=kind, auto=scale is None, diameter=diameter)
    del blocks
    add_time(timings, "estimate", t0)
    if estimate.scale != settings.scale:
        settings = replace(settings, scale=estimate.scale)
        plan = plan_for(shape, card, scale=estimate.scale, overlap=settings.overlap,
                        chunk_size=chunk_size)
    if len(plan) == 1:  # the usual image: its labels as they are
        labels = labels_of(plan.chunks[0], settings)
        if out is None:
            return labels, estimate
        result = {}
        for c, lab in labels.items():
            result[c] = out(c, shape)
            result[c][...] = lab
        return result, estimate
    return _stitched(plan, settings, lambda ch: labels_of(ch, settings), out, timings), estimate


def _stitched(plan: ChunkPlan, settings: Settings,
              labels_of: Callable[[Chunk], dict[str, np.ndarray]],
              out: Callable[[str, tuple[int, int]], Any] | None,
              timings: Timings | None) -> dict[str, Any]:
    """Segment the plan's chunks row by row and write each core once its neighbours are done."""
    result = {c: (out(c, plan.shape) if out is not None else np.zeros(plan.shape, np.uint32))
              for c in settings.compartments}
    kept: dict[str, dict[tuple[int, int], np.ndarray]] = {c: {} for c in settings.compartments}
    counts: dict[str, list[int]] = {c: [] for c in settings.compartments}
    rows, cols = plan.grid

    def assemble(row: int) -> None:
        t = time.perf_counter()
        for c in settings.compartments:
            offsets = chunk_offsets(counts[c] + [0] * (len(plan) - len(counts[c])))
            for j in range(cols):
                chunk = plan.at(row, j)
                y0, y1, x0, x1 = chunk.core
                result[c][y0:y1, x0:x1] = assemble_core(
                    plan, chunk, lambda other, own=kept[c]: own[other.index], offsets)
            for j in range(cols):  # row - 1 is no one's neighbour any more
                kept[c].pop((row - 1, j), None)
        add_time(timings, "postprocess", t)

    for i in range(rows):
        for j in range(cols):
            chunk = plan.at(i, j)
            for c, lab in labels_of(chunk).items():
                t = time.perf_counter()
                kept[c][chunk.index], n = keep_core_objects(lab, chunk)
                counts[c].append(n)
                add_time(timings, "postprocess", t)
        if i > 0:
            assemble(i - 1)
    assemble(rows - 1)
    return result
