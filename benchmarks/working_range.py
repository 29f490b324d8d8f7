"""Working range of a nuclei model: accuracy against nucleus diameter and SNR.

The model card states the diameters a model was trained for
(``inputs.diameter_range``); this measures how accuracy holds up across
them, and across signal-to-noise ratios, on held-out simulated images
(seeds 700000+, disjoint from training). Every other simulator option is
drawn per image from its realistic range, as in training. Accuracy is
F1@0.5 and mean AP@0.5:0.95 from :mod:`cellscale.metrics`, pooled over the
images of a cell of the grid, for the model with its default automatic
resizing (``diameter="auto"``), without it (``diameter=None``), and for the
classical baseline, on the same images.

Prints a markdown table and writes ``benchmarks/results/working_range.json``.

Usage::

    python benchmarks/working_range.py [--model nuclei] [--images 6] [--size 384]
        [--diameters 8 12 20 30 40] [--snr 5 20 100] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from cellscale.data import simulate_nuclei
from cellscale.metrics import DEFINITION, aggregate, match_instances
from cellscale.segment import Segmenter

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 700_000


def _score(segmenter: Segmenter, samples: list) -> dict:
    result = aggregate(
        match_instances(np.asarray(s.labels["nuclei"]), segmenter(s.image)) for s in samples
    )
    return {"f1@0.5": round(result.f1_at(0.5), 4), "mean_ap": round(result.mean_ap, 4),
            "n_true": result.n_true, "n_pred": result.n_pred}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="nuclei")
    p.add_argument("--images", type=int, default=6, help="images per grid cell")
    p.add_argument("--size", type=int, default=384, help="image side in pixels")
    p.add_argument("--diameters", type=float, nargs="+", default=[8, 12, 20, 30, 40])
    p.add_argument("--snr", type=float, nargs="+", default=[5, 20, 100])
    p.add_argument("--quick", action="store_true", help="2 images of 192² per cell, 2 x 2 grid")
    p.add_argument("--out", type=Path, default=RESULTS / "working_range.json")
    args = p.parse_args()
    if args.quick:
        args.images, args.size, args.diameters, args.snr = 2, 192, [10, 30], [10, 100]

    ours = Segmenter(args.model)  # diameter="auto": resized when nuclei are outside 12-30 px
    native = Segmenter(args.model, diameter=None)  # never resized
    classical = Segmenter("classical")
    rows = []
    start = time.perf_counter()
    seed = SEED0
    for diameter in args.diameters:
        for snr in args.snr:
            samples = []
            for _ in range(args.images):
                samples.append(simulate_nuclei(shape=(args.size, args.size), seed=seed,
                                               diameter=diameter, snr=snr))
                seed += 1
            row = {"diameter": diameter, "snr": snr, "n_images": len(samples),
                   "ours": _score(ours, samples), "native": _score(native, samples),
                   "classical": _score(classical, samples)}
            rows.append(row)
            print(f"  diameter {diameter:g} px, SNR {snr:g}: F1@0.5 {row['ours']['f1@0.5']:.3f} "
                  f"(never resized {row['native']['f1@0.5']:.3f}, "
                  f"classical {row['classical']['f1@0.5']:.3f})", flush=True)

    card_range = list(ours.model.card.inputs.diameter_range) if ours.model else None
    print(f"\nModel {ours.name!r} (card diameter range {card_range} px); "
          f"{args.images} images of {args.size}² per cell; seeds from {SEED0}\n")
    print("| diameter (px) | SNR | nuclei | F1@0.5 auto | mAP auto | F1@0.5 never resized "
          "| mAP never resized | classical F1@0.5 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['diameter']:g} | {r['snr']:g} | {r['ours']['n_true']} | "
              f"{r['ours']['f1@0.5']:.3f} | {r['ours']['mean_ap']:.3f} | "
              f"{r['native']['f1@0.5']:.3f} | {r['native']['mean_ap']:.3f} | "
              f"{r['classical']['f1@0.5']:.3f} |")
    payload = {
        "benchmark": "working_range", "model": ours.name, "card_diameter_range": card_range,
        "size": args.size, "images_per_cell": args.images, "seed0": SEED0, "rows": rows,
        "metric_definition": DEFINITION, "machine": platform.platform(),
        "wall_s": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
