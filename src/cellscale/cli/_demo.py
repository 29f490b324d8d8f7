"""``cellscale demo``: simulate a multiplexed tissue, run the default pipeline, show it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from cellscale.cli._run import _Bar, interrupted, quiet_event_loop

#: Outline colours (RGB) of the markers, in the order simulate_tissue names them.
_COLOURS = [(255, 80, 80), (255, 210, 0), (230, 80, 255), (0, 230, 230), (120, 255, 120),
            (255, 150, 40), (150, 150, 255)]
_OTHER = (170, 170, 170)


def _stretch(plane: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(plane, [1.0, 99.5])
    return np.clip((plane.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1)


def dominant_marker(table: Any, markers: list[str]) -> np.ndarray:
    """Per cell, the index of the marker it is most positive for (z-score > 1), else -1."""
    if not markers:
        return np.full(table.n_obs, -1)
    values = np.log1p(np.asarray(table[:, markers].X, dtype=np.float64))
    z = (values - values.mean(0)) / np.maximum(values.std(0), 1e-9)
    best = z.argmax(1)
    return np.where(z[np.arange(len(best)), best] > 1.0, best, -1)


def overview_png(image: np.ndarray, names: list[str], labels: np.ndarray, table: Any,
                 path: Path) -> dict[str, int]:
    """Save DNA (blue) + membrane (grey) with cell outlines coloured by dominant marker.

    Returns the number of cells per colour class.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw
    from skimage.segmentation import find_boundaries

    lower = [n.lower() for n in names]
    dna = _stretch(image[lower.index("dna")]) if "dna" in lower else _stretch(image[0])
    mem = _stretch(image[lower.index("membrane")]) if "membrane" in lower else np.zeros_like(dna)
    rgb = np.stack([0.45 * mem, 0.45 * mem, 0.45 * mem + 0.8 * dna], axis=-1)
    rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    markers = [n for n in names if n.lower() not in ("dna", "membrane")]
    kind = dominant_marker(table, markers)
    lut = np.zeros((int(labels.max()) + 1, 3), np.uint8)
    ids = table.obs["label"].to_numpy().astype(np.int64)
    for k, label in zip(kind, ids):
        lut[label] = _COLOURS[k % len(_COLOURS)] if k >= 0 else _OTHER
    edges = find_boundaries(labels, mode="inner")
    rgb[edges] = lut[labels[edges]]
    picture = PILImage.fromarray(rgb)
    draw = ImageDraw.Draw(picture)
    legend = [(m, _COLOURS[i % len(_COLOURS)]) for i, m in enumerate(markers)] + \
        [("other", _OTHER)]
    counts = {m: int((kind == i).sum()) for i, m in enumerate(markers)}
    counts["other"] = int((kind < 0).sum())
    draw.rectangle([4, 4, 170, 8 + 16 * len(legend)], fill=(0, 0, 0))
    for row, (name, colour) in enumerate(legend):
        draw.text((10, 6 + 16 * row), f"{name}+ : {counts[name]}" if name != "other"
                  else f"other : {counts[name]}", fill=colour)
    picture.save(path)
    return counts


def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the demo's files.")]
    = Path("cellscale-demo"),
    size: Annotated[int, typer.Option("--size", min=128, max=8192,
                                      help="Image side in pixels.")] = 1024,
    seed: Annotated[int, typer.Option("--seed", help="Simulation seed.")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Worker processes (default: one per core).")]
    = None,
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="Memory per worker.")]
    = "2GB",
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler (default: a local cluster).")]
    = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing demo "
                                                                 "folder.")] = False,
) -> None:
    """Simulate a multiplexed tissue image, segment and measure every cell, and show the result.

    Writes OUTPUT/tissue.ome.zarr (the image), OUTPUT/results.zarr (labels and
    cell table; opens in napari and SpatialData) and OUTPUT/overview.png.
    Runs offline in well under a minute on two cores.
    """
    from cellscale.engine._cluster import check_cluster_options
    from cellscale.io import check_output

    start = time.perf_counter()
    output = check_output(output, kind="dir", overwrite=overwrite)
    check_cluster_options(scheduler=scheduler, memory_limit=memory_limit)
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    try:
        with quiet_event_loop():
            _demo(output, size=size, seed=seed, workers=workers, memory_limit=memory_limit,
                  scheduler=scheduler, start=start)
    except KeyboardInterrupt:
        shutil.rmtree(output, ignore_errors=True)
        interrupted(output, kept=f"removed the unfinished {output}; run the same command again "
                                 f"to start over")
    except BaseException:
        shutil.rmtree(output, ignore_errors=True)  # nothing half-made is left behind
        raise


def _demo(output: Path, *, size: int, seed: int, workers: int | None, memory_limit: str,
          scheduler: str | None, start: float) -> None:
    from cellscale.data import simulate_tissue
    from cellscale.engine import default_pipeline, run_pipeline
    from cellscale.engine._commit import image_name
    from cellscale.engine._inputs import describe_input
    from cellscale.errors import CellscaleError
    from cellscale.io import open_store, write_image
    from cellscale.metrics import match_instances

    sample = simulate_tissue(shape=(size, size), seed=seed)
    image_path = write_image(sample.image, output / "tissue.ome.zarr")
    pipeline = default_pipeline(describe_input(image_path, "tissue")).model_copy(
        update={"save_image": True})
    with _Bar() as bar:
        report = run_pipeline([image_path], output / "results.zarr", pipeline=pipeline,
                              n_workers=workers, memory_limit=memory_limit, scheduler=scheduler,
                              on_event=bar)
    if report.failed:
        raise CellscaleError(f"the demo pipeline failed: {report.failed['tissue']}")
    store = open_store(report.store)
    labels = store.label_image("tissue_cells")
    table = store.table("tissue")
    pixels = np.asarray(sample.image.data)
    counts = overview_png(pixels, list(sample.image.channel_names), labels, table,
                          output / "overview.png")
    score = match_instances(np.asarray(sample.labels["cells"]), labels, thresholds=[0.5])
    total = time.perf_counter() - start
    positive = ", ".join(f"{n}+ {c}" for n, c in counts.items() if n != "other")
    typer.echo(
        f"Demo: simulated a {size}x{size} tissue with {len(sample.image.channel_names)} channels "
        f"({', '.join(sample.image.channel_names)}) and {int(score.n_true)} cells.\n"
        f"Found {table.n_obs} cells (F1@0.5 vs ground truth {float(score.f1[0]):.3f}) with "
        f"pipeline {pipeline.describe()} on {report.n_workers} worker(s) in {total:.1f} s.\n"
        f"Dominant marker: {positive}, none {counts['other']}.\n"
        f"  image     {image_path}\n"
        f"  results   {report.store}  (images/{image_name('tissue')}, labels/tissue_cells, "
        f"labels/tissue_nuclei, tables/tissue)\n"
        f"  overview  {(output / 'overview.png').absolute()}")
