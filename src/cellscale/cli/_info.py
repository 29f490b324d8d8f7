"""``cellscale info FILE``: what an image file holds, without reading its pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def info_rows(info: Any) -> list[tuple[str, str]]:
    """The facts ``cellscale info`` prints, as (label, value) pairs."""
    sizes = ", ".join(f"{a}={s}" for a, s in zip(info.axes, info.shape))
    pixel = (
        ", ".join(f"{a}={v:g} µm" for a, v in info.pixel_size.items()) if info.pixel_size else "unknown"
    )
    rows = [
        ("file", str(info.path)),
        ("format", info.format),
        ("axes", info.axes),
        ("shape", f"{tuple(info.shape)}  ({sizes})"),
        ("dtype", str(info.dtype)),
        ("channels", ", ".join(info.channel_names) if info.channel_names else "-"),
        ("pixel size", pixel),
        ("size on disk", _human_bytes(info.size_on_disk)),
        ("read as", "lazy (Dask, read on demand)" if info.lazy else "in memory (NumPy)"),
    ]
    if getattr(info, "n_levels", None):
        rows.append(("resolution levels", str(info.n_levels)))
    return rows


def info(
    path: Annotated[Path, typer.Argument(help="Image file: TIFF, OME-TIFF, PNG/JPEG, OME-Zarr.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Describe an image: axes, shape, dtype, channels, pixel size, size on disk, lazy or not."""
    from cellscale.io import describe

    facts = describe(path)
    if as_json:
        payload = {
            "path": str(facts.path),
            "format": facts.format,
            "axes": facts.axes,
            "shape": list(facts.shape),
            "dtype": str(facts.dtype),
            "channel_names": list(facts.channel_names or []),
            "pixel_size": dict(facts.pixel_size),
            "size_on_disk": facts.size_on_disk,
            "lazy": facts.lazy,
            "n_levels": getattr(facts, "n_levels", None),
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    width = max(len(label) for label, _ in info_rows(facts))
    for label, value in info_rows(facts):
        typer.echo(f"{label:<{width}}  {value}")
