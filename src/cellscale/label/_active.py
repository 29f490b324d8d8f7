"""Active learning: the tiles of an image where the model is least sure of its labels.

Two signs of doubt, both from the one segmentation core
(:func:`cellscale.label.propose`, i.e. :class:`cellscale.segment.Segmenter`):

* **disagreement between augmentations**: the image is segmented as it is and
  mirrored left-right; the mirrored labels are mirrored back and, tile by
  tile, matched to the plain ones (:func:`cellscale.metrics.match_instances`).
  A sure model gives the same objects both ways: ``1 - F1@0.5`` is 0.
* **low-confidence maps**: the fraction of a tile's foreground (pixels the
  model labels or gives a probability >= 0.3) whose probability lies in
  0.3 .. 0.7.

A tile's score is the mean of the two (0 .. 1). A tile where neither
prediction has an object scores 0: there is nothing there to correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError, InvalidImageError

__all__ = ["uncertain_tiles", "model_input"]

#: Probabilities counted as unsure (inclusive).
LOW, HIGH = 0.3, 0.7


def uncertain_tiles(
    image: Any,
    model: Any = "nuclei",
    *,
    tile: int = 256,
    n: int = 8,
    channels: Sequence[str | int | None] | None = None,
    axes: str | None = None,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """The ``n`` tiles of one plane where the model is least certain, most uncertain first.

    Parameters
    ----------
    image : Image or ndarray, shape (y, x) or (c, y, x)
        One 2-D plane (with optional channels).
    model : str, path-like or Segmenter
        As for :func:`cellscale.label.propose`; pass a loaded
        :class:`~cellscale.segment.Segmenter` to rank many images with one model.
    tile : int
        Tile side in pixels (tiles at the right and bottom edges may be smaller).
    n : int
        Number of tiles returned (fewer when the image has fewer tiles).
    channels : sequence of str or int, optional
        The image channels fed to the model (only with a model name or path).
    axes : str, optional
        Axes of an array image that is not 2-D, e.g. ``"cyx"``.
    threads : int, optional
        CPU threads of the network runtime (only with a model name or path).

    Returns
    -------
    list of dict
        ``{"y0", "x0", "y1", "x1", "score", "disagreement", "low_confidence",
        "objects", "reason"}`` per tile: the box (``y1``/``x1`` exclusive), the
        score 0 .. 1, its two parts, the number of objects either prediction
        has in the tile, and a sentence saying why it ranks where it does.
        Ties (e.g. empty tiles) keep the tiles' reading order.

    Examples
    --------
    >>> from cellscale.data import simulate_nuclei
    >>> image = simulate_nuclei(shape=(64, 64), seed=1, diameter=12).image
    >>> tiles = uncertain_tiles(image, "classical", tile=32, n=2)
    >>> len(tiles), sorted(tiles[0])[:4]
    (2, ['disagreement', 'low_confidence', 'objects', 'reason'])
    """
    from cellscale.label import propose
    from cellscale.metrics import match_instances
    from cellscale.segment import Segmenter
    from cellscale.segment._inputs import as_image

    if not isinstance(tile, (int, np.integer)) or tile < 16:
        raise InvalidArgumentError(f"tile must be an integer side of at least 16 pixels, got {tile!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidArgumentError(f"n must be a positive number of tiles, got {n!r}")
    if isinstance(model, Segmenter):
        if channels is not None:
            raise InvalidArgumentError("channels are the Segmenter's own; pass them when building it")
        segmenter = model
    else:
        segmenter = Segmenter(model, channels=channels, threads=threads)
    img = as_image(image, axes=axes)
    if set(img.axes) - set("cyx"):
        raise InvalidImageError(
            f"uncertain_tiles ranks one 2-D plane (axes yx or cyx), got axes {img.axes!r}")
    labels, maps, _ = propose(img, segmenter)
    flipped, _, _ = propose(_mirrored(img), segmenter)
    back = np.ascontiguousarray(flipped[:, ::-1])
    prob = maps["prob"]
    height, width = labels.shape
    out = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            a, b = labels[y0:y1, x0:x1], back[y0:y1, x0:x1]
            objects = len(np.union1d(np.unique(a[a > 0]), np.unique(b[b > 0])))
            if objects == 0:
                out.append(_entry(y0, x0, y1, x1, 0.0, 0.0, 0, "no objects in either prediction"))
                continue
            f1 = float(match_instances(a, b, thresholds=0.5).f1_at(0.5))
            p = prob[y0:y1, x0:x1]
            fg = (a > 0) | (p >= LOW)
            unsure = float(((p >= LOW) & (p <= HIGH) & fg).sum() / max(int(fg.sum()), 1))
            reason = (f"plain and mirrored predictions agree on F1@0.5 {f1:.2f} of {objects} "
                      f"object(s); {unsure:.0%} of the foreground at probability {LOW}-{HIGH}")
            out.append(_entry(y0, x0, y1, x1, 1.0 - f1, unsure, objects, reason))
    order = sorted(range(len(out)), key=lambda i: -out[i]["score"])  # stable: reading order
    return [out[i] for i in order[: int(n)]]


def _entry(y0: int, x0: int, y1: int, x1: int, disagreement: float, unsure: float,
           objects: int, reason: str) -> dict[str, Any]:
    return {"y0": y0, "x0": x0, "y1": y1, "x1": x1,
            "score": round(0.5 * (disagreement + unsure), 4),
            "disagreement": round(disagreement, 4), "low_confidence": round(unsure, 4),
            "objects": int(objects), "reason": reason}


def _mirrored(img: Any) -> Any:
    """The image mirrored left-right, with the same axes, channel names and pixel size."""
    data = np.asarray(img.data)
    return type(img).from_array(np.flip(data, axis=img.axes.index("x")).copy(), img.axes,
                                 channel_names=img.channel_names, pixel_size=img.pixel_size)


def model_input(image: Any, segmenter: Any, *, axes: str | None = None) -> np.ndarray:
    """The channels of ``image`` that ``segmenter``'s model takes, in its order, shape (c, y, x).

    What fine-tuning that model needs as training images: an image with more
    channels than the model is cut down to the ones the segmenter would feed it.
    """
    from cellscale.segment._inputs import as_image, channel_stack, select_channels

    img = as_image(image, axes=axes)
    chosen = select_channels(img, segmenter.inputs, segmenter.channels,
                             model=f"model {segmenter.name!r}")
    return channel_stack(img, chosen)
