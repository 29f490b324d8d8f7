"""``propose``: the model's labels and maps for one plane, to start labelling from.

The labels come from :class:`cellscale.segment.Segmenter`, the one
segmentation core that ``cellscale segment`` uses, so a proposal is exactly
what ``cellscale segment`` would write (same model, channels and diameter).
The maps come from the same core's :func:`~cellscale.segment._core.network_maps`,
run on the image normalised with the same whole-image ranges and resized by
the same factor the segmentation chose, then resized back to the image's
pixels. That is one more network pass over the image (about the cost of the
segmentation's final pass); the segmentation does not hand its maps out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError
from cellscale.segment import Segmenter
from cellscale.segment._core import Estimate, image_settings, network_maps, read_block, sample
from cellscale.segment._inputs import as_image, select_channels
from cellscale.segment._normalise import apply_ranges
from cellscale.segment._scale import rescale_image, resize_map

__all__ = ["propose"]


def propose(
    image: Any,
    model: Any = "nuclei",
    *,
    channels: Sequence[str | int | None] | None = None,
    diameter: float | str | None = "auto",
    axes: str | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], Estimate]:
    """The model's proposed labels and maps of one 2-D plane.

    Parameters
    ----------
    image : Image or ndarray, shape (y, x) or (c, y, x)
        One plane (a movie's frames are proposed one at a time).
    model : str, path-like, Model or Segmenter
        As for :class:`cellscale.segment.Segmenter` (``"nuclei"``, ``"cells"``,
        a card's path, ``"classical"``); a :class:`~cellscale.segment.Segmenter`
        is used as it is (its own channels and diameter; load it once for many frames).
    channels, diameter
        As for :class:`~cellscale.segment.Segmenter`; only with a model name or path.
    axes : str, optional
        Axes of an array image that is not 2-D, e.g. ``"cyx"``.
    threads : int, optional
        CPU threads of the network runtime.

    Returns
    -------
    labels : ndarray of uint32, shape (y, x)
        The proposals, numbered 1 .. n.
    maps : dict of str to ndarray of float32, shape (y, x)
        ``"prob"``: the foreground probability 0-1 at the image's pixels, and
        the model's maps of the segmenter's compartment by kind
        (``"foreground"``, ``"distance"``, ``"centre"``). For ``"classical"``
        (no network) ``"prob"`` is 1 on the proposals and 0 elsewhere.
    estimate : Estimate
        The resize factor, the objects' diameter, the model's confidence and
        warnings (:class:`cellscale.segment._estimate.Estimate`).

    Examples
    --------
    >>> from cellscale.data import simulate_nuclei
    >>> labels, maps, est = propose(simulate_nuclei(shape=(64, 64), seed=1, diameter=12).image,
    ...                             "classical")
    >>> labels.shape, sorted(maps), est.scale
    ((64, 64), ['prob'], 1.0)
    """
    if isinstance(model, Segmenter):
        if channels is not None or diameter != "auto":
            raise InvalidArgumentError(
                "channels and diameter are the Segmenter's own; pass them when building it")
        segmenter = model
    else:
        segmenter = Segmenter(model, channels=channels, diameter=diameter, threads=threads)
    labels = np.asarray(segmenter(image, axes=axes))
    if labels.ndim != 2:
        raise InvalidArgumentError(
            f"propose works on one 2-D plane; this image gave labels of shape {labels.shape}")
    estimate = Estimate(float(segmenter.scale), segmenter.estimated_diameter,
                        segmenter.confidence, tuple(segmenter.warnings))
    if segmenter.model is None:
        maps = {"prob": (labels > 0).astype(np.float32)}
    else:
        maps = _maps(segmenter, image, axes)
    return labels.astype(np.uint32, copy=False), maps, estimate


def _maps(segmenter: Segmenter, image: Any, axes: str | None) -> dict[str, np.ndarray]:
    """The segmenter's compartment maps at the scale it chose, on the image's pixels."""
    img = as_image(image, axes=axes)
    card = segmenter.model.card
    chosen = select_channels(img, segmenter.inputs, segmenter.channels,
                             model=f"model {segmenter.name!r}")
    samples, _ = sample(img, chosen, source=str(img.source or ""))
    settings = image_settings(card, samples, compartments=[segmenter.compartment],
                              scale=segmenter.scale, tile_size=segmenter.tile_size,
                              overlap=segmenter.overlap, batch_size=segmenter.batch_size)
    shape = (img.sizes["y"], img.sizes["x"])
    data = apply_ranges(read_block(img, chosen, (0, shape[0], 0, shape[1])),
                        list(settings.ranges))
    kinds = card.maps(segmenter.compartment)
    if not data.any():
        out = {k: np.zeros(shape, np.float32) for k in kinds}
    else:
        if settings.scale != 1.0:
            data = rescale_image(data, settings.scale)
        own = network_maps(segmenter.model, data, [segmenter.compartment],
                           tile_size=settings.tile_size, overlap=settings.overlap,
                           batch_size=settings.batch_size)[segmenter.compartment]
        out = {k: (resize_map(m, shape) if m.shape != shape else m).astype(np.float32, copy=False)
               for k, m in own.items()}
    out["prob"] = np.clip(out["foreground"], 0.0, 1.0)
    return out
