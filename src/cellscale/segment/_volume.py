"""3-D nuclei from a 2-D network: maps of every plane, averaged, decoded in 3-D.

A z-stack (axes ``zyx`` or ``czyx``) is segmented with the same network, the
same normalisation and the same size logic as a 2-D image, as Cellpose does
in 3-D:

1. **Global settings**, once per stack: each channel's normalisation range is
   the card's percentiles of a regular subsample of the *whole* stack
   (:func:`~cellscale.segment.percentile_range`); the xy resize factor
   comes from the card's pixel size, a given ``diameter`` (xy pixels) or,
   for ``diameter="auto"``, from the 2-D estimate on the
   :data:`ESTIMATE_PLANES` brightest planes (:func:`estimate_size`; passes
   at several scales, as in 2-D, and a confidence from a flipped pass).
2. **Maps** (:func:`volume_maps`): the network runs on every xy plane
   (:func:`~cellscale.segment._core.network_maps`, blended tiles) and, by
   default (:data:`VIEWS`), on every xz and yz plane of the stack resampled
   along z to cubic voxels (in the network's frame, from ``anisotropy`` = z
   step / xy pixel size); those maps are resampled back to the planes and
   the foreground, distance and centre maps of the views are averaged voxel
   by voxel.
3. **Decoding** (:mod:`cellscale.segment._decode3d`): the mask is ``foreground
   >`` the card's threshold; seeds are local maxima, at least
   ``SEED_SPACING`` diameters apart, of the centre map times the smoothed
   intensity (a per-plane map has a centre in every plane of a nucleus, so
   centre-map components would join nuclei stacked in z); they grow by a 3-D
   watershed; each object keeps, in each xy column, the voxels at least
   ``Z_FRACTION`` of the column's brightest (``trim_columns``: a 2-D network
   sees a nucleus in the blurred planes above and below it), then its
   largest part with holes filled (``tidy_objects``); objects
   smaller than the card's ``min_size`` times :data:`MIN_SIZE_PLANES` voxels
   are dropped. Labels are decoded in the network's frame and mapped back to
   the stack's xy grid.

The stack is held in memory: the chosen channels as float32 plus three
float32 maps of the stack's size (after xy resizing), about 16 bytes a voxel
per view; :func:`volume_bytes` says how much.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidImageError
from cellscale.segment._decode3d import instances_from_maps_3d
from cellscale.segment._estimate import LOW_CONFIDENCE, Estimate, given_diameter
from cellscale.segment._global import assess, fixed_scale, measuring_labels
from cellscale.segment._normalise import MAX_SAMPLES, apply_ranges, percentile_range
from cellscale.segment._postprocess import relabel_sequential
from cellscale.segment._region import Settings, Timings, add_time, network_maps
from cellscale.segment._scale import rescale_image, resize_labels, scale_for
from cellscale.segment._tiling import default_overlap

__all__ = ["CROSS_SECTION", "ESTIMATE_PLANES", "MIN_SIZE_PLANES", "VIEWS", "estimate_size",
           "segment_volume", "volume_bytes", "volume_maps"]

#: Planes a first pass for ``diameter="auto"`` runs on (those with most signal).
ESTIMATE_PLANES = 4
#: The card's 2-D ``min_size`` (pixels) times this is the least volume (voxels) kept.
MIN_SIZE_PLANES = 2
#: Median diameter of a 2-D pass's cross-sections over the nuclei's widest (simulated seeds 100-105).
CROSS_SECTION = 0.9
#: Views the network can see a stack in: xy planes, and xz / yz planes of a cubic resampling.
#: All three are the default: on simulated seeds 100-107 (nuclei model v2) pooled F1@0.5 0.925
#: and mean AP 0.418, against 0.875 and 0.368 with xy planes only, at 2-5x the time.
VIEWS = ("yx", "zx", "zy")



def volume_bytes(shape: tuple[int, int, int], *, channels: int = 1, scale: float = 1.0,
                 views: int = 1) -> int:
    """Rough peak memory of :func:`segment_volume` for a ``(z, y, x)`` stack, in bytes.

    The channels as float32, three float32 maps and a float32 sum per view
    at the network's xy size, and the labels.
    """
    z, y, x = shape
    net = z * max(1, round(y * scale)) * max(1, round(x * scale))
    return int(4 * channels * z * y * x + 4 * net * (3 + 3 * min(views, 2)) + 8 * z * y * x)


# -- maps ------------------------------------------------------------------------------------
def _zoom_z(stack: np.ndarray, size: int) -> np.ndarray:
    """Linear resampling of ``(c, z, y, x)`` (or ``(z, y, x)``) along z to ``size`` planes."""
    from scipy import ndimage as ndi

    axis = stack.ndim - 3
    z = stack.shape[axis]
    if size == z:
        return stack
    factors = [1.0] * stack.ndim
    factors[axis] = size / z
    return ndi.zoom(stack, factors, order=1, mode="nearest", grid_mode=True).astype(
        np.float32, copy=False)


def volume_maps(model: Any, data: np.ndarray, *, compartment: str, anisotropy: float,
                views: Sequence[str] = ("yx",), tile_size: int = 1024, overlap: int | None = None,
                batch_size: int = 4) -> dict[str, np.ndarray]:
    """The network's maps of a normalised ``(c, z, y, x)`` stack, averaged over views.

    Parameters
    ----------
    model : Model
        The loaded 2-D network.
    data : ndarray of float32, shape (c, z, y, x)
        Normalised stack, already resized in xy to the network's frame.
    compartment : str
        Object kind whose maps are returned.
    anisotropy : float
        z step over xy pixel size *in the network's frame*.
    views : sequence of {"yx", "zx", "zy"}
        Planes the network runs on; xz and yz planes are taken from the stack
        resampled along z to cubic voxels.
    tile_size, overlap, batch_size
        Network tiling, as in 2-D.

    Returns
    -------
    dict of str to ndarray of float32, shape (z, y, x)
        ``"foreground"``, ``"distance"`` and, when the model has one, ``"centre"``.
    """
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        raise InvalidArgumentError(
            f"views must be among {', '.join(map(repr, VIEWS))}, got {list(views)!r}")
    card = model.card
    if overlap is None:
        overlap = default_overlap(card.inputs.diameter_range[1], card.inputs.size_multiple)
    kinds = card.maps(compartment)
    c, nz, ny, nx = data.shape
    total = {k: np.zeros((nz, ny, nx), np.float32) for k in kinds}

    def run(plane: np.ndarray) -> dict[str, np.ndarray]:
        if not plane.any():
            return {k: np.zeros(plane.shape[1:], np.float32) for k in kinds}
        return network_maps(model, plane, [compartment], tile_size=tile_size, overlap=overlap,
                            batch_size=batch_size)[compartment]

    if "yx" in views:
        for z in range(nz):
            for k, m in run(data[:, z]).items():
                total[k][z] += m
    others = [v for v in views if v != "yx"]
    if others:
        cubic = _zoom_z(data, max(1, round(nz * anisotropy)))
        for view in others:
            axis = 2 if view == "zx" else 3  # the axis planes are taken across
            acc = {k: np.zeros(cubic.shape[1:], np.float32) for k in kinds}
            for i in range(cubic.shape[axis]):
                plane = np.take(cubic, i, axis=axis)  # (c, Z, x) or (c, Z, y)
                for k, m in run(np.ascontiguousarray(plane)).items():
                    index = (slice(None), i) if axis == 2 else (slice(None), slice(None), i)
                    acc[k][index] = m
            for k in kinds:
                total[k] += _zoom_z(acc[k], nz)
            del acc
    n = float(len(views))
    return {k: v / n for k, v in total.items()}


# -- the stack -------------------------------------------------------------------------------
def estimate_size(model: Any, norm: np.ndarray, compartment: str, *, tile_size: int = 1024,
                  overlap: int | None = None, batch_size: int = 4) -> Estimate:
    """Diameter, resize factor and confidence from the :data:`ESTIMATE_PLANES` brightest planes.

    The planes of ``norm`` (``(c, z, y, x)``, normalised) with most signal go
    through the 2-D estimate (:func:`~cellscale.segment._core.assess`: passes
    at several scales, so large nuclei cut into pieces at the image's own
    scale are recognised, and a flipped pass for the confidence). Their
    objects are cross-sections, smaller than the nuclei's widest, so the
    diameter returned is the 2-D estimate over :data:`CROSS_SECTION`; the
    scale is the 2-D one.
    """
    if overlap is None:
        card = model.card
        overlap = default_overlap(card.inputs.diameter_range[1], card.inputs.size_multiple)
    signal = np.clip(norm, 0.0, 1.0).sum(axis=0).mean(axis=(1, 2))
    planes = sorted(np.argsort(-signal, kind="stable")[:ESTIMATE_PLANES].tolist())
    blocks = [norm[:, z] for z in planes if norm[:, z].any()]
    settings = Settings((compartment,), ((0.0, 1.0),) * norm.shape[0], 1.0, tile_size, overlap,
                        batch_size)
    found = assess(model, blocks, settings, kind=compartment, auto=True)
    if found.confidence is not None and found.confidence < LOW_CONFIDENCE:
        found = _most_consistent(model, blocks, settings, compartment, found)
    size = None if found.diameter is None else found.diameter / CROSS_SECTION
    return Estimate(found.scale, size, found.confidence, found.warnings)


def _most_consistent(model: Any, blocks: list[np.ndarray], settings: Any, kind: str,
                     found: Estimate) -> Estimate:
    """Of the size passes' diameters, the one whose scale the model agrees with itself most at.

    Used when the 2-D estimate's confidence is low: its scale-1 fallback on
    large textured nuclei gives pieces (CHO stacks: 19 px at x1, 44 px at
    x0.5, 66 px at x0.25 unconfirmed; flip agreement 0.45 at x1).
    """
    from cellscale.segment._estimate import flip_agreement, size_passes

    labels_at = measuring_labels(model, settings, kind)
    best = found
    for _, diameter in size_passes(labels_at, blocks):
        if diameter is None:
            continue
        scale = scale_for(diameter)
        agreement = flip_agreement(labels_at, blocks, scale)
        if agreement is not None and agreement > (best.confidence or 0.0):
            note = (f"the size estimate was unsure; {diameter:.0f} px is used, the size at which "
                    f"the model agrees with itself most (flip agreement {agreement:.2f})")
            kept = [w for w in found.warnings  # those about the replaced estimate go
                    if "could not be confirmed" not in w and "low confidence" not in w]
            best = Estimate(scale, diameter, agreement, (*kept, note))
    return best


def segment_volume(
    model: Any,
    stack: np.ndarray,
    *,
    compartment: str = "nuclei",
    diameter: float | str | None = "auto",
    pixel_size: float | None = None,
    anisotropy: float = 1.0,
    views: Sequence[str] = VIEWS,
    tile_size: int = 1024,
    overlap: int | None = None,
    batch_size: int = 4,
    timings: Timings | None = None,
    source: str = "",
    ranges: Sequence[tuple[float, float]] | None = None,
    estimate: Estimate | None = None,
) -> tuple[np.ndarray, Estimate]:
    """Segment nuclei in a 3-D stack with a 2-D network (see the module's description).

    Parameters
    ----------
    model : Model
        A loaded network whose card outputs ``compartment``.
    stack : ndarray, shape (c, z, y, x)
        Raw pixels of the chosen channels, in the model's input order.
    compartment : str
        Object kind to decode. Default "nuclei".
    diameter : float, "auto" or None
        Typical nucleus diameter in xy pixels, as in 2-D.
    pixel_size : float, optional
        xy pixel size in µm (used only with a card that states its own).
    anisotropy : float
        z step over xy pixel size of the stack (1: cubic voxels).
    views : sequence of {"yx", "zx", "zy"}
        Planes the network runs on (default all three, :data:`VIEWS`).
    tile_size, overlap, batch_size
        Network tiling.
    timings : dict, optional
        Adds seconds to ``"normalise"``, ``"network"`` and ``"postprocess"``.
    source : str
        The image's file, for error messages.
    ranges : sequence of (float, float), optional
        Normalisation ranges per channel, e.g. of the whole stack when
        ``stack`` is one region of it; default from ``stack``.
    estimate : Estimate, optional
        Resize factor and diameter to use as they are (e.g. the whole
        stack's); default from ``diameter`` or :func:`estimate_size`.

    Returns
    -------
    labels : ndarray of uint32, shape (z, y, x)
        0 = background; objects numbered 1 .. n.
    estimate : Estimate
        The xy resize factor used; the nuclei's xy diameter in pixels
        (``diameter`` when a number, else :func:`estimate_size`'s, None with
        too few objects); the 2-D flip confidence and warnings of the
        estimate (None and none when ``diameter`` is given).
    """
    t0 = time.perf_counter()
    data = np.asarray(stack)
    if data.ndim != 4:
        raise InvalidImageError(f"expected a stack of shape (c, z, y, x), got {data.shape}")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise InvalidImageError(f"{source + ': ' if source else ''}stack holds NaN or infinite "
                                "voxels; replace them first, e.g. with numpy.nan_to_num")
    if not anisotropy > 0:
        raise InvalidArgumentError(f"anisotropy must be a positive number, got {anisotropy!r}")
    card = model.card
    norm_opts = card.inputs.normalisation
    if ranges is None:
        ranges = [percentile_range(ch, low=norm_opts.low, high=norm_opts.high,
                                   max_samples=MAX_SAMPLES) for ch in data]
    norm = apply_ranges(data, list(ranges))
    del data
    shape = norm.shape[1:]
    if not norm.any():
        add_time(timings, "normalise", t0)
        return np.zeros(shape, np.uint32), estimate or Estimate(1.0)
    scale = fixed_scale(card, diameter=diameter, pixel_size=pixel_size)
    add_time(timings, "normalise", t0)
    found = Estimate(1.0 if scale is None else scale, given_diameter(diameter))
    if estimate is not None:
        found = estimate
    elif found.diameter is None:  # seeds need the objects' size even when not resized
        t0 = time.perf_counter()
        found = estimate_size(model, norm, compartment, tile_size=tile_size, overlap=overlap,
                              batch_size=batch_size)
        if scale is not None:  # a size from the card's pixel size, or never resized
            found = replace(found, scale=scale)
        add_time(timings, "estimate", t0)
    scale, size = found.scale, found.diameter
    t0 = time.perf_counter()
    if scale != 1.0:
        norm = np.stack([rescale_image(norm[:, z], scale) for z in range(shape[0])], axis=1)
    add_time(timings, "normalise", t0)
    t0 = time.perf_counter()
    maps = volume_maps(model, norm, compartment=compartment, anisotropy=anisotropy * scale,
                       views=views, tile_size=tile_size, overlap=overlap, batch_size=batch_size)
    norm = norm[:1]
    add_time(timings, "network", t0)
    t0 = time.perf_counter()
    post = card.postprocess
    labels = instances_from_maps_3d(
        maps["foreground"], maps["distance"], maps.get("centre"), intensity=norm[0],
        diameter=None if size is None else size * scale, anisotropy=anisotropy * scale,
        foreground_threshold=post.foreground_threshold, seed_threshold=post.seed_threshold,
        min_size=int(post.min_size) * MIN_SIZE_PLANES)
    if scale != 1.0:
        labels = relabel_sequential(np.stack([resize_labels(p, shape[1:]) for p in labels]))
    add_time(timings, "postprocess", t0)
    return labels.astype(np.uint32, copy=False), replace(found, scale=float(scale))
