"""The ``cells`` model across cultured-cell regimes, tissue and modalities: F1@0.5 and mean AP.

Scores whole-cell segmentation (the ``cells`` compartment, ``diameter="auto"``)
of one or more models on held-out sets made by ``training/make_data.py``:

* ``culture/test``: cultured cells drawn like the training data
  (:func:`cellscale.data.culture_options`);
* ``culture/test_<regime>``: one factor fixed per set (shape: epithelial,
  fibroblast, round, rod; stain: membrane, cytoplasm; modality: phase
  contrast, bright field; no nuclear stain; large 80-150 px, small 15-25 px);
* ``tissue/test``: the tissue sections the first ``cells`` model was trained on.

Images are read by channel name (``DNA``, ``membrane``); a set whose DNA
channel is blank (``no_dna``, many transmitted-light images) is scored as it
is. Every model sees the same images. Matching pools every image of a set
(:func:`cellscale.metrics.aggregate`).

Making the data (seeds disjoint from the training sets)::

    python training/make_data.py culture D/culture --train 0 --regime all
    python training/make_data.py tissue D/tissue --train 0

Usage::

    python benchmarks/cells_regimes.py --culture D/culture --tissue D/tissue \\
        [--models cells path/to/other/cells.json ...] [--names v1 v2] [--threads 1]
        [--out benchmarks/results/cells_regimes.json]

Prints a markdown table (F1@0.5 / mean AP per set and model, and the median
estimated diameter) and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def sets_of(culture: Path | None, tissue: Path | None) -> list[tuple[str, Path]]:
    """(name, folder) of every held-out set found, in report order."""
    out: list[tuple[str, Path]] = []
    if culture is not None:
        if (culture / "test").is_dir():
            out.append(("culture (drawn)", culture / "test"))
        out += [(p.name.removeprefix("test_"), p) for p in sorted(culture.glob("test_*"))
                if p.is_dir()]
    if tissue is not None and (tissue / "test").is_dir():
        out.append(("tissue", tissue / "test"))
    return out


def score(model: Any, folder: Path, threads: int | None) -> dict[str, Any]:
    """Pooled F1@0.5 and mean AP of ``model``'s cells on the sample folders under ``folder``."""
    from cellscale.io import find_pairs, read, read_labels
    from cellscale.metrics import aggregate, match_instances
    from cellscale.segment import Segmenter

    seg = Segmenter(model, compartment="cells", threads=threads)
    matches, diameters, confidences, seconds = [], [], [], 0.0
    for image_path, labels_path in find_pairs(folder, compartment="cells"):
        image = read(image_path)
        truth = np.asarray(read_labels(labels_path))
        start = time.perf_counter()
        pred = seg(image)
        seconds += time.perf_counter() - start
        matches.append(match_instances(truth, pred))
        if seg.estimated_diameter is not None:
            diameters.append(seg.estimated_diameter)
        if seg.confidence is not None:
            confidences.append(seg.confidence)
    if not matches:
        return {"skipped": f"no image/label pairs under {folder}"}
    total = aggregate(matches)
    return {"f1": round(total.f1_at(0.5), 4), "mean_ap": round(total.mean_ap, 4),
            "images": len(matches), "n_true": total.n_true, "n_pred": total.n_pred,
            "median_estimated_diameter": round(float(np.median(diameters)), 1) if diameters else None,
            "mean_confidence": round(float(np.mean(confidences)), 3) if confidences else None,
            "seconds": round(seconds, 1)}


def table(rows: list[dict[str, Any]], names: list[str]) -> str:
    """Markdown: one row per set, ``F1 / mAP`` per model."""
    head = "| set | images | cells | " + " | ".join(f"{n} F1@0.5 / mAP | {n} d auto" for n in names) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(names))]
    for r in rows:
        first = next((s for s in r["scores"].values() if "f1" in s), None)
        cells = [r["set"], str(first["images"]) if first else "-", str(first["n_true"]) if first else "-"]
        for n in names:
            s = r["scores"].get(n, {})
            cells += [f"{s['f1']:.3f} / {s['mean_ap']:.3f}" if "f1" in s else s.get("skipped", "-"),
                      "-" if s.get("median_estimated_diameter") is None else f"{s['median_estimated_diameter']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--culture", type=Path, default=None, help="folder of make_data.py culture")
    p.add_argument("--tissue", type=Path, default=None, help="folder of make_data.py tissue")
    p.add_argument("--models", nargs="+", default=["cells"], help="model names or card paths")
    p.add_argument("--names", nargs="+", default=None, help="a short name per model for the table")
    p.add_argument("--threads", type=int, default=None, help="network runtime threads")
    p.add_argument("--out", type=Path, default=RESULTS / "cells_regimes.json")
    p.add_argument("--label", default="", help="what this run is, written into the JSON")
    args = p.parse_args(argv)
    names = args.names or [Path(m).stem if m.endswith(".json") else m for m in args.models]
    if len(names) != len(args.models):
        p.error(f"--names gives {len(names)} name(s) for {len(args.models)} model(s)")
    sets = sets_of(args.culture, args.tissue)
    if not sets:
        p.error("no held-out sets found: give --culture and/or --tissue folders made by "
                "training/make_data.py (see this script's docstring)")
    from cellscale.models import load_model

    models = {n: load_model(m) for n, m in zip(names, args.models)}
    started = time.time()
    rows = []
    for set_name, folder in sets:
        row = {"set": set_name, "folder": str(folder), "scores": {}}
        for n, model in models.items():
            row["scores"][n] = score(model, folder, args.threads)
            s = row["scores"][n]
            print(f"{set_name:18s} {n:10s} " + (f"F1@0.5 {s['f1']:.3f} mAP {s['mean_ap']:.3f} "
                                                  f"({s['images']} img, {s['seconds']:.0f} s)"
                                                  if "f1" in s else s["skipped"]), flush=True)
        rows.append(row)
    payload = {
        "benchmark": "cells_regimes", "label": args.label, "rows": rows,
        "models": {n: {"name": m.card.name, "version": m.card.version, "sha256": m.card.sha256}
                   for n, m in models.items()},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "threads": args.threads, "load_average_at_end": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print()
    print(table(rows, names))
    print(f"\nwrote {args.out} ({payload['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
