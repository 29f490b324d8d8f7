"""One region of an image to labels: normalise, resize, network, decode, resize back.

:func:`region_labels` is the step every door runs per chunk
(:mod:`cellscale.segment._core` drives it serially, the engine on Dask
workers); :class:`Settings` is what it is run with, the same for every
region of one image.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cellscale.errors import InvalidImageError
from cellscale.segment._normalise import apply_ranges
from cellscale.segment._postprocess import decode_maps, relabel_sequential
from cellscale.segment._scale import rescale_image, resize_labels, resize_map
from cellscale.segment._tiling import predict_tiled

__all__ = ["CHUNK_SIZE", "TILE_SIZE", "Settings", "Timings", "add_time", "check_finite", "network_maps",
           "region_labels"]

#: Default chunk side: a typical image (up to 2048 x 2048) is one chunk, as in the engine.
CHUNK_SIZE = 2048
#: Default network tile side of every door (``cellscale segment --tile-size``).
TILE_SIZE = 1024

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


def add_time(timings: Timings | None, key: str, since: float) -> None:
    """Add the seconds since ``since`` to ``timings[key]`` (nothing when ``timings`` is None)."""
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
    check_finite(block, source, exact=False)
    data = apply_ranges(block, list(settings.ranges))
    shape = data.shape[1:]
    if settings.scale != 1.0:
        data = rescale_image(data, settings.scale)
    if native:
        shape = data.shape[1:]
    if not data.any():
        add_time(timings, "normalise", t0)
        return {c: np.zeros(shape, np.uint32) for c in settings.compartments}
    add_time(timings, "normalise", t0)
    t0 = time.perf_counter()
    maps = network_maps(model, data, settings.compartments, tile_size=settings.tile_size,
                        overlap=settings.overlap, batch_size=settings.batch_size)
    del data
    add_time(timings, "network", t0)
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
    add_time(timings, "postprocess", t0)
    return out


def check_finite(data: np.ndarray, source: str, *, exact: bool) -> None:
    """Refuse NaN or infinite pixels (``exact``: ``data`` is every pixel, so count them)."""
    if data.dtype.kind != "f":
        return
    bad = ~np.isfinite(data)
    if bad.any():
        many = f"{int(bad.sum())} NaN or infinite pixel(s)" if exact else \
            "NaN or infinite pixels"
        raise InvalidImageError(f"{source + ': ' if source else ''}image holds {many}; "
                                "replace them first, e.g. with numpy.nan_to_num")


