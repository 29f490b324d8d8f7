"""Speed of cellscale.metrics.match_instances on a label image with ~10^5 objects.

Builds a synthetic ground truth (a jittered grid of discs) and a perturbed
prediction (discs moved and resized by up to 1 px, 3% of objects missed, 2%
invented, 3% merged with a neighbour, 2% of true objects split, ids permuted
and non-consecutive), times ``match_instances`` at the
default thresholds 0.5:0.95 and at low thresholds that need optimal
assignment, prints a table and writes ``benchmarks/results/metrics_speed.json``.

Usage: ``python benchmarks/metrics_speed.py [--quick] [--repeat N]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy

from cellscale.metrics import DEFAULT_THRESHOLDS, match_instances

SPACING = 13  # pixels per grid cell; one object per cell
LOW_THRESHOLDS = (0.1, 0.2, 0.3, 0.4)


def _discs(size: int, cy: np.ndarray, cx: np.ndarray, r: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Paint disc ``(cy, cx, r)`` of grid cell ``(gy, gx)`` with ``ids[gy, gx]`` (0 = none)."""
    out = np.zeros((size, size), dtype=np.uint32)
    n = size // SPACING
    local = np.arange(SPACING)
    block = 256 // SPACING * SPACING  # rows painted at a time, to keep memory small
    for y0 in range(0, n * SPACING, block):
        y1 = min(y0 + block, n * SPACING)
        gy = np.arange(y0, y1) // SPACING
        ly = (np.arange(y0, y1) % SPACING)[:, None, None]
        dy = ly - cy[gy][:, :, None]  # (rows, n, SPACING)
        dx = local[None, None, :] - cx[gy][:, :, None]
        inside = dy * dy + dx * dx <= (r[gy] ** 2)[:, :, None]
        out[y0:y1, : n * SPACING] = (inside * ids[gy][:, :, None]).reshape(y1 - y0, -1)
    return out


def make_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(true, pred)`` uint32 label images of shape ``(size, size)``."""
    rng = np.random.default_rng(seed)
    n = size // SPACING
    shape = (n, n)
    cy = 6 + rng.integers(-1, 2, shape)
    cx = 6 + rng.integers(-1, 2, shape)
    r = rng.uniform(3.0, 5.0, shape)
    present = rng.random(shape)
    true_ids = np.where(present >= 0.02, 1 + np.arange(n * n).reshape(shape), 0)
    pred_ids = np.where(present < 0.02, 1, 0) + np.where(
        (present >= 0.02) & (rng.random(shape) >= 0.03), 1, 0
    )  # 2% invented, 3% of the rest missed
    perm = rng.permutation(n * n).reshape(shape)
    pred_ids = np.where(pred_ids > 0, 7 * perm + 11, 0)  # non-consecutive, unrelated ids
    # Merges and splits: 3% of predicted objects also cover the disc to their right,
    # 2% of true objects also cover the disc below (one true object, two predictions).
    merge = (rng.random(shape) < 0.03) & (pred_ids > 0)
    merge[:, -1] = False
    pred_ids[:, 1:][merge[:, :-1]] = pred_ids[:, :-1][merge[:, :-1]]
    split = (rng.random(shape) < 0.02) & (true_ids > 0)
    split[-1, :] = False
    true_ids[1:, :][split[:-1, :]] = true_ids[:-1, :][split[:-1, :]]
    true = _discs(size, cy, cx, r, true_ids)
    pred = _discs(
        size,
        cy + rng.integers(-1, 2, shape),
        cx + rng.integers(-1, 2, shape),
        np.clip(r + rng.uniform(-1.0, 1.0, shape), 2.0, 6.0),
        pred_ids,
    )
    return true, pred


def _time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1024x1024 (~6k objects) instead of 4096x4096"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "metrics_speed.json"
    )
    args = parser.parse_args()
    size = 1024 if args.quick else 4096

    t0 = time.perf_counter()
    true, pred = make_pair(size)
    build_s = time.perf_counter() - t0

    runs = []
    for name, thresholds in (("0.5:0.95", DEFAULT_THRESHOLDS), ("0.1:0.4", LOW_THRESHOLDS)):
        seconds, result = _time(
            lambda th=thresholds: match_instances(true, pred, thresholds=th), args.repeat
        )
        runs.append({"thresholds": name, "seconds": seconds, "result": result.to_dict()})

    print(f"match_instances on {size}x{size} uint32 labels (built in {build_s:.1f} s)")
    header = (
        f"{'thresholds':<10} {'n_true':>7} {'n_pred':>7} {'seconds':>8} "
        f"{'F1@first':>8} {'AP@first':>8} {'mean_AP':>7}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        d = run["result"]
        mean_ap = "-" if d["mean_ap"] is None else f"{d['mean_ap']:.3f}"
        print(
            f"{run['thresholds']:<10} {d['n_true']:>7} {d['n_pred']:>7} {run['seconds']:>8.2f} "
            f"{d['f1'][0]:>8.3f} {d['average_precision'][0]:>8.3f} {mean_ap:>7}"
        )

    record = {
        "benchmark": "metrics_speed",
        "image_shape": [size, size],
        "quick": args.quick,
        "repeat": args.repeat,
        "timing": "best of repeat, seconds, wall clock",
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
