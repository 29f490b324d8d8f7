"""The engine at scale: time and peak memory against image area, seams, batch throughput.

    python benchmarks/scale.py --quick     # 1,024² .. 4,096², small seam and batch cases
    python benchmarks/scale.py             # 1,000² .. 20,000² (~40 min on 2 cores), full cases
    python benchmarks/scale.py --sizes 1000 4000 --skip seams batch   # some sizes only

1. **Scaling.** Simulated nuclei (``simulate_nuclei(chunked=True)``, diameter
   14 px, density 0.35) written to OME-Zarr chunk by chunk, then
   ``run_pipeline`` (segment with ``nuclei`` + measure) on a local cluster of
   ``--workers`` workers with ``--memory-limit`` each. Time is the run only;
   peak memory is sampled every 0.1 s (RSS) per worker process and for the
   whole process tree (this process holds the client and scheduler). Reports
   the slope of a least-squares fit of time against area.
2. **Seams.** A tissue image segmented with 512-pixel chunks (``cells`` and
   ``nuclei`` models) against the same pipeline as one chunk (identical to
   ``Segmenter(tile_size=512, diameter=None)``): objects unmatched at IoU 0.5
   on either side, all and with their centroid within 32 px of a seam, as a %
   of the objects. Control: the same count between two whole-image
   ``Segmenter`` runs with tiles of 512 and 1024 (the network's own
   sensitivity to where tiles fall).
3. **Batch.** 40 (``--quick``: 4; ``--batch N``) tissue images of 512² through
   the default pipeline with 1 and with 2 workers (each cluster warmed up
   first): images/s and parallel efficiency = speed-up / 2. Enough images that
   the last task running alone (one worker idle) weighs little; each
   worker count is run ``--batch-repeats`` times (default 2) and the
   faster run kept, as the machine is shared.

Cellpose 3's ``cellpose.contrib.distributed_segmentation`` is not run: see
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np


class PeakMemory:
    """Sample RSS of this process and its descendants in a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.me = psutil.Process()
        self.interval = interval
        self.worker = 0
        self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = []
            for child in self.me.children(recursive=True):
                try:
                    rss.append(child.memory_info().rss)
                except psutil.Error:
                    pass
            self.worker = max(self.worker, max(rss, default=0))
            self.total = max(self.total, sum(rss) + self.me.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


SIMULATE = r"""
import sys, dask
from cellscale.data import simulate_nuclei
from cellscale.io import write_image
size, path = int(sys.argv[1]), sys.argv[2]
sample = simulate_nuclei(shape=(size, size), seed=7, diameter=14, density=0.35, chunked=True)
with dask.config.set(scheduler="threads"):
    write_image(sample.image, path)
"""


def nuclei_image(size: int, work: Path) -> tuple[Path, float]:
    """The simulated image of one size, written once (in a child process: the
    simulator holds its whole scene, 1.6 GB for 20,000², which must count neither
    against the workers nor against this process's peak)."""
    import subprocess
    import sys

    path = work / f"nuclei_{size}.ome.zarr"
    if path.exists():
        return path, float("nan")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SIMULATE, str(size), str(path)], check=True)
    return path, time.perf_counter() - start


def scaling(sizes: list[int], workers: int, memory_limit: str, work: Path,
            save: object = None) -> list[dict]:
    from cellscale.engine import Pipeline, cluster_client, run_pipeline
    from cellscale.io import parse_memory

    pipeline = Pipeline.model_validate({"steps": [{"step": "segment", "model": "nuclei"},
                                                  {"step": "measure"}]})
    rows = []
    with cluster_client(n_workers=workers, memory_limit=memory_limit) as client:
        warm, _ = nuclei_image(512, work)
        run_pipeline([warm], work / "warm.zarr", pipeline=pipeline, client=client)
        for size in sizes:
            path, sim_s = nuclei_image(size, work)
            out = work / f"res_{size}.zarr"
            shutil.rmtree(out, ignore_errors=True)
            with PeakMemory() as peak:
                start = time.perf_counter()
                report = run_pipeline([path], out, pipeline=pipeline, client=client)
                seconds = time.perf_counter() - start
            shutil.rmtree(out, ignore_errors=True)
            if report.failed:
                raise SystemExit(f"{size}²: {report.failed}")
            row = {"size": size, "megapixels": size * size / 1e6, "seconds": seconds,
                   "simulate_and_write_s": sim_s, "cells": sum(report.n_objects.values()),
                   "peak_worker_mb": peak.worker / 1e6, "peak_total_mb": peak.total / 1e6,
                   "memory_limit_mb": parse_memory(memory_limit) / 1e6,
                   "steps_s": report.timings[path.name.split(".")[0]]}
            row["within_limit"] = row["peak_worker_mb"] < row["memory_limit_mb"]
            rows.append(row)
            if callable(save):
                save(rows)
            print(f"  {size}²: {seconds:.1f} s, {row['cells']} cells, worker peak "
                  f"{row['peak_worker_mb']:.0f} MB, total {row['peak_total_mb']:.0f} MB", flush=True)
    return rows


def seams(size: int, work: Path) -> list[dict]:
    from scipy import ndimage as ndi

    from cellscale.data import simulate_tissue
    from cellscale.engine import Pipeline, cluster_client, run_pipeline
    from cellscale.io import open_store, read, write_image
    from cellscale.metrics import match_instances
    from cellscale.segment import Segmenter

    path = work / f"tissue_{size}.ome.zarr"
    if not path.exists():
        write_image(simulate_tissue(shape=(size, size), seed=11).image, path)
    image = read(path, lazy=False)
    chunk = 512
    out = []
    with cluster_client(n_workers=2, memory_limit="2GB") as client:
        for model in ("nuclei", "cells"):
            layers = {}
            for cs in (chunk, size):
                p = Pipeline.model_validate({"steps": [{"step": "segment", "model": model,
                                                        "channels": ["DNA", "membrane"]
                                                        if model == "cells" else ["DNA"]}],
                                             "chunk_size": cs})
                res = work / f"seam_{model}_{cs}.zarr"
                shutil.rmtree(res, ignore_errors=True)
                report = run_pipeline([path], res, pipeline=p, client=client)
                assert report.ok, report.failed
                for comp in (["cells", "nuclei"] if model == "cells" else ["nuclei"]):
                    layers[(comp, cs)] = open_store(res).label_image(f"tissue_{size}_{comp}")
                shutil.rmtree(res, ignore_errors=True)
            for comp in (["cells", "nuclei"] if model == "cells" else ["nuclei"]):
                whole, tiled = layers[(comp, size)], layers[(comp, chunk)]
                result = match_instances(whole, tiled, thresholds=[0.5])
                t, p_, _ = result.pairs(0.5)
                missed = np.setdiff1d(np.unique(whole)[1:], t)
                extra = np.setdiff1d(np.unique(tiled)[1:], p_)

                def near(labels: np.ndarray, ids: np.ndarray) -> int:
                    if not len(ids):
                        return 0
                    c = np.array(ndi.center_of_mass(np.ones_like(labels), labels, ids))
                    return int((np.abs((c + chunk / 2) % chunk - chunk / 2).min(1) < 32).sum())

                n = int(len(np.unique(whole)) - 1)
                seam = near(whole, missed) + near(tiled, extra)
                # Control: the segmenter's own sensitivity to where tiles fall.
                control = match_instances(
                    Segmenter(model, tile_size=512, batch_size=1, compartment=comp,
                              diameter=None)(image),
                    Segmenter(model, tile_size=1024, compartment=comp, diameter=None)(image),
                    thresholds=[0.5])
                control_pct = 100 * (int(control.fp[0]) + int(control.fn[0])) / control.n_true
                out.append({"model": model, "objects": comp, "size": size, "chunk_size": chunk,
                            "n_whole": n, "n_tiled": int(len(np.unique(tiled)) - 1),
                            "unmatched": int(len(missed) + len(extra)),
                            "unmatched_pct": 100 * (len(missed) + len(extra)) / n,
                            "seam_unmatched": seam, "seam_pct": 100 * seam / n,
                            "tile_512_vs_1024_pct": control_pct})
                print(f"  {model}/{comp}: {out[-1]['unmatched_pct']:.2f} % unmatched, "
                      f"{out[-1]['seam_pct']:.2f} % at seams (tile-size control "
                      f"{control_pct:.2f} %)", flush=True)
    return out


def batch(n_images: int, work: Path, *, repeats: int = 2) -> dict:
    from cellscale.data import simulate_tissue
    from cellscale.engine import cluster_client, run_pipeline
    from cellscale.io import write_image

    folder = work / f"batch_{n_images}"
    files = sorted(folder.glob("*.ome.tif"))
    if len(files) != n_images + 2:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for k in range(n_images + 2):
            write_image(simulate_tissue(shape=(512, 512), seed=300 + k).image,
                        folder / f"img{k:03d}.ome.tif")
        files = sorted(folder.glob("*.ome.tif"))
    result: dict = {"n_images": n_images, "size": 512, "repeats": repeats}
    for workers in (1, 2):
        runs = []
        with cluster_client(n_workers=workers, memory_limit="2GB") as client:
            warm = work / f"warm_{workers}.zarr"
            shutil.rmtree(warm, ignore_errors=True)
            run_pipeline(files[n_images:n_images + workers], warm, client=client)
            for _ in range(repeats):
                out = work / f"batch_{workers}.zarr"
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                report = run_pipeline(files[:n_images], out, client=client)
                runs.append(time.perf_counter() - start)
                assert report.ok and len(report.done) == n_images, report.failed
                shutil.rmtree(out, ignore_errors=True)
        seconds = min(runs)
        result[f"seconds_{workers}"] = seconds
        result[f"runs_{workers}"] = runs
        result[f"images_per_s_{workers}"] = n_images / seconds
        print(f"  {workers} worker(s): {', '.join(f'{r:.1f}' for r in runs)} s", flush=True)
    result["speedup"] = result["seconds_1"] / result["seconds_2"]
    result["efficiency"] = result["speedup"] / 2
    return result


def fit(rows: list[dict]) -> dict:
    area = np.array([r["megapixels"] for r in rows])
    secs = np.array([r["seconds"] for r in rows])
    if len(rows) < 2:
        return {}
    slope, intercept = np.polyfit(area, secs, 1)
    pred = slope * area + intercept
    r2 = 1 - ((secs - pred) ** 2).sum() / max(((secs - secs.mean()) ** 2).sum(), 1e-12)
    return {"slope_s_per_mpx": float(slope), "intercept_s": float(intercept), "r2": float(r2),
            "mpx_per_s_largest": float(area[-1] / secs[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Small sizes and cases.")
    parser.add_argument("--sizes", type=int, nargs="+", help="Image sides for the scaling run.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--skip", nargs="*", default=[], choices=["scaling", "seams", "batch"])
    parser.add_argument("--batch", type=int, default=40, help="images in the batch case")
    parser.add_argument("--batch-repeats", type=int, default=2,
                        help="runs per worker count in the batch case (fastest kept)")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/data/scale"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = args.sizes or ([1024, 2048, 4096] if args.quick else [1000, 2000, 4000, 8000, 20000])
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or Path("benchmarks/results") / ("scale_quick.json" if args.quick else
                                                    "scale.json")
    results: dict = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version()},
                     "args": {k: str(v) for k, v in vars(args).items()}}

    def save(rows: list[dict] | None = None) -> None:
        if rows is not None:
            results["scaling"] = rows
            results["fit"] = fit(rows)
        results["machine"]["load_average_at_end"] = os.getloadavg()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=float))

    if "seams" not in args.skip:
        print("Seams:", flush=True)
        results["seams"] = seams(1024 if args.quick else 2048, args.work)
        save()
    if "batch" not in args.skip:
        print("Batch:", flush=True)
        results["batch"] = batch(4 if args.quick else args.batch, args.work,
                                 repeats=1 if args.quick else args.batch_repeats)
        save()
    if "scaling" not in args.skip:
        print("Scaling:", flush=True)
        scaling(sizes, args.workers, args.memory_limit, args.work, save)
    save()
    print(report(results))
    print(f"\nwrote {out}")


def report(results: dict) -> str:
    lines = []
    if "scaling" in results:
        lines += ["", ("| image | Mpx | cells | time (s) | Mpx/s | peak worker (MB) | "
                       "peak all processes (MB) | limit (MB) |"),
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in results["scaling"]:
            lines.append(f"| {r['size']}² | {r['megapixels']:.1f} | {r['cells']} | "
                         f"{r['seconds']:.1f} | {r['megapixels'] / r['seconds']:.2f} | "
                         f"{r['peak_worker_mb']:.0f} | {r['peak_total_mb']:.0f} | "
                         f"{r['memory_limit_mb']:.0f} |")
        f = results.get("fit") or {}
        if f:
            lines.append(f"\nTime vs area: {f['slope_s_per_mpx']:.3f} s/Mpx + "
                         f"{f['intercept_s']:.1f} s (R² = {f['r2']:.4f}).")
    if "seams" in results:
        lines += ["", ("| model | objects | image | chunk | objects (whole) | unmatched % | "
                       "at seams % | control: tile 512 vs 1024, whole image % |"),
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in results["seams"]:
            lines.append(f"| {r['model']} | {r['objects']} | {r['size']}² | {r['chunk_size']} | "
                         f"{r['n_whole']} | {r['unmatched_pct']:.2f} | {r['seam_pct']:.2f} | "
                         f"{r.get('tile_512_vs_1024_pct', float('nan')):.2f} |")
    if "batch" in results:
        b = results["batch"]
        lines += ["", "| batch | 1 worker (s) | 2 workers (s) | speed-up | efficiency |",
                  "| --- | ---: | ---: | ---: | ---: |",
                  (f"| {b['n_images']} × {b['size']}² tissue | {b['seconds_1']:.1f} | "
                   f"{b['seconds_2']:.1f} | {b['speedup']:.2f} | {100 * b['efficiency']:.0f} % |")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
