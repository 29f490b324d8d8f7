"""``cellscale info PATH``: what an image, a results store or a label image holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cellscale.cli._inputs import (
    WHOLE_READ_COMMANDS,
    AxesHelp,
    human,
    whole_read_limit,
    whole_read_need,
)


def info(
    path: Annotated[Path, typer.Argument(help=(
        "Image (TIFF, OME-TIFF, PNG/JPEG, OME-Zarr, a folder of frames), a results store "
        "(cellscale run) or a label image (.zarr from cellscale segment)."))],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    axes: Annotated[str | None, typer.Option("--axes", help=AxesHelp.format(default=""))] = None,
) -> None:
    """Describe a file without reading its pixels: axes, shape, dtype, channels, size, elements."""
    from cellscale.io import ImageInfo, describe, describe_path

    facts = describe(path, axes=axes) if axes is not None else describe_path(path)
    if not isinstance(facts, ImageInfo):
        typer.echo(json.dumps(facts.to_dict(), indent=2) if as_json else facts.summary())
        return
    limit, need = whole_read_limit(), whole_read_need(facts)
    fits = need <= limit
    if as_json:
        typer.echo(json.dumps({**facts.to_dict(), "whole_read_limit": limit,
                               "whole_read_need": need, "fits_whole_read": fits}, indent=2))
        return
    names = ", ".join(f"'cellscale {c}'" for c in WHOLE_READ_COMMANDS)
    typer.echo(facts.summary())
    typer.echo(f"commands:      {names} read the image whole and would need about {human(need)} "
               f"of at most {human(limit)}: "
               + ("it fits" if fits else "too large for them; 'cellscale run' processes it "
                  "in chunks"))
