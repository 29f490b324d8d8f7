"""A worker plugin that keeps task errors off a local cluster's terminal.

The workers of a local cluster write their logs to the terminal of the
command that started them. A failing task makes a worker log
``distributed.worker - ERROR - Compute Failed`` with the whole traceback,
although the run reports the same failure once, as a paragraph naming the
file. This module imports ``distributed``; only
:func:`~cellscale.engine.cluster_client` imports it, for local clusters.
"""

from __future__ import annotations

import logging
from typing import Any

from distributed import WorkerPlugin

__all__ = ["QuietTaskErrors"]


def _not_a_task_error(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Compute Failed")


class QuietTaskErrors(WorkerPlugin):
    """Drop the worker's ``Compute Failed`` log records (the driver reports the errors)."""

    name = "cellscale-quiet-task-errors"

    def setup(self, worker: Any) -> None:
        logger = logging.getLogger("distributed.worker")
        if _not_a_task_error not in logger.filters:
            logger.addFilter(_not_a_task_error)
