"""Finding the images of a run and describing them for the workers."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from cellscale.engine._job import ImageRef
from cellscale.errors import InputNotFoundError, InvalidArgumentError, InvalidAxesError

__all__ = ["describe_input", "expand_inputs", "image_id_of"]

PathLike = str | os.PathLike[str]


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and any((path / n).is_file() for n in ("zarr.json", ".zgroup", ".zattrs"))


def expand_inputs(inputs: Sequence[PathLike]) -> list[Path]:
    """Input paths, with plain folders replaced by the images they hold.

    A file or an OME-Zarr store is one image. A folder that is not a Zarr
    store stands for the image files and ``.zarr`` stores directly inside it,
    in natural order.

    Raises
    ------
    InputNotFoundError
        A path that does not exist, a folder without images, or no inputs.
    """
    from cellscale.io._common import IMAGE_SUFFIXES, natural_key, suffix_of

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists():
            raise InputNotFoundError(f"{path}: no such file or folder")
        if path.is_dir() and not _is_zarr(path):
            found = [p for p in sorted(path.iterdir(), key=lambda p: natural_key(p.name))
                     if not p.name.startswith(".") and suffix_of(p) in IMAGE_SUFFIXES
                     and (p.is_file() or _is_zarr(p))]
            if not found:
                raise InputNotFoundError(f"{path}: folder holds no images "
                                         f"({', '.join(sorted(IMAGE_SUFFIXES))})")
            out.extend(found)
        else:
            out.append(path)
    if not out:
        raise InputNotFoundError("no input images given")
    return out


def image_id_of(path: Path) -> str:
    """The store name of an image: its file name without the image ending.

    Examples
    --------
    >>> image_id_of(Path("plate/A01.ome.tif")), image_id_of(Path("slide.ome.zarr"))
    ('A01', 'slide')
    """
    from cellscale.io._common import IMAGE_SUFFIXES, suffix_of

    name = path.name
    suffix = suffix_of(path)
    if suffix in IMAGE_SUFFIXES:
        name = name[: len(name) - len(suffix)]
    if name.lower().endswith(".ome"):  # image.ome.zarr
        name = name[:-4]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "image"
    return name


def unique_ids(paths: Sequence[Path]) -> list[str]:
    """One image id per path; raises when two inputs would share a name."""
    ids = [image_id_of(p) for p in paths]
    seen: dict[str, Path] = {}
    for image_id, path in zip(ids, paths):
        if image_id in seen:
            raise InvalidArgumentError(
                f"{seen[image_id]} and {path} would both be stored as {image_id!r}; "
                f"rename one, or run them into separate stores")
        seen[image_id] = path
    return ids


def describe_input(path: Path, image_id: str, *, axes: str | None = None,
                   channel_names: Sequence[str] | None = None) -> ImageRef:
    """Open ``path`` lazily and describe it for the workers."""
    from cellscale.io import read

    image = read(path, axes=axes, channel_names=channel_names, lazy=True)
    if "y" not in image.axes or "x" not in image.axes:
        raise InvalidAxesError(f"{path}: expected an image with y and x axes, got axes "
                               f"{image.axes!r}")
    names = tuple(image.channel_names or ("channel_0",))
    # A z-stack (segmented in 3-D by the segment step) keeps its z step for its labels.
    spatial = "zyx" if "z" in image.axes and image.sizes["z"] > 1 else "yx"
    sizes = {a: float(v) for a, v in dict(image.pixel_size).items() if a in spatial}
    return ImageRef(path=str(path.absolute()), image_id=image_id, axes=image.axes,
                    shape=tuple(int(s) for s in image.shape), channel_names=names,
                    pixel_size=sizes, read_axes=axes,
                    read_channel_names=tuple(channel_names) if channel_names else None)
