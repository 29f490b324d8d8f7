"""How big the objects are, and how sure the model is: passes at several scales and a flip.

**Object size** (``diameter="auto"``). A network trained at one range of
object sizes, shown much larger objects, does not fail quietly: it cuts a
large textured nucleus into pieces of the size it knows, and the pieces'
median diameter then looks like a size it handles well (mahotas'
``nuclear.png``: nuclei of about 85 px came out as 409 pieces of about
15 px). So one pass at the image's own scale cannot be trusted. The image
(the chunks the estimate uses) is segmented at scales 1, 1/2, 1/4, ...
(and 2 when objects look small) and each pass's median object diameter is
measured in the *image's* pixels. Real objects keep their size in image
pixels from one scale to the next; pieces the network makes keep their size
in the *network's* pixels, so their image-pixel size changes with the
scale. A pass whose objects the network saw at a size it segments well
(:data:`~cellscale.segment._scale.SWEET_SPOT`) and whose image-pixel size a
neighbouring scale confirms (within :data:`AGREE`) gives the diameter; of
several, the one the network saw nearest
:data:`~cellscale.segment._scale.LARGE_TARGET`. With none confirmed, the
pass at the image's own scale is used, with a warning.

**Confidence** (no ground truth needed). The image is segmented again
flipped upside down and left-right, over a window of at most
:data:`WINDOW` network pixels, and the two label images are matched:
confidence is their F1 at IoU 0.5. A model on familiar ground gives the
same objects either way (0.95-1.0 on our held-out simulated images); a
model that is guessing does not (0.20 on ``nuclear.png`` at its own scale,
where the objects are pieces; 0.96 once shrunk to a quarter).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cellscale.segment._scale import LARGE_TARGET, MIN_OBJECTS, SWEET_SPOT, median_diameter_of

__all__ = ["AGREE", "LOW_CONFIDENCE", "SIZE_WINDOW", "SMALLEST", "WINDOW", "Estimate", "estimation_scales",
           "flip_agreement", "given_diameter", "pick_diameter"]

#: Largest ratio between two passes' diameters (image pixels) that counts as agreement.
AGREE = 1.3
#: Side (network pixels) of the window the flip agreement is measured on.
WINDOW = 512
#: Side (network pixels) of the window each size pass at another scale looks at, per chunk.
SIZE_WINDOW = 768
#: Below this confidence a warning says the model is unsure.
LOW_CONFIDENCE = 0.7
#: Smallest side (network pixels) of a block worth a coarse pass.
SMALLEST = 64
#: Fewest objects a pass at another scale measures a diameter on (large objects are few).
MIN_OTHER = 3
#: Objects smaller than this (image pixels) are below what resizing can rescue.
TINY = 4.0

#: ``labels_at(block, scale)``: labels of one block segmented at ``scale``, on the resized grid.
LabelsAt = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """What the global pass found about one image.

    Attributes
    ----------
    scale : float
        Resize factor the image is segmented at.
    diameter : float or None
        Typical object diameter in the image's pixels: the user's, the
        estimate's, or None (not asked for, or too few objects).
    confidence : float or None
        Flip agreement (F1@0.5, 0-1) at ``scale``; None when not measured.
    warnings : tuple of str
        Sentences for the user (size estimate unconfirmed, objects outside
        the model's range, low confidence).
    """

    scale: float
    diameter: float | None = None
    confidence: float | None = None
    warnings: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """The estimate as plain JSON-ready values (the results store keeps it so)."""
        return {"scale": float(self.scale),
                "diameter": None if self.diameter is None else float(self.diameter),
                "confidence": None if self.confidence is None else float(self.confidence),
                "warnings": list(self.warnings)}


def given_diameter(diameter: float | str | None) -> float | None:
    """The user's ``diameter`` option as a number, or None (``"auto"``, ``"off"`` or not given)."""
    return float(diameter) if isinstance(diameter, (int, float)) else None


def estimation_scales(first: float | None, side: int) -> list[float]:
    """Scales of the size passes for blocks of smallest side ``side``: 2 (when small), 1, 1/2, ...

    ``first`` is the first pass's diameter (at scale 1); objects below the
    sweet spot, or too few to measure, add a pass at scale 2.

    >>> estimation_scales(20.0, 512)
    [1.0, 0.5, 0.25, 0.125]
    >>> estimation_scales(8.0, 256)
    [2.0, 1.0, 0.5, 0.25]
    """
    scales = [2.0] if first is None or first < SWEET_SPOT[0] else []
    scale = 1.0
    while side * scale >= SMALLEST or scale == 1.0:
        scales.append(scale)
        scale /= 2.0
    return scales


def pick_diameter(passes: Sequence[tuple[float, float | None]]) -> tuple[float | None, bool]:
    """The objects' diameter from passes ``(scale, median diameter in image pixels)``.

    Returns ``(diameter, confirmed)``. ``passes`` are ordered by scale,
    largest first. A pass is a candidate when the network saw its objects
    within :data:`~cellscale.segment._scale.SWEET_SPOT` and a neighbouring
    pass agrees within :data:`AGREE`; the candidate seen nearest
    :data:`~cellscale.segment._scale.LARGE_TARGET` wins. Without one, the
    scale-1 pass's diameter, unconfirmed.

    >>> pick_diameter([(1.0, 15.0), (0.5, 80.0), (0.25, 84.0), (0.125, 86.0)])
    (84.0, True)
    >>> pick_diameter([(1.0, 20.0), (0.5, 21.0), (0.25, 45.0)])
    (20.0, True)
    >>> pick_diameter([(1.0, 15.0), (0.5, 40.0)])
    (15.0, False)
    """
    lo, hi = SWEET_SPOT
    best: tuple[float, float] | None = None
    for i, (scale, d) in enumerate(passes):
        if d is None or not lo <= d * scale <= hi:
            continue
        near = [passes[j][1] for j in (i - 1, i + 1) if 0 <= j < len(passes)]
        if not any(n is not None and max(d, n) / min(d, n) <= AGREE for n in near):
            continue
        distance = abs(math.log(d * scale / LARGE_TARGET))
        if best is None or distance < best[0]:
            best = (distance, d)
    if best is not None:
        return best[1], True
    own = dict(passes).get(1.0)
    return own, False


def _centre(block: np.ndarray, side: int) -> np.ndarray:
    """The central ``side x side`` window of a ``(c, h, w)`` block (all of it when smaller)."""
    h, w = block.shape[1:]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return block[:, y0:y0 + side, x0:x0 + side]


def size_passes(labels_at: LabelsAt, blocks: Sequence[np.ndarray]
                ) -> list[tuple[float, float | None]]:
    """Median diameters (image pixels) of the passes at :func:`estimation_scales`,
    down to the first scale that confirms a size (:func:`pick_diameter`).

    Every pass, the one at scale 1 included, looks at each block's central
    window of :data:`SIZE_WINDOW` / ``s`` pixels (at most 768² network
    pixels per block), to bound its cost: a 2048² image whose objects turn
    out to need resizing is then not segmented in full at a scale it is not
    segmented at in the end.
    """
    def at(scale: float) -> float | None:
        parts = [_centre(b, math.ceil(SIZE_WINDOW / scale)) for b in blocks]
        areas = [np.bincount(labels_at(b, scale).ravel())[1:] / scale**2 for b in parts]
        return median_diameter_of(np.concatenate(areas), MIN_OTHER)

    first = at(1.0)
    side = min(min(b.shape[1:]) for b in blocks)
    out = []
    for scale in estimation_scales(first, side):
        out.append((scale, first if scale == 1.0 else at(scale)))
        if scale < 1.0 and pick_diameter(out)[1]:
            break  # a size two scales agree on: coarser passes would only confirm it
    return out


def size_warnings(passes: Sequence[tuple[float, float | None]], diameter: float | None,
                  confirmed: bool, side: int) -> list[str]:
    """Sentences about a size estimate the user should know of."""
    out = []
    if diameter is None:
        return out
    if not confirmed:
        seen = ", ".join(f"{d:.0f} px at x{s:g}" for s, d in passes if d is not None)
        out.append(f"the object diameter could not be confirmed across scales ({seen}); "
                   f"{diameter:.0f} px is used -- give the diameter if it is wrong")
    if diameter < TINY:
        out.append(f"objects of about {diameter:.1f} px are smaller than the model can "
                   "segment reliably even enlarged; image them at a higher magnification")
    elif diameter > side / 2:
        out.append(f"objects of about {diameter:.0f} px span more than half of the image; "
                   "few are whole, so counts and sizes are unreliable")
    return out


def flip_agreement(labels_at: LabelsAt, blocks: Sequence[np.ndarray], scale: float
                   ) -> float | None:
    """F1@0.5 between the labels of a window and of the same window flipped; None if empty.

    The window is the centre of the first block, :data:`WINDOW` network
    pixels across. Objects are matched one-to-one (:mod:`cellscale.metrics`).
    """
    from cellscale.metrics import match_instances

    window = _centre(blocks[0], max(SMALLEST, round(WINDOW / scale)))
    plain = labels_at(window, scale)
    flipped = labels_at(np.ascontiguousarray(window[:, ::-1, ::-1]), scale)[::-1, ::-1]
    if plain.max() == 0 and flipped.max() == 0:
        return None
    if max(int(plain.max()), int(flipped.max())) < MIN_OBJECTS:
        return None
    return float(match_instances(plain, np.ascontiguousarray(flipped)).f1_at(0.5))
