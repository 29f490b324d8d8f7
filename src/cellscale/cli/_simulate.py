"""``cellscale simulate KIND -o DIR``: synthetic images with ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cellscale.cli._progress import progress

simulate_app = typer.Typer(
    help="Simulate microscopy images with ground truth (masks, lineages, spots).",
    no_args_is_help=True,
)

Out = Annotated[Path, typer.Option("-o", "--output", help="Output folder (must not exist unless --overwrite).")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")]
Size = Annotated[tuple[int, int], typer.Option("--size", help="Image height and width in pixels.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")]


def _run(kind: str, output: Path, overwrite: bool, make: Any) -> None:
    from cellscale.data import save_sample
    from cellscale.io import check_output_path

    # Fail on a bad output before spending time simulating.
    check_output_path(output, overwrite=overwrite)
    start = time.perf_counter()
    with progress(f"Simulating {kind}"):
        sample = make()
        written = save_sample(sample, output, overwrite=overwrite)
    elapsed = time.perf_counter() - start
    n_cells = len(sample.cells) if sample.cells is not None else 0
    typer.echo(
        f"Simulated {kind}: {sample.image.shape} {sample.image.axes}, "
        f"{n_cells} cells, in {elapsed:.1f} s -> {output}"
    )
    for name, path in written.items():
        typer.echo(f"  {name:<16} {path}")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    from cellscale.errors import InvalidArgumentError

    if min(size) < 16:
        raise InvalidArgumentError(f"--size must be at least 16 16, got {size[0]} {size[1]}")
    return size


@simulate_app.command("nuclei")
def nuclei(
    output: Out,
    seed: Seed = 0,
    size: Size = (512, 512),
    diameter: Annotated[
        float | None,
        typer.Option("--diameter", help="Typical nucleus diameter in pixels (8-40); random if not given."),
    ] = None,
    density: Annotated[
        float | None,
        typer.Option("--density", help="Fraction of the field covered by nuclei (0.02-0.6); random if not given."),
    ] = None,
    snr: Annotated[
        float | None, typer.Option("--snr", help="Signal-to-noise ratio; random in a realistic range if not given.")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Fluorescence nuclei of cultured cells, with instance masks."""
    from cellscale.data import simulate_nuclei

    shape = _check_size(size)
    options: dict[str, Any] = {"shape": shape, "seed": seed}
    for key, value in (("diameter", diameter), ("density", density), ("snr", snr)):
        if value is not None:
            options[key] = value
    _run("nuclei", output, overwrite, lambda: simulate_nuclei(**options))


@simulate_app.command("tissue")
def tissue(
    output: Out,
    seed: Seed = 0,
    size: Size = (512, 512),
    n_markers: Annotated[int, typer.Option("--markers", help="Number of marker channels besides DNA and membrane.")] = 4,
    overwrite: Overwrite = False,
) -> None:
    """Multiplexed tissue: DNA, membrane and marker channels; nuclear and whole-cell masks."""
    from cellscale.data import simulate_tissue

    shape = _check_size(size)
    _run("tissue", output, overwrite, lambda: simulate_tissue(shape=shape, seed=seed, n_markers=n_markers))


@simulate_app.command("movie")
def movie(
    output: Out,
    seed: Seed = 0,
    size: Size = (256, 256),
    n_frames: Annotated[int, typer.Option("--frames", help="Number of time points.")] = 30,
    overwrite: Overwrite = False,
) -> None:
    """Live-cell time-lapse of nuclei, with Cell Tracking Challenge ground truth."""
    from cellscale.data import simulate_movie
    from cellscale.errors import InvalidArgumentError

    shape = _check_size(size)
    if n_frames < 2:
        raise InvalidArgumentError(f"--frames must be at least 2, got {n_frames}")
    _run("movie", output, overwrite, lambda: simulate_movie(shape=shape, n_frames=n_frames, seed=seed))


@simulate_app.command("fish")
def fish(
    output: Out,
    seed: Seed = 0,
    size: Size = (512, 512),
    base: Annotated[str, typer.Option("--base", help="Cells to put spots in: nuclei or tissue.")] = "nuclei",
    n_genes: Annotated[int, typer.Option("--genes", help="Number of genes.")] = 3,
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", help="Imaging rounds for a multiplexed (MERFISH-like) codebook; single round if not given."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """smFISH spots inside cells, with true spot positions and per-cell counts."""
    from cellscale.data import simulate_fish
    from cellscale.errors import InvalidArgumentError

    shape = _check_size(size)
    if base not in ("nuclei", "tissue"):
        raise InvalidArgumentError(f"--base must be one of 'nuclei', 'tissue'; got {base!r}")
    options: dict[str, Any] = {"base": base, "shape": shape, "seed": seed, "n_genes": n_genes}
    if rounds is not None:
        options["rounds"] = rounds
    _run("fish", output, overwrite, lambda: simulate_fish(**options))
