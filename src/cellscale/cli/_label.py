"""``cellscale label IMAGES...``: serve the browser labelling page for some images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cellscale.cli._segment import AxesOpt, ChannelsOpt, _channels


def _check_port(host: str, port: int) -> None:
    """Refuse a port that cannot be listened on, before any image is read."""
    import errno
    import socket

    from cellscale.errors import InvalidArgumentError

    if not 0 < port < 65536:
        raise InvalidArgumentError(f"--port must be 1 .. 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InvalidArgumentError(
                    f"port {port} on {host} is already in use (another 'cellscale label', or "
                    f"another server); choose another with --port, e.g. --port {port + 1}"
                ) from None
            raise InvalidArgumentError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another --host or "
                "--port") from None


def _check_images(images: list[Path], axes: str | None) -> None:
    """Every image exists and its header is readable (pixels are read when opened)."""
    from cellscale.cli._inputs import named
    from cellscale.errors import InputNotFoundError
    from cellscale.io import describe

    for path in images:
        if not path.exists():
            raise InputNotFoundError(f"{path}: no such image; give the path of an image file "
                                     "(TIFF, OME-TIFF, PNG, OME-Zarr)")
        with named(path):
            describe(path, axes=axes)


def label(
    images: Annotated[list[Path], typer.Argument(
        metavar="IMAGES", help="Images to label: TIFF, OME-TIFF, PNG, OME-Zarr (2-D, any "
                                  "channels). Labels are saved beside each as <stem>.labels.zarr.")],
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Model proposing the labels of images without saved labels: "
                              "nuclei, cells, or a model card's path.")] = "nuclei",
    channels: ChannelsOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve the page on.")] = 8050,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on: 127.0.0.1 (this machine only; forward the port "
                       "with ssh -L from elsewhere) or 0.0.0.0 (every network).")] = "127.0.0.1",
    author: Annotated[str | None, typer.Option(
        "--author", help="Name recorded in the edit history (default: your user name).")] = None,
    axes: AxesOpt = None,
) -> None:
    """Label images in the browser: the model's proposals, then paint, split, merge, delete, add, save.

    Opens nothing itself: it prints the page's address; press Ctrl+C to stop.
    """
    import getpass

    _check_images(images, axes)
    _check_port(host, port)
    from cellscale.label._app import make_app
    from cellscale.segment import Segmenter

    # Loaded now, so a bad --model or --channels is refused before the server starts.
    segmenter = Segmenter(model, channels=_channels(channels, None))

    try:
        who = author or getpass.getuser()
    except (KeyError, OSError):
        who = None
    app = make_app(images, model=segmenter, author=who, axes=axes)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host
    typer.echo(f"Labelling {len(images)} image(s) at http://{shown}:{port}/ (Ctrl+C to stop)")
    if host in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"On a remote server, forward the port from your computer first: "
                   f"ssh -L {port}:localhost:{port} USER@SERVER, then open http://localhost:{port}/")
    else:
        typer.echo(f"warning: listening on {host}: anyone who can reach this address can see the "
                   "images and edit and save their labels (there is no login); the default "
                   "--host 127.0.0.1 with ssh -L is safer", err=True)
    try:
        _serve(app, host, port)
    except KeyboardInterrupt:  # Ctrl+C: uvicorn stops, then raises the signal again
        pass
    finally:
        # Edits nobody saved are kept beside their images, never dropped.
        for path in app.state.workspace.recover():
            typer.echo(f"warning: unsaved edits kept in {path} (the labels store is unchanged);"
                       " open it with cellscale.io.read_labels, or save from the page next time",
                       err=True)


def _serve(app: object, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
