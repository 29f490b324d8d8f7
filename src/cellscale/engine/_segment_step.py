"""The ``segment`` step: the segmentation core (:mod:`cellscale.segment._core`) on Dask.

The driver takes the core's global pass once per image (normalisation ranges
from the whole image's regular subsample; the resize factor from the card's
pixel size, ``diameter``, or for ``diameter: auto`` a first pass over at most
four chunks, whose labels are kept when no resizing is needed); workers run
the core's per-region function (:func:`cellscale.segment._core.region_labels`)
on each chunk's region and keep the objects whose centroid lies in its core;
the cores are then assembled (:mod:`cellscale.segment._stitch`). The plan
(:func:`cellscale.segment._core.plan_for`) is the one
:class:`cellscale.segment.Segmenter` uses with the same ``chunk_size``, so
``cellscale run`` and ``cellscale segment`` give the same labels for the same
options.

The halo is the card's ``inputs.diameter_range[1]`` plus half the tiling
overlap, both in the resized frame, divided by the resize factor and rounded
up to the model's size multiple; objects must be smaller than
``diameter_range[1]`` once resized.

z-stacks are segmented whole, in 3-D, on one worker, within a memory
budget (:mod:`cellscale.engine._volume_step`).

Movies (a ``t`` axis) are segmented frame by frame, each frame whole and on
its own (ranges and ``auto`` size estimate per frame, as ``cellscale segment``
on that frame); frames must fit in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from cellscale.engine._job import ImageRef, Job, LabelLayer, open_image, read_region, worker_threads
from cellscale.engine._pipeline import Step, register_step
from cellscale.engine._plan import Chunk, ChunkPlan, plan_chunks
from cellscale.engine._stitch import assemble_core, chunk_offsets, keep_core_objects
from cellscale.engine._volume_step import check_volume, is_volume, run_volume
from cellscale.errors import InvalidArgumentError

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
    """Halo (pixels) for a model card at the image's own scale (no resizing)."""
    from cellscale.segment import default_overlap
    from cellscale.segment._core import halo_pixels

    overlap = default_overlap(card.inputs.diameter_range[1], card.inputs.size_multiple)
    return halo_pixels(card, 1.0, overlap)


@dataclass(frozen=True)
class _Spec:
    """Everything a chunk task needs (small and picklable)."""

    ref: ImageRef
    model: str
    channels: list[int | None]
    settings: Any  # cellscale.segment._core.Settings
    paths: dict[str, str]


def _create(path: str, shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    import zarr

    zarr.create_array(store=path, shape=shape, chunks=chunks, dtype="uint32", fill_value=0,
                      zarr_format=3, overwrite=True)


def _segment_chunk(spec: _Spec, chunk: Chunk) -> dict[str, Any]:
    """Segment one chunk's region; store the objects it keeps; return their counts."""
    import zarr

    from cellscale.segment._core import region_labels

    start = time.perf_counter()
    block = read_region(spec.ref, chunk.region, channels=spec.channels)
    counts = {}
    h, w = chunk.region_shape
    for compartment, labels in region_labels(_model(spec.model), block, spec.settings,
                                              source=spec.ref.path).items():
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


def _segment_frame(spec: _Spec, t: int, *, diameter: float | str | None,
                   pixel_size: float | None) -> dict[str, Any]:
    """Segment one whole frame of a movie into ``paths[c][t]``, as the Segmenter would."""
    import zarr

    from cellscale.io import Image
    from cellscale.segment._core import segment_chunked

    block = read_region(spec.ref, (0, spec.ref.plane[0], 0, spec.ref.plane[1]),
                        channels=spec.channels, t=t)
    frame = Image.from_array(block, "cyx", source=spec.ref.path)
    settings = spec.settings
    labels, estimate = segment_chunked(
        _model(spec.model), frame, list(range(block.shape[0])),
        compartments=settings.compartments, diameter=diameter, pixel_size=pixel_size,
        tile_size=settings.tile_size, overlap=settings.overlap,
        batch_size=settings.batch_size, chunk_size=max(block.shape[1:]))
    counts = {}
    for compartment, lab in labels.items():
        zarr.open_array(spec.paths[compartment], mode="r+")[t] = lab
        counts[compartment] = int(lab.max())
    return {"counts": counts, "estimate": estimate.record()}


@register_step
class SegmentStep(Step):
    """Segment nuclei and/or whole cells with a network model, chunk by chunk."""

    step: Literal["segment"] = "segment"
    model: str = Field("nuclei", description="Model name, or path/URL of a model card.")
    channels: list[str | int] | None = Field(
        None, description="Image channels for the model's inputs, in its order; default "
                          "by name (DNA/DAPI/Hoechst, membrane); 'none' leaves a role blank "
                          "(none,0: the cells model on an image without a nuclear stain).")
    compartments: list[Literal["cells", "nuclei"]] | None = Field(
        None, description="Objects to keep; default all the model outputs.")
    tile_size: int = Field(512, ge=64, description="Network tile side within a chunk "
                                                   "(cellscale segment --tile-size).")
    batch_size: int = Field(1, ge=1, description="Tiles per network call.")
    diameter: Annotated[float, Field(gt=0)] | Literal["auto", "off"] | None = Field(
        "auto", description="Typical object diameter in pixels; 'auto' estimates it from a "
                            "first pass and resizes only objects outside 12-30 px; 'off' or "
                            "null never resizes (cellscale segment --diameter).")
    pixel_size: float | None = Field(
        None, gt=0, description="Pixel size in µm, overriding the file's; images are resized to "
                                "a model trained at a stated pixel size (cellscale segment "
                                "--pixel-size).")
    anisotropy: float | None = Field(
        None, gt=0, description="z-stacks: z step over xy pixel size; default from the file's "
                                "pixel sizes, else 1 (cellscale segment --anisotropy).")
    views: list[Literal["yx", "zx", "zy"]] = Field(
        ["yx", "zx", "zy"], min_length=1, description="z-stacks: planes the network runs on, averaged "
                                          "(cellscale segment --views).")

    def _prepare(self, job: Job) -> tuple[Any, list[int | None], list[str]]:
        from cellscale.segment import select_channels
        from cellscale.segment._inputs import refuse_blank

        if self.model == "classical" or ":" in self.model and self.model.split(":")[0] in (
                "cellpose", "stardist"):
            raise InvalidArgumentError(
                f"the engine's segment step runs network models with a model card; "
                f"{self.model!r} is not one (use cellscale segment for it)")
        card = _card(self.model)
        image = open_image(job.ref)
        channels = select_channels(image, list(card.inputs.channels), self.channels,
                                   model=f"model {card.name!r}")
        if is_volume(image):  # z-stacks: nuclei in 3-D, whole (cellscale.engine._volume_step)
            refuse_blank(channels, f"{job.ref.path}: 3-D segmentation of a z-stack")
            big = max(image.sizes["y"], image.sizes["x"]) > job.plan.chunk_size
            return card, channels, check_volume(self, card, image, channels,
                                                job.plan.chunk_size if big else None)
        objects = card.objects()
        compartments = list(self.compartments or objects)
        bad = [c for c in compartments if c not in objects]
        if bad:
            raise InvalidArgumentError(f"model {card.name!r} outputs {objects}; "
                                       f"compartments {bad} are not among them")
        return card, channels, compartments

    def check(self, job: Job) -> None:
        self._prepare(job)

    def _diameter(self) -> float | str | None:
        return None if self.diameter == "off" else self.diameter

    def _pixel_size(self, job: Job) -> float | None:
        return self.pixel_size or job.ref.pixel_size.get("x") or job.ref.pixel_size.get("y")

    def run(self, job: Job) -> None:
        from cellscale.segment._core import (
            assess,
            estimate_chunks,
            estimate_on,
            fixed_scale,
            image_settings,
            plan_for,
            sample,
        )

        card, channels, compartments = self._prepare(job)
        image = open_image(job.ref)
        if is_volume(image):
            run_volume(self, job, card, channels)
            return
        if "t" in image.axes:
            self._run_movie(job, card, channels, compartments)
            return
        samples, stride = sample(image, channels, scheduler=job.compute_scheduler,
                                 source=job.ref.path)
        scale = fixed_scale(card, diameter=self._diameter(), pixel_size=self._pixel_size(job))
        settings = image_settings(card, samples, compartments=compartments, scale=scale,
                                  tile_size=self.tile_size, batch_size=self.batch_size)
        chunk_size = job.plan.chunk_size
        plan = plan_for(job.plan.shape, card, scale=settings.scale, overlap=settings.overlap,
                        chunk_size=chunk_size)
        picked = estimate_chunks(plan, samples, stride, settings.ranges)
        blocks = [read_region(job.ref, c.region, channels=channels) for c in picked]
        estimate = assess(_model(self.model), blocks, settings, kind=estimate_on(compartments),
                          auto=scale is None, diameter=self._diameter())
        del blocks
        if estimate.scale != settings.scale:
            settings = replace(settings, scale=estimate.scale)
            plan = plan_for(job.plan.shape, card, scale=estimate.scale,
                            overlap=settings.overlap, chunk_size=chunk_size)
        pass1 = self._pass1(job, plan, compartments)
        job.extras["segment_estimate"] = estimate.record()
        spec = _Spec(job.ref, self.model, channels, settings, pass1)
        ordered = job.map(partial(_segment_chunk, spec), list(plan.chunks))
        if plan.halo > job.plan.halo:  # later steps (measure) need the larger halo
            job.plan = plan_chunks(plan.shape, chunk_size=chunk_size, halo=plan.halo)
        start = time.perf_counter()
        for compartment in compartments:
            counts = [int(r["counts"][compartment]) for r in ordered]
            offsets = chunk_offsets(counts).tolist()
            final = job.scratch_path(f"{compartment}.zarr")
            _create(final, plan.shape, (plan.chunk_size, plan.chunk_size))
            job.map(partial(_assemble_chunk, plan, pass1[compartment], final, offsets),
                    list(plan.chunks))
            job.labels[compartment] = LabelLayer(compartment, final, counts, offsets)
        job.timings["stitch"] = time.perf_counter() - start
        job.extras["segment_seconds_per_chunk"] = [r["seconds"] for r in ordered]

    @staticmethod
    def _pass1(job: Job, plan: ChunkPlan, compartments: list[str]) -> dict[str, str]:
        """Scratch arrays ``(grid_y, grid_x, h, w)`` for each chunk's kept objects."""
        max_h, max_w = plan.max_region
        paths = {c: job.scratch_path(f"pass1_{c}.zarr") for c in compartments}
        for path in paths.values():
            _create(path, (*plan.grid, max_h, max_w), (1, 1, max_h, max_w))
        return paths

    def _run_movie(self, job: Job, card: Any, channels: list[int | None],
                   compartments: list[str]) -> None:
        from cellscale.segment._core import Settings, default_overlap

        ref = job.ref
        height, width = ref.plane
        paths = {c: job.scratch_path(f"{c}.zarr") for c in compartments}
        for path in paths.values():
            _create(path, (ref.n_frames, height, width), (1, height, width))
        overlap = default_overlap(card.inputs.diameter_range[1], card.inputs.size_multiple)
        settings = Settings(tuple(compartments), (), 1.0, self.tile_size, overlap,
                            self.batch_size)
        spec = _Spec(ref, self.model, channels, settings, paths)
        results = job.map(partial(_segment_frame, spec, diameter=self._diameter(),
                                  pixel_size=self._pixel_size(job)),
                          list(range(ref.n_frames)))
        job.extras["segment_estimate_per_frame"] = [r["estimate"] for r in results]
        for compartment in compartments:
            counts = [int(r["counts"][compartment]) for r in results]
            job.labels[compartment] = LabelLayer(compartment, paths[compartment], counts,
                                                 [0] * len(counts))
