"""The global pass over one image: normalisation ranges, resize factor, size and confidence.

Run once per image before its regions are segmented
(:mod:`cellscale.segment._core`): the channels' normalisation ranges from a
regular subsample of the whole image; the resize factor from the model
card's pixel size, a given ``diameter``, or, for ``diameter="auto"``, from
passes at several scales over at most :data:`ESTIMATE_CHUNKS` chunks (the
ones with most signal in the subsample); and a confidence from a flipped
pass (:func:`assess`, :mod:`cellscale.segment._estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

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
from cellscale.segment._region import CHUNK_SIZE, Settings, check_finite, region_labels
from cellscale.segment._scale import scale_for
from cellscale.segment._tiling import default_overlap

__all__ = ["ESTIMATE_CHUNKS", "PIXEL_TOLERANCE", "assess", "estimate_chunks",
           "estimate_on", "fixed_scale", "halo_pixels", "image_settings", "measuring_labels",
           "plan_for", "read_block", "sample"]

#: Most chunks a first pass for ``diameter="auto"`` runs on.
ESTIMATE_CHUNKS = 4
#: Relative pixel-size mismatch below which an image is not resized to a card's pixel size.
PIXEL_TOLERANCE = 0.02

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
    check_finite(out, source, exact=stride == 1)
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


