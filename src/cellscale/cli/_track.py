"""``cellscale track MOVIE -o OUTDIR``: segment (or take) masks, follow cells through time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cellscale.cli._inputs import AxesHelp, check_fits, named, read_whole
from cellscale.cli._progress import progress

TRACKS_FILE = "tracks.csv"


def _frames(image: Any, movie: Path) -> tuple[Any, str]:
    """The movie's pixels with time first, and the axes of one frame."""
    from cellscale.errors import InvalidAxesError

    if "t" not in image.axes:
        wrong = len(image.axes) > 2  # a movie whose metadata names another axis
        raise InvalidAxesError(
            f"{movie}: expected a time series (axes 'tyx', a folder of frames, or an OME-Zarr with a t axis), "
            f"got axes {image.axes!r} with shape {tuple(image.shape)}"
            + ("" if wrong else "; one 2-D image cannot be tracked"),
            option="axes" if wrong else None,
            choices=["tyx"] if len(image.axes) == 3 else (),
        )
    if "z" in image.axes and image.shape[image.axes.index("z")] > 1:
        raise InvalidAxesError(f"{movie}: z-stacks are not supported by 'cellscale track' (axes {image.axes!r})")
    import numpy as np

    data = np.asarray(image.data)
    axes = image.axes
    if "z" in axes:
        data, axes = data.take(0, axis=axes.index("z")), axes.replace("z", "")
    order = [axes.index("t")] + [i for i, a in enumerate(axes) if a != "t"]
    return data.transpose(order), "".join(axes[i] for i in order[1:])


def _check_options(*, max_gap: int, max_distance: float | None, threads: int | None) -> None:
    """Refuse impossible options before anything is read or written."""
    from cellscale.errors import InvalidArgumentError

    if max_gap < 0:
        raise InvalidArgumentError(f"--max-gap must be 0 or more frames, got {max_gap}")
    if max_distance is not None and not 0 < max_distance < float("inf"):
        raise InvalidArgumentError(f"--max-distance must be a positive number of pixels, got {max_distance}")
    if threads is not None and threads < 1:
        raise InvalidArgumentError(f"--threads must be 1 or more, got {threads}")


def track(
    movie: Annotated[Path, typer.Argument(
        metavar="MOVIE", help="Time-lapse: a 'tyx' TIFF, an OME-Zarr, or a folder of frames.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write (CTC result + tracks.csv).")],
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Existing segmentation to track (a 'tyx' label TIFF, OME-Zarr or folder of "
                         "label frames); default: segment MOVIE first.")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Segmentation model when MOVIE is segmented: nuclei, cells, classical, or a card.")
    ] = "nuclei",
    max_gap: Annotated[int, typer.Option("--max-gap", help="Most frames a cell may be missed and keep its track.")] = 3,
    max_distance: Annotated[float | None, typer.Option(
        "--max-distance", help="Farthest a cell may move between frames, pixels (default: 2 cell diameters).")
    ] = None,
    no_divisions: Annotated[bool, typer.Option("--no-divisions", help="Do not look for cell divisions.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for the network.")] = None,
    axes: Annotated[str | None, typer.Option("--axes", help=AxesHelp.format(
        default="; a 3-D file without axes metadata is read as tyx"))] = None,
) -> None:
    """Follow cells through a movie: CTC result (maskTTT.tif, res_track.txt) + tracks.csv for napari."""
    import numpy as np

    from cellscale.data._ctc import write_ctc_result
    from cellscale.errors import InvalidImageError
    from cellscale.io import atomic_output, check_output, read_labels
    from cellscale.track import track as run_track
    from cellscale.track import tracks_table

    start = time.perf_counter()
    check_output(output, [movie, labels], kind="dir", overwrite=overwrite)
    _check_options(max_gap=max_gap, max_distance=max_distance, threads=threads)
    segmenter = None
    if labels is None:  # the model is checked (and loaded) before the movie is read
        from cellscale.segment import Segmenter

        segmenter = Segmenter(model, threads=threads)
    image = read_whole(movie, command="track", axes=axes, default_axes="tyx")
    frames, frame_axes = _frames(image, movie)
    n_t = frames.shape[0]
    seg_s = 0.0
    if labels is not None:
        with named(labels):
            lazy_masks = read_labels(labels, lazy=True)  # shape and dtype, no pixels yet
            check_fits(labels, command="track", array=lazy_masks)
            masks = np.asarray(lazy_masks)
        if masks.ndim == 2:
            raise InvalidImageError(f"{labels}: one label image (shape {masks.shape}); tracking needs a time series")
        if masks.shape[0] != n_t:
            raise InvalidImageError(
                f"{labels} has {masks.shape[0]} frame(s) but {movie} has {n_t}; they must match frame for frame"
            )
        if masks.shape[1:] != frames.shape[-2:]:
            raise InvalidImageError(
                f"{labels}: frames of shape {masks.shape[1:]} do not match {movie}'s {frames.shape[-2:]}"
            )
        source = str(labels)
    else:
        assert segmenter is not None
        t0 = time.perf_counter()
        with named(movie), progress(f"Segmenting {n_t} frames of {movie.name}"):
            masks = np.stack([segmenter(frames[t], axes=frame_axes) for t in range(n_t)])
        seg_s = time.perf_counter() - t0
        source = str(movie)
    t0 = time.perf_counter()
    options = {"max_gap": max_gap, "max_distance": max_distance, "divisions": not no_divisions}
    with progress(f"Tracking {n_t} frames"):
        result, lineage = run_track(masks, source=source, **options)
    track_s = time.perf_counter() - t0
    table = tracks_table(result, lineage)
    with atomic_output(output, overwrite=overwrite) as tmp:
        write_ctc_result(result, lineage, tmp, overwrite=True)
        table.to_csv(tmp / TRACKS_FILE, index=False)
        config = {"movie": str(movie), "labels": str(labels) if labels else None,
                  "model": None if labels else model, **options,
                  "division_model": lineage.attrs.get("division_model")}  # as learnt from this movie
        (tmp / "track_config.json").write_text(json.dumps(config, indent=2))
    parents = lineage.loc[lineage["parent"] > 0, "parent"]
    n_div = int((parents.value_counts() >= 2).sum())
    total = time.perf_counter() - start
    typer.echo(
        f"Tracked {len(lineage)} track(s) with {n_div} division(s) over {n_t} frames in {total:.2f} s "
        f"(segmentation {seg_s:.2f} s, tracking {track_s:.2f} s, {n_t / max(track_s, 1e-9):.1f} frames/s) "
        f"-> {Path(output).expanduser().absolute()}"
    )
