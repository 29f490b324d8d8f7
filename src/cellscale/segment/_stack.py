""":class:`~cellscale.segment.Segmenter` on a z-stack: checks, channels, anisotropy, then 3-D.

A :class:`~cellscale.io.Image` (or an array with ``axes``) with more than one
``z`` position is segmented in 3-D by :func:`~cellscale.segment._volume.segment_volume`.
What is supported: a cellscale network model (the shipped ``nuclei``, or
``cells`` with ``compartment="nuclei"``) and its nuclei, one time point. The
voxel shape comes from ``anisotropy`` when given, else from the image's
``z`` and ``x`` pixel sizes (the ``--pixel-size`` override counts as the xy
size), else voxels are taken as cubic, with a warning.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cellscale.errors import ImageTooLargeError, InvalidArgumentError, InvalidAxesError
from cellscale.io import Image

__all__ = ["MEMORY_FRACTION", "check_views", "is_stack", "segment_stack", "stack_anisotropy"]

#: A stack is refused when :func:`~cellscale.segment._volume.volume_bytes` exceeds this
#: fraction of the machine's memory.
MEMORY_FRACTION = 0.5


def check_views(views: Any) -> tuple[str, ...]:
    """``views`` as a tuple, checked against :data:`~cellscale.segment._volume.VIEWS`."""
    from cellscale.segment._volume import VIEWS

    chosen = (views,) if isinstance(views, str) else tuple(views)
    if not chosen or any(v not in VIEWS for v in chosen) or len(set(chosen)) != len(chosen):
        raise InvalidArgumentError(
            f"views must be distinct planes among {', '.join(map(repr, VIEWS))}, got {views!r}",
            option="views", choices=list(VIEWS))
    return chosen


def is_stack(image: Any, axes: str | None = None) -> bool:
    """True for an image with more than one ``z`` position (an Image, or an array with ``axes``)."""
    if isinstance(image, Image):
        return "z" in image.axes and image.sizes["z"] > 1
    if axes is None or "z" not in axes.lower() or not hasattr(image, "shape"):
        return False
    shape = tuple(image.shape)
    return len(shape) == len(axes) and shape[axes.lower().index("z")] > 1


def stack_anisotropy(image: Image, *, anisotropy: float | None = None,
                     pixel_size: float | None = None) -> tuple[float, str | None]:
    """z step over xy pixel size, and a warning when it had to be assumed."""
    if anisotropy is not None:
        return float(anisotropy), None
    z = image.pixel_size.get("z")
    xy = pixel_size or image.pixel_size.get("x") or image.pixel_size.get("y")
    if z and xy:
        return float(z) / float(xy), None
    return 1.0, ("the stack's z step is unknown (no z pixel size in the file), so voxels were "
                 "taken as cubic; give the z step over the xy pixel size as anisotropy")


def _check(segmenter: Any, image: Image) -> None:
    if segmenter.model is None:
        raise InvalidArgumentError(
            f"{_where(image)}model {segmenter.name!r} segments 2-D images only; this image is a "
            f"z-stack (axes {image.axes!r}, shape {image.shape})",
            hint="segment z-stacks with the 'nuclei' model, or one plane at a time")
    if segmenter.compartment != "nuclei":
        raise InvalidArgumentError(
            f"{_where(image)}3-D segmentation finds nuclei only; model {segmenter.name!r} was asked "
            f"for {segmenter.compartment!r} on a z-stack (axes {image.axes!r})",
            hint="ask for nuclei (compartment 'nuclei'), or segment whole cells one plane at a "
                 "time", option="compartment", choices=["nuclei"])
    if "t" in image.axes and image.sizes["t"] > 1:
        raise InvalidAxesError(
            f"{_where(image)}segmentation works on one time point; this image has axes "
            f"{image.axes!r} and shape {image.shape}",
            hint="segment one time point at a time")


def segment_stack(segmenter: Any, image: Any, *, axes: str | None = None, out: Any = None,
                  start: float | None = None) -> np.ndarray:
    """Segment a z-stack with a :class:`~cellscale.segment.Segmenter`'s model and options.

    Sets the segmenter's ``scale``, ``estimated_diameter``, ``confidence``
    (of the 2-D estimate on the brightest planes; None with a given diameter),
    ``warnings`` and ``timings`` as a 2-D call does.

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
        ``out`` filled when given.

    Raises
    ------
    InvalidArgumentError
        A model other than a cellscale network, or a compartment other than nuclei.
    InvalidAxesError
        More than one time point.
    ImageTooLargeError
        A stack whose segmentation needs more than :data:`MEMORY_FRACTION` of memory.
    """
    from cellscale.io._common import physical_memory
    from cellscale.segment._inputs import refuse_blank, select_channels
    from cellscale.segment._volume import segment_volume, volume_bytes

    start = time.perf_counter() if start is None else start
    img = image if isinstance(image, Image) else Image.from_array(image, axes)
    _check(segmenter, img)
    if "t" in img.axes:
        img = img.isel(t=0)
    chosen = select_channels(img, segmenter.inputs, segmenter.channels,
                             model=f"model {segmenter.name!r}")
    refuse_blank(chosen, f"{_where(img)}3-D segmentation of a z-stack")
    anisotropy, warning = stack_anisotropy(img, anisotropy=getattr(segmenter, "anisotropy", None),
                                           pixel_size=segmenter.pixel_size)
    shape = (img.sizes["z"], img.sizes["y"], img.sizes["x"])
    views = tuple(getattr(segmenter, "views", ("yx", "zx", "zy")))
    need = volume_bytes(shape, channels=len(chosen), views=len(views))
    memory = physical_memory()
    if memory and need > MEMORY_FRACTION * memory:
        raise ImageTooLargeError(
            f"{_where(img)}a z-stack of {shape[0]}x{shape[1]}x{shape[2]} voxels needs about "
            f"{need / 1e9:.1f} GB to segment in 3-D, more than {MEMORY_FRACTION:.0%} of this "
            f"machine's {memory / 1e9:.1f} GB", hint="crop the stack in y and x", option="axes")
    t0 = time.perf_counter()
    data = img.data
    if "c" in img.axes:
        data = data[list(chosen)]
    else:
        data = data[None]
    data = np.asarray(data.compute() if hasattr(data, "compute") else data)
    segmenter.timings["normalise"] += time.perf_counter() - t0
    pixel = segmenter.pixel_size or img.pixel_size.get("x")
    labels, found = segment_volume(
        segmenter.model, data, compartment=segmenter.compartment, diameter=segmenter.diameter,
        pixel_size=pixel, anisotropy=anisotropy, views=views, tile_size=segmenter.tile_size,
        overlap=segmenter.overlap, batch_size=segmenter.batch_size, timings=segmenter.timings,
        source=str(img.source or ""))
    segmenter.scale, segmenter.estimated_diameter = found.scale, found.diameter
    segmenter.confidence = found.confidence
    segmenter.warnings = ([warning] if warning else []) + list(found.warnings)
    segmenter.timings["total"] = time.perf_counter() - start
    if out is not None:
        out[...] = labels
        return out
    return labels


def _where(image: Image) -> str:
    return f"{image.source}: " if image.source else ""
