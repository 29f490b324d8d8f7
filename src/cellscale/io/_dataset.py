"""Find (image, label image) pairs in a folder of training or evaluation data.

Three layouts are recognised, tried in this order:

1. **Simulator samples** (:func:`cellscale.data.save_sample`): folders holding
   ``image.ome.tif`` (or ``image.zarr``) and ``labels_<compartment>.tif`` (or
   ``.zarr``); ``path`` may be one such folder or contain them at any depth.
2. **images/ + masks/** (or ``labels/``): sub-folders whose files match by name
   stem, e.g. ``images/a.tif`` with ``masks/a.tif`` or ``masks/a.png``.
3. **Cellpose flat folder**: ``NAME.tif`` beside ``NAME_masks.tif`` (any image
   extension on either side).

Only the file names are looked at; nothing is read, and NumPy is not imported.
"""

from __future__ import annotations

import os
from pathlib import Path

from cellscale.errors import InputNotFoundError, InvalidArgumentError

__all__ = ["IMAGE_SUFFIXES", "find_pairs"]

#: File endings read as images in the folder layouts (longest first).
IMAGE_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png", ".jpeg", ".jpg")
_COMPARTMENTS = ("nuclei", "cells")
_MASK_DIRS = ("masks", "labels")


def _split(name: str) -> tuple[str, str] | None:
    """``(stem, suffix)`` of an image file name, or None when not an image."""
    low = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return None


def _files(folder: Path) -> dict[str, Path]:
    """Image files of a folder by stem (hidden files skipped)."""
    out: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        parts = _split(entry.name)
        if parts is not None:
            out.setdefault(parts[0], entry)
    return out


def _sample_image(folder: Path) -> Path | None:
    for name in ("image.ome.tif", "image.ome.tiff", "image.zarr"):
        if (folder / name).exists():
            return folder / name
    return None


def _sample_labels(folder: Path, compartment: str) -> Path | None:
    for ext in (".tif", ".tiff", ".zarr"):
        candidate = folder / f"labels_{compartment}{ext}"
        if candidate.exists():
            return candidate
    return None


def _simulator_pairs(root: Path, compartment: str) -> tuple[list[tuple[Path, Path]], list[Path]]:
    pairs: list[tuple[Path, Path]] = []
    missing: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not d.endswith(".zarr")
        )
        folder = Path(dirpath)
        image = _sample_image(folder)
        if image is None:
            continue
        labels = _sample_labels(folder, compartment)
        if labels is None:
            missing.append(folder)
        else:
            pairs.append((image, labels))
    return pairs, missing


def _split_folder_pairs(root: Path) -> list[tuple[Path, Path]] | None:
    images_dir = root / "images"
    masks_dir = next((root / d for d in _MASK_DIRS if (root / d).is_dir()), None)
    if not images_dir.is_dir() or masks_dir is None:
        return None
    images, masks = _files(images_dir), _files(masks_dir)
    pairs = []
    for stem, image in images.items():
        mask = masks.get(stem) or masks.get(f"{stem}_masks")
        if mask is not None:
            pairs.append((image, mask))
    return pairs


def _flat_pairs(root: Path) -> list[tuple[Path, Path]]:
    files = _files(root)
    return [
        (image, files[f"{stem}_masks"])
        for stem, image in files.items()
        if not stem.endswith("_masks") and f"{stem}_masks" in files
    ]


def find_pairs(
    path: str | os.PathLike[str], *, compartment: str = "nuclei"
) -> list[tuple[Path, Path]]:
    """Pairs of image and label-image files in a data folder.

    Parameters
    ----------
    path : path-like
        A folder in one of the layouts of this module's docstring: simulator
        sample folders (found at any depth), ``images/`` + ``masks/`` (or
        ``labels/``), or a flat Cellpose folder of ``NAME.tif`` + ``NAME_masks.tif``.
    compartment : {"nuclei", "cells"}
        Which label image of simulator samples to pair (``labels_<compartment>``).
        The folder layouts hold one label image per image, used whatever this is.

    Returns
    -------
    list of (pathlib.Path, pathlib.Path)
        ``(image, labels)`` paths, sorted by image path.

    Raises
    ------
    InputNotFoundError
        If ``path`` is missing or not a folder, or no pair is found in it (the
        message names the folder and the layouts looked for).
    InvalidArgumentError
        For an unknown ``compartment``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from cellscale.data import simulate_nuclei, save_sample
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = save_sample(simulate_nuclei(shape=(64, 64), seed=1), root / "s1")
    >>> [(i.name, m.name) for i, m in find_pairs(root)]
    [('image.ome.tif', 'labels_nuclei.tif')]
    """
    if compartment not in _COMPARTMENTS:
        raise InvalidArgumentError(
            f"compartment must be one of {', '.join(map(repr, _COMPARTMENTS))}, got {compartment!r}"
        )
    root = Path(path).expanduser()
    if not root.exists():
        raise InputNotFoundError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise InputNotFoundError(f"data path {root} is not a folder")
    pairs, missing = _simulator_pairs(root, compartment)
    if not pairs:
        pairs = _split_folder_pairs(root) or _flat_pairs(root)
    if not pairs:
        if missing:
            raise InputNotFoundError(
                f"no image/label pairs in {root}: {len(missing)} simulated sample folder(s) "
                f"(e.g. {missing[0]}) have no labels_{compartment}.tif",
                hint="choose the other compartment", option="compartment",
                choices=[c for c in _COMPARTMENTS if c != compartment]
            )
        raise InputNotFoundError(
            f"no image/label pairs found in {root}; expected simulator sample folders "
            "(image.ome.tif + labels_nuclei.tif/labels_cells.tif), images/ + masks/ "
            "sub-folders with matching file names, or NAME.tif + NAME_masks.tif files"
        )
    return sorted(pairs)
