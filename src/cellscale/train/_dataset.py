"""Training data in memory: normalised images, their target maps, and patch sampling.

Each image is read with :func:`cellscale.io.read`, its channels picked by name
and normalised per image and channel exactly as the model card says inference
will (percentiles 1 and 99.8 mapped to 0 and 1, with
:func:`cellscale.segment.normalise`, the function inference uses). Targets come from the label
images through :func:`cellscale.segment._targets.maps_from_labels` (and
``centre_from_labels``), the same definitions the post-processing decodes,
computed once on the whole image (so objects cut by a patch edge keep their
true distances and centres).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellscale.errors import InputNotFoundError, InvalidImageError
from cellscale.io._dataset import find_pairs
from cellscale.segment._normalise import normalise
from cellscale.segment._targets import centre_from_labels, maps_from_labels
from cellscale.train._augment import AugmentOptions, patch_weight, random_patch

__all__ = ["PERCENTILES", "Item", "PatchSampler", "load_items", "normalise"]

#: Normalisation percentiles (the model card's defaults).
PERCENTILES = (1.0, 99.8)


@dataclass
class Item:
    """One training image: normalised pixels and the target maps of each object kind."""

    source: Path
    image: np.ndarray  # (C, H, W) float32, normalised
    labels: np.ndarray  # (K_obj, H, W) uint32
    distance: np.ndarray  # (K_obj, H, W) float32
    diameter: float  # median equivalent diameter of the first object kind, pixels
    centre: np.ndarray | None = None  # (K_obj, H, W) float32, when the model learns centres


def _pick_channels(path: Path, channels: Sequence[str]) -> np.ndarray:
    from cellscale.io import read

    img = read(path, lazy=False)
    axes = img.axes
    if set(axes) - set("cyx"):
        extra = "".join(a for a in axes if a not in "cyx")
        raise InvalidImageError(
            f"{path}: training images must have axes 'yx' or 'cyx', got {axes!r} "
            f"(axes {extra!r} are not supported)"
        )
    data = np.asarray(img.data)
    if "c" not in axes:
        if len(channels) != 1:
            raise InvalidImageError(
                f"{path}: the model needs channels {list(channels)} but the image has one channel"
            )
        return data[None]
    names = list(img.channel_names or ())
    lower = [n.lower() for n in names]
    if all(c.lower() in lower for c in channels):
        return np.stack([data[lower.index(c.lower())] for c in channels])
    if all(n.startswith("channel_") for n in names) and len(names) == len(channels):
        return data  # unnamed channels: taken in the order given
    missing = [c for c in channels if c.lower() not in lower]
    raise InvalidImageError(f"{path}: no channel named {missing}; the image has {names}")


def _read_labels(path: Path, shape: tuple[int, int]) -> np.ndarray:
    from cellscale.io import read_labels

    lab = np.asarray(read_labels(path, lazy=False))
    lab = (
        lab.reshape(lab.shape[-2:]) if lab.ndim > 2 and lab.size == np.prod(lab.shape[-2:]) else lab
    )
    if lab.shape != shape:
        raise InvalidImageError(
            f"{path}: label image has shape {lab.shape} but its image has (y, x) shape {shape}"
        )
    if not np.issubdtype(lab.dtype, np.integer):
        raise InvalidImageError(f"{path}: labels must be integers, got {lab.dtype}")
    return lab.astype(np.uint32, copy=False)


def _median_diameter(labels: np.ndarray) -> float:
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    if areas.size == 0:
        return float("nan")
    return float(2.0 * np.sqrt(np.median(areas) / np.pi))


def load_items(
    pairs: Sequence[tuple[Path, Sequence[Path]]], channels: Sequence[str], *, centre: bool = False
) -> list[Item]:
    """Read image/labels pairs and compute their targets.

    Parameters
    ----------
    pairs : sequence of (path, sequence of path)
        An image and one label image per output object kind (in output order).
    channels : sequence of str
        Channel names to take from each image, in the network's input order.
    centre : bool
        Also compute the centre maps (for models that learn them).
    """
    items = []
    for image_path, label_paths in pairs:
        image = _pick_channels(Path(image_path), channels)
        labels = np.stack([_read_labels(Path(p), image.shape[1:]) for p in label_paths])
        distance = np.stack([maps_from_labels(lab)[1] for lab in labels])
        centres = (
            np.stack([centre_from_labels(lab, d) for lab, d in zip(labels, distance)])
            if centre
            else None
        )
        items.append(
            Item(
                Path(image_path),
                normalise(image, low=PERCENTILES[0], high=PERCENTILES[1]),
                labels,
                distance,
                _median_diameter(labels[0]),
                centres,
            )
        )
    return items


class PatchSampler:
    """Random augmented patches of a list of items; deterministic given a seed.

    Parameters
    ----------
    items : list of Item
    patch_size : int
    options : AugmentOptions
        ``None`` or ``AugmentOptions(enabled=False)`` gives plain crops (validation).
    """

    def __init__(self, items: list[Item], patch_size: int, options: AugmentOptions) -> None:
        self.items = items
        self.patch_size = patch_size
        self.options = options
        area = np.array([patch_weight(it, options) for it in items], float)
        self.weights = area / area.sum()

    def batch(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` patches: inputs ``(B, C, P, P)`` and targets ``(B, M K, P, P)``
        ordered like the outputs (foreground, distance and, when the items
        have them, centre of each object kind: M = 2 or 3)."""
        xs, ys = [], []
        for _ in range(size):
            item = self.items[int(rng.choice(len(self.items), p=self.weights))]
            x, y = random_patch(item, self.patch_size, rng, self.options)
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)


def gather_pairs(folders: Sequence[str], outputs: Sequence[str]) -> list[tuple[Path, list[Path]]]:
    """Images with one label image per output object kind, from all folders."""
    pairs: list[tuple[Path, list[Path]]] = []
    for folder in folders:
        per_obj = [dict(find_pairs(folder, compartment=obj)) for obj in outputs]
        images = sorted(set.intersection(*(set(p) for p in per_obj)))
        if not images:
            raise InputNotFoundError(
                f"no image in {folder} has label images for all of {list(outputs)}"
            )
        pairs += [(img, [p[img] for p in per_obj]) for img in images]
    return pairs
