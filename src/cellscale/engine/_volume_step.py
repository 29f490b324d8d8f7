"""The ``segment`` step on a z-stack: nuclei in 3-D, whole or in chunks of every plane.

A z-stack (more than one ``z`` position) is segmented by
:func:`~cellscale.segment._volume.segment_volume`, the function
:class:`~cellscale.segment.Segmenter` uses. A stack no wider than the
pipeline's ``chunk_size`` in y and x is read whole by one task, so
``cellscale run`` and ``cellscale segment`` give the same labels for the same
options; a wider one is cut in y and x only, every chunk keeping all planes,
and stitched (:mod:`cellscale.engine._volume_chunks`).

**Memory budget.** A task needs about
:func:`~cellscale.segment._volume.volume_bytes` of what it segments (the
chosen channels as float32, the network's float32 maps per view, the labels:
16-40 bytes a voxel): the whole stack, or one chunk's region (all planes,
the core plus the halo). It must be at most
:data:`~cellscale.segment._stack.MEMORY_FRACTION` of this machine's memory
(the rule ``cellscale segment`` applies to a whole stack); otherwise the
image is refused before anything runs, with the figure and the advice to
lower ``chunk_size``.

Only nuclei are found in 3-D, on one time point; the anisotropy is the
step's ``anisotropy``, else the file's z step over its x pixel size, else 1
(recorded as a warning in the job's ``segment_estimate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cellscale.errors import ImageTooLargeError, InvalidArgumentError, InvalidAxesError

__all__ = ["check_volume", "is_volume", "run_volume"]


def is_volume(image: Any) -> bool:
    """True for an image with more than one z position."""
    return "z" in image.axes and image.sizes["z"] > 1


@dataclass(frozen=True)
class _VolumeSpec:
    """What the volume task needs (small and picklable)."""

    ref: Any
    model: str
    channels: list[int]
    path: str
    diameter: float | str | None
    pixel_size: float | None
    anisotropy: float
    views: tuple[str, ...]
    tile_size: int
    batch_size: int


def check_volume(step: Any, card: Any, image: Any, channels: list[int],
                 chunk_size: int | None = None) -> list[str]:
    """The compartments to decode in 3-D (nuclei); refuse what is not supported.

    Raises
    ------
    InvalidAxesError
        A stack with a time axis.
    InvalidArgumentError
        Compartments other than nuclei, or a model without nuclei.
    ImageTooLargeError
        A stack over the memory budget (see the module's description).
    """
    from cellscale.io._common import physical_memory
    from cellscale.segment._stack import MEMORY_FRACTION, check_views
    from cellscale.segment._volume import volume_bytes

    path = step_path(image)
    if "t" in image.axes and image.sizes["t"] > 1:
        raise InvalidAxesError(
            f"{path}the engine segments z-stacks of one time point; got axes {image.axes!r} "
            f"and shape {image.shape}", hint="pass one time point per image")
    wanted = list(step.compartments or ["nuclei"])
    if wanted != ["nuclei"] or "nuclei" not in card.objects():
        raise InvalidArgumentError(
            f"{path}3-D segmentation finds nuclei only; the segment step asks model "
            f"{card.name!r} (outputs {card.objects()}) for {wanted} on a z-stack",
            hint="set compartments: [nuclei] with a model that outputs nuclei (e.g. 'nuclei')",
            option="compartments", choices=["nuclei"])
    check_views(step.views)
    shape = (image.sizes["z"], image.sizes["y"], image.sizes["x"])
    if chunk_size is not None:  # one chunk's region: all planes, the core plus the halo
        from cellscale.engine._segment_step import model_halo

        side = chunk_size + 2 * model_halo(card)
        shape = (shape[0], min(shape[1], side), min(shape[2], side))
    need = volume_bytes(shape, channels=len(channels), views=len(step.views))
    memory = physical_memory()
    if memory and need > MEMORY_FRACTION * memory:
        raise ImageTooLargeError(
            f"{path}a z-stack region of {shape[0]}x{shape[1]}x{shape[2]} voxels needs about "
            f"{need / 1e9:.1f} GB to segment in 3-D, more than {MEMORY_FRACTION:.0%} of "
            f"this machine's {memory / 1e9:.1f} GB",
            hint="lower the pipeline's chunk_size (chunks keep every plane)", option="images")
    return ["nuclei"]


def step_path(image: Any) -> str:
    return f"{image.source}: " if getattr(image, "source", None) else ""


def _segment_volume_task(spec: _VolumeSpec, _index: int) -> dict[str, Any]:
    """Read the stack's chosen channels whole, segment them in 3-D, write the labels."""
    import zarr

    from cellscale.engine._job import open_image
    from cellscale.engine._segment_step import _model
    from cellscale.segment._volume import segment_volume

    image = open_image(spec.ref)
    if "t" in image.axes:
        image = image.isel(t=0)
    data = image.data[list(spec.channels)] if "c" in image.axes else image.data[None]
    block = np.asarray(data.compute() if hasattr(data, "compute") else data)
    labels, found = segment_volume(
        _model(spec.model), block, compartment="nuclei", diameter=spec.diameter,
        pixel_size=spec.pixel_size, anisotropy=spec.anisotropy, views=spec.views,
        tile_size=spec.tile_size, batch_size=spec.batch_size, source=spec.ref.path)
    zarr.open_array(spec.path, mode="r+")[...] = labels
    return {"count": int(labels.max()), "estimate": found.record()}


def run_volume(step: Any, job: Any, card: Any, channels: list[int]) -> None:
    """Segment the job's z-stack whole on one worker; its labels become the ``nuclei`` layer."""
    from cellscale.engine._job import LabelLayer, open_image
    from cellscale.engine._segment_step import _create

    image = open_image(job.ref)
    shape = (image.sizes["z"], image.sizes["y"], image.sizes["x"])
    chunked = max(shape[1:]) > job.plan.chunk_size
    check_volume(step, card, image, channels, job.plan.chunk_size if chunked else None)
    sizes = {**{k: v for k, v in image.pixel_size.items() if k in "zyx"},
             **({"x": step.pixel_size} if step.pixel_size else {})}
    warnings = []
    if step.anisotropy is not None:
        anisotropy = float(step.anisotropy)
    elif sizes.get("z") and sizes.get("x"):
        anisotropy = float(sizes["z"]) / float(sizes["x"])
    else:
        anisotropy = 1.0
        warnings.append("the stack's z step is unknown, so voxels were taken as cubic; set the "
                        "segment step's anisotropy")
    path = job.scratch_path("nuclei.zarr")
    # Chunked: one Zarr chunk per core, so tasks that assemble cores never share one.
    side = job.plan.chunk_size
    _create(path, shape, (shape[0], side, side) if chunked else (1, shape[1], shape[2]))
    if chunked:
        from cellscale.engine._volume_chunks import run_chunked

        estimate = run_chunked(step, job, card, channels, shape, anisotropy,
                               step.pixel_size or sizes.get("x"), path)
        count = estimate.pop("count")
        estimate["warnings"] = warnings + estimate["warnings"]
        job.extras["segment_estimate"] = estimate
        job.extras["segment_volume"] = {"shape": list(shape), "anisotropy": anisotropy,
                                        "views": list(step.views), "chunks": estimate["chunks"]}
        job.labels["nuclei"] = LabelLayer("nuclei", path, [count], [0])
        return
    diameter = None if step.diameter == "off" else step.diameter
    spec = _VolumeSpec(job.ref, step.model, list(channels), path, diameter,
                       step.pixel_size or sizes.get("x"), anisotropy, tuple(step.views),
                       step.tile_size, step.batch_size)
    (result,) = job.map(_partial(spec), [0])
    estimate = result["estimate"]
    estimate["warnings"] = warnings + estimate["warnings"]
    job.extras["segment_estimate"] = estimate
    job.extras["segment_volume"] = {"shape": list(shape), "anisotropy": anisotropy,
                                    "views": list(step.views)}
    job.labels["nuclei"] = LabelLayer("nuclei", path, [result["count"]], [0])


def _partial(spec: _VolumeSpec) -> Any:
    from functools import partial

    return partial(_segment_volume_task, spec)
