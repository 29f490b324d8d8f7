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
AllowLarge = Annotated[bool, typer.Option(
    "--allow-large", help="Simulate even when it needs more than half of this machine's memory.")]

#: Rough cost of simulating one pixel (of one frame) with each generator, measured
#: at 1024x1024 on 2 CPU cores (2026-12): peak memory in bytes and seconds per megapixel.
_COST = {"nuclei": (25, 0.6), "nuclei3d": (40, 0.5), "tissue": (100, 2.6), "movie": (60, 0.9), "fish": (45, 1.3),
         "culture": (150, 1.0)}


def _plan(kind: str, size: tuple[int, int], *, planes: int, channels: int, label_images: int,
          allow_large: bool) -> None:
    """Say what a large simulation will cost, and refuse one that cannot fit in memory.

    Raises
    ------
    ImageTooLargeError
        When the estimated memory exceeds half of this machine's memory (all of
        it with ``--allow-large``).
    """
    from cellscale.cli._inputs import human
    from cellscale.errors import ImageTooLargeError
    from cellscale.io._common import physical_memory

    pixels = size[0] * size[1] * planes
    per_pixel, seconds_per_mpx = _COST[kind]
    memory, seconds = pixels * per_pixel, pixels / 1e6 * seconds_per_mpx
    disk = pixels * (2 * channels + 4 * label_images)
    total = physical_memory() or 16 * 10**9
    limit = total if allow_large else total // 2
    what = (f"simulating {kind} of {size[0]}x{size[1]} pixels"
            + (f" x {planes} frames" if planes > 1 else "")
            + f" needs about {human(memory)} of memory and "
            + (f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min")
            + ", and writes up to "
            f"{human(disk)}")
    if memory > limit:
        raise ImageTooLargeError(
            f"{what}; this machine has {human(total)} of memory"
            + ("" if allow_large else " and the limit without --allow-large is half of it"),
            hint="simulate a smaller size", option="size")
    if seconds > 10 or disk > 10**9:
        typer.echo(f"Note: {what}.", err=True)


def _run(kind: str, output: Path, overwrite: bool, make: Any) -> None:
    from cellscale.data import save_sample

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


def _check_size(size: tuple[int, int], output: Path, overwrite: bool) -> tuple[int, int]:
    """Check ``--size`` and the output folder, before anything is simulated or written."""
    from cellscale.errors import InvalidArgumentError
    from cellscale.io import check_output

    if min(size) < 16:
        raise InvalidArgumentError(f"--size must be at least 16 16, got {size[0]} {size[1]}")
    check_output(output, kind="dir", overwrite=overwrite)
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
    allow_large: AllowLarge = False,
) -> None:
    """Fluorescence nuclei of cultured cells, with instance masks."""
    from cellscale.data import simulate_nuclei

    shape = _check_size(size, output, overwrite)
    _plan("nuclei", shape, planes=1, channels=1, label_images=1, allow_large=allow_large)
    options: dict[str, Any] = {"shape": shape, "seed": seed}
    for key, value in (("diameter", diameter), ("density", density), ("snr", snr)):
        if value is not None:
            options[key] = value
    _run("nuclei", output, overwrite, lambda: simulate_nuclei(**options))


@simulate_app.command("nuclei3d")
def nuclei3d(
    output: Out,
    seed: Seed = 0,
    size: Annotated[tuple[int, int, int], typer.Option(
        "--size", help="Stack planes, height and width in pixels.")] = (32, 128, 128),
    diameter: Annotated[float | None, typer.Option(
        "--diameter", help="Typical nucleus diameter in xy pixels (4-200); random in 12-40 if not given.")] = None,
    anisotropy: Annotated[float | None, typer.Option(
        "--anisotropy", help="z step over xy pixel size (1-10); random in 1-4 if not given.")] = None,
    snr: Annotated[float | None, typer.Option(
        "--snr", help="Signal-to-noise ratio; random in a realistic range if not given.")] = None,
    overwrite: Overwrite = False,
    allow_large: AllowLarge = False,
) -> None:
    """3-D stack (zyx) of nuclei with anisotropic voxels and 3-D instance masks."""
    from cellscale.data import simulate_nuclei_3d

    _check_size(size[1:], output, overwrite)
    _plan("nuclei3d", size[1:], planes=size[0], channels=1, label_images=1, allow_large=allow_large)
    options: dict[str, Any] = {"shape": tuple(size), "seed": seed}
    for key, value in (("diameter", diameter), ("anisotropy", anisotropy), ("snr", snr)):
        if value is not None:
            options[key] = value
    _run("nuclei3d", output, overwrite, lambda: simulate_nuclei_3d(**options))


@simulate_app.command("tissue")
def tissue(
    output: Out,
    seed: Seed = 0,
    size: Size = (512, 512),
    n_markers: Annotated[int, typer.Option(
        "--markers", help="Number of marker channels besides DNA and membrane.")] = 4,
    overwrite: Overwrite = False,
    allow_large: AllowLarge = False,
) -> None:
    """Multiplexed tissue: DNA, membrane and marker channels; nuclear and whole-cell masks."""
    from cellscale.data import simulate_tissue
    from cellscale.errors import InvalidArgumentError

    if n_markers < 0:
        raise InvalidArgumentError(f"--markers must be 0 or more, got {n_markers}")
    shape = _check_size(size, output, overwrite)
    _plan("tissue", shape, planes=1, channels=2 + n_markers, label_images=2,
          allow_large=allow_large)
    _run("tissue", output, overwrite, lambda: simulate_tissue(shape=shape, seed=seed, n_markers=n_markers))


@simulate_app.command("movie")
def movie(
    output: Out,
    seed: Seed = 0,
    size: Size = (256, 256),
    n_frames: Annotated[int, typer.Option("--frames", help="Number of time points.")] = 30,
    overwrite: Overwrite = False,
    allow_large: AllowLarge = False,
) -> None:
    """Live-cell time-lapse of nuclei, with Cell Tracking Challenge ground truth."""
    from cellscale.data import simulate_movie
    from cellscale.errors import InvalidArgumentError

    if n_frames < 2:
        raise InvalidArgumentError(f"--frames must be at least 2, got {n_frames}")
    shape = _check_size(size, output, overwrite)
    _plan("movie", shape, planes=n_frames, channels=1, label_images=1, allow_large=allow_large)
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
        typer.Option("--rounds", help="Imaging rounds for a multiplexed (MERFISH-like) codebook; "
                                      "single round if not given."),
    ] = None,
    overwrite: Overwrite = False,
    allow_large: AllowLarge = False,
) -> None:
    """smFISH spots inside cells, with true spot positions and per-cell counts."""
    from cellscale.data import simulate_fish
    from cellscale.errors import InvalidArgumentError

    if base not in ("nuclei", "tissue"):
        raise InvalidArgumentError(f"--base must be one of 'nuclei', 'tissue'; got {base!r}")
    if n_genes < 1 or (rounds is not None and rounds < 1):
        raise InvalidArgumentError(
            f"--genes and --rounds must be 1 or more, got {n_genes} and {rounds}")
    shape = _check_size(size, output, overwrite)
    _plan("fish", shape, planes=rounds or 1, channels=1 + n_genes, label_images=2,
          allow_large=allow_large)
    options: dict[str, Any] = {"base": base, "shape": shape, "seed": seed, "n_genes": n_genes}
    if rounds is not None:
        options["rounds"] = rounds
    _run("fish", output, overwrite, lambda: simulate_fish(**options))


def _choice(flag: str, value: str | None, valid: tuple[str, ...]) -> None:
    from cellscale.errors import InvalidArgumentError

    if value is not None and value not in valid:
        raise InvalidArgumentError(f"{flag} must be one of {', '.join(valid)}; got {value!r}")


@simulate_app.command("culture")
def culture(
    output: Out,
    seed: Seed = 0,
    size: Size = (512, 512),
    shape_kind: Annotated[str | None, typer.Option(
        "--shape-kind", help="Cell shape: epithelial, fibroblast, round, rod or mixed; random if not given.")] = None,
    modality: Annotated[str | None, typer.Option(
        "--modality", help="fluorescence, phase (contrast) or brightfield; random if not given.")] = None,
    stain: Annotated[str | None, typer.Option(
        "--stain", help="Fluorescent stain of the boundary channel: membrane or cytoplasm; random if not "
                        "given.")] = None,
    nucleus_stain: Annotated[str | None, typer.Option(
        "--nucleus-stain", help="dna (stained nuclei) or none (blank DNA channel); random if not given.")] = None,
    diameter: Annotated[float | None, typer.Option(
        "--diameter", help="Typical cell diameter in pixels (rods: length); random in 15-150 (rods 10-40) "
                           "if not given.")] = None,
    density: Annotated[float | None, typer.Option(
        "--density", help="Fraction of the field covered by cells (0-1); random if not given.")] = None,
    snr: Annotated[float | None, typer.Option(
        "--snr", help="Signal-to-noise ratio of the boundary channel; random in 3-100 if not given.")] = None,
    overwrite: Overwrite = False,
    allow_large: AllowLarge = False,
) -> None:
    """Cultured cells of several shapes: DNA and cell-boundary channels, whole-cell and nuclear masks.

    The boundary channel (saved as 'membrane') is a membrane or cytoplasm stain, phase
    contrast or bright field; the truth is in params.json (modality, stain).
    """
    from cellscale.data import simulate_culture
    from cellscale.data._culture import (
        CULTURE_MODALITIES,
        CULTURE_SHAPES,
        CULTURE_STAINS,
        MAX_SIDE,
        NUCLEUS_STAINS,
    )
    from cellscale.errors import InvalidArgumentError

    _choice("--shape-kind", shape_kind, CULTURE_SHAPES)
    _choice("--modality", modality, CULTURE_MODALITIES)
    _choice("--stain", stain, CULTURE_STAINS)
    _choice("--nucleus-stain", nucleus_stain, NUCLEUS_STAINS)
    if not all(32 <= s <= MAX_SIDE for s in size):
        raise InvalidArgumentError(f"--size must be 32 .. {MAX_SIDE} on each side, got {size[0]} {size[1]}")
    if diameter is not None and not 2 < diameter <= 400:
        raise InvalidArgumentError(f"--diameter must be in (2, 400] pixels, got {diameter}")
    if density is not None and not 0 < density <= 1:
        raise InvalidArgumentError(f"--density must be in (0, 1], got {density}")
    if snr is not None and snr <= 0:
        raise InvalidArgumentError(f"--snr must be positive, got {snr}")
    shape = _check_size(size, output, overwrite)
    _plan("culture", shape, planes=1, channels=2, label_images=2, allow_large=allow_large)
    options: dict[str, Any] = {"shape": shape, "seed": seed}
    for key, value in (("shape_kind", shape_kind), ("modality", modality), ("stain", stain),
                       ("nucleus_stain", nucleus_stain), ("diameter", diameter),
                       ("density", density), ("snr", snr)):
        if value is not None:
            options[key] = value
    _run("culture", output, overwrite, lambda: simulate_culture(**options))
