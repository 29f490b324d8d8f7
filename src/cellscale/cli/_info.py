"""``cellscale info FILE``: what an image file holds, without reading its pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def info(
    path: Annotated[Path, typer.Argument(help="Image: TIFF, OME-TIFF, PNG/JPEG, OME-Zarr, a folder of frames.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Describe an image: axes, shape, dtype, channels, pixel size, size on disk, lazy or not."""
    from cellscale.io import describe

    facts = describe(path)
    typer.echo(json.dumps(facts.to_dict(), indent=2) if as_json else facts.summary())
