"""Average two trained networks of one architecture (WiSE-FT weight averaging).

    python training/average.py BASE/nuclei.json TUNED/nuclei.json --out BLEND [--weight 0.5]
    python training/quantize.py BLEND/nuclei.json --from-weights \\
        --data D/nuclei/train D/generalist/train --test-data D/nuclei/test --out RUN

Every floating-point tensor of the two state dicts (weights and BatchNorm
statistics) becomes ``(1 - weight) x base + weight x tuned``; integer tensors
(BatchNorm's batch counter) are the tuned model's. A fine-tune on a wider
domain forgets some of what the base model knew; the average of the two keeps
most of both (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models").
The shipped nuclei model v2 is the half-and-half average of v1 and its
generalist fine-tune (its card's ``training.weight_average``).

``BLEND`` gets ``NAME.pt`` and the tuned model's card with the average
recorded under ``training.weight_average``; ``training/quantize.py
--from-weights`` then exports, quantises and re-scores it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

import torch


def average(base: dict, tuned: dict, weight: float) -> dict:
    """The state dict ``(1 - weight) x base + weight x tuned`` (floating tensors only)."""
    if base.keys() != tuned.keys():
        raise SystemExit("the two networks have different layers; only one architecture averages")
    out = {}
    for key, b in base.items():
        t = tuned[key]
        if b.shape != t.shape:
            raise SystemExit(f"layer {key}: shapes {tuple(b.shape)} and {tuple(t.shape)} differ")
        out[key] = (1.0 - weight) * b + weight * t if t.is_floating_point() else t.clone()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="card (NAME.json) of the model fine-tuned from")
    parser.add_argument("tuned", type=Path, help="card of the fine-tuned model")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the average")
    parser.add_argument("--weight", type=float, default=0.5, help="share of the tuned model (0-1)")
    args = parser.parse_args()
    if not 0.0 <= args.weight <= 1.0:
        raise SystemExit(f"--weight must lie in 0..1, got {args.weight}")
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} exists and is not empty; choose another --out")
    card = json.loads(args.tuned.read_text())
    name = card["name"]
    paths = [c.parent / f"{json.loads(c.read_text())['name']}.pt" for c in (args.base, args.tuned)]
    base, tuned = (torch.load(p, map_location="cpu", weights_only=False) for p in paths)
    if base["arch"] != tuned["arch"]:
        raise SystemExit(f"{paths[0]} and {paths[1]} have different architectures")
    blended = dict(tuned, state_dict=average(base["state_dict"], tuned["state_dict"], args.weight))
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(blended, args.out / f"{name}.pt")
    card.setdefault("training", {})["weight_average"] = {
        "method": f"WiSE-FT: every floating-point tensor of the state dict (weights, BatchNorm "
                  f"statistics) is {1 - args.weight:g} x the base + {args.weight:g} x the fine-tuned "
                  f"network; exported, quantised and re-scored by training/quantize.py --from-weights",
        "base_sha256": hashlib.sha256(paths[0].read_bytes()).hexdigest(),
        "fine_tuned_sha256": hashlib.sha256(paths[1].read_bytes()).hexdigest(),
        "command": "python training/average.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    (args.out / f"{name}.json").write_text(json.dumps(card, indent=1))
    print(args.out / f"{name}.json")


if __name__ == "__main__":
    main()
