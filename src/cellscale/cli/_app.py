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
    from cellscale.cli import _demo, _info, _label, _run, _segment, _simulate, _track, _train

    app.command("info")(_info.info)
    app.add_typer(_simulate.simulate_app, name="simulate")
    app.command("segment")(_segment.segment)
    app.command("evaluate")(_segment.evaluate)
    app.command("train")(_train.train)
    app.command("track")(_track.track)
    app.command("run")(_run.run)
    app.command("demo")(_demo.demo)
    app.command("label")(_label.label)


_register()


#: How the CLI words the advice of an error, by the option it is about
#: (:attr:`cellscale.errors.CellscaleError.option`); ``{eg}`` becomes examples
#: built from the error's ``choices`` and ``{out}`` the command's output flag.
_ADVICE = {
    "axes": "say the axes with --axes{eg}",
    "channels": "choose the image's channels with --channels, in the model's order{eg}",
    "overwrite": "add --overwrite to replace it, or choose another path with {out}",
    "output": "choose another path with {out}",
    "plane": "'cellscale segment' takes one 2-D image: use 'cellscale track' for a movie, or "
             "--axes if the axes were read wrongly",
    "labels": "this is a label image: give the image it was made from (label images go to "
              "'cellscale track --labels' or an evaluation's masks)",
    "label_name": "name one of them: give the path of the store's labels/<name>{eg}",
    "size": "choose a smaller --size (or fewer --frames), or add --allow-large",
    "compartment": "choose another --compartment or model{eg}",
    "lazy": "crop or downsample it first, or process it in chunks with 'cellscale run'",
}
_EXAMPLE_FLAG = {"axes": "--axes", "channels": "--channels", "compartment": "--compartment"}


def cli_message(exc: BaseException, *, command: str | None = None) -> str:
    """The one-paragraph text of an error, with its advice in the CLI's words.

    Errors from cellscale carry their advice for Python (``hint``) and the
    option it is about (``option``); the CLI words the advice as a flag instead.
    """
    if not isinstance(exc, CellscaleError) or exc.option not in _ADVICE:
        return str(exc)
    flag = _EXAMPLE_FLAG.get(exc.option)
    examples = ""
    if exc.choices:
        shown = [f"{flag} {c}" if flag else c for c in exc.choices]
        examples = ", e.g. " + (f"{', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1
                                else shown[0])
    advice = _ADVICE[exc.option].format(eg=examples, out="--out" if command == "train"
                                           else "-o")
    return f"{exc.message}; {advice}" if exc.message else advice


def _report(message: str) -> None:
    """Print one paragraph to stderr, the way every user mistake is reported."""
    text = " ".join(str(message).split())
    typer.secho(f"cellscale: error: {text}", err=True, fg="red")
    typer.echo("Run with --debug for the full traceback.", err=True)


def _command(args: list[str]) -> str | None:
    """The subcommand named in ``args`` (the first word that is not an option)."""
    return next((a for a in args if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit 0 on success, 1 on an error, 2 on misuse.

    Usage mistakes (unknown option, missing argument) are reported by Typer.
    Errors raised by cellscale itself (bad input, existing output, ...) become
    a one-paragraph message and exit status 1; ``--debug`` (before or after the
    subcommand) shows the traceback.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    if debug:
        # Accepted anywhere on the line, not only before the subcommand.
        args = [a for i, a in enumerate(args) if a != "--debug" or i >= end]
        args.insert(0, "--debug")
    command = _command(args[1:] if debug else args)
    try:
        app(args=args, prog_name="cellscale")
    except (CellscaleError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if debug:
            raise
        _report(cli_message(exc, command=command))
        sys.exit(1)
    except MemoryError:
        if debug:
            raise
        _report("ran out of memory; try a smaller image, or process it in chunks with "
                "'cellscale run'")
        sys.exit(1)
