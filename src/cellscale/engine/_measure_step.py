"""The ``measure`` step: one table row per stitched cell, measured chunk by chunk.

Each chunk measures, with :func:`cellscale.measure.measure`, the stitched
labels over its region (core + halo) and keeps the rows of the cells it owns
(ids ``offset + 1 .. offset + count``: the objects whose centroid lies in its
core). A cell reaches at most the halo beyond its core, so it is measured
whole, and once. Coordinates are shifted to the whole image; the touching
graph is rebuilt across chunks from the label pairs each chunk reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
from pydantic import Field

from cellscale.engine._job import ImageRef, Job, LabelLayer, read_region
from cellscale.engine._pipeline import Step, register_step
from cellscale.engine._plan import Chunk
from cellscale.engine._quality import add_quality_columns
from cellscale.errors import InvalidArgumentError

__all__ = ["MeasureStep", "combine_tables"]


@dataclass(frozen=True)
class _Spec:
    ref: ImageRef
    main: LabelLayer
    nuclei: LabelLayer | None
    n_chunks_x: int
    frame: int | None = None


def _labels(layer: LabelLayer, region: tuple[int, int, int, int], frame: int | None) -> np.ndarray:
    import zarr

    y0, y1, x0, x1 = region
    arr = zarr.open_array(layer.path, mode="r")
    if frame is None:
        return np.asarray(arr[y0:y1, x0:x1])
    return np.asarray(arr[frame, y0:y1, x0:x1])


def _measure_chunk(spec: _Spec, chunk: Chunk) -> tuple[Any, np.ndarray]:
    """The rows of the cells this chunk owns, and their touching pairs (label, label)."""
    from cellscale.measure import measure

    region = chunk.region
    k = chunk.index[0] * spec.n_chunks_x + chunk.index[1]
    block = read_region(spec.ref, region, t=spec.frame)
    main = _labels(spec.main, region, spec.frame)
    nuclei = _labels(spec.nuclei, region, spec.frame) if spec.nuclei is not None else None
    pixel_size = {a: spec.ref.pixel_size[a] for a in "yx"} \
        if {"y", "x"} <= set(spec.ref.pixel_size) else None
    main_name = "cells" if spec.main.compartment == "cells" else "nuclei"
    kwargs = {main_name: main}
    if nuclei is not None:
        kwargs["nuclei"] = nuclei
    table = measure(block, channel_names=list(spec.ref.channel_names), pixel_size=pixel_size,
                    image_id=spec.ref.image_id, **kwargs)
    labels = table.obs["label"].to_numpy()
    if spec.frame is None:
        lo, hi = spec.main.offsets[k] + 1, spec.main.offsets[k] + spec.main.counts[k]
        rows = (labels >= lo) & (labels <= hi)
    else:
        rows = np.ones(labels.shape, bool)
    graph = table.obsp["touching"].tocoo()
    own = rows[graph.row]
    edges = np.stack([labels[graph.row[own]], labels[graph.col[own]]], axis=1).astype(np.int64)
    out = table[rows].copy()
    del out.obsp["touching"]
    y0, x0 = region[0], region[2]
    out.obs["centroid_y"] += y0
    out.obs["centroid_x"] += x0
    if pixel_size is not None:
        out.obs["centroid_y_um"] = out.obs["centroid_y"] * pixel_size["y"]
        out.obs["centroid_x_um"] = out.obs["centroid_x"] * pixel_size["x"]
    out.obsm["spatial"] = out.obsm["spatial"] + np.array([[x0, y0]], dtype=float)
    if spec.frame is not None:
        out.obs["t"] = np.int64(spec.frame)
    return out, edges


def combine_tables(parts: list[tuple[Any, np.ndarray]], *, extra_uns: dict[str, Any] | None = None,
                   key: str = "label") -> Any:
    """Concatenate chunk tables and rebuild ``obsp["touching"]`` from their label pairs.

    Parameters
    ----------
    parts : list of (AnnData, ndarray of int64, shape (m, 2))
        Each chunk's rows and its touching pairs ``(label, neighbour label)``.
    extra_uns : dict, optional
        Added to ``uns``.
    key : str
        The obs column holding each row's label (unique across parts).

    Returns
    -------
    anndata.AnnData
    """
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    tables = [t for t, _ in parts]
    table = ad.concat(tables, merge="same", uns_merge="first")
    if "image_id" in table.obs:
        table.obs["image_id"] = pd.Categorical(table.obs["image_id"].astype(str))
    labels = table.obs[key].to_numpy()
    order = np.argsort(labels, kind="stable")
    edges = np.concatenate([e for _, e in parts]) if parts else np.zeros((0, 2), np.int64)
    if len(edges):
        pos = np.searchsorted(labels[order], edges)
        pos = np.clip(pos, 0, max(len(labels) - 1, 0))
        rows = order[pos]
        valid = (labels[rows[:, 0]] == edges[:, 0]) & (labels[rows[:, 1]] == edges[:, 1])
        rows = rows[valid]
    else:
        rows = np.zeros((0, 2), np.int64)
    n = table.n_obs
    graph = sparse.coo_matrix((np.ones(len(rows), np.float32), (rows[:, 0], rows[:, 1])),
                              shape=(n, n)).tocsr()
    graph.data[:] = 1.0
    table.obsp["touching"] = graph
    table.obs["n_neighbours"] = np.diff(graph.indptr).astype(np.int64)
    table.uns.update(extra_uns or {})
    return table


@register_step
class MeasureStep(Step):
    """Measure every segmented cell: intensities per compartment, shape, neighbours."""

    step: Literal["measure"] = "measure"
    table: str | None = Field(None, description="Table name in the store; default the image's name.")

    handles_time = True

    def run(self, job: Job) -> None:
        if not job.labels:
            raise InvalidArgumentError(
                f"{job.ref.path}: the measure step needs labels; put a segment step before it")
        start = time.perf_counter()
        main_name = "cells" if "cells" in job.labels else next(iter(job.labels))
        main = job.labels[main_name]
        nuclei = job.labels.get("nuclei") if main_name == "cells" else None
        plan = job.plan
        if job.ref.n_frames > 1 or "t" in job.ref.axes:
            whole = Chunk((0, 0), (0, plan.shape[0], 0, plan.shape[1]),
                          (0, plan.shape[0], 0, plan.shape[1]))
            parts = []
            for t in range(job.ref.n_frames):
                spec = _Spec(job.ref, main, nuclei, 1, frame=t)
                parts.append(spec)
            results = job.map(partial(_measure_frame, whole), parts)
        else:
            spec = _Spec(job.ref, main, nuclei, plan.grid[1])
            results = job.map(partial(_measure_chunk, spec), list(plan.chunks))
        info = {"chunk_size": plan.chunk_size, "halo": plan.halo, "n_chunks": len(plan),
                "labels": main_name}
        table = combine_tables(results, extra_uns={"cellscale_engine": info},
                               key="label" if job.ref.n_frames == 1 else "_row")
        add_quality_columns(table, job.extras)  # segment_confidence, segment_diameter
        name = self.table or job.ref.image_id
        job.tables[name] = table
        job.table_regions[name] = main_name
        job.timings["measure"] = time.perf_counter() - start


def _measure_frame(whole: Chunk, spec: _Spec) -> tuple[Any, np.ndarray]:
    table, edges = _measure_chunk(spec, whole)
    # Labels repeat across frames: give each row a key unique in the movie.
    key = spec.frame * (1 << 32) + table.obs["label"].to_numpy().astype(np.int64)
    table.obs["_row"] = key
    table.obs_names = [f"{spec.ref.image_id}_t{spec.frame}_{lab}" for lab in table.obs["label"]]
    return table, spec.frame * (1 << 32) + edges
