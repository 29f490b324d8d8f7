"""The one segmentation core: an image of any size, in chunks, to stitched labels.

``cellscale segment`` (:class:`~cellscale.segment.Segmenter`), the engine's
chunked ``segment`` step and training's scoring all segment through here, so
the same options give the same labels through every door.

1. **Global pass** (:func:`image_settings`), once per image: the channels'
   normalisation ranges, from the regular subsample
   :func:`~cellscale.segment.percentile_range` takes of the whole image, and
   the resize factor (:mod:`cellscale.segment._scale`), from the model card's
   pixel size, a given ``diameter``, or, for ``diameter="auto"``, from
   passes at several scales over at most :data:`ESTIMATE_CHUNKS` chunks (the
   ones with most signal in the subsample), and a confidence from a flipped
   pass (:func:`assess`, :mod:`cellscale.segment._estimate`).
2. **Per region** (:func:`region_labels`): normalise with the global ranges,
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

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cellscale.errors import InvalidImageError
from cellscale.segment._estimate import (
    LOW_CONFIDENCE,
    Estimate,
    flip_agreement,
    given_diameter,
    pick_diameter,
    size_passes,
    size_warnings,
)
from cellscale.segment._inputs import fill_blank
from cellscale.segment._normalise import MAX_SAMPLES, apply_ranges, percentile_range
from cellscale.segment._plan import Chunk, ChunkPlan, halo_for, plan_chunks
from cellscale.segment._postprocess import decode_maps, relabel_sequential
from cellscale.segment._scale import rescale_image, resize_labels, resize_map, scale_for
from cellscale.segment._stitch import assemble_core, chunk_offsets, keep_core_objects
from cellscale.segment._tiling import default_overlap, predict_tiled

__all__ = ["CHUNK_SIZE", "ESTIMATE_CHUNKS", "TILE_SIZE", "Estimate", "Settings", "Timings",
           "assess", "default_overlap", "estimate_chunks", "estimate_on", "fixed_scale",
           "halo_pixels", "image_settings", "measuring_labels", "network_maps",
           "plan_for", "read_block", "region_labels", "sample", "segment_chunked"]

#: Default chunk side: a typical image (up to 2048 x 2048) is one chunk, as in the engine.
CHUNK_SIZE = 2048
#: Default network tile side of every door (``cellscale segment --tile-size``).
TILE_SIZE = 1024
#: Most chunks a first pass for ``diameter="auto"`` runs on.
ESTIMATE_CHUNKS = 4
#: Relative pixel-size mismatch below which an image is not resized to a card's pixel size.
PIXEL_TOLERANCE = 0.02

Timings = dict[str, float]


@dataclass(frozen=True)
class Settings:
    """What every region of one image is segmented with (small and picklable).

    Attributes
    ----------
    compartments : tuple of str
        Object kinds to decode (``"cells"``, ``"nuclei"``).
    ranges : tuple of (float, float)
        Normalisation ``(lo, hi)`` of each chosen channel, from the whole image.
    scale : float
        Resize factor for the network (1.0: the image's own size).
    tile_size, overlap, batch_size : int
        Network tiling (:func:`~cellscale.segment.predict_tiled`).
    """

    compartments: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    scale: float
    tile_size: int
    overlap: int
    batch_size: int = 1


def _add(timings: Timings | None, key: str, since: float) -> None:
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - since


def network_maps(model: Any, data: np.ndarray, compartments: Sequence[str], *, tile_size: int,
                 overlap: int, batch_size: int = 1) -> dict[str, dict[str, np.ndarray]]:
    """Blended network maps of a normalised ``(c, h, w)`` image, by compartment and kind.

    ``model`` has ``predict`` and ``card`` (:class:`cellscale.models.Model`);
    its ``predict_many``, when it has one, runs the tiles.
    """
    card = model.card
    kinds = {c: card.maps(c) for c in compartments}
    keep = [card.output_index(c, k) for c in compartments for k in kinds[c]]
    maps = predict_tiled(model.predict, data, tile_size=tile_size, overlap=overlap,
                         size_multiple=card.inputs.size_multiple, batch_size=batch_size,
                         keep=keep, predict_many=getattr(model, "predict_many", None))
    out, start = {}, 0
    for c in compartments:
        out[c] = dict(zip(kinds[c], maps[start:start + len(kinds[c])]))
        start += len(kinds[c])
    return out


def region_labels(model: Any, block: np.ndarray, settings: Settings, *,
                  timings: Timings | None = None, source: str = "",
                  native: bool = False) -> dict[str, np.ndarray]:
    """Labels of one region: normalise, resize, network, decode, resize back.

    Parameters
    ----------
    model : Model
        The loaded network (``predict``, ``card``).
    block : ndarray, shape (c, h, w)
        Raw pixels of the chosen channels over the region.
    settings : Settings
        The image's global settings.
    timings : dict, optional
        Seconds are added to ``"normalise"``, ``"network"`` and ``"postprocess"``.
    source : str
        The image's file, for error messages.
    native : bool
        Return the labels on the network's (resized) grid, not resized back:
        cheaper, for measuring (the size passes, the flip agreement).

    Returns
    -------
    dict of str to ndarray of uint32, shape (h, w)
        Labels per compartment, numbered ``1 .. n`` (on the resized grid when ``native``).
    """
    t0 = time.perf_counter()
    _check_finite(block, source, exact=False)
    data = apply_ranges(block, list(settings.ranges))
    shape = data.shape[1:]
    if settings.scale != 1.0:
        data = rescale_image(data, settings.scale)
    if native:
        shape = data.shape[1:]
    if not data.any():
        _add(timings, "normalise", t0)
        return {c: np.zeros(shape, np.uint32) for c in settings.compartments}
    _add(timings, "normalise", t0)
    t0 = time.perf_counter()
    maps = network_maps(model, data, settings.compartments, tile_size=settings.tile_size,
                        overlap=settings.overlap, batch_size=settings.batch_size)
    del data
    _add(timings, "network", t0)
    t0 = time.perf_counter()
    out = {}
    post = model.card.postprocess
    for c, own in maps.items():
        if native:
            labels = decode_maps(own, post)
        elif settings.scale < 1.0:  # decode on the image's grid: smooth outlines of shrunk objects
            own = {k: resize_map(m, shape) for k, m in own.items()}
            size = math.ceil(post.min_size / settings.scale ** 2)
            labels = decode_maps(own, post.model_copy(update={"min_size": size}))
        else:
            labels = decode_maps(own, post)
            if settings.scale != 1.0:
                labels = relabel_sequential(resize_labels(labels, shape))
        out[c] = labels
    _add(timings, "postprocess", t0)
    return out


def _check_finite(data: np.ndarray, source: str, *, exact: bool) -> None:
    """Refuse NaN or infinite pixels (``exact``: ``data`` is every pixel, so count them)."""
    if data.dtype.kind != "f":
        return
    bad = ~np.isfinite(data)
    if bad.any():
        many = f"{int(bad.sum())} NaN or infinite pixel(s)" if exact else \
            "NaN or infinite pixels"
        raise InvalidImageError(f"{source + ': ' if source else ''}image holds {many}; "
                                "replace them first, e.g. with numpy.nan_to_num")


# -- the global pass -------------------------------------------------------------------------
def _stride(height: int, width: int) -> int:
    return max(1, math.ceil(math.sqrt(height * width / MAX_SAMPLES)))


def _index(image: Any, channels: Sequence[int] | int, y: slice, x: slice) -> tuple[Any, ...]:
    out: list[Any] = []
    for axis in image.axes:
        out.append({"c": channels, "y": y, "x": x}.get(axis, 0))
    return tuple(out)


def _materialise(data: Any, scheduler: str | None = "synchronous") -> np.ndarray:
    if hasattr(data, "compute"):
        data = data.compute(scheduler=scheduler)
    return np.asarray(data)


def sample(image: Any, channels: Sequence[int | None], *, scheduler: str | None = "synchronous",
           source: str = "") -> tuple[np.ndarray, int]:
    """The regular subsample of the chosen channels that normalisation ranges come from.

    Parameters
    ----------
    image : Image
        A 2-D image (axes ``yx`` or ``cyx``, singleton ``t``/``z`` allowed), in memory or lazy.
    channels : sequence of int or None
        Channel indices (ignored without a ``c`` axis); None gives a blank (zero) channel.
    scheduler : str, optional
        Dask scheduler for a lazy image (None: the default one, e.g. a cluster's).
    source : str
        The image's file, for error messages.

    Returns
    -------
    samples : ndarray, shape (c, ceil(h / s), ceil(w / s))
        Every ``s``-th row and column, as :func:`~cellscale.segment.percentile_range` takes.
    s : int
        The stride.
    """
    h, w = image.sizes["y"], image.sizes["x"]
    stride = _stride(h, w)
    part = slice(None, None, stride)
    if "c" in image.axes:
        picked = [_materialise(image.data[_index(image, c, part, part)], scheduler)
                  for c in channels if c is not None]
        out = fill_blank(np.stack(picked), channels)
    else:
        out = fill_blank(_materialise(image.data[_index(image, 0, part, part)], scheduler)[None],
                         channels)
    _check_finite(out, source, exact=stride == 1)
    if out.dtype == bool:
        out = out.astype(np.uint8)
    return out, stride


def read_block(image: Any, channels: Sequence[int | None], region: tuple[int, int, int, int], *,
               scheduler: str | None = "synchronous") -> np.ndarray:
    """Raw pixels of the chosen channels over ``region = (y0, y1, x0, x1)``, as ``(c, h, w)``."""
    y0, y1, x0, x1 = region
    if "c" in image.axes:
        block = fill_blank(_materialise(image.data[_index(
            image, [c for c in channels if c is not None], slice(y0, y1), slice(x0, x1))],
            scheduler), channels)
    else:
        block = fill_blank(_materialise(image.data[_index(image, 0, slice(y0, y1), slice(x0, x1))],
                                        scheduler)[None], channels)
    return block.astype(np.uint8) if block.dtype == bool else block


def fixed_scale(card: Any, *, diameter: float | str | None, pixel_size: float | None
                ) -> float | None:
    """The resize factor known without looking at objects; None when ``diameter="auto"``.

    A card that states the pixel size it was trained at, with a known
    ``pixel_size`` (µm), resizes to it; otherwise a given diameter (pixels)
    gives :func:`~cellscale.segment._scale.scale_for`, None gives 1.0.
    """
    trained_at = card.inputs.pixel_size
    if trained_at and pixel_size:
        scale = float(pixel_size) / float(trained_at)
        return 1.0 if abs(scale - 1.0) < PIXEL_TOLERANCE else scale
    if diameter == "auto":
        return None
    if diameter is None:
        return 1.0
    return scale_for(float(diameter))


def halo_pixels(card: Any, scale: float, overlap: int) -> int:
    """Halo in image pixels: the card's largest object plus half the tiling overlap, over ``scale``.

    Objects are assumed at most ``card.inputs.diameter_range[1]`` pixels
    across once resized by ``scale``; the network needs ``overlap / 2`` pixels
    of context around them; resizing adds a few pixels of interpolation reach.
    Rounded up to the model's size multiple.
    """
    multiple = card.inputs.size_multiple
    reach = 0 if scale >= 1.0 else math.ceil(2.0 * (1.0 / scale - 1.0)) + 1
    return halo_for(card.inputs.diameter_range[1] / scale,
                    context=math.ceil((overlap // 2) / scale) + reach, size_multiple=multiple)


def plan_for(shape: tuple[int, int], card: Any, *, scale: float, overlap: int,
             chunk_size: int = CHUNK_SIZE) -> ChunkPlan:
    """The chunk plan every door uses for an image of ``shape`` at ``scale``."""
    return plan_chunks(shape, chunk_size=chunk_size, halo=halo_pixels(card, scale, overlap))


def estimate_chunks(plan: ChunkPlan, samples: np.ndarray, stride: int,
                    ranges: Sequence[tuple[float, float]]) -> list[Chunk]:
    """The chunks a first pass estimates object size on: those with most signal, at most 4.

    Signal is the mean normalised intensity (clipped to 0-1, summed over
    channels) of the subsample within each core; ties go to the earlier chunk.
    Returned in plan order.
    """
    if len(plan) <= ESTIMATE_CHUNKS:
        return list(plan.chunks)
    norm = np.clip(apply_ranges(samples, list(ranges)), 0.0, 1.0).sum(axis=0)
    scores = []
    for chunk in plan.chunks:
        y0, y1, x0, x1 = chunk.core
        cut = norm[-(-y0 // stride):-(-y1 // stride), -(-x0 // stride):-(-x1 // stride)]
        scores.append(float(cut.mean()) if cut.size else 0.0)
    order = sorted(range(len(plan)), key=lambda k: (-scores[k], k))[:ESTIMATE_CHUNKS]
    return [plan.chunks[k] for k in sorted(order)]


def measuring_labels(model: Any, settings: Settings, kind: str
                     ) -> Callable[[np.ndarray, float], np.ndarray]:
    """``labels_at(block, scale)``: one compartment's labels of a raw block segmented at
    ``scale``, on the network's grid (:func:`region_labels` with ``native=True``), for
    measuring sizes and agreement."""
    def labels_at(block: np.ndarray, scale: float) -> np.ndarray:
        spec = replace(settings, compartments=(kind,), scale=scale)
        return region_labels(model, block, spec, native=True)[kind]

    return labels_at


def assess(model: Any, blocks: Sequence[np.ndarray], settings: Settings, *, kind: str,
           auto: bool = False, diameter: float | str | None = None) -> Estimate:
    """The image's resize factor, object diameter and confidence, from a few of its chunks.

    Parameters
    ----------
    model : Model
        The loaded network.
    blocks : sequence of ndarray, shape (c, h, w)
        Raw pixels of the chunks the estimate looks at (:func:`estimate_chunks`).
    settings : Settings
        The image's settings; its ``scale`` is used unless ``auto``.
    kind : str
        The compartment whose objects are measured (:func:`estimate_on`).
    auto : bool
        ``diameter="auto"``: run passes at several scales, 1 first, over the
        blocks' centres (:func:`~cellscale.segment._estimate.size_passes`)
        and pick the scale.
    diameter : float, str or None
        The user's ``diameter`` option: a number is reported as it is
        (``"auto"``, ``"off"`` and None are not diameters).

    Returns
    -------
    Estimate
        Scale, diameter, flip-agreement confidence and warnings.
    """
    labels_at = measuring_labels(model, settings, kind)
    warnings: list[str] = []
    scale = settings.scale
    diameter = given_diameter(diameter)
    if auto:
        passes = size_passes(labels_at, blocks)
        diameter, confirmed = pick_diameter(passes)
        scale = 1.0 if diameter is None else scale_for(diameter)
        side = min(min(b.shape[1:]) for b in blocks)
        warnings += size_warnings(passes, diameter, confirmed, side)
    confidence = flip_agreement(labels_at, blocks, scale) if blocks else None
    if confidence is not None and confidence < LOW_CONFIDENCE:
        warnings.append(f"low confidence ({confidence:.2f}): the model finds different objects "
                        "when the image is flipped, so it is unsure here; check the result "
                        "by eye, or give the diameter")
    return Estimate(scale, diameter, confidence, tuple(warnings))


def estimate_on(compartments: Sequence[str]) -> str:
    """The compartment whose objects ``diameter="auto"`` measures: cells when decoded."""
    return "cells" if "cells" in compartments else compartments[0]


def image_settings(card: Any, samples: np.ndarray, *, compartments: Sequence[str],
                   scale: float | None, tile_size: int, overlap: int | None = None,
                   batch_size: int = 1) -> Settings:
    """Settings from the global subsample; ``scale=None`` leaves 1.0 for a first pass."""
    norm = card.inputs.normalisation
    ranges = tuple(percentile_range(s, low=norm.low, high=norm.high, max_samples=s.size + 1)
                   for s in samples)
    if overlap is None:
        overlap = default_overlap(card.inputs.diameter_range[1], card.inputs.size_multiple)
    return Settings(tuple(compartments), ranges, 1.0 if scale is None else float(scale),
                    int(tile_size), int(overlap), int(batch_size))


# -- the serial driver -----------------------------------------------------------------------
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
    _add(timings, "normalise", t0)

    def labels_of(chunk: Chunk, spec: Settings) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        block = read_block(image, channels, chunk.region)
        _add(timings, "normalise", t)
        return region_labels(model, block, spec, timings=timings, source=source)

    plan = plan_for(shape, card, scale=settings.scale, overlap=settings.overlap,
                    chunk_size=chunk_size)
    picked = estimate_chunks(plan, samples, stride, settings.ranges)
    kind = estimate_on(compartments)
    t0 = time.perf_counter()
    blocks = [read_block(image, channels, c.region) for c in picked]
    _add(timings, "normalise", t0)
    t0 = time.perf_counter()
    estimate = assess(model, blocks, settings, kind=kind, auto=scale is None, diameter=diameter)
    del blocks
    _add(timings, "estimate", t0)
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
        _add(timings, "postprocess", t)

    for i in range(rows):
        for j in range(cols):
            chunk = plan.at(i, j)
            for c, lab in labels_of(chunk).items():
                t = time.perf_counter()
                kept[c][chunk.index], n = keep_core_objects(lab, chunk)
                counts[c].append(n)
                _add(timings, "postprocess", t)
        if i > 0:
            assemble(i - 1)
    assemble(rows - 1)
    return result
