"""The ``track`` step: follow segmented cells through a movie.

Runs :func:`cellscale.track.track` on the label movie a ``segment`` step
made (the whole movie in memory, in the task that processes the movie) and replaces
those labels by track labels; the lineage (``label, begin, end, parent``) is
kept for the store. When ``cellscale.track`` is not installed the step fails
with a clear error before any work.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from cellscale.engine._job import Job, LabelLayer
from cellscale.engine._pipeline import Step, register_step
from cellscale.errors import InvalidArgumentError, InvalidImageError

__all__ = ["TrackStep", "tracking_available"]


def _track_function() -> Any:
    """``cellscale.track.track``, or None when tracking is not available."""
    try:
        from cellscale import track as module
    except ImportError:
        return None
    return getattr(module, "track", None)


def tracking_available() -> bool:
    """True when :func:`cellscale.track.track` can be imported."""
    return callable(_track_function())


@register_step
class TrackStep(Step):
    """Link the segmented objects of consecutive frames into tracks (with divisions)."""

    step: Literal["track"] = "track"
    compartment: Literal["cells", "nuclei"] | None = Field(
        None, description="Which labels to track; default cells if segmented, else nuclei.")
    max_distance: float | None = Field(
        None, gt=0, description="Largest move between frames (pixels); default from the objects.")
    divisions: bool = Field(True, description="Detect cell divisions.")

    handles_time = True

    def check(self, job: Job) -> None:
        if not tracking_available():
            raise InvalidArgumentError(
                f"{job.ref.path}: tracking is not available in this installation "
                f"(cellscale.track.track cannot be imported); drop the track step")
        if "t" not in job.ref.axes:
            raise InvalidImageError(f"{job.ref.path}: the track step needs a movie (a t axis); "
                                    f"the image has axes {job.ref.axes!r}")

    def run(self, job: Job) -> None:
        import zarr

        self.check(job)
        if not job.labels:
            raise InvalidArgumentError(
                f"{job.ref.path}: the track step needs labels; put a segment step before it")
        start = time.perf_counter()
        name = self.compartment or ("cells" if "cells" in job.labels else "nuclei")
        if name not in job.labels:
            raise InvalidArgumentError(f"{job.ref.path}: no {name} labels to track; segmented: "
                                       f"{sorted(job.labels)}")
        movie = np.asarray(zarr.open_array(job.labels[name].path, mode="r")[...])
        tracked, lineage = _track_function()(movie, max_distance=self.max_distance,
                                             divisions=self.divisions, source=job.ref.path)
        path = job.scratch_path(f"{name}_tracked.zarr")
        out = zarr.create_array(store=path, shape=movie.shape, chunks=(1, *movie.shape[1:]),
                                dtype="uint32", fill_value=0, zarr_format=3, overwrite=True)
        out[...] = np.asarray(tracked, dtype=np.uint32)
        counts = [int(np.unique(f[f > 0]).size) for f in tracked]
        job.labels[name] = LabelLayer(name, path, counts, [0] * len(counts))
        # Only the tracked compartment stays: other labels are not relabelled by track.
        for other in [k for k in job.labels if k != name]:
            del job.labels[other]
        job.extras["lineage"] = lineage
        job.timings["track"] = time.perf_counter() - start
