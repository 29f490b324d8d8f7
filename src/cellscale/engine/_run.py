"""Running a pipeline over many images into one results store.

* Images that fit in one chunk are each processed whole, in one task, all
  in parallel across the cluster's workers; larger images are cut into
  chunks whose tasks spread over the workers.
* Every image's outputs are written into a staging store beside the results
  store (by the worker, for small images), then moved into the results store
  by this process alone (one writer per store), one rename per element, the
  table last (:class:`~cellscale.engine._ledger.StoreLedger`).
* The store records, per image, a fingerprint of its input and pipeline
  (:mod:`cellscale.engine._provenance`); a re-run skips only the images whose
  fingerprint matches and redoes the others, replacing their elements.
* Nothing is written before the options are checked and the cluster is up;
  the store appears with the first finished image.
* The segment step's object diameter and confidence (agreement with the
  image flipped) of every image are kept in its cell table (columns
  ``segment_diameter``, ``segment_confidence``), in its store entry
  (``"quality"``) and in the :class:`RunReport` (``estimates``; ``flagged``
  lists the images the model was unsure of: :mod:`cellscale.engine._quality`).
* An image that fails is reported, with its error, in the returned
  :class:`RunReport`; the others complete. A task's error is returned by the
  worker rather than raised, so the worker does not log its traceback.
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
from functools import partial
from pathlib import Path
from typing import Any

from cellscale.engine._cluster import check_cluster_options, cluster_client, worker_memory_limit
from cellscale.engine._commit import elements_of, stage
from cellscale.engine._defaults import default_pipeline
from cellscale.engine._failures import TaskError, explain, guarded, unwrap
from cellscale.engine._inputs import describe_input, expand_inputs, unique_ids
from cellscale.engine._job import ImageRef, Job, serial_map
from cellscale.engine._ledger import StoreLedger
from cellscale.engine._pipeline import Pipeline, load_pipeline
from cellscale.engine._plan import plan_chunks
from cellscale.engine._provenance import (
    fingerprint,
    image_entry,
    matches,
    pipeline_key,
    pipeline_record,
)
from cellscale.engine._quality import flags, image_quality
from cellscale.engine._segment_step import SegmentStep, _card, model_halo
from cellscale.errors import CellscaleError, InvalidArgumentError

__all__ = ["Event", "RunReport", "TaskError", "chunk_size_for", "explain", "run_pipeline"]

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
        Image → error message (one paragraph naming its file).
    errors : dict of str to CellscaleError
        The same failures as errors, with their advice (``hint``, ``option``).
    n_objects : dict of str to int
        Rows of each table written (cells, or nuclei without cells).
    timings : dict of str to dict of str to float
        Per image: seconds per step, and ``"write"`` (into the store).
    estimates : dict of str to dict
        Per image processed now: the segment step's ``diameter`` (px),
        ``confidence`` (0-1), ``warnings`` and the ``n_objects`` found (see
        :func:`~cellscale.engine._quality.image_quality`); also kept in the
        store's entry of the image.
    seconds : float
    n_workers : int
    resumed : bool
        True when the previous run into the store had not finished.
    """

    store: Path
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, CellscaleError] = field(default_factory=dict)
    n_objects: dict[str, int] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    n_workers: int = 0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return not self.failed

    @property
    def flagged(self) -> dict[str, list[str]]:
        """Images processed now that the model was unsure of → what to tell the user.

        An image is flagged when its segmentation has warnings (objects
        outside the model's range, an unconfirmed size) or a confidence below
        :data:`~cellscale.segment._estimate.LOW_CONFIDENCE`.
        """
        return {image_id: found for image_id, record in self.estimates.items()
                if (found := flags(record))}


def chunk_size_for(memory_limit: int | None) -> int:
    """Chunk core side for workers with ``memory_limit`` bytes (None: unlimited).

    Measured peak worker memory (``benchmarks/scale.py``; ONNX Runtime, one
    thread): about 350 MB with 1024-pixel chunks and 470-520 MB with 2048
    (``nuclei`` and ``cells`` models), whatever the image size. Measured
    before the ``cells`` model gained its centre maps: its two extra output
    planes add about 2 x 4 bytes per pixel, ~40 MB per 2048 chunk.
    """
    if memory_limit is None or memory_limit >= 15 * 10**8:
        return 2048
    if memory_limit >= 8 * 10**8:
        return 1024
    return 512


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

        futures = client.map(partial(guarded, fn), list(items), pure=False)
        try:
            for k, future in enumerate(as_completed(futures), 1):
                if future.status == "error":
                    future.result()  # raises the task's exception here (e.g. KilledWorker)
                unwrap(future.result())
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
    overwrite: bool = False,
    on_event: Callable[[Event], None] | None = None,
) -> RunReport:
    """Run a pipeline over images into a results store, on a Dask cluster.

    Parameters
    ----------
    inputs : path or sequence of paths
        Image files, OME-Zarr stores, or folders of them.
    output : path
        The results store (``.zarr``); created when the first image is done,
        else resumed: an image is skipped only when the store holds its results
        from the same input (path, size, modification time), read the same way,
        through the same pipeline (steps, options, model cards); any other image
        is redone and its elements replaced (see
        :mod:`cellscale.engine._provenance`).
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
    overwrite : bool
        Replace an existing store with one holding only this run's results
        (swapped in when the run ends; the old store is kept if nothing succeeds).
    on_event : callable, optional
        Called with an :class:`Event` as work progresses.

    Returns
    -------
    RunReport
        Failures are reported here, not raised (except for problems with the
        run as a whole: no inputs, an unwritable store, a bad pipeline file, an
        unreachable scheduler). Nothing is written before those are checked,
        and a run in which no image succeeds leaves no new store.

    Raises
    ------
    KeyboardInterrupt
        Passed on after the cluster is stopped and the store is marked
        ``interrupted`` (``open_store(output).complete`` is False); the images
        finished before it are kept, and the same call finishes the others.
    """
    from cellscale.io._paths import check_output

    start = time.perf_counter()
    emit = on_event or (lambda event: None)
    if pipeline is not None and not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    paths = expand_inputs(inputs if not isinstance(inputs, (str, os.PathLike)) else [inputs])
    # `run plate/ -o plate/results.zarr`: on a re-run the folder holds the store itself.
    target = Path(output).expanduser().absolute()
    paths = [p for p in paths if p.absolute() != target] or paths
    ids = unique_ids(paths)
    store_path = check_output(output, paths, kind="dir", overwrite=overwrite,
                              resume=not overwrite)
    if axes is not None:
        from cellscale.io import validate_axes

        validate_axes(axes, [1] * len(axes) if isinstance(axes, str) else [])
    if client is None:
        check_cluster_options(scheduler=scheduler, memory_limit=memory_limit)
    ledger = _ledger(store_path, overwrite)
    report = RunReport(store=store_path, resumed=ledger.resumes_interrupted)
    _remove_old_scratch(store_path)
    scratch_root = store_path.with_name(f".{store_path.name}.scratch-{uuid.uuid4().hex[:8]}")
    context = nullcontext(client) if client is not None else cluster_client(
        scheduler=scheduler, n_workers=n_workers, memory_limit=memory_limit)
    try:
        with context as active:
            report.n_workers = len(active.scheduler_info()["workers"])
            _run_all(active, paths, ids, pipeline, channels, axes, ledger, scratch_root,
                     report, emit)
    except BaseException:
        ledger.interrupted()
        raise
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    ledger.finish(report.failed)
    report.seconds = time.perf_counter() - start
    return report


def _remove_old_scratch(store: Path) -> None:
    """Remove scratch folders that interrupted runs into ``store`` left.

    After Ctrl-C, the workers of an external cluster finish the tasks they
    were running and may write into the scratch folder after the run removed it.
    """
    for old in store.parent.glob(f".{store.name}.scratch-*"):
        shutil.rmtree(old, ignore_errors=True)


def _ledger(store: Path, overwrite: bool) -> StoreLedger:
    from cellscale.errors import FileFormatError, OutputExistsError

    try:
        return StoreLedger(store, overwrite=overwrite)
    except FileFormatError as exc:
        raise OutputExistsError(f"{store}: exists and is not a results store, so a run can "
                                f"neither resume nor add to it ({exc})",
                                hint="choose another output, or pass overwrite=True to "
                                     "replace it", option="overwrite") from exc


@dataclass
class _Plan:
    ref: ImageRef
    pipeline: Pipeline
    facts: dict[str, Any]
    record: dict[str, Any]
    elements: list[tuple[str, str]]


def _plan_image(path: Path, image_id: str, pipeline: Pipeline | None, channels: Any,
                axes: str | None, chunk_size: int, scratch_root: Path, ledger: StoreLedger,
                claimed: dict[tuple[str, str], str],
                records: dict[str, tuple[dict[str, Any], str]]) -> tuple[_Plan, Job] | None:
    """Describe one input and decide: None to skip it, else what to do (raises if it cannot)."""
    ref = describe_input(path, image_id, axes=axes)
    pipe = pipeline or default_pipeline(ref, channels=channels)
    probe = _make_job(ref, pipe, chunk_size, scratch_root / image_id, serial_map, None)
    for step in pipe.steps:
        step.check(probe)
    text = pipe.model_dump_json()
    if text not in records:
        record = pipeline_record(pipe)
        records[text] = (record, pipeline_key(record))
    record, key = records[text]
    facts = fingerprint(ref, key)
    elements = elements_of(probe, pipe)
    entry = ledger.images.get(image_id)
    if matches(entry, facts) and ledger.has_all(entry["elements"]):
        return None
    if entry is not None and entry["input"]["path"] != facts["input"]["path"]:
        raise InvalidArgumentError(
            f"{ref.path}: {ledger.target} already holds image {image_id!r} from another file, "
            f"{entry['input']['path']}; rename one of the files, or run into another store",
            hint="or pass overwrite=True to replace the whole store", option="overwrite")
    _check_names(ref, elements, ledger, claimed)
    return _Plan(ref, pipe, facts, record, elements), probe


def _check_names(ref: ImageRef, elements: list[tuple[str, str]], ledger: StoreLedger,
                 claimed: dict[tuple[str, str], str]) -> None:
    """Refuse elements that would replace another image's, or share a name across kinds."""
    names = [name for _, name in elements]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidArgumentError(f"{ref.path}: the pipeline would store several elements "
                                   f"named {twice}; element names must be unique (rename the "
                                   f"measure step's table)")
    for kind, name in elements:
        other = claimed.get((kind, name)) or ledger.owner(kind, name)
        if other is not None and other != ref.image_id:
            raise InvalidArgumentError(
                f"{ref.path}: its {kind} element {name!r} would replace image {other!r}'s in "
                f"{ledger.target}; give each image its own names (leave the measure step's "
                f"table unset to name it after the image), or run it into another store")
    for element in elements:
        claimed[element] = ref.image_id


def _run_all(client: Any, paths: list[Path], ids: list[str], pipeline: Pipeline | None,
             channels: Any, axes: str | None, ledger: StoreLedger, scratch_root: Path,
             report: RunReport, emit: Callable[[Event], None]) -> None:
    from distributed import as_completed

    chunk_size = pipeline.chunk_size if pipeline and pipeline.chunk_size else \
        chunk_size_for(worker_memory_limit(client))
    emit(Event("start", total=len(paths)))
    small: dict[Any, _Plan] = {}
    large: list[_Plan] = []
    claimed: dict[tuple[str, str], str] = {}
    records: dict[str, tuple[dict[str, Any], str]] = {}
    for path, image_id in zip(paths, ids):
        try:
            planned = _plan_image(path, image_id, pipeline, channels, axes, chunk_size,
                                  scratch_root, ledger, claimed, records)
        except Exception as exc:  # noqa: BLE001  # one bad input must not stop the others
            _fail(image_id, str(path.absolute()), exc, report, emit)
            continue
        if planned is None:
            report.skipped.append(image_id)
            emit(Event("skip", image_id))
            continue
        plan, probe = planned
        if len(probe.plan) == 1:
            future = client.submit(guarded, _process_whole, plan.ref, plan.pipeline, chunk_size,
                                   str(scratch_root / image_id), pure=False)
            small[future] = plan
        else:
            large.append(plan)
    try:
        for future in as_completed(list(small)):
            plan = small.pop(future)
            try:
                _finish(*unwrap(future.result()), plan, ledger, report)
            except Exception as exc:  # noqa: BLE001  # isolate this image's failure
                _fail(plan.ref.image_id, plan.ref.path, exc, report, emit)
            else:
                emit(Event("done", plan.ref.image_id))
    finally:
        client.cancel(list(small))
    for plan in large:
        def on_chunk(done: int, total: int, image_id: str = plan.ref.image_id) -> None:
            emit(Event("chunk", image_id, done, total))

        try:
            job = _make_job(plan.ref, plan.pipeline, chunk_size, scratch_root / plan.ref.image_id,
                            _client_map(client, on_chunk), None)
            _run_steps(job, plan.pipeline)
            start = time.perf_counter()
            elements = stage(job, plan.pipeline)
            job.timings["write"] = time.perf_counter() - start
            _finish(job, elements, plan, ledger, report)
        except Exception as exc:  # noqa: BLE001  # isolate this image's failure
            _fail(plan.ref.image_id, plan.ref.path, exc, report, emit)
        else:
            emit(Event("done", plan.ref.image_id))


def _finish(job: Job, elements: list[tuple[str, str]], plan: _Plan, ledger: StoreLedger,
            report: RunReport) -> None:
    n_obs = job.extras.get("n_obs") or {}
    objects = sum(n_obs.values()) if n_obs else \
        max((layer.n for layer in job.labels.values()), default=None)
    quality = image_quality(job.extras, objects)
    entry = image_entry(plan.facts, elements)
    if quality is not None:
        entry["quality"] = quality
    try:
        ledger.commit(job, elements, entry, plan.record)
    finally:
        shutil.rmtree(job.scratch, ignore_errors=True)
    if quality is not None:
        report.estimates[job.ref.image_id] = quality
    report.timings[job.ref.image_id] = dict(job.timings)
    report.done.append(job.ref.image_id)
    report.n_objects.update(job.extras.get("n_obs", {}))


def _fail(image_id: str, path: str, exc: BaseException, report: RunReport,
          emit: Callable[[Event], None]) -> None:
    error = explain(exc, path)
    report.errors[image_id] = error
    report.failed[image_id] = str(error)
    if os.environ.get("CELLSCALE_DEBUG") and not isinstance(exc, TaskError):
        traceback.print_exception(exc)
    emit(Event("fail", image_id, message=report.failed[image_id]))
