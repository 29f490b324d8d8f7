"""``cellscale run INPUT... -o RESULTS.zarr``: a pipeline over many or large images."""

from __future__ import annotations

import sys
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
        if event.kind == "fail":
            typer.secho(f"  failed: {event.image_id}: {event.message}", err=True, fg="red")
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
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                            "(default: a local cluster).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Local cluster: worker processes (default: one per core, as "
                                 "memory allows).")] = None,
    memory_limit: Annotated[str, typer.Option(
        "--memory-limit", help="Local cluster: memory per worker, e.g. 2GB.")] = "2GB",
) -> None:
    """Run a pipeline (segment, measure, ...) over images into a results store, in parallel.

    Large images are processed in chunks; a re-run skips images already in the
    store; an image that fails is reported at the end and the others complete.
    """
    from cellscale.engine import run_pipeline

    with _Bar() as bar:
        report = run_pipeline(inputs, output, pipeline=pipeline,
                              channels=_split_channels(channels), scheduler=scheduler,
                              n_workers=workers, memory_limit=memory_limit, on_event=bar)
    cells = sum(report.n_objects.values())
    typer.echo(
        f"Processed {len(report.done)} image(s), skipped {len(report.skipped)} already done, "
        f"{len(report.failed)} failed; {cells} cells in {report.seconds:.1f} s on "
        f"{report.n_workers} worker(s) -> {report.store}")
    if report.failed:
        for image_id, message in report.failed.items():
            typer.secho(f"cellscale: error: {image_id}: {' '.join(message.split())}", err=True,
                        fg="red")
        typer.echo("Re-run the same command to retry them; finished images are skipped.",
                   err=True)
        sys.exit(1)
