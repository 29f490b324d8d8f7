"""Writing one finished image's outputs into the results store.

Names in the store, for an image ``A01``:

* ``labels/A01_cells``, ``labels/A01_nuclei`` — stitched label images
  (movies: one layer per frame, ``A01_nuclei_t0000``, ...);
* ``tables/A01`` — the cell table, annotating ``A01_cells`` (or
  ``A01_nuclei`` without whole cells; for movies, every frame's layer, with
  ``obs["region"]`` naming each row's);
* ``images/A01_image`` — the input, when the pipeline has ``save_image: true``
  (not ``images/A01``: SpatialData needs every element name unique across
  images, labels, points and tables).

Outputs are first written into a *staging* store in the job's scratch folder
(:func:`stage`; for small images by the worker that processed them, so
writing is parallel), then moved into the results store by the one process
that drives the run (:func:`publish`, called by
:class:`~cellscale.engine._ledger.StoreLedger`), each element by one rename,
labels first and the table last. The staging store is beside the results
store (same file system), so the renames are atomic. Which image is complete,
and from what, is recorded in the store's attributes by the ledger.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.engine._job import Job
from cellscale.engine._pipeline import Pipeline

__all__ = ["elements_of", "image_name", "label_names", "publish", "stage"]


def image_name(image_id: str) -> str:
    """Store name of a copied input image."""
    return f"{image_id}_image"


def label_names(image_id: str, compartment: str, n_frames: int | None) -> list[str]:
    """Store names of a compartment's label layer(s)."""
    if n_frames is None:
        return [f"{image_id}_{compartment}"]
    return [f"{image_id}_{compartment}_t{t:04d}" for t in range(n_frames)]


def elements_of(job: Job, pipeline: Pipeline) -> list[tuple[str, str]]:
    """Every ``(kind, name)`` element a finished job leaves in the store."""
    from cellscale.engine._measure_step import MeasureStep
    from cellscale.engine._segment_step import SegmentStep

    movie = "t" in job.ref.axes
    frames = job.ref.n_frames if movie else None
    out: list[tuple[str, str]] = []
    if pipeline.save_image and not movie:
        out.append(("images", image_name(job.ref.image_id)))
    for step in pipeline.steps:
        if isinstance(step, MeasureStep):
            out.append(("tables", step.table or job.ref.image_id))
        elif isinstance(step, SegmentStep):
            card = _card(step.model)
            for compartment in step.compartments or card.objects():
                out.extend(("labels", n) for n in label_names(job.ref.image_id, compartment, frames))
    return list(dict.fromkeys(out))


def _card(model: str) -> Any:
    from cellscale.engine._segment_step import _card as card

    return card(model)


def stage(job: Job, pipeline: Pipeline) -> list[tuple[str, str]]:
    """Write ``job``'s outputs into a staging store in its scratch folder.

    Returns the ``(kind, name)`` elements written, in the order to publish them.
    """
    with warnings.catch_warnings():
        # zarr warns on every consolidate_metadata call (add_table) that consolidated
        # metadata is not in the Zarr v3 spec; SpatialData needs it, so it stays.
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        return _stage(job, pipeline)


def _stage(job: Job, pipeline: Pipeline) -> list[tuple[str, str]]:
    import dask.array as da
    import zarr

    from cellscale.engine._dynamics import cell_dynamics
    from cellscale.engine._job import open_image
    from cellscale.io import add_image, add_labels, add_table, create_store

    store = create_store(Path(job.scratch_path("stage.zarr")), overwrite=True)
    written: list[tuple[str, str]] = []

    ref = job.ref
    movie = "t" in ref.axes
    if pipeline.save_image and not movie:
        image = open_image(ref)
        if "z" in image.axes:
            image = image.isel(z=0)
        add_image(store, image_name(ref.image_id), image, overwrite=True)
        written.append(("images", image_name(ref.image_id)))
    sizes = dict(ref.pixel_size) or None
    layers: dict[str, list[str]] = {}
    for compartment, layer in job.labels.items():
        array = zarr.open_array(layer.path, mode="r")
        names = label_names(ref.image_id, compartment, ref.n_frames if movie else None)
        for k, name in enumerate(names):
            data = da.from_zarr(array)[k] if movie else da.from_zarr(array)
            add_labels(store, name, data, pixel_size=sizes, overwrite=True)
            written.append(("labels", name))
        layers[compartment] = names
    for name, table in job.tables.items():
        # The pipeline that made the table, beside it (a default one is chosen per image).
        engine = dict(table.uns.get("cellscale_engine", {}))
        engine["pipeline"] = json.dumps(pipeline.model_dump(mode="json"))
        table.uns["cellscale_engine"] = engine
        compartment = job.table_regions[name]
        regions = layers[compartment]
        if movie:
            table.obs["region"] = np.asarray(regions, dtype=object)[table.obs["t"].to_numpy()]
            if "_row" in table.obs:
                del table.obs["_row"]
            lineage = job.extras.get("lineage")
            if lineage is not None:
                table.uns["lineage"] = {c: lineage[c].to_numpy() for c in lineage.columns}
                dynamics = cell_dynamics(table.obs, lineage, pixel_size=ref.pixel_size or None)
                for column in dynamics.columns:
                    table.obs[column] = dynamics[column].to_numpy()
        add_table(store, name, table, region=regions[0] if len(regions) == 1 else regions,
                  overwrite=True)
        written.append(("tables", name))
    job.extras["n_obs"] = {name: int(t.n_obs) for name, t in job.tables.items()}
    return written


def publish(job: Job, elements: list[tuple[str, str]], store: Path) -> None:
    """Move staged elements into ``store`` (replacing older ones), in order."""
    from cellscale.errors import OutputNotWritableError
    from cellscale.io._atomic import rename_into_place

    staging = job.scratch / "stage.zarr"
    for kind, name in elements:
        source, final = staging / kind / name, store / kind / name
        try:
            rename_into_place(source, final, aside=store.parent)
        except OSError as exc:
            raise OutputNotWritableError(f"{final}: cannot move the {kind} element into the "
                                         f"store: {exc}") from exc
