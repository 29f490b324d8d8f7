"""Dask clusters: a local one by default, or any running scheduler by address.

``distributed`` is imported only inside these functions, so ``import
cellscale`` stays light. On HPC or in the cloud, start a cluster with
dask-jobqueue or dask-kubernetes and pass its scheduler address (see
``docs/engine.md``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from cellscale.errors import CellscaleError, InvalidArgumentError

__all__ = ["EngineConnectionError", "check_cluster_options", "cluster_client", "default_workers",
           "worker_memory_limit"]


class EngineConnectionError(CellscaleError, ConnectionError):
    """A Dask scheduler cannot be reached."""


def _bytes(value: int | str) -> int:
    from cellscale.io import parse_memory

    try:
        out = int(parse_memory(value))
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"memory limit must be a size such as '2GB', got {value!r}") \
            from exc
    if out < 256 * 2**20:
        raise InvalidArgumentError(f"memory limit {value!r} is below 256 MB, too little for a "
                                   f"worker that runs a network")
    return out


def check_cluster_options(*, scheduler: str | None = None,
                          memory_limit: int | str = "2GB") -> None:
    """Check the options of :func:`cluster_client` before any work is done.

    Raises
    ------
    InvalidArgumentError
        A scheduler that is not an address, or a memory limit that is not a
        size of at least 256 MB (for a local cluster).
    EngineConnectionError
        Nothing listens at a ``tcp://`` scheduler address.
    """
    if scheduler is None:
        _bytes(memory_limit)
        return
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise InvalidArgumentError(f"scheduler must be an address such as "
                                   f"'tcp://HOST:8786', got {scheduler!r}")
    _probe(scheduler)


def default_workers(memory_limit: int | str) -> int:
    """Workers for a local cluster: one per CPU core, as many as fit in 80 % of the RAM."""
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    fit = math.floor(0.8 * psutil.virtual_memory().total / _bytes(memory_limit))
    return max(1, min(cores or 1, fit))


@contextmanager
def cluster_client(
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: int | str = "2GB",
) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler``, or to a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``. Its
        workers keep their own memory limits and thread counts.
    n_workers : int, optional
        Local cluster only: worker processes; default :func:`default_workers`.
    memory_limit : int or str
        Local cluster only: memory per worker (Dask pauses a worker at 80 % of
        it and restarts it at 95 %). Default ``"2GB"``.

    Yields
    ------
    distributed.Client
        Set as Dask's default scheduler while the context is open.
    """
    from distributed import Client, LocalCluster

    check_cluster_options(scheduler=scheduler, memory_limit=memory_limit)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise EngineConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; "
                                        f"start one with `dask scheduler` or check the address") \
                from exc
        with _closing(client):
            yield client
        return
    limit = _bytes(memory_limit)
    workers = default_workers(limit) if n_workers is None else int(n_workers)
    if workers < 1:
        raise InvalidArgumentError(f"n_workers must be >= 1, got {n_workers}")
    from distributed.deploy.spec import SpecCluster

    before = set(SpecCluster._instances)
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=limit,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    except BaseException:
        # Ctrl-C while the workers start: close the half-started cluster now, quietly;
        # left to distributed's exit hook it fails with an AssertionError traceback.
        for half in set(SpecCluster._instances) - before:
            SpecCluster._instances.discard(half)
            with suppress(BaseException), _quiet_logs():
                half.close(timeout=5)
        raise
    with _closing(cluster), _closing(Client(cluster)) as client:
        from cellscale.engine._quiet import QuietTaskErrors

        client.register_plugin(QuietTaskErrors())
        yield client


@contextmanager
def _closing(thing: Any) -> Iterator[Any]:
    """Close a client or cluster on the way out; quietly when leaving on an error.

    After Ctrl-C (or any error) the cluster still holds running tasks; closing
    it then makes ``distributed`` log cancelled tasks and raise
    ``CancelledError`` from its event loop, which would hide the real reason.
    """
    try:
        yield thing
    except BaseException:
        with suppress(BaseException), _quiet_logs():  # the first error is the one to report
            thing.close()
        raise
    thing.close()


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Silence ``distributed``'s logging for the duration of the block."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _probe(address: str) -> None:
    """Fail fast, with a clear message, when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or not parts.port:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=10):
            pass
    except OSError as exc:
        raise EngineConnectionError(f"cannot reach the Dask scheduler at {address}: {exc}; "
                                    f"start one with `dask scheduler` or check the address") \
            from exc


def worker_memory_limit(client: Any) -> int | None:
    """The smallest memory limit (bytes) of the client's workers; None when unlimited."""
    limits = [w.get("memory_limit") for w in client.scheduler_info()["workers"].values()]
    limits = [int(v) for v in limits if v]
    return min(limits) if limits else None
