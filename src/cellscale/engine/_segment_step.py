"""The ``segment`` step: chunked network segmentation with stitched labels.

Each chunk's region (core + halo) is normalised with the *whole image's*
percentiles (computed once, on the same regular subsample
:func:`cellscale.segment.percentile_range` uses), run through the network in
blended tiles (:func:`cellscale.segment.predict_tiled`) and turned into
instances (:func:`cellscale.segment.instances_from_maps`); the chunks are then
stitched (:mod:`cellscale.engine._stitch`). On an image that is one chunk this
is exactly :class:`cellscale.segment.Segmenter`.

The halo is ``max_diameter + overlap / 2`` rounded up to the model's size
multiple, with ``max_diameter`` the card's ``inputs.diameter_range[1]`` and
``overlap`` the tiling overlap the Segmenter uses; objects must be smaller
than ``max_diameter``.

Movies (a ``t`` axis) are segmented frame by frame, each frame whole and
normalised on its own (as the Segmenter does); frames must fit in memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
from pydantic import Field

from cellscale.engine._job import ImageRef, Job, LabelLayer, open_image, read_region, worker_threads
from cellscale.engine._pipeline import Step, register_step
from cellscale.engine._plan import Chunk, ChunkPlan, halo_for
from cellscale.engine._stitch import assemble_core, chunk_offsets, keep_core_objects
from cellscale.errors import InvalidArgumentError, InvalidImageError

__all__ = ["SegmentStep", "model_halo"]

_MODELS: dict[tuple[str, int], Any] = {}


def _card(model: str) -> Any:
    from cellscale.models import model_info

    return model_info(model)


def _model(model: str) -> Any:
    """The loaded network, once per process."""
    from cellscale.models import load_model

    key = (model, worker_threads())
    if key not in _MODELS:
        _MODELS[key] = load_model(model, threads=key[1])
    return _MODELS[key]


def model_halo(card: Any) -> int:
    """Halo (pixels) for a model card: its largest object plus half its tiling overlap."""
    from cellscale.segment import default_overlap

    multiple = card.inputs.size_multiple
    overlap = default_overlap(card.inputs.diameter_range[1], multiple)
    return halo_for(card.inputs.diameter_range[1], context=overlap // 2, size_multiple=multiple)


@dataclass(frozen=True)
class _Spec:
    """Everything a chunk task needs (small and picklable)."""

    ref: ImageRef
    model: str
    channels: list[int]
    ranges: list[tuple[float, float]] | None
    compartments: list[str]
    tile_size: int
    batch_size: int
    paths: dict[str, str]


def _create(path: str, shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    import zarr

    zarr.create_array(store=path, shape=shape, chunks=chunks, dtype="uint32", fill_value=0,
                      zarr_format=3, overwrite=True)


def _normalised(block: np.ndarray, ranges: list[tuple[float, float]] | None,
                low: float, high: float) -> np.ndarray:
    from cellscale.segment import apply_ranges, normalise

    if ranges is None:
        return normalise(block, low=low, high=high)
    return apply_ranges(block, ranges)


def _labels(spec: _Spec, block: np.ndarray) -> dict[str, np.ndarray]:
    """Network + post-processing on one block (c, h, w): labels per compartment."""
    from cellscale.segment import decode_maps, default_overlap, predict_tiled

    model = _model(spec.model)
    card = model.card
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        raise InvalidImageError(f"{spec.ref.path}: image holds NaN or infinite pixels")
    norm = card.inputs.normalisation
    data = _normalised(block, spec.ranges, norm.low, norm.high)
    shape = data.shape[1:]
    if not data.any():
        return {c: np.zeros(shape, np.uint32) for c in spec.compartments}
    kinds = {c: card.maps(c) for c in spec.compartments}
    keep = [card.output_index(c, kind) for c in spec.compartments for kind in kinds[c]]
    overlap = default_overlap(card.inputs.diameter_range[1], card.inputs.size_multiple)
    maps = predict_tiled(model.predict, data, tile_size=spec.tile_size, overlap=overlap,
                         size_multiple=card.inputs.size_multiple, batch_size=spec.batch_size,
                         keep=keep)
    del data
    out, start = {}, 0
    for c in spec.compartments:
        out[c] = decode_maps(dict(zip(kinds[c], maps[start:start + len(kinds[c])])),
                             card.postprocess)
        start += len(kinds[c])
    return out


def _segment_chunk(spec: _Spec, chunk: Chunk) -> dict[str, Any]:
    """Segment one chunk's region; store the objects it keeps; return their counts."""
    import zarr

    start = time.perf_counter()
    block = read_region(spec.ref, chunk.region, channels=spec.channels)
    counts = {}
    h, w = chunk.region_shape
    for compartment, labels in _labels(spec, block).items():
        kept, n = keep_core_objects(labels, chunk)
        arr = zarr.open_array(spec.paths[compartment], mode="r+")
        arr[chunk.index[0], chunk.index[1], :h, :w] = kept
        counts[compartment] = n
    return {"counts": counts, "seconds": time.perf_counter() - start}


def _assemble_chunk(plan: ChunkPlan, pass1: str, final: str, offsets: list[int],
                    chunk: Chunk) -> None:
    """Write one core of the stitched labels."""
    import zarr

    kept_arr = zarr.open_array(pass1, mode="r")
    cache: dict[tuple[int, int], np.ndarray] = {}

    def kept(c: Chunk) -> np.ndarray:
        if c.index not in cache:
            h, w = c.region_shape
            cache[c.index] = np.asarray(kept_arr[c.index[0], c.index[1], :h, :w])
        return cache[c.index]

    core = assemble_core(plan, chunk, kept, offsets)
    y0, y1, x0, x1 = chunk.core
    zarr.open_array(final, mode="r+")[y0:y1, x0:x1] = core


def _segment_frame(spec: _Spec, t: int) -> dict[str, Any]:
    """Segment one whole frame of a movie into ``paths[c][t]``."""
    import zarr

    block = read_region(spec.ref, (0, spec.ref.plane[0], 0, spec.ref.plane[1]),
                        channels=spec.channels, t=t)
    counts = {}
    for compartment, labels in _labels(spec, block).items():
        zarr.open_array(spec.paths[compartment], mode="r+")[t] = labels
        counts[compartment] = int(labels.max())
    return {"counts": counts}


def _ranges(image: Any, channels: list[int], low: float, high: float,
            scheduler: str | None) -> list[tuple[float, float]]:
    """Whole-image percentile ranges, on the subsample ``percentile_range`` takes."""
    import dask

    from cellscale.segment import MAX_SAMPLES, percentile_range

    h, w = image.sizes["y"], image.sizes["x"]
    stride = max(1, math.ceil(math.sqrt(h * w / MAX_SAMPLES)))
    samples = []
    for c in channels:
        index = tuple(c if a == "c" else slice(None, None, stride) for a in image.axes)
        samples.append(image.data[index])
    if any(hasattr(s, "dask") for s in samples):
        samples = list(dask.compute(*samples, scheduler=scheduler))
    out = []
    for s in samples:
        s = np.asarray(s)
        if s.dtype.kind == "f" and not np.isfinite(s).all():
            raise InvalidImageError(f"{image.source}: image holds NaN or infinite pixels; "
                                    f"replace them first, e.g. with numpy.nan_to_num")
        out.append(percentile_range(s, low=low, high=high, max_samples=s.size + 1))
    return out


@register_step
class SegmentStep(Step):
    """Segment nuclei and/or whole cells with a network model, chunk by chunk."""

    step: Literal["segment"] = "segment"
    model: str = Field("nuclei", description="Model name, or path/URL of a model card.")
    channels: list[str | int] | None = Field(
        None, description="Image channels for the model's inputs, in its order; default "
                          "by name (DNA/DAPI/Hoechst, membrane).")
    compartments: list[Literal["cells", "nuclei"]] | None = Field(
        None, description="Objects to keep; default all the model outputs.")
    tile_size: int = Field(512, ge=64, description="Network tile side within a chunk.")
    batch_size: int = Field(1, ge=1, description="Tiles per network call.")

    def _prepare(self, job: Job) -> tuple[Any, list[int], list[str]]:
        from cellscale.segment import select_channels

        if self.model == "classical" or ":" in self.model and self.model.split(":")[0] in (
                "cellpose", "stardist"):
            raise InvalidArgumentError(
                f"the engine's segment step runs network models with a model card; "
                f"{self.model!r} is not one (use cellscale segment for it)")
        card = _card(self.model)
        image = open_image(job.ref)
        if "z" in image.axes:
            raise InvalidImageError(f"{job.ref.path}: the engine segments 2-D planes; got axes "
                                    f"{image.axes!r} with a z axis")
        channels = select_channels(image, list(card.inputs.channels), self.channels,
                                   model=f"model {card.name!r}")
        objects = card.objects()
        compartments = list(self.compartments or objects)
        bad = [c for c in compartments if c not in objects]
        if bad:
            raise InvalidArgumentError(f"model {card.name!r} outputs {objects}; "
                                       f"compartments {bad} are not among them")
        return card, channels, compartments

    def check(self, job: Job) -> None:
        self._prepare(job)

    def run(self, job: Job) -> None:
        card, channels, compartments = self._prepare(job)
        image = open_image(job.ref)
        if "t" in image.axes:
            self._run_movie(job, channels, compartments)
            return
        norm = card.inputs.normalisation
        ranges = _ranges(image, channels, norm.low, norm.high, job.compute_scheduler)
        plan = job.plan
        max_h, max_w = plan.max_region
        pass1 = {c: job.scratch_path(f"pass1_{c}.zarr") for c in compartments}
        for path in pass1.values():
            _create(path, (*plan.grid, max_h, max_w), (1, 1, max_h, max_w))
        spec = _Spec(job.ref, self.model, channels, ranges, compartments, self.tile_size,
                     self.batch_size, pass1)
        results = job.map(partial(_segment_chunk, spec), list(plan.chunks))
        start = time.perf_counter()
        for compartment in compartments:
            counts = [int(r["counts"][compartment]) for r in results]
            offsets = chunk_offsets(counts).tolist()
            final = job.scratch_path(f"{compartment}.zarr")
            _create(final, plan.shape, (plan.chunk_size, plan.chunk_size))
            job.map(partial(_assemble_chunk, plan, pass1[compartment], final, offsets),
                    list(plan.chunks))
            job.labels[compartment] = LabelLayer(compartment, final, counts, offsets)
        job.timings["stitch"] = time.perf_counter() - start
        job.extras["segment_seconds_per_chunk"] = [r["seconds"] for r in results]

    def _run_movie(self, job: Job, channels: list[int], compartments: list[str]) -> None:
        ref = job.ref
        height, width = ref.plane
        paths = {c: job.scratch_path(f"{c}.zarr") for c in compartments}
        for path in paths.values():
            _create(path, (ref.n_frames, height, width), (1, height, width))
        spec = _Spec(ref, self.model, channels, None, compartments, self.tile_size,
                     self.batch_size, paths)
        results = job.map(partial(_segment_frame, spec), list(range(ref.n_frames)))
        for compartment in compartments:
            counts = [int(r["counts"][compartment]) for r in results]
            job.labels[compartment] = LabelLayer(compartment, paths[compartment], counts,
                                                 [0] * len(counts))
