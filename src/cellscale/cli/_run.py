"""``cellscale run INPUT... -o RESULTS.zarr``: a pipeline over many or large images."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Self

import typer

from cellscale.cli._progress import _enabled


def _split_channels(text: str | None) -> list[str | int] | None:
    if text is None:
        return None
    from cellscale.errors import InvalidArgumentError

    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens or len(tokens) > 2:
        raise InvalidArgumentError(
            f"--channels takes one or two channels (nuclear[,membrane]), got {text!r}")
    return [int(t) if t.isdigit() else t for t in tokens]


class _Bar:
    """A rich progress bar fed by the engine's events (only on a terminal)."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.images: Any = None
        self.chunks: dict[str, Any] = {}

    def __enter__(self) -> Self:
        if _enabled():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=Console(stderr=True), transient=True)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, event: Any) -> None:
        # Failures are listed once, at the end of the run (print_failures).
        if self.progress is None:
            return
        if event.kind == "start":
            self.images = self.progress.add_task("images", total=event.total)
        elif event.kind == "chunk":
            task = self.chunks.get(event.image_id)
            if task is None:
                task = self.chunks[event.image_id] = self.progress.add_task(
                    f"  {event.image_id} chunks", total=event.total)
            self.progress.update(task, completed=event.done, total=event.total)
        elif event.kind in ("done", "skip", "fail"):
            self.progress.advance(self.images)
            if event.image_id in self.chunks:
                self.progress.remove_task(self.chunks.pop(event.image_id))


@contextmanager
def quiet_event_loop() -> Iterator[None]:
    """Silence errors logged inside Dask's event loop while a run goes.

    On Ctrl-C, ``distributed`` (2026.1) cancels the call in flight from a
    callback that itself fails (``NameError`` in ``distributed.utils.sync``) and
    tornado logs that with a traceback; a task's real errors reach the run's
    report, not this log.
    """
    logger = logging.getLogger("tornado.application")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def print_failures(report: Any) -> None:
    """One paragraph per failed image, its advice in the CLI's words."""
    from cellscale.cli._app import cli_message

    for image_id, error in report.errors.items():
        text = " ".join(cli_message(error, command="run").split())
        typer.secho(f"cellscale: error: {image_id}: {text}", err=True, fg="red")


def print_flags(report: Any) -> str:
    """One ``warning:`` line per doubt about each flagged image (stderr); returns the tally.

    The tally (empty when no image is flagged) ends the run's summary.
    """
    flagged = report.flagged
    for image_id, found in flagged.items():
        for warning in found:
            typer.echo(f"warning: {image_id}: {warning}", err=True)
    if not flagged:
        return ""
    return (f"\n{len(flagged)} of {len(report.estimates)} image(s) flagged as uncertain; "
            f"see `cellscale info {report.store}`")


def interrupted(store: Path, *, kept: str) -> None:
    """Report a Ctrl-C and exit with status 130 (the shell's code for SIGINT)."""
    typer.secho(f"cellscale: interrupted; {kept}", err=True, fg="red")
    raise typer.Exit(130)


def run(
    inputs: Annotated[list[Path], typer.Argument(
        metavar="INPUT...", help="Images (TIFF, OME-TIFF, OME-Zarr, PNG) or folders of them.")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="Results store (.zarr) to create, or to resume.")],
    pipeline: Annotated[Path | None, typer.Option(
        "--pipeline", help="Pipeline YAML file (default: fitted to each image: nuclei for one "
                           "channel; cells + nuclei with a nuclear and a membrane channel).")] = None,
    channels: Annotated[str | None, typer.Option(
        "--channels", help="Default pipeline: the nuclear channel, or nuclear,membrane "
                           "(names or indices).")] = None,
    axes: Annotated[str | None, typer.Option(
        "--axes", help="Axes of the inputs when their files do not say, e.g. cyx or tyx.")]
    = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                            "(default: a local cluster).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Local cluster: worker processes (default: one per core, as "
                                 "memory allows).")] = None,
    memory_limit: Annotated[str, typer.Option(
        "--memory-limit", help="Local cluster: memory per worker, e.g. 2GB.")] = "2GB",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the results store with this run's results only (swapped "
                            "in when the run ends) instead of resuming it.")] = False,
) -> None:
    """Run a pipeline (segment, measure, ...) over images into a results store, in parallel.

    Large images are processed in chunks. A re-run skips the images whose
    results in the store came from the same file (path, size, modification
    time) through the same pipeline and models, and redoes the others,
    replacing their results. An image that fails is reported at the end and
    the others complete. Images the model was unsure of (low confidence,
    objects outside its range) get a warning line each and are counted in
    the summary; `cellscale info RESULTS.zarr` lists every image's object
    count, diameter, confidence and warnings. After Ctrl-C, running the same command finishes the
    run.
    """
    from cellscale.engine import run_pipeline
    from cellscale.io import check_output

    # The store may exist (a re-run resumes it) but never is, holds or lies inside an input.
    check_output(output, [*inputs, pipeline], kind="dir", overwrite=overwrite, resume=True)
    try:
        with quiet_event_loop(), _Bar() as bar:
            report = run_pipeline(inputs, output, pipeline=pipeline,
                                  channels=_split_channels(channels), axes=axes,
                                  scheduler=scheduler, n_workers=workers,
                                  memory_limit=memory_limit, overwrite=overwrite, on_event=bar)
    except KeyboardInterrupt:
        store = output.expanduser().absolute()
        if overwrite:
            interrupted(store, kept=f"{store} was not changed")
        if not store.exists():
            interrupted(store, kept="no image was finished, so no results store was written")
        interrupted(store, kept=f"the images finished so far are kept in {store} (marked "
                                f"incomplete); run the same command again to finish the others")
    cells = sum(report.n_objects.values())
    where = report.store if report.store.exists() else "no results store written"
    if report.resumed:
        typer.echo(f"Resumed an interrupted run into {report.store}.")
    tally = print_flags(report)
    typer.echo(
        f"Processed {len(report.done)} image(s), skipped {len(report.skipped)} already done, "
        f"{len(report.failed)} failed; {cells} cells in {report.seconds:.1f} s on "
        f"{report.n_workers} worker(s) -> {where}{tally}")
    if report.failed:
        print_failures(report)
        typer.echo("Re-run the same command to retry them; finished images are skipped.",
                   err=True)
        sys.exit(1)
