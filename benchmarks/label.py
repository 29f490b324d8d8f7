"""Correct -> fine-tune rounds with a simulated annotator vs labelling from scratch (issue 14).

Data (our own simulator only): nuclei in strong unlabelled cytoplasm,
``simulate_nuclei(shape=(256, 256), diameter=(18, 30), density=0.3,
cytoplasm=0.4)``, a regime the shipped ``nuclei`` model handles badly
(held-out F1@0.5 printed as round 0). A labelling pool (seeds 71000+) and a
held-out set (seeds 72000+) of the same regime.

Rounds k = 1 .. K: the current model (round 0: the shipped one) proposes
labels for the pool (:func:`cellscale.label.propose`); the annotator spends a
budget of E edits per round, finishing images it started, then the worst
proposals first (lowest F1@0.5 against the truth; ``--order seed``: in seed
order, the images the baseline labels), each edit one
:class:`cellscale.label.EditSession` operation:

- a proposal holding two or more true nuclei: ``split`` with a line from the
  middle of one to the middle of the other (when a cut leaves two of them
  together, ``delete`` the proposal and paint each nucleus);
- a proposal on no nucleus (IoU < 0.2 with every one): ``delete``;
- a nucleus cut in pieces: ``merge`` two pieces;
- a missed nucleus: ``add_cell`` at its centre; when the result has IoU < 0.5
  with the truth, ``undo`` and paint the true mask (one stroke, 1 edit);
- a nucleus whose proposal overlaps it with IoU < 0.5: ``delete`` and paint.

Boundaries of proposals that already match (IoU >= 0.5) are left as they are.
Then :func:`cellscale.label._finetune.finetune` fine-tunes the shipped model
on every image touched so far (labels as corrected), on 2 CPU threads with a
time budget, and the new model is scored on the held-out set (F1@0.5, mean
AP@0.5:0.95, pooled) and proposes for the next round.

Baseline "from scratch": after round k, the same number of true nuclei as
the touched images hold is labelled fully from an empty canvas (whole pool
images in seed order until that count is reached; one paint edit per
nucleus), and the shipped model is fine-tuned on them for the same time.

Prints a markdown table and writes ``benchmarks/results/label[_LABEL].json``.

Usage::

    python benchmarks/label.py [--quick] [--rounds 4] [--edits 40] [--minutes 2]
        [--pool 16] [--held 8] [--order worst|seed] [--baseline-last-only] [--label NAME]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cellscale.data import simulate_nuclei
from cellscale.label import EditSession, propose
from cellscale.label._finetune import finetune
from cellscale.metrics import aggregate, match_instances
from cellscale.segment import Segmenter

RESULTS = Path(__file__).parent / "results"
REGIME = {"diameter": (18.0, 30.0), "density": 0.3, "cytoplasm": 0.4}


def make_set(first_seed: int, n: int, side: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` (image, true nuclei) pairs of the regime."""
    out = []
    for i in range(n):
        s = simulate_nuclei(shape=(side, side), seed=first_seed + i, **REGIME)
        out.append((np.asarray(s.image.data), np.asarray(s.labels["nuclei"], np.uint32)))
    return out


def score(model: str, held: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Pooled F1@0.5 and mean AP@0.5:0.95 of a model on the held-out set."""
    seg = Segmenter(model, threads=2)
    total = aggregate([match_instances(truth, np.asarray(seg(image))) for image, truth in held])
    return {"f1": round(float(total.f1_at(0.5)), 4), "map": round(float(total.mean_ap), 4)}


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(match_instances(truth, pred, thresholds=0.5).f1_at(0.5))


# -- the simulated annotator ---------------------------------------------------------------
def _overlaps(pred: np.ndarray, truth: np.ndarray) -> tuple[dict, dict, dict]:
    """Pixel counts of every (pred, truth) pair that touches, and each object's area."""
    both = (pred > 0) & (truth > 0)
    pairs, counts = np.unique(np.stack([pred[both], truth[both]]), axis=1, return_counts=True)
    inter = {(int(p), int(t)): int(c) for (p, t), c in zip(pairs.T, counts)}
    ids, n = np.unique(pred[pred > 0], return_counts=True)
    pa = dict(zip(ids.tolist(), n.tolist()))
    ids, n = np.unique(truth[truth > 0], return_counts=True)
    ta = dict(zip(ids.tolist(), n.tolist()))
    return inter, pa, ta


def _centre(mask: np.ndarray) -> tuple[float, float]:
    """A pixel of the mask nearest its centroid (the middle a person clicks)."""
    ys, xs = np.nonzero(mask)
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return float(ys[i]), float(xs[i])


def _walk(mask: np.ndarray) -> list[tuple[float, float]]:
    """A stroke through every pixel of a 4-connected mask, each step to a 4-neighbour."""
    ys, xs = np.nonzero(mask)
    todo = set(zip(ys.tolist(), xs.tolist()))
    start = (int(ys[0]), int(xs[0]))
    path, stack = [start], [start]
    todo.discard(start)
    while stack:
        y, x = stack[-1]
        step = next(((y + dy, x + dx) for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0))
                     if (y + dy, x + dx) in todo), None)
        if step is None:
            stack.pop()
            if stack:
                path.append(stack[-1])
            continue
        todo.discard(step)
        stack.append(step)
        path.append(step)
    return [(float(y), float(x)) for y, x in path]


def paint_truth(session: EditSession, mask: np.ndarray) -> int:
    """Paint a true object as one stroke per 4-connected part; returns the edits used."""
    from scipy import ndimage

    parts, n = ndimage.label(mask)
    label = session.new_label()
    for i in range(1, n + 1):
        session.paint(_walk(parts == i), 0.4, label)
    return n


def next_fix(session: EditSession, truth: np.ndarray, tried: set) -> tuple[str, tuple] | None:
    """The annotator's next correction of one image, or None when none is left."""
    pred = session.labels
    inter, pa, ta = _overlaps(pred, truth)
    iou = {k: v / (pa[k[0]] + ta[k[1]] - v) for k, v in inter.items()}
    matched_t = {t for (p, t), v in iou.items() if v >= 0.5}
    inside: dict[int, list[int]] = {}  # pred -> truths mostly inside it
    for (p, t), v in inter.items():
        if v >= 0.5 * ta[t]:
            inside.setdefault(p, []).append(t)
    for p, ts in sorted(inside.items()):
        if len(ts) >= 2:
            a, b = sorted(ts, key=lambda t: -ta[t])[:2]
            if ("split", a, b) in tried:  # a cut did not part them: delete and paint them
                return "repaint", (p, *ts)
            return "split", (p, a, b)
    for p in sorted(pa):
        if max((v for (q, _), v in iou.items() if q == p), default=0.0) < 0.2 and \
                sum(v for (q, _), v in inter.items() if q == p) < 0.5 * pa[p]:
            return "delete", (p,)
    for t in sorted(ta):
        if t in matched_t:
            continue
        pieces = [p for (p, u), v in inter.items() if u == t and v >= 0.5 * pa[p]]
        if len(pieces) >= 2 and ("merge", t) not in tried:
            return "merge", (t, *sorted(pieces, key=lambda p: -inter[(p, t)])[:2])
    for t in sorted(ta):
        if t in matched_t or ("add", t) in tried:
            continue
        over = [(v, p) for (p, u), v in iou.items() if u == t]
        if over and max(over)[0] >= 0.2:
            return "replace", (t, max(over)[1])
        return "add", (t,)
    return None


def correct(session: EditSession, truth: np.ndarray, budget: int) -> int:
    """Correct one image towards the truth with at most ``budget`` edits; the edits used."""
    used, tried = 0, set()
    while used < budget:
        fix = next_fix(session, truth, tried)
        if fix is None:
            break
        kind, args = fix
        if kind == "split":
            p, a, b = args
            tried.add(("split", a, b))
            try:
                session.split(p, [_centre(truth == a), _centre(truth == b)])
                used += 1
            except ValueError:  # the line does not split it: repaint next time
                pass
        elif kind == "repaint":
            session.delete(args[0])
            used += 1
            for t in args[1:]:
                if used < budget:
                    used += paint_truth(session, truth == t)
        elif kind == "delete":
            session.delete(args[0])
            used += 1
        elif kind == "merge":
            t, a, b = args
            tried.add(("merge", t))
            session.merge(a, b)
            used += 1
        elif kind == "replace":
            t, p = args
            session.delete(p)
            used += 1
            if used < budget:
                used += paint_truth(session, truth == t)
        else:
            (t,) = args
            tried.add(("add", t))
            mask = truth == t
            y, x = _centre(mask)
            if session.labels[int(y), int(x)]:  # the middle is taken: paint what is free
                used += paint_truth(session, mask & (session.labels == 0))
                continue
            session.add_cell(y, x)
            used += 1
            new = session.labels == session.labels[int(y), int(x)]
            if (new & mask).sum() / (new | mask).sum() < 0.5 and used + 2 <= budget:
                session.undo()
                used += 1 + paint_truth(session, mask)
    return used


# -- rounds --------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    side = 128 if args.quick else 256
    pool = make_set(71000, args.pool, side)
    held = make_set(72000, args.held, side)
    work = Path(tempfile.mkdtemp(prefix="cellscale-label-bench-"))
    model = "nuclei"
    base = score(model, held)
    print(f"shipped nuclei on the held-out set: F1@0.5 {base['f1']}, mean AP {base['map']}",
          flush=True)
    labels: dict[int, np.ndarray] = {}  # pool index -> labels as corrected so far
    finished: set[int] = set()
    rounds = [{"round": 0, "edits": 0, "total_edits": 0, "images": 0, "cells": 0, **base}]
    total = 0
    for k in range(1, args.rounds + 1):
        t0 = time.perf_counter()
        seg = Segmenter(model, threads=2)
        sessions = {}
        for i, (image, truth) in enumerate(pool):
            if i in labels:
                sessions[i] = EditSession(labels[i], propose(image, seg)[1])
            else:
                lab, maps, _ = propose(image, seg)
                sessions[i] = EditSession(lab, maps)
        fresh = [i for i in range(len(pool)) if i not in labels]
        if args.order == "worst":
            fresh.sort(key=lambda i: f1(sessions[i].labels, pool[i][1]))
        order = sorted(i for i in labels if i not in finished) + fresh
        spent = 0
        for i in order:
            if spent >= args.edits:
                break
            used = correct(sessions[i], pool[i][1], args.edits - spent)
            spent += used
            labels[i] = sessions[i].labels.copy()
            if next_fix(sessions[i], pool[i][1], set()) is None:
                finished.add(i)
        total += spent
        propose_s = time.perf_counter() - t0
        items = [(f"pool{i}", pool[i][0], labels[i]) for i in sorted(labels)]
        cells = int(sum(len(np.unique(pool[i][1])) - 1 for i in labels))
        job = finetune(items, base="nuclei", out_dir=work / f"round{k}", minutes=args.minutes,
                       threads=2, model_name=f"round{k}",
                       description="benchmarks/label.py simulated annotator")
        status = job.wait()
        if status != "done":
            raise SystemExit(job.error)
        model = str(job.card)
        scores = score(model, held)
        label_f1 = float(aggregate([match_instances(pool[i][1], labels[i]) for i in labels])
                         .f1_at(0.5))
        row = {"round": k, "edits": spent, "total_edits": total, "images": len(labels),
               "finished_images": len(finished), "cells": cells,
               "edits_per_cell": round(total / max(cells, 1), 3),
               "training_labels_f1": round(label_f1, 4), "annotate_s": round(propose_s, 1),
               "finetune_s": round(job.elapsed, 1), **scores}
        rounds.append(row)
        print(json.dumps(row), flush=True)
    baselines = []
    for row in rounds[1:] if not args.baseline_last_only else rounds[-1:]:
        chosen, cells = [], 0
        for i, (_, truth) in enumerate(pool):
            if cells >= row["cells"]:
                break
            chosen.append(i)
            cells += len(np.unique(truth)) - 1
        items = [(f"pool{i}", pool[i][0], pool[i][1]) for i in chosen]
        job = finetune(items, base="nuclei", out_dir=work / f"scratch{row['round']}",
                       minutes=args.minutes, threads=2, model_name=f"scratch{row['round']}",
                       description="benchmarks/label.py from-scratch labels (the truth)")
        if job.wait() != "done":
            raise SystemExit(job.error)
        entry = {"after_round": row["round"], "images": len(chosen), "cells": cells,
                 "edits": cells, "finetune_s": round(job.elapsed, 1), **score(str(job.card), held)}
        baselines.append(entry)
        print(json.dumps(entry), flush=True)
    return {"rounds": rounds, "baselines": baselines, "work": str(work)}


def summary(result: dict) -> dict:
    """Edits ours needs to reach each baseline's F1, and the ratio to the baseline's edits."""
    out = []
    for b in result["baselines"]:
        reach = next((r for r in result["rounds"] if r["f1"] >= b["f1"]), None)
        out.append({"baseline_after_round": b["after_round"], "baseline_f1": b["f1"],
                    "baseline_edits": b["edits"],
                    "ours_round": None if reach is None else reach["round"],
                    "ours_edits": None if reach is None else reach["total_edits"],
                    "ratio": None if reach is None else round(reach["total_edits"] / b["edits"], 3)})
    return {"reach": out,
            "max_finetune_s": max((r["finetune_s"] for r in result["rounds"][1:]), default=None)}


def table(result: dict) -> str:
    lines = ["| round | edits (total) | images touched | cells in them | edits / cell | "
             "labels F1 | fine-tune s | held-out F1@0.5 | mean AP | scratch: cells = edits | "
             "scratch F1@0.5 | scratch mean AP |", "|" + "---|" * 12]
    base = {b["after_round"]: b for b in result["baselines"]}
    for r in result["rounds"]:
        b = base.get(r["round"])
        lines.append(
            f"| {r['round']} | {r['edits']} ({r['total_edits']}) | {r['images']} | {r['cells']} | "
            f"{r.get('edits_per_cell', '-')} | {r.get('training_labels_f1', '-')} | "
            f"{r.get('finetune_s', '-')} | {r['f1']} | {r['map']} | "
            + (f"{b['edits']} | {b['f1']} | {b['map']} |" if b else "- | - | - |"))
    for s in result["summary"]["reach"]:
        lines.append("")
        lines.append(
            f"Scratch after round {s['baseline_after_round']} (F1 {s['baseline_f1']}, "
            f"{s['baseline_edits']} edits): "
            + ("not reached by our rounds" if s["ours_round"] is None else
               f"reached at our round {s['ours_round']} with {s['ours_edits']} edits "
               f"(ratio {s['ratio']})"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, tiny sets (smoke run)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--edits", type=int, default=40, help="edits per round")
    parser.add_argument("--minutes", type=float, default=2.0, help="fine-tune budget per round")
    parser.add_argument("--pool", type=int, default=16)
    parser.add_argument("--held", type=int, default=8)
    parser.add_argument("--baseline-last-only", action="store_true")
    parser.add_argument("--order", choices=("worst", "seed"), default="worst",
                        help="images the annotator starts: worst proposals first, or in seed "
                        "order (the images the from-scratch baseline labels)")
    parser.add_argument("--label", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.edits, args.minutes, args.pool, args.held = 1, 15, 0.2, 3, 2
        args.baseline_last_only = True
    start = time.perf_counter()
    result = run(args)
    result["summary"] = summary(result)
    result["settings"] = {**vars(args), "regime": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in REGIME.items()},
                          "side": 128 if args.quick else 256}
    result["machine"] = f"{platform.processor() or platform.machine()}, fine-tune on 2 threads"
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(table(result))
    name = "label" + (f"_{args.label}" if args.label else "_quick" if args.quick else "")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS / f'{name}.json'} ({result['wall_s']} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
