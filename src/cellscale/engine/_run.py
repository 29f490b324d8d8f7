"""Running a pipeline over many images into one results store.

* Images that fit in one chunk are each processed whole, in one task, all
  in parallel across the cluster's workers; larger images are cut into
  chunks whose tasks spread over the workers.
* Every image's outputs are written into a staging store beside the results
  store (by the worker, for small images), then moved into the results store
  by this process alone (one writer per store), one rename per element, the
  table last: its presence marks the image done and a re-run skips it.
* An image that fails is reported, with its error, in the returned
  :class:`RunReport`; the others complete.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellscale.engine._cluster import cluster_client, worker_memory_limit
from cellscale.engine._commit import outputs_of, publish, stage
from cellscale.engine._defaults import default_pipeline
from cellscale.engine._inputs import describe_input, expand_inputs, unique_ids
from cellscale.engine._job import ImageRef, Job, serial_map
from cellscale.engine._pipeline import Pipeline, load_pipeline
from cellscale.engine._plan import plan_chunks
from cellscale.engine._segment_step import SegmentStep, _card, model_halo
from cellscale.errors import CellscaleError

__all__ = ["Event", "RunReport", "chunk_size_for", "run_pipeline"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Event:
    """Progress of a run: ``kind`` is start, skip, chunk, done or fail."""

    kind: str
    image_id: str = ""
    done: int = 0
    total: int = 0
    message: str = ""


@dataclass
class RunReport:
    """What a run did.

    Attributes
    ----------
    store : pathlib.Path
    done, skipped : list of str
        Images processed now, and images already complete in the store.
    failed : dict of str to str
        Image (or input path) → error message.
    n_objects : dict of str to int
        Rows of each table written (cells, or nuclei without cells).
    timings : dict of str to dict of str to float
        Per image: seconds per step, and ``"write"`` (into the store).
    seconds : float
    n_workers : int
    """

    store: Path
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    n_objects: dict[str, int] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    n_workers: int = 0

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return not self.failed


def chunk_size_for(memory_limit: int | None) -> int:
    """Chunk core side for workers with ``memory_limit`` bytes (None: unlimited).

    Measured peak worker memory (``benchmarks/scale.py``; ONNX Runtime, one
    thread): about 350 MB with 1024-pixel chunks and 470-520 MB with 2048
    (``nuclei`` and ``cells`` models), whatever the image size. Measured
    before the ``cells`` model gained its centre maps (session 5): its two
    extra output planes add about 2 x 4 bytes per pixel, ~40 MB per 2048
    chunk.
    """
    if memory_limit is None or memory_limit >= 15 * 10**8:
        return 2048
    if memory_limit >= 8 * 10**8:
        return 1024
    return 512


def _message(exc: BaseException) -> str:
    if isinstance(exc, CellscaleError):
        return str(exc)
    name = type(exc).__name__
    hint = ""
    if name == "KilledWorker":
        hint = " (a worker died, usually from running out of memory: raise the memory limit " \
               "or lower chunk_size)"
    return f"{name}: {exc}{hint}"


def _halo(pipeline: Pipeline) -> int:
    halos = [model_halo(_card(s.model)) for s in pipeline.steps if isinstance(s, SegmentStep)]
    return max(halos, default=0)


def _make_job(ref: ImageRef, pipeline: Pipeline, chunk_size: int, scratch: Path,
              mapper: Any, scheduler: str | None) -> Job:
    height, width = ref.plane
    size = max(height, width) if "t" in ref.axes else chunk_size
    plan = plan_chunks((height, width), chunk_size=size, halo=_halo(pipeline))
    return Job(ref=ref, plan=plan, scratch=scratch, map=mapper, compute_scheduler=scheduler)


def _run_steps(job: Job, pipeline: Pipeline) -> Job:
    for step in pipeline.steps:
        start = time.perf_counter()
        step.run(job)
        job.timings.setdefault(step.step, time.perf_counter() - start)
    return job


def _process_whole(ref: ImageRef, pipeline: Pipeline, chunk_size: int,
                   scratch: str) -> tuple[Job, list[tuple[str, str]]]:
    """A task: run every step on one small image in this worker and stage its outputs."""
    import dask

    job = _make_job(ref, pipeline, chunk_size, Path(scratch), serial_map, "synchronous")
    _run_steps(job, pipeline)
    start = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        elements = stage(job, pipeline)
    job.timings["write"] = time.perf_counter() - start
    job.map = None  # type: ignore[assignment]  # not needed on the way back
    job.tables = {}  # written; only their sizes travel back (job.extras["n_obs"])
    return job, elements


def _client_map(client: Any, on_chunk: Callable[[int, int], None]) -> Any:
    def map_(fn: Callable[..., Any], items: Sequence[Any]) -> list[Any]:
        from distributed import as_completed

        futures = client.map(fn, list(items), pure=False)
        try:
            for k, future in enumerate(as_completed(futures), 1):
                if future.status == "error":
                    future.result()  # raises the task's exception here
                on_chunk(k, len(futures))
            return client.gather(futures)
        finally:
            client.cancel(futures)

    return map_


def run_pipeline(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike,
    *,
    pipeline: Pipeline | PathLike | None = None,
    channels: Sequence[str | int] | None = None,
    axes: str | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: int | str = "2GB",
    client: Any = None,
    on_event: Callable[[Event], None] | None = None,
) -> RunReport:
    """Run a pipeline over images into a results store, on a Dask cluster.

    Parameters
    ----------
    inputs : path or sequence of paths
        Image files, OME-Zarr stores, or folders of them.
    output : path
        The results store (``.zarr``); created if missing, else resumed: images
        whose outputs are all present are skipped.
    pipeline : Pipeline or path, optional
        The steps, or a YAML file of them; default :func:`default_pipeline` of
        each image.
    channels : sequence of str or int, optional
        For the default pipeline: nuclear [and membrane] channel.
    axes : str, optional
        Axes of the inputs, when their files do not say.
    scheduler : str, optional
        Address of a running Dask scheduler; default a local cluster.
    n_workers, memory_limit
        Local cluster: workers and memory per worker (see :func:`cluster_client`).
    client : distributed.Client, optional
        Use this client instead (``scheduler``, ``n_workers`` and ``memory_limit``
        are then ignored).
    on_event : callable, optional
        Called with an :class:`Event` as work progresses.

    Returns
    -------
    RunReport
        Failures are reported here, not raised (except for problems with the
        run as a whole: no inputs, an unwritable store, a bad pipeline file).
    """
    from cellscale.io import create_store, open_store

    start = time.perf_counter()
    emit = on_event or (lambda event: None)
    if pipeline is not None and not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    paths = expand_inputs(inputs if not isinstance(inputs, (str, os.PathLike)) else [inputs])
    ids = unique_ids(paths)
    store_path = Path(output).expanduser().absolute()
    if not store_path.exists():
        config = {"pipeline": pipeline.model_dump(mode="json") if pipeline else "default",
                  "inputs": [str(p) for p in paths]}
        create_store(store_path, config=config)
    existing = open_store(store_path)
    report = RunReport(store=store_path)
    scratch_root = store_path.with_name(f".{store_path.name}.scratch-{uuid.uuid4().hex[:8]}")
    context = nullcontext(client) if client is not None else cluster_client(
        scheduler=scheduler, n_workers=n_workers, memory_limit=memory_limit)
    try:
        with context as active:
            report.n_workers = len(active.scheduler_info()["workers"])
            _run_all(active, paths, ids, pipeline, channels, axes, existing, store_path,
                     scratch_root, report, emit)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    report.seconds = time.perf_counter() - start
    return report


def _run_all(client: Any, paths: list[Path], ids: list[str], pipeline: Pipeline | None,
             channels: Any, axes: str | None, existing: Any, store: Path, scratch_root: Path,
             report: RunReport, emit: Callable[[Event], None]) -> None:
    from distributed import as_completed

    chunk_size = pipeline.chunk_size if pipeline and pipeline.chunk_size else \
        chunk_size_for(worker_memory_limit(client))
    emit(Event("start", total=len(paths)))
    small: dict[Any, tuple[ImageRef, Pipeline]] = {}
    large: list[tuple[ImageRef, Pipeline]] = []
    for path, image_id in zip(paths, ids):
        try:
            ref = describe_input(path, image_id, axes=axes)
            pipe = pipeline or default_pipeline(ref, channels=channels)
            probe = _make_job(ref, pipe, chunk_size, scratch_root / image_id, serial_map, None)
            if all(existing.has(kind, name) for kind, name in outputs_of(probe, pipe)):
                report.skipped.append(image_id)
                emit(Event("skip", image_id))
                continue
            for step in pipe.steps:
                step.check(probe)
        except Exception as exc:  # noqa: BLE001  # one bad input must not stop the others
            report.failed[image_id] = _message(exc)
            emit(Event("fail", image_id, message=report.failed[image_id]))
            continue
        if len(probe.plan) == 1:
            future = client.submit(_process_whole, ref, pipe, chunk_size,
                                   str(scratch_root / image_id), pure=False)
            small[future] = (ref, pipe)
        else:
            large.append((ref, pipe))
    for future in as_completed(list(small)):
        ref, pipe = small.pop(future)
        try:
            _finish(*future.result(), store, report)
            emit(Event("done", ref.image_id))
        except Exception as exc:  # noqa: BLE001  # isolate this image's failure
            _fail(ref, exc, report, emit)
    for ref, pipe in large:
        def on_chunk(done: int, total: int, image_id: str = ref.image_id) -> None:
            emit(Event("chunk", image_id, done, total))

        try:
            job = _make_job(ref, pipe, chunk_size, scratch_root / ref.image_id,
                            _client_map(client, on_chunk), None)
            _run_steps(job, pipe)
            start = time.perf_counter()
            elements = stage(job, pipe)
            job.timings["write"] = time.perf_counter() - start
            _finish(job, elements, store, report)
            emit(Event("done", ref.image_id))
        except Exception as exc:  # noqa: BLE001  # isolate this image's failure
            _fail(ref, exc, report, emit)


def _finish(job: Job, elements: list[tuple[str, str]], store: Path, report: RunReport) -> None:
    try:
        publish(job, elements, store)
    finally:
        shutil.rmtree(job.scratch, ignore_errors=True)
    report.timings[job.ref.image_id] = dict(job.timings)
    report.done.append(job.ref.image_id)
    report.n_objects.update(job.extras.get("n_obs", {}))


def _fail(ref: ImageRef, exc: BaseException, report: RunReport,
          emit: Callable[[Event], None]) -> None:
    report.failed[ref.image_id] = _message(exc)
    if os.environ.get("CELLSCALE_DEBUG"):
        traceback.print_exception(exc)
    emit(Event("fail", ref.image_id, message=report.failed[ref.image_id]))
