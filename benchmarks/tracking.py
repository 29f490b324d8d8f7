"""Tracking benchmark: cellscale vs btrack vs laptrack vs trackpy on simulated movies from two generators.

Usage::

    python benchmarks/tracking.py            # scenarios (gt + e2e) + division models (gt), speed test
    python benchmarks/tracking.py --quick    # 2 short scenarios, 1 movie per division model, small speed test
    python benchmarks/tracking.py --parts divisions --seeds 3 --methods cellscale laptrack

Two parts (``--parts``):

* ``scenarios``: :func:`cellscale.data.simulate_movie` movies (held-out seeds
  1000+; the tracker's motion constants were set on seeds 11-18), one per
  scenario (sparse, dense, fast, divisions, missed), each with the
  simulator's default division model (drawn at random per movie), in two
  modes: ``gt`` links the ground-truth masks with ids shuffled in every frame;
  ``e2e`` segments every raw frame with the shipped ``nuclei`` model, then
  links (the peers are linkers: they get the same cellscale masks).
* ``divisions``: ``gt`` mode, ``--seeds`` movies (held-out seeds 1000+; the
  division model's constants were developed on seeds 1-4 and 11-18) for every
  division model of two generators: ``simulate_movie`` with the division
  models of :data:`SIM_DIVISIONS`, and the independent agent-based generator
  ``benchmarks/movie_generators.py`` (``agent_movie``) with its
  ``DIVISION_MODELS``. Each row says which generator and which division model
  it was measured on.

Peers run in their own venvs (``--peers-dir``, default ``$CELLSCALE_PEERS`` or
``/work/peers``: ``btrack/``, ``laptrack/``, ``trackpy/``) through the runner
scripts ``benchmarks/peers/track_<peer>.py``, exchanging JSON; a peer without
a venv is skipped with a note. Each peer gets every mask's centroid and a
search radius of one median cell diameter and at most ``3`` missed frames;
laptrack's division cut-off is ``LAPTRACK_SPLIT`` diameters (its best on the
development movies, see README). Scores: TRA, DET and division F1 (BC(1),
±1 frame; BC(0) exact) from py-ctcmetrics via
:func:`cellscale.track.score_tracking`; per division model, TRA is the mean
over movies and division F1 is pooled (true/false/missed divisions summed
over movies). Speed: frames per second of the linking call (cellscale: the
whole :func:`cellscale.track.track` call, masks in → relabelled masks +
lineage out; peers: their linking call only, detections given). Prints
markdown tables and writes ``benchmarks/results/tracking.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cellscale.data import simulate_movie
from cellscale.data._ctc import check_lineage, lineage_from_labels, split_track_gaps
from cellscale.errors import InvalidImageError
from cellscale.track import score_tracking, track
from cellscale.track._features import frame_features
from cellscale.track._score import DEFINITION

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from movie_generators import DIVISION_MODELS, agent_movie  # noqa: E402 (after the path is set)

RESULTS = HERE / "results"
PEERS = ("btrack", "laptrack", "trackpy")
#: cellscale's configurations: the default, and (``--methods cellscale-textbook``) the fixed
#: textbook division model and threshold of earlier versions, for comparison.
OURS = {"cellscale": {}, "cellscale-textbook": {"learn_divisions": False, "division_cost": 1.5}}
SCENARIOS = {
    "sparse": {"density": 0.06},
    "dense": {"density": 0.35},
    "fast": {"motility": 5.0, "persistence": 0.9},
    "divisions": {"division_rate": 0.07},
    "missed": {"dropout_rate": 0.05},
}
MAX_GAP = 3
#: laptrack's splitting cut-off, in median cell diameters (chosen on development movies; README).
LAPTRACK_SPLIT = 1.0
#: Division models of ``simulate_movie`` in the ``divisions`` part.
SIM_DIVISIONS = {
    "anaphase": "anaphase",
    "half-round-bright": {"daughter_area": 0.5, "mitosis": "round", "brighten": 1.8, "spacing": 1.05},
    "large-apart": {"daughter_area": 0.9, "mitosis": "anaphase", "spacing": 1.6},
    "late-none": {"daughter_area": 0.6, "mitosis": "none", "late": 1.0, "spacing": 1.3},
    "random": "random",
}


def shuffle_ids(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Renumber each frame's cells at random (ids carry no identity)."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(labels)
    for t in range(labels.shape[0]):
        ids = np.unique(labels[t])
        ids = ids[ids > 0]
        lut = np.zeros(int(labels.max()) + 1, labels.dtype)
        lut[ids] = rng.permutation(ids.size) + 1
        out[t] = lut[labels[t]]
    return out


def segment_movie(image: np.ndarray) -> np.ndarray:
    from cellscale.segment import Segmenter

    seg = Segmenter("nuclei")
    return np.stack([seg(image[t]) for t in range(image.shape[0])]).astype(np.uint32)


def detections(masks: np.ndarray) -> dict:
    rows = {"t": [], "y": [], "x": [], "id": [], "area": []}
    for t in range(masks.shape[0]):
        f = frame_features(masks[t])
        rows["t"] += [t] * len(f)
        rows["y"] += f.pos[:, 0].tolist()
        rows["x"] += f.pos[:, 1].tolist()
        rows["id"] += f.labels.tolist()
        rows["area"] += f.area.tolist()
    return rows


def to_ctc(masks: np.ndarray, det: dict, track_of: list[int], parent: dict[int, int]):
    """Relabel ``masks`` by a peer's track ids; a CTC-valid labels + lineage (bad parent links dropped)."""
    out = np.zeros(masks.shape, np.uint32)
    t_arr, id_arr, tr = np.asarray(det["t"]), np.asarray(det["id"]), np.asarray(track_of)
    for t in range(masks.shape[0]):
        sel = t_arr == t
        if sel.any():
            lut = np.zeros(int(masks[t].max()) + 1, np.uint32)
            lut[id_arr[sel]] = tr[sel]
            out[t] = lut[masks[t]]
    lineage = lineage_from_labels(out)
    ends = dict(zip(lineage.label, lineage.end))
    ok = {c: p for c, p in parent.items() if c in ends and p in ends and ends[p] < lineage.set_index("label").begin[c]}
    lineage["parent"] = lineage["label"].map(ok).fillna(0).astype(np.int64)
    out, lineage = split_track_gaps(out, lineage, max_gap=None)
    check_lineage(out, lineage)
    return out, lineage, len(parent) - len(ok)


def run_peer(peer: str, python: Path, masks: np.ndarray, max_distance: float, env: dict,
             split: float = LAPTRACK_SPLIT) -> dict:
    det = detections(masks)
    det.update(shape=list(masks.shape[1:]), max_distance=max_distance, max_gap=MAX_GAP,
               split_distance=split * max_distance)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "detections.json").write_text(json.dumps(det))
        proc = subprocess.run([str(python), str(HERE / "peers" / f"track_{peer}.py"), tmp],
                              check=False, capture_output=True, text=True,
                              env={**os.environ, **env})
        if proc.returncode != 0:
            raise RuntimeError(f"{peer} failed:\n{proc.stderr[-2000:]}")
        res = json.loads((Path(tmp) / "result.json").read_text())
    labels, lineage, dropped = to_ctc(masks, det, res["track"], {int(k): v for k, v in res["parent"].items()})
    return {"labels": labels, "lineage": lineage, "seconds": res["seconds"], "version": res["version"],
            "dropped_parent_links": dropped}


def median_diameter(masks: np.ndarray) -> float:
    """Median equivalent diameter of the masks' objects (the peers' search radius)."""
    areas = np.concatenate([np.bincount(f.ravel())[1:] for f in masks])
    return float(np.median(2.0 * np.sqrt(areas[areas > 0] / np.pi)))


def summarise(rows: list[dict]) -> list[dict]:
    """Per generator, division model and method: mean TRA, pooled division F1."""
    out = []
    keys = sorted({(r["generator"], r["division_model"], r["method"]) for r in rows},
                  key=lambda k: (k[0], k[1], [*OURS, *PEERS].index(k[2])))
    for gen, model, method in keys:
        sel = [r for r in rows if (r["generator"], r["division_model"], r["method"]) == (gen, model, method)]
        tp, fp, fn = (sum(int(r[k]) for r in sel) for k in ("tp_div", "fp_div", "fn_div"))
        out.append({"generator": gen, "division_model": model, "method": method, "movies": len(sel),
                    "divisions": sum(r["divisions"] for r in sel), "TRA": float(np.mean([r["TRA"] for r in sel])),
                    "div_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
                    "tp": tp, "fp": fp, "fn": fn})
    return out


def synthetic_masks(n_cells: int, n_frames: int, seed: int = 0, diameter: int = 12) -> np.ndarray:
    """Disks on a jittered grid doing a random walk: a speed test, not an accuracy test."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells)))
    step = 2 * diameter
    size = side * step + 2 * diameter
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1).reshape(-1, 2)[:n_cells]
    pos = (grid * step + diameter * 1.5).astype(float) + rng.normal(0, 2, (n_cells, 2))
    r = diameter // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    dy, dx = yy[yy**2 + xx**2 <= r * r], xx[yy**2 + xx**2 <= r * r]
    out = np.zeros((n_frames, size, size), np.uint32)
    for t in range(n_frames):
        pos += rng.normal(0, 1.0, pos.shape)
        pos = np.clip(pos, r + 1, size - r - 2)
        ids = rng.permutation(n_cells) + 1
        py, px = np.rint(pos).astype(int).T
        out[t, (py[:, None] + dy).ravel(), (px[:, None] + dx).ravel()] = np.repeat(ids, dy.size)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peers-dir", type=Path, default=Path(os.environ.get("CELLSCALE_PEERS", "/work/peers")))
    p.add_argument("--btrack-config", type=Path, default=None)
    p.add_argument("--methods", nargs="+", default=["cellscale", *PEERS], choices=[*OURS, *PEERS])
    p.add_argument("--modes", nargs="+", default=["gt", "e2e"], choices=["gt", "e2e"],
                   help="modes of the scenarios part (the divisions part is gt only)")
    p.add_argument("--parts", nargs="+", default=["scenarios", "divisions"], choices=["scenarios", "divisions"])
    p.add_argument("--seeds", type=int, default=3, help="movies per division model")
    p.add_argument("--seed-base", type=int, default=1000,
                   help="first seed (1000+: held out; development used 1-4 and 11-18)")
    p.add_argument("--laptrack-split", type=float, default=LAPTRACK_SPLIT,
                   help="laptrack's splitting cut-off, in median cell diameters")
    p.add_argument("--no-speed", action="store_true", help="skip the speed test")
    p.add_argument("--out", type=Path, default=RESULTS / "tracking.json")
    args = p.parse_args()
    notes: list[str] = []
    pythons = {}
    for peer in PEERS:
        if peer in args.methods:
            py = args.peers_dir / peer / "bin" / "python"
            if py.is_file():
                pythons[peer] = py
            else:
                notes.append(f"{peer}: no venv at {args.peers_dir / peer}; skipped "
                             f"(see /work/shared/peers/RECIPES.md and benchmarks/README.md)")
    cfg = args.btrack_config or next((c for c in (args.peers_dir / "btrack_cell_config.json",
                                                  Path("/work/shared/peers/btrack_cell_config.json")) if c.is_file()),
                                     None)
    env = {"BTRACK_CONFIG": str(cfg)} if cfg else {}
    if "btrack" in pythons and not cfg:
        notes.append("btrack: no btrack_cell_config.json found; skipped")
        pythons.pop("btrack")
    shape, n_frames = ((192, 192), 16) if args.quick else ((320, 320), 40)
    movies = []  # (part, generator, division model / scenario, seed, kwargs, modes)
    if "scenarios" in args.parts:
        scenarios = dict(list(SCENARIOS.items())[:2]) if args.quick else SCENARIOS
        for k, (name, opts) in enumerate(scenarios.items()):
            movies.append(("scenarios", "simulate_movie", name, args.seed_base + k, opts, args.modes))
    if "divisions" in args.parts:
        n_seeds = 1 if args.quick else args.seeds
        for name, model in SIM_DIVISIONS.items():
            for k in range(n_seeds):
                movies.append(("divisions", "simulate_movie", name, args.seed_base + k,
                               {"division_model": model, "division_rate": 0.04}, ["gt"]))
        for name in DIVISION_MODELS:
            for k in range(n_seeds):
                # (quick: 16 frames; faster growth, so that cells divide within them)
                opts = {"division_model": name, **({"growth": 0.06} if args.quick else {})}
                movies.append(("divisions", "agent_movie", name, args.seed_base + k, opts, ["gt"]))
    rows = []
    for part, generator, name, seed, opts, modes in movies:
        t0 = time.perf_counter()
        if generator == "simulate_movie":
            sample = simulate_movie(shape=shape, n_frames=n_frames, seed=seed, **opts)
            gt, gt_lineage, image = sample.labels["nuclei"], sample.lineage, np.asarray(sample.image.data)
            drawn = sample.params["division_model"]
        else:
            movie = agent_movie(shape=shape, n_frames=n_frames, seed=seed, **opts)
            gt, gt_lineage, image, drawn = movie["labels"], movie["lineage"], movie["image"], movie["params"]
            drawn = drawn["division_ranges"]
        diam = median_diameter(gt)
        info = {"part": part, "generator": generator, "division_model": name, "seed": seed,
                "division_params": drawn, "cells_per_frame": float(np.mean([np.unique(f).size - 1 for f in gt])),
                "divisions": int((gt_lineage.parent[gt_lineage.parent > 0].value_counts() >= 2).sum()),
                "simulate_s": time.perf_counter() - t0}
        for mode in modes:
            masks = shuffle_ids(gt, seed=seed) if mode == "gt" else segment_movie(image)
            for method in args.methods:
                if method not in OURS and method not in pythons:
                    continue
                t1 = time.perf_counter()
                if method in OURS:
                    labels, lineage = track(masks, max_gap=MAX_GAP, **OURS[method])
                    seconds, version, dropped = time.perf_counter() - t1, "", 0
                    info_m = {"learned_division_model": lineage.attrs.get("division_model")}
                else:
                    try:
                        r = run_peer(method, pythons[method], masks, diam, env, split=args.laptrack_split)
                    except (RuntimeError, InvalidImageError) as exc:
                        notes.append(f"{method} on {generator}/{name}/{seed}/{mode}: {exc}")
                        continue
                    labels, lineage, seconds = r["labels"], r["lineage"], r["seconds"]
                    version, dropped, info_m = r["version"], r["dropped_parent_links"], {}
                sc = score_tracking(labels, lineage, gt, gt_lineage, tolerance=1)
                row = {"scenario": name, "mode": mode, "method": method, "TRA": sc["TRA"], "DET": sc["DET"],
                       "div_f1": sc["division_f1"], "BC0": sc["BC(0)"], "tp_div": sc["tp_div"],
                       "fp_div": sc["fp_div"], "fn_div": sc["fn_div"], "valid": sc["valid"],
                       "fps": n_frames / max(seconds, 1e-9), "seconds": seconds, "version": version,
                       "dropped_parent_links": dropped, **info, **info_m}
                rows.append(row)
                print(f"{generator[:5]} {name:18s} {seed} {mode:4s} {method:9s} TRA {row['TRA']:.4f} "
                      f"DET {row['DET']:.4f} divF1 {row['div_f1']:.3f} ({row['tp_div']}/{row['fp_div']}/"
                      f"{row['fn_div']}) fps {row['fps']:.1f}", file=sys.stderr, flush=True)
    speed = []
    for n_cells, frames in [] if args.no_speed else ([(1000, 10)] if args.quick else [(1000, 20), (10000, 6)]):
        masks = synthetic_masks(n_cells, frames)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        track(masks, divisions=True, timings=timings)
        sec = time.perf_counter() - t0
        speed.append({"cells_per_frame": n_cells, "frames": frames, "frame_shape": list(masks.shape[1:]),
                      "seconds": sec, "fps": frames / sec, "timings": timings})
    print("\n| scenario (simulate_movie) | mode | method | TRA | DET | div F1 (±1) | div F1 (exact) | frames/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if r["part"] == "scenarios":
            print(f"| {r['scenario']} | {r['mode']} | {r['method']} | {r['TRA']:.4f} | {r['DET']:.4f} | "
                  f"{r['div_f1']:.3f} | {r['BC0']:.3f} | {r['fps']:.1f} |")
    summary = summarise([r for r in rows if r["part"] == "divisions"])
    if summary:
        print("\n| generator | division model | movies | divisions | method | TRA (mean) | div F1 (pooled) "
              "| found / false / missed |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in summary:
            print(f"| {r['generator']} | {r['division_model']} | {r['movies']} | {r['divisions']} | {r['method']} "
                  f"| {r['TRA']:.4f} | {r['div_f1']:.3f} | {r['tp']} / {r['fp']} / {r['fn']} |")
    print("\n| cells/frame | frame | frames | seconds | frames/s (cellscale.track) |")
    print("| --- | --- | --- | --- | --- |")
    for s in speed:
        print(f"| {s['cells_per_frame']} | {s['frame_shape'][0]}² | {s['frames']} "
              f"| {s['seconds']:.2f} | {s['fps']:.1f} |")
    for n in notes:
        print(f"note: {n}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "rows": rows, "division_summary": summary, "speed": speed, "notes": notes, "definition": DEFINITION,
        "peer_settings": {"max_distance": "median cell diameter (ground truth masks)", "max_gap": MAX_GAP,
                          "laptrack_split_distance": f"{args.laptrack_split} x median cell diameter"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "loadavg": os.getloadavg()},
    }, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
