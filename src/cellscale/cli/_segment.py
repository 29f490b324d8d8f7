"""``cellscale segment IMAGE -o LABELS`` and ``cellscale evaluate MODEL DATA``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cellscale.cli._inputs import AxesHelp, named, read_whole
from cellscale.cli._progress import progress

ModelOpt = Annotated[str, typer.Option(
    "--model", "-m",
    help="Shipped model (nuclei, cells), 'classical', a path/URL of a model card, or an installed "
         "Cellpose 3: cellpose[:TYPE|PATH] (it gets --diameter as Cellpose's diameter).")]
ChannelsOpt = Annotated[str | None, typer.Option(
    "--channels",
    help="Image channels for the model's inputs, in its order, by name or index: e.g. "
         "DNA,membrane; 'none' leaves a role blank (none,0: the cells model on an image "
         "without a nuclear stain).")]
TileOpt = Annotated[int, typer.Option(
    "--tile-size", help="Largest tile side in pixels (the result does not depend on it).")]
CompartmentOpt = Annotated[str | None, typer.Option(
    "--compartment", help="Objects to return: nuclei or cells (default: cells when the model outputs them).")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for the network (default: all).")]
PixelSizeOpt = Annotated[float | None, typer.Option(
    "--pixel-size", help="Pixel size in µm, overriding the file's; written to the output, and used "
    "to match a model trained at a stated pixel size.")]
AxesOpt = Annotated[str | None, typer.Option("--axes", help=AxesHelp.format(default=""))]
ChunkOpt = Annotated[int, typer.Option(
    "--chunk-size", help="Images larger than this many pixels along y or x are segmented in "
    "chunks of this side and stitched, as 'cellscale run' does with the pipeline's chunk_size "
    "(the same chunk size gives the same labels).")]
AnisotropyOpt = Annotated[float | None, typer.Option(
    "--anisotropy", help="z-stacks: z step over xy pixel size (default: from the file's pixel "
    "sizes, else 1).")]
ViewsOpt = Annotated[str, typer.Option(
    "--views", help="z-stacks: planes the network runs on, averaged: yx,zx,zy (default), or yx "
    "(2-5x faster, less accurate).")]
DiameterOpt = Annotated[str, typer.Option(
    "--diameter", help="Typical object diameter in pixels, 'auto' (estimate; resize only objects "
    "outside 12-30 px) or 'off' (never resize).")]


def _channels(text: str | None, names: tuple[str, ...] | None) -> list[str | int] | None:
    """Split ``--channels``; a bare number that is not a channel's name is an index."""
    if text is None:
        return None
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens:
        from cellscale.errors import InvalidArgumentError

        raise InvalidArgumentError(f"--channels must name at least one channel, got {text!r}")
    known = set(names or ())
    return [int(t) if t not in known and t.lstrip("-").isdigit() else t for t in tokens]


def _output_kind(output: Path) -> str:
    """``"dir"`` for an OME-Zarr label store, ``"file"`` for a TIFF; other endings refused."""
    from cellscale.errors import UnsupportedFormatError
    from cellscale.io._common import IMAGE_SUFFIXES, suffix_of

    fmt = IMAGE_SUFFIXES.get(suffix_of(output))
    if fmt not in ("tiff", "zarr"):
        raise UnsupportedFormatError(
            f"{output}: label images are written as .tif, .tiff, .ome.tif or .zarr (OME-Zarr); "
            f"got {suffix_of(output) or 'no ending'!r}",
            hint="choose an output path ending in .tif or .zarr", option="output")
    return "dir" if fmt == "zarr" else "file"


def _check_positive(**values: float | None) -> None:
    """Refuse options that must be positive numbers, before any work is done."""
    from cellscale.errors import InvalidArgumentError

    for name, value in values.items():
        if value is not None and not value > 0:
            raise InvalidArgumentError(
                f"--{name.replace('_', '-')} must be a positive number, got {value}")


def _diameter(text: str) -> float | str | None:
    from cellscale.errors import InvalidArgumentError

    word = text.strip().lower()
    if word == "auto":
        return "auto"
    if word in ("off", "none", "0"):
        return None
    try:
        value = float(word)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InvalidArgumentError(
            f"--diameter must be a positive number of pixels, 'auto' or 'off', got {text!r}")
    return value


def _segmenter(model: str, channels: list[str | int] | None, tile_size: int,
               compartment: str | None, threads: int | None, diameter: str = "auto",
               pixel_size: float | None = None, chunk_size: int = 2048) -> Any:
    from cellscale.segment import Segmenter

    return Segmenter(model, channels=channels, tile_size=tile_size, compartment=compartment,
                     threads=threads, diameter=_diameter(diameter), pixel_size=pixel_size,
                     chunk_size=chunk_size)


def _open_for(segmenter: Any, input: Path, output: Path, *, axes: str | None) -> tuple[Any, Any]:
    """The image, and a scratch folder when it is streamed (larger than one chunk).

    A network model segments an image larger than ``--chunk-size`` chunk row by
    chunk row from a lazy read, into a Zarr array in a scratch folder beside
    the output (removed at the end), so it need not fit in memory; other
    images are read whole (refused up front when too large).
    """
    import tempfile

    from cellscale.io import describe, read

    if segmenter.model is not None:
        with named(input):
            info = describe(input, axes=axes)  # the header only: no Dask for small images
        sizes = dict(zip(info.axes or "", info.shape))
        if max(sizes.get("y", 0), sizes.get("x", 0)) > segmenter.chunk_size and \
                sizes.get("z", 1) == 1:  # z-stacks are segmented whole (in memory)
            with named(input):
                lazy = read(input, axes=axes, lazy=True)
            where = output.absolute().parent
            scratch = tempfile.TemporaryDirectory(
                prefix=".cellscale-segment-", dir=where if where.is_dir() else None)
            return lazy, scratch
    return read_whole(input, command="segment", axes=axes), None


def _buffer(scratch: Any, image: Any) -> Any:
    """A uint32 Zarr array of the image's plane in ``scratch`` (None: labels in memory)."""
    if scratch is None:
        return None
    import zarr

    shape = (image.sizes["y"], image.sizes["x"])
    return zarr.create_array(store=f"{scratch.name}/labels.zarr", shape=shape, dtype="uint32",
                             chunks=(min(shape[0], 2048), min(shape[1], 2048)), fill_value=0)


def segment(
    input: Annotated[Path, typer.Argument(
        metavar="INPUT", help="Image: TIFF, OME-TIFF, PNG, OME-Zarr, ... (2-D, any channels; "
                              "a z-stack gives 3-D nuclei).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Label image to write: .tif or .zarr.")],
    model: ModelOpt = "nuclei",
    channels: ChannelsOpt = None,
    tile_size: TileOpt = 1024,
    compartment: CompartmentOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    threads: ThreadsOpt = None,
    diameter: DiameterOpt = "auto",
    pixel_size: PixelSizeOpt = None,
    axes: AxesOpt = None,
    chunk_size: ChunkOpt = 2048,
    anisotropy: AnisotropyOpt = None,
    views: ViewsOpt = "yx,zx,zy",
) -> None:
    """Segment nuclei or whole cells in an image and write a label image (0 = background).

    A z-stack (e.g. --axes zyx) gives 3-D nuclei (uint32 z, y, x labels).
    """
    from cellscale.io import check_output, write_labels

    start = time.perf_counter()
    check_output(output, [input], kind=_output_kind(output), overwrite=overwrite)
    _check_positive(tile_size=tile_size, threads=threads, pixel_size=pixel_size,
                    chunk_size=chunk_size, anisotropy=anisotropy)
    # The model and every option are checked before the image is read.
    segmenter = _segmenter(model, _channels(channels, None), tile_size, compartment, threads,
                           diameter, pixel_size, chunk_size)
    from cellscale.segment._stack import check_views

    segmenter.anisotropy, segmenter.views = anisotropy, check_views(views.split(","))
    image, scratch = _open_for(segmenter, input, output, axes=axes)
    read_s = time.perf_counter() - start
    # A bare number is an index unless the image has a channel of that name.
    segmenter.channels = _channels(channels, image.channel_names if "c" in image.axes else None)
    with named(input), progress(f"Segmenting {input.name}"):
        labels = segmenter(image, out=_buffer(scratch, image))
    if scratch is not None:
        import dask.array as da

        labels = da.from_zarr(labels)
    t0 = time.perf_counter()
    spatial = "zyx"[-labels.ndim:]  # a z-stack gives (z, y, x) labels
    sizes = ({k: v for k, v in image.pixel_size.items() if k in spatial}
             | ({"y": pixel_size, "x": pixel_size} if pixel_size else {})) or None
    written = write_labels(labels, output, axes=spatial, pixel_size=sizes, overwrite=overwrite,
                           name=segmenter.compartment)
    write_s = time.perf_counter() - t0
    n_objects = int(labels.max())
    if scratch is not None:
        scratch.cleanup()
    total = time.perf_counter() - start
    t = segmenter.timings
    h, w = labels.shape[-2:]
    typer.echo(
        f"Segmented {n_objects} {segmenter.compartment} in {input.name} "
        f"({'x'.join(map(str, labels.shape))}, "
        f"model {segmenter.name}"
        f"{'' if segmenter.scale == 1.0 else f', resized x{segmenter.scale:.2f}'}) "
        f"in {total:.2f} s ({labels.size / 1e6 / total:.2f} Mpx/s): "
        f"read {read_s:.2f} s, normalise {t['normalise']:.2f} s, network {t['network']:.2f} s, "
        f"post-processing {t['postprocess']:.2f} s, size and confidence "
        f"{t.get('estimate', 0.0):.2f} s, write {write_s:.2f} s -> {written}"
    )
    _report_estimate(segmenter)


def _report_estimate(segmenter: Any) -> None:
    """Print the object diameter and the confidence, and the segmenter's warnings (stderr)."""
    parts = []
    diameter = getattr(segmenter, "estimated_diameter", None)
    if diameter is not None:
        how = "estimated" if segmenter.diameter == "auto" else "given"
        parts.append(f"object diameter {diameter:.1f} px ({how})")
    confidence = getattr(segmenter, "confidence", None)
    if confidence is not None:
        parts.append(f"confidence {confidence:.2f} (agreement with the image flipped, 0-1)")
    if parts:
        typer.echo(", ".join(parts))
    for warning in getattr(segmenter, "warnings", []):
        typer.echo(f"warning: {warning}", err=True)


def _pair_name(image: Path, root: Path) -> str:
    """A row name: the sample folder for simulator samples, else the image's path under ``root``."""
    if image.name.startswith("image."):
        return str(image.parent.relative_to(root)) if image.parent != root else root.name
    return str(image.relative_to(root))


def evaluate(
    model: Annotated[str, typer.Argument(
        help="Shipped model (nuclei, cells), 'classical', or a path/URL of a model card.")],
    data: Annotated[Path, typer.Argument(help=(
        "Images with ground truth, in any layout 'cellscale train' takes: folders written by "
        "'cellscale simulate', images/ + masks/, or NAME.tif + NAME_masks.tif."))],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    channels: ChannelsOpt = None,
    tile_size: TileOpt = 1024,
    compartment: CompartmentOpt = None,
    threads: ThreadsOpt = None,
    diameter: DiameterOpt = "auto",
    axes: AxesOpt = None,
) -> None:
    """Score a model on images with ground truth: F1@0.5, AP@0.5, mean AP@0.5:0.95."""
    import numpy as np

    from cellscale.errors import InvalidImageError
    from cellscale.io import find_pairs, read_labels
    from cellscale.metrics import DEFINITION, aggregate, match_instances

    _check_positive(tile_size=tile_size, threads=threads)
    _diameter(diameter)
    segmenter = _segmenter(model, _channels(channels, None), tile_size, compartment, threads,
                           diameter)
    kind = segmenter.compartment
    pairs = find_pairs(data, compartment=kind)
    rows, results = [], []
    with progress(f"Evaluating {segmenter.name} on {len(pairs)} image(s)"):
        for image_path, truth_path in pairs:
            image = read_whole(image_path, command="evaluate", axes=axes)
            with named(truth_path):
                truth = np.asarray(read_labels(truth_path, lazy=False))
                if truth.ndim > 2 and truth.size == np.prod(truth.shape[-2:]):
                    truth = truth.reshape(truth.shape[-2:])
            start = time.perf_counter()
            with named(image_path):
                pred = segmenter(image)
            seconds = time.perf_counter() - start
            if truth.shape != pred.shape:
                raise InvalidImageError(
                    f"{truth_path}: ground truth of shape {truth.shape} does not match the "
                    f"image {image_path} ({pred.shape[0]}x{pred.shape[1]}); each mask must have "
                    "its image's height and width")
            result = match_instances(truth, pred)
            results.append(result)
            rows.append({"image": _pair_name(image_path, data.expanduser()), "seconds": seconds,
                         **_scores(result), "timings": dict(segmenter.timings)})
    total = aggregate(results)
    summary = {"model": segmenter.name, "compartment": kind, "data": str(data),
               "images": rows, "aggregate": _scores(total), "definition": DEFINITION,
               "detail": total.to_dict()}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"{'image':<24} {'true':>6} {'pred':>6} {'F1@0.5':>7} {'AP@0.5':>7} {'mAP':>7} {'seconds':>8}")
    for row in rows + [{"image": "all", "seconds": sum(r["seconds"] for r in rows), **summary["aggregate"]}]:
        typer.echo(f"{row['image'][:24]:<24} {row['n_true']:>6} {row['n_pred']:>6} {row['f1@0.5']:>7.3f} "
                   f"{row['ap@0.5']:>7.3f} {row['mean_ap']:>7.3f} {row['seconds']:>8.2f}")
    typer.echo(f"model {segmenter.name}, {kind}; mAP = mean AP over IoU 0.5:0.95 (cellscale.metrics)")


def _scores(result: Any) -> dict[str, Any]:
    return {"n_true": result.n_true, "n_pred": result.n_pred, "f1@0.5": result.f1_at(0.5),
            "ap@0.5": result.ap_at(0.5), "mean_ap": result.mean_ap}
