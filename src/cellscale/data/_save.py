"""Write a :class:`Sample` to a folder and read it back.

Layout of the folder::

    image.ome.tif | image.zarr     the image (OME-TIFF in memory, OME-Zarr when lazy)
    labels_<name>.tif | .zarr      one label image per entry of ``sample.labels``
    cells.csv                      ground truth per cell
    spots.csv                      point ground truth, when there is some
    lineage.csv                    CTC lineage (label, begin, end, parent), when there is one
    table_<name>.csv               extra tables
    ctc/                           Cell Tracking Challenge ground truth, with a lineage
    params.json                    everything needed to regenerate the sample

The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellscale.data._sample import Sample
from cellscale.errors import InputNotFoundError, InvalidArgumentError
from cellscale.io import atomic_output, read, read_labels, write_image, write_labels

__all__ = ["load_sample", "save_sample"]

_IMAGE_FORMATS = ("auto", "ome.tif", "zarr")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in params.json")


def _label_axes(sample: Sample, labels: Any) -> str:
    spatial = "".join(a for a in sample.image.axes if a != "c")
    return spatial[-labels.ndim :]


def save_sample(
    sample: Sample,
    outdir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    image_format: str = "auto",
) -> dict[str, Path]:
    """Write a sample (image, labels, ground-truth tables, parameters) into a folder.

    Parameters
    ----------
    sample : Sample
        What to write; lazy (Dask) images and labels are streamed chunk by chunk.
    outdir : path-like
        The folder to create. Everything is written into a hidden temporary
        folder beside it, which is renamed to ``outdir`` once complete.
    overwrite : bool
        Replace an existing folder (only after the new one is complete).
        Default False.
    image_format : {"auto", "ome.tif", "zarr"}
        Format of the image and the label images: ``"auto"`` writes OME-TIFF
        for in-memory samples and OME-Zarr for lazy ones. Default "auto".

    Returns
    -------
    dict of str to pathlib.Path
        Final path of each item written: ``"image"``, ``"labels_<name>"``,
        ``"cells"``, ``"params"`` and, when present, ``"spots"``,
        ``"lineage"``, ``"table_<name>"``, ``"ctc"``.

    Raises
    ------
    OutputExistsError
        If ``outdir`` exists and ``overwrite`` is False (nothing is written).
    InvalidArgumentError
        For an unknown ``image_format``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from cellscale.data import simulate_nuclei
    >>> s = simulate_nuclei(shape=(64, 64), seed=0, diameter=12)
    >>> paths = save_sample(s, pathlib.Path(tempfile.mkdtemp()) / "sample")
    >>> sorted(paths)
    ['cells', 'image', 'labels_nuclei', 'params']
    """
    if not isinstance(sample, Sample):
        raise InvalidArgumentError(
            f"save_sample expects a cellscale.data.Sample, got {type(sample).__name__}"
        )
    if image_format not in _IMAGE_FORMATS:
        raise InvalidArgumentError(
            f"image_format must be one of {', '.join(map(repr, _IMAGE_FORMATS))}, "
            f"got {image_format!r}"
        )
    lazy = sample.image.is_lazy or any(
        type(v).__module__.split(".")[0] == "dask" for v in sample.labels.values()
    )
    fmt = ("zarr" if lazy else "ome.tif") if image_format == "auto" else image_format
    lab_ext = ".zarr" if fmt == "zarr" else ".tif"
    final = Path(outdir).expanduser().absolute()
    names: dict[str, str] = {}
    with atomic_output(final, overwrite=overwrite) as tmp:
        tmp.mkdir()
        names["image"] = f"image.{fmt}"
        write_image(sample.image, tmp / names["image"])
        pixel_size = {k: v for k, v in sample.image.pixel_size.items() if k in "yx"} or None
        for name, lab in sample.labels.items():
            key = f"labels_{name}"
            names[key] = f"{key}{lab_ext}"
            write_labels(
                lab,
                tmp / names[key],
                axes=_label_axes(sample, lab),
                pixel_size=pixel_size,
                name=name,
            )
        names["cells"] = "cells.csv"
        sample.cells.to_csv(tmp / names["cells"], index=False)
        if sample.spots is not None:
            names["spots"] = "spots.csv"
            sample.spots.to_csv(tmp / names["spots"], index=False)
        if sample.lineage is not None:
            names["lineage"] = "lineage.csv"
            sample.lineage.to_csv(tmp / names["lineage"], index=False)
        for tname, table in sample.tables.items():
            key = f"table_{tname}"
            names[key] = f"{key}.csv"
            table.to_csv(tmp / names[key], index=True)
        if sample.lineage is not None and sample.labels:
            from cellscale.data._ctc import write_ctc_ground_truth

            names["ctc"] = "ctc"
            lab = sample.labels.get("nuclei", next(iter(sample.labels.values())))
            write_ctc_ground_truth(lab, sample.lineage, tmp / "ctc")
        names["params"] = "params.json"
        meta = {
            "kind": sample.kind,
            "params": sample.params,
            "files": names,
            "image": {
                "axes": sample.image.axes,
                "channel_names": sample.image.channel_names,
                "pixel_size": dict(sample.image.pixel_size),
                "time_interval": sample.image.time_interval,
            },
        }
        (tmp / names["params"]).write_text(json.dumps(meta, indent=2, default=_json_default))
    return {key: final / name for key, name in names.items()}


def load_sample(outdir: str | os.PathLike[str], *, lazy: bool | None = None) -> Sample:
    """Read a folder written by :func:`save_sample` back into a :class:`Sample`.

    Parameters
    ----------
    outdir : path-like
        The folder.
    lazy : bool, optional
        Read the image and labels as Dask arrays; default: as
        :func:`cellscale.io.read` decides (lazy for large files).

    Returns
    -------
    Sample
        Same kind, image (with channel names and pixel size), labels, tables
        and parameters as saved.

    Raises
    ------
    InputNotFoundError
        If the folder or its ``params.json`` is missing.
    """
    folder = Path(outdir).expanduser()
    meta_path = folder / "params.json"
    if not meta_path.is_file():
        raise InputNotFoundError(f"{folder}: not a saved sample (no params.json)")
    meta = json.loads(meta_path.read_text())
    files: dict[str, str] = meta["files"]
    info = meta.get("image", {})
    image = read(folder / files["image"], lazy=lazy)
    if (
        info.get("channel_names")
        and image.channel_names != tuple(info["channel_names"])
        and "c" in image.axes
    ):
        image = image._replace(channel_names=tuple(info["channel_names"]))
    if info.get("time_interval") is not None and image.time_interval is None:
        image = image._replace(time_interval=info["time_interval"])
    labels = {}
    for key, name in files.items():
        if key.startswith("labels_"):
            lab_name = key[len("labels_") :]
            labels[lab_name] = read_labels(
                folder / name, name=lab_name if name.endswith(".zarr") else None, lazy=lazy
            )
    cells = pd.read_csv(folder / files["cells"])
    spots = pd.read_csv(folder / files["spots"]) if "spots" in files else None
    lineage = pd.read_csv(folder / files["lineage"]) if "lineage" in files else None
    tables = {
        key[len("table_") :]: pd.read_csv(folder / name, index_col=0)
        for key, name in files.items()
        if key.startswith("table_")
    }
    return Sample(
        kind=meta["kind"],
        image=image,
        labels=labels,
        cells=cells,
        spots=spots,
        lineage=lineage,
        tables=tables,
        params=meta["params"],
    )
