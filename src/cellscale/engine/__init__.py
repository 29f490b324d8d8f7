"""The engine: pipelines over many and large images, on a Dask cluster.

======================================  ==========================================
:func:`run_pipeline`                     images in, a results store out (parallel,
                                         resumable, failures isolated)
:class:`Pipeline`, :func:`load_pipeline` steps as a pydantic model / YAML file
:func:`default_pipeline`                 the pipeline that fits an image
:class:`Step`, :func:`register_step`     the step registry (segment, measure, track)
:func:`cluster_client`                   a local Dask cluster, or a scheduler address
:func:`plan_chunks`, :func:`halo_for`    cutting large planes into chunks with halos
:func:`keep_core_objects`,               stitching chunk labels so no object is cut
:func:`assemble_core`                    or doubled at a seam
======================================  ==========================================

``distributed`` is imported only when a cluster is started.
"""

from cellscale.engine._cluster import EngineConnectionError, cluster_client
from cellscale.engine._defaults import default_pipeline
from cellscale.engine._job import ImageRef, Job, LabelLayer
from cellscale.engine._measure_step import MeasureStep, combine_tables
from cellscale.engine._pipeline import Pipeline, Step, available_steps, load_pipeline, register_step
from cellscale.engine._plan import Chunk, ChunkPlan, halo_for, plan_chunks
from cellscale.engine._run import Event, RunReport, chunk_size_for, run_pipeline
from cellscale.engine._segment_step import SegmentStep, model_halo
from cellscale.engine._stitch import assemble_core, chunk_offsets, keep_core_objects
from cellscale.engine._track_step import TrackStep, tracking_available

__all__ = [
    "Chunk",
    "ChunkPlan",
    "EngineConnectionError",
    "Event",
    "ImageRef",
    "Job",
    "LabelLayer",
    "MeasureStep",
    "Pipeline",
    "RunReport",
    "SegmentStep",
    "Step",
    "TrackStep",
    "assemble_core",
    "available_steps",
    "chunk_offsets",
    "chunk_size_for",
    "cluster_client",
    "combine_tables",
    "default_pipeline",
    "halo_for",
    "keep_core_objects",
    "load_pipeline",
    "model_halo",
    "plan_chunks",
    "register_step",
    "run_pipeline",
    "tracking_available",
]
