"""The root ``cellscale`` command and how user mistakes are reported."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cellscale import __version__
from cellscale.errors import CellscaleError

app = typer.Typer(
    name="cellscale",
    help="Cellular microscopy images to single-cell data, at any scale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cellscale {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Cellular microscopy images to single-cell data, at any scale."""


def _register() -> None:
    # Subcommand modules import their heavy dependencies inside the command
    # functions, so registering them here keeps `cellscale --help` fast.
    from cellscale.cli import _demo, _info, _run, _segment, _simulate, _track, _train

    app.command("info")(_info.info)
    app.add_typer(_simulate.simulate_app, name="simulate")
    app.command("segment")(_segment.segment)
    app.command("evaluate")(_segment.evaluate)
    app.command("train")(_train.train)
    app.command("track")(_track.track)
    app.command("run")(_run.run)
    app.command("demo")(_demo.demo)


_register()


def _report(message: str) -> None:
    """Print one paragraph to stderr, the way every user mistake is reported."""
    text = " ".join(str(message).split())
    typer.secho(f"cellscale: error: {text}", err=True, fg="red")
    typer.echo("Run with --debug for the full traceback.", err=True)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit 0 on success, 1 on an error, 2 on misuse.

    Usage mistakes (unknown option, missing argument) are reported by Typer.
    Errors raised by cellscale itself (bad input, existing output, ...) become
    a one-paragraph message and exit status 1; ``--debug`` shows the traceback.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="cellscale")
    except (CellscaleError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if debug:
            raise
        _report(str(exc))
        sys.exit(1)
    except MemoryError:
        if debug:
            raise
        _report("ran out of memory; try a smaller image, tiles, or a lazy read (see --help)")
        sys.exit(1)
