"""Simulator speed and memory: time and peak memory against image size.

Each case runs in a fresh Python process (so peak memory is that case's own),
simulates one image and writes it with ``save_sample`` (OME-TIFF in memory,
OME-Zarr chunk by chunk for large images). Prints a table and writes JSON.

    python benchmarks/simulate.py            # 512² .. 8192²
    python benchmarks/simulate.py --full     # adds 20,000² (several minutes)
    python benchmarks/simulate.py --quick    # 512² and 2048² only

There is no peer that simulates these images, so the figures are absolute
(seconds, MB) and drift with the load of the machine; compare runs made
together.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from cellscale.data import save_sample, simulate_nuclei, simulate_tissue
kind, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
make = {"nuclei": simulate_nuclei, "tissue": simulate_tissue}[kind]
t0 = time.perf_counter()
sample = make(shape=(size, size), seed=1)
t1 = time.perf_counter()
save_sample(sample, out)
t2 = time.perf_counter()
print(json.dumps({
    "kind": kind, "size": size, "lazy": bool(sample.image.is_lazy),
    "n_cells": int(len(sample.cells)),
    "simulate_s": t1 - t0, "simulate_and_write_s": t2 - t0,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_case(kind: str, size: int, workdir: Path) -> dict:
    out = workdir / f"{kind}_{size}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(size), str(out)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} {size}²: failed\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["megapixels"] = size * size / 1e6
    result["mp_per_s"] = result["megapixels"] / result["simulate_and_write_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="512² and 2048² only")
    group.add_argument("--full", action="store_true", help="include 20,000²")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "simulate.json")
    args = parser.parse_args()

    sizes = [512, 2048] if args.quick else [512, 2048, 8192]
    if args.full:
        sizes.append(20000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cellscale-bench-") as tmp:
        for kind in ("nuclei", "tissue"):
            for size in sizes:
                rows.append(run_case(kind, size, Path(tmp)))
                r = rows[-1]
                print(
                    f"{r['kind']:<7} {r['size']:>6}²  lazy={r['lazy']!s:<5} cells={r['n_cells']:>8}  "
                    f"simulate {r['simulate_s']:7.2f} s  +write {r['simulate_and_write_s']:7.2f} s  "
                    f"{r['mp_per_s']:6.2f} MP/s  peak {r['peak_mb']:7.0f} MB",
                    flush=True,
                )
    print()
    print("| kind | size | lazy | cells | simulate (s) | simulate + write (s) | MP/s | peak memory (MB) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['kind']} | {r['size']}² | {r['lazy']} | {r['n_cells']} | {r['simulate_s']:.2f} | "
            f"{r['simulate_and_write_s']:.2f} | {r['mp_per_s']:.2f} | {r['peak_mb']:.0f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "simulate", "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
