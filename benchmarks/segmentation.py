"""Segmentation accuracy and speed: cellscale vs Cellpose 3 vs StarDist vs classical.

Held-out simulated sets (seeds disjoint from training; see ``HELD_OUT``):
nuclei (DNA, ``labels["nuclei"]``) and tissue whole-cell (DNA + membrane,
``labels["cells"]``). Cellpose 3 and StarDist are trained from scratch, each
in its own venv, on the same training images as the shipped models
(``training/make_data.py``: same seeds and sizes), under one stated wall-time
budget each. Every method runs on every set in its own subprocess (timings,
peak memory); accuracy is scored here with :mod:`cellscale.metrics` only.
A last figure times the whole ``cellscale segment`` command on a 2048² image.

Prints a markdown table and writes ``benchmarks/results/segmentation.json``.

Usage::

    python benchmarks/segmentation.py [--quick] [--peers-dir DIR] [--peer-train-minutes 15]
        [--retrain] [--methods cellscale classical cellpose3 stardist] [--sets nuclei tissue]
        [--our-model PATH] [--our-cells-model PATH] [--train-data-nuclei DIR] [--train-data-tissue DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from cellscale.data import load_sample, save_sample, simulate_nuclei, simulate_tissue
from cellscale.metrics import DEFINITION, aggregate, match_instances

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PEER_SCRIPTS = {"cellpose3": "cellpose3_runner.py", "stardist": "stardist_runner.py"}
PEER_VENVS = {"cellpose3": "cellpose3", "stardist": "stardist"}


@dataclass(frozen=True)
class SetSpec:
    kind: str  # simulator / make_data kind
    truth: str  # key of sample.labels scored
    channels: tuple[str, ...]  # image channels every method gets, in this order
    our_model: str  # shipped model name
    compartment: str | None
    seed: int  # first held-out seed (training uses 10_000+, make_data's test 900_000+)
    n: int
    size: int


HELD_OUT = {
    "nuclei": SetSpec("nuclei", "nuclei", ("DNA",), "nuclei", None, 500_000, 16, 512),
    "tissue": SetSpec("tissue", "cells", ("DNA", "membrane"), "cells", "cells", 600_000, 8, 512),
}
QUICK = {"nuclei": (2, 256), "tissue": (1, 256)}  # images, size
DEFAULT_MINUTES = 15.0
WHOLE_SEED, WHOLE_SIZE, WHOLE_SIZE_QUICK = 700_000, 2048, 512
#: Runs of the whole command; the median is reported.
WHOLE_RUNS = 5
#: cellscale/classical calls per image, the median timed: one call takes ~0.1 s, short
#: enough for a brief stall of a shared machine to weigh; a peer's call takes 0.3-2 s.
CALLS_PER_IMAGE = 3


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- data
def _export(samples: list[Path], spec: SetSpec, out: Path) -> Path:
    """Write the set folder the runners read (``images/``, ``labels/``; see peers/runner_io.py)."""
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for folder in samples:
        s = load_sample(folder)
        img = s.image
        if "c" in img.axes:
            names = list(img.channel_names)
            data = np.stack([np.asarray(img.data)[names.index(c)] for c in spec.channels])
        else:
            data = np.asarray(img.data)
        tifffile.imwrite(out / "images" / f"{folder.name}.tif", data)
        tifffile.imwrite(out / "labels" / f"{folder.name}.tif",
                         np.asarray(s.labels[spec.truth]).astype(np.uint32), compression="zlib")
    (out / "done.json").write_text(json.dumps({"samples": [str(p) for p in samples]}, indent=1))
    return out


def held_out_set(spec: SetSpec, root: Path) -> Path:
    """Simulate (or reuse) the held-out set; returns its folder (``samples/``, ``images/``, ``labels/``)."""
    out = root / f"heldout_{spec.kind}_seed{spec.seed}_n{spec.n}_{spec.size}"
    if (out / "done.json").is_file():
        return out
    make = simulate_nuclei if spec.kind == "nuclei" else simulate_tissue
    samples = []
    for seed in range(spec.seed, spec.seed + spec.n):
        folder = out / "samples" / f"{spec.kind}_{seed}"
        if not (folder / "params.json").is_file():
            save_sample(make(shape=(spec.size, spec.size), seed=seed), folder)
        samples.append(folder)
    return _export(samples, spec, out)


_TRAINING_SETS: dict[tuple, Path] = {}


def _samples_in(folders: list[Path], kind: str) -> list[Path]:
    """Saved samples: folders that are samples, or the ``<kind>_*`` samples inside them."""
    out: list[Path] = []
    for folder in folders:
        if (folder / "params.json").is_file():
            out.append(folder)
        else:
            out += sorted(p for p in folder.glob(f"{kind}_*") if (p / "params.json").is_file())
    return out


def training_set(spec: SetSpec, n_train: int | None, given: Path | None, root: Path,
                 card: dict | None) -> Path:
    """The shipped model's training images in runner layout (cached).

    ``given``: the ``train/`` folder ``training/make_data.py`` wrote; else the
    folders the model card names, when they exist here; else make_data.py
    regenerates the images (same seeds and sizes) under ``root``.
    """
    key = (spec.kind, n_train, given)
    if key in _TRAINING_SETS:
        return _TRAINING_SETS[key]
    data = ((card or {}).get("training") or {}).get("data") or {}
    folders = [Path(f) for f in data.get("folders") or []]
    if given is not None:
        samples = _samples_in([given], spec.kind)
    elif folders and all(f.is_dir() for f in folders):
        samples = _samples_in(folders, spec.kind)
        log(f"  training images: {len(samples)} samples from the model card's folders")
    else:
        if n_train is None and data.get("n_train_images") is not None:
            n_train = data["n_train_images"] + data.get("n_val_images", 0)
        cmd = [sys.executable, str(REPO / "training" / "make_data.py"), spec.kind,
               str(root / "make_data"), "--test", "0"]
        if n_train is not None:
            cmd += ["--train", str(n_train)]
        log(f"  regenerating {spec.kind} training images: {' '.join(cmd[1:])}")
        subprocess.run(cmd, check=True)
        samples = _samples_in([root / "make_data" / "train"], spec.kind)
    samples = samples[:n_train] if n_train is not None else samples
    if not samples:
        raise SystemExit(f"no {spec.kind} training samples found (given: {given}, card: {folders})")
    digest = hashlib.sha1("\n".join(str(p.resolve()) for p in samples).encode()).hexdigest()[:8]
    out = root / f"train_{spec.kind}_n{len(samples)}_{digest}"
    if not (out / "done.json").is_file():
        _export(samples, spec, out)
    _TRAINING_SETS[key] = out
    return out


# --------------------------------------------------------------------------- methods
def peer_python(peers_dir: Path, peer: str) -> Path | None:
    py = peers_dir / PEER_VENVS[peer] / "bin" / "python"
    return py if py.is_file() else None


def train_peer(peer: str, py: Path, kind: str, train_dir: Path, minutes: float,
               args: argparse.Namespace) -> Path:
    """Train (or reuse) a peer model; returns its folder (with ``train_info.json``)."""
    tag = "_quick" if args.quick else ""
    model_dir = RESULTS / "peers" / f"{peer}_{kind}{tag}"
    info_path = model_dir / "train_info.json"
    if info_path.is_file() and not args.retrain:
        info = json.loads(info_path.read_text())
        if info.get("budget_minutes") == minutes and \
                info.get("train_data") == str(train_dir):
            log(f"  reusing {peer} {kind} model ({info['train_wall_s']:.0f} s of training)")
            return model_dir
        log(f"  {peer} {kind}: cached model has another budget or training set; retraining")
    shutil.rmtree(model_dir, ignore_errors=True)
    cmd = [str(py), str(HERE / "peers" / PEER_SCRIPTS[peer]), "train", str(train_dir),
           str(model_dir), "--minutes", str(minutes)]
    if args.quick:  # a few optimiser steps on small patches, only to prove the path works
        cmd += (["--epochs", "1", "--nimg-per-epoch", "4", "--batch-size", "2"] if peer == "cellpose3"
                else ["--steps", "2", "--steps-per-epoch", "2", "--patch", "128", "--batch-size", "2",
                      "--threshold-images", "1", "--nms", "0.4"])
    log(f"  training {peer} on {kind} ("
        + ("--quick: a few fixed steps)" if args.quick else f"{minutes:g} min wall-time budget)"))
    subprocess.run(cmd, check=True, stdout=sys.stdout, stderr=subprocess.STDOUT,
                   env={**os.environ, "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "2"})
    info = json.loads(info_path.read_text())
    info["train_data"] = str(train_dir)
    info_path.write_text(json.dumps(info, indent=2))
    return model_dir


def our_model_spec(spec: SetSpec, args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``(model, note)`` cellscale uses on a set: a given path, the shipped model, or classical."""
    given = args.our_model if spec.kind == "nuclei" else args.our_cells_model
    if given:
        return str(given), None
    from cellscale.models import available_models

    if spec.our_model in available_models():
        return spec.our_model, None
    if spec.kind == "nuclei":
        return "classical", (f"shipped model {spec.our_model!r} is not installed: the 'cellscale' "
                             "row ran the classical pipeline (pass --our-model PATH)")
    return None, (f"shipped model {spec.our_model!r} is not installed and classical is nuclei-only: "
                  "no 'cellscale' row (pass --our-cells-model PATH)")


def budget_minutes(args: argparse.Namespace, card: dict | None) -> float:
    """Peer training budget: as given, else our model's own budget (card), else the default."""
    if args.peer_train_minutes is not None:
        return args.peer_train_minutes
    config = ((card or {}).get("training") or {}).get("config") or {}
    return float(config.get("max_minutes") or DEFAULT_MINUTES)


def our_card(spec: SetSpec, args: argparse.Namespace) -> dict | None:
    """Model card of cellscale's model for a set (None for classical or when missing)."""
    model = our_model_spec(spec, args)[0]
    if model in (None, "classical"):
        return None
    from cellscale.models import model_info

    try:
        return model_info(model).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - the benchmark still runs without a card
        log(f"  NOTE could not read the card of {model}: {exc}")
        return None


def run_method(method: str, spec: SetSpec, set_dir: Path, out: Path, model: str,
               py: Path | None = None) -> dict:
    """Run one method on one set in a subprocess; returns its ``result.json``."""
    shutil.rmtree(out, ignore_errors=True)
    if method in PEER_SCRIPTS:
        cmd = [str(py), str(HERE / "peers" / PEER_SCRIPTS[method]), "predict", model,
               str(set_dir), str(out)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", spec.kind,
               "--worker-model", model, "--worker-set", str(set_dir), "--worker-out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0 or not (out / "result.json").is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        return {"error": "\n".join(tail)}
    return json.loads((out / "result.json").read_text())


def worker(args: argparse.Namespace) -> None:
    """Subprocess body for cellscale (any model, incl. classical) on one set."""
    import inspect

    from cellscale import segment as seg_module

    spec = HELD_OUT[args.worker]
    sys.path.insert(0, str(HERE / "peers"))
    from runner_io import write_json, write_labels

    options = {"model": args.worker_model, "channels": spec.channels}
    if spec.compartment:
        options["compartment"] = spec.compartment
    segmenter = seg_module.Segmenter(**options)
    call = segmenter if callable(segmenter) else segmenter.segment
    samples = sorted((Path(args.worker_set) / "samples").iterdir())
    images = [load_sample(p).image for p in samples]
    out = Path(args.worker_out)
    call(images[0])  # warm-up (session start, allocations), not timed
    per_image = []
    for folder, image in zip(samples, images):
        runs = []
        for _ in range(CALLS_PER_IMAGE):
            t0 = time.perf_counter()
            labels = call(image)
            runs.append((time.perf_counter() - t0, dict(segmenter.timings)))
        total, t = sorted(runs, key=lambda run: run[0])[len(runs) // 2]  # the median call
        write_labels(out, folder.name, np.asarray(getattr(labels, "data", labels)))
        per_image.append({"name": folder.name, "shape": list(image.shape[-2:]),
                          "normalise_s": t.get("normalise"), "network_s": t.get("network"),
                          "postprocess_s": t.get("postprocess"), "total_s": total,
                          "calls_total_s": [round(r[0], 4) for r in runs]})
    import cellscale

    write_json(out / "result.json", {
        "method": "cellscale", "model": args.worker_model, "options": options,
        "per_image": per_image, "segmenter_signature": str(inspect.signature(seg_module.Segmenter)),
        "timing_note": f"Segmenter.timings of the median of {CALLS_PER_IMAGE} calls per image "
                       "(by wall time); total = wall time of that call",
        "versions": {"cellscale": cellscale.__version__},
    })


# --------------------------------------------------------------------------- scoring
def score(result: dict, set_dir: Path, pred_dir: Path) -> dict:
    """Accuracy (cellscale.metrics, pooled over images) and speed of one method on one set."""
    matches = []
    for item in result["per_image"]:
        true = tifffile.imread(set_dir / "labels" / f"{item['name']}.tif")
        pred = tifffile.imread(pred_dir / f"{item['name']}.tif")
        matches.append(match_instances(true, pred))
    total = aggregate(matches)
    mp = sum(h * w for h, w in (i["shape"] for i in result["per_image"])) / 1e6

    def per_mp(key: str) -> float | None:
        values = [i[key] for i in result["per_image"]]
        return None if any(v is None for v in values) else sum(values) / mp

    s_total = per_mp("total_s")
    return {
        "f1_at_0.5": total.f1_at(0.5), "ap_at_0.5": total.ap_at(0.5), "mean_ap_0.5_0.95": total.mean_ap,
        "s_per_mp": {"normalise": per_mp("normalise_s"), "network": per_mp("network_s"),
                     "postprocess": per_mp("postprocess_s"), "total": s_total},
        "mp_per_s": 1.0 / s_total if s_total else None, "megapixels": mp,
        "peak_rss_mib": result["peak_rss_mib"], "metrics": total.to_dict(),
        "per_image": result["per_image"],
        **{k: result[k] for k in ("model", "timing_note", "versions", "train_info") if k in result},
    }


def whole_command(model: str, root: Path, quick: bool, diameter: float | None = None) -> dict:
    """Median wall time of ``cellscale segment IN -o OUT`` (start-up, read, segment, write).

    The image is simulated nuclei (seed :data:`WHOLE_SEED`) of the
    simulator's default size (about 28 px across, so ``auto`` shrinks them
    a little), or of ``diameter`` pixels.

    Run :data:`WHOLE_RUNS` times on one image after one untimed run; the
    machine is shared, so the median and every run's time are reported. The
    command runs as a user's would: Python may cache compiled modules
    (``PYTHONDONTWRITEBYTECODE`` is dropped; with it, an editable install
    recompiles cellscale's modules on every start, ~0.15 s) and the untimed
    run has warmed the file cache.
    """
    size = WHOLE_SIZE_QUICK if quick else WHOLE_SIZE
    tag = "" if diameter is None else f"_d{diameter:g}"
    image = root / f"whole_nuclei_seed{WHOLE_SEED}_{size}{tag}.tif"
    truth = image.with_name(image.stem + "_labels.tif")
    if not truth.is_file():
        options = {} if diameter is None else {"diameter": diameter}
        s = simulate_nuclei(shape=(size, size), seed=WHOLE_SEED, **options)
        tifffile.imwrite(image, np.asarray(s.image.data))
        tifffile.imwrite(truth, np.asarray(s.labels["nuclei"]).astype(np.uint32), compression="zlib")
    exe = Path(sys.executable).with_name("cellscale")
    out = RESULTS / "whole_command_labels.tif"
    out.unlink(missing_ok=True)
    cmd = [str(exe), "segment", str(image), "-o", str(out)]
    if model != "nuclei":
        cmd += ["--model", model]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    walls = []
    for run in range(WHOLE_RUNS + 1):
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if run:
            walls.append(time.perf_counter() - t0)
        if proc.returncode != 0 or not out.is_file():
            return {"command": " ".join(cmd[1:]), "size": size,
                    "error": (proc.stderr or proc.stdout).strip()[-600:]}
    wall = float(np.median(walls))
    row = {"command": " ".join(cmd[1:]), "size": size, "wall_s": wall, "wall_s_runs": walls,
           "mp_per_s": size * size / 1e6 / wall, "inside": proc.stdout.strip()[-400:]}
    m = match_instances(tifffile.imread(truth), tifffile.imread(out))
    row.update({"f1_at_0.5": m.f1_at(0.5), "n_true": m.n_true, "n_pred": m.n_pred})
    return row


# --------------------------------------------------------------------------- report
def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "—" if v is None else format(v, spec)


def table(results: dict) -> str:
    header = ("| set | method | F1@0.5 | AP@0.5 | mAP@.5:.95 | net s/MP | post s/MP | total s/MP "
              "| MP/s | cellscale ÷ method | peak MiB |")
    lines = [header, "|" + "---|" * 11]
    for kind, methods in results.items():
        ours = methods.get("cellscale", {}).get("mp_per_s")
        for name, r in methods.items():
            if "error" in r or "skipped" in r:
                lines.append(f"| {kind} | {name} | {r.get('skipped') or 'failed'} |" + " |" * 8)
                continue
            s = r["s_per_mp"]
            if name == "cellscale" and r.get("model") == "classical":
                name = "cellscale (classical fallback)"
            ratio = ours / r["mp_per_s"] if ours and r["mp_per_s"] else None
            lines.append(
                f"| {kind} | {name} | {_fmt(r['f1_at_0.5'])} | {_fmt(r['ap_at_0.5'])} "
                f"| {_fmt(r['mean_ap_0.5_0.95'])} | {_fmt(s['network'], '.2f')} "
                f"| {_fmt(s['postprocess'], '.2f')} | {_fmt(s['total'], '.2f')} "
                f"| {_fmt(r['mp_per_s'], '.3f')} | {_fmt(ratio, '.2f')} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny smoke run (1-2 small images, a few steps)")
    p.add_argument("--peers-dir", type=Path, default=Path(os.environ.get("CELLSCALE_PEERS", "/work/peers")))
    p.add_argument("--peer-train-minutes", type=float, default=None,
                   help="wall-time budget per peer model (default: the max_minutes our model "
                        f"trained under, from its card; else {DEFAULT_MINUTES:g})")
    p.add_argument("--retrain", action="store_true", help="train peers even when a cached model exists")
    p.add_argument("--methods", nargs="+", default=["cellscale", "classical", "cellpose3", "stardist"],
                   choices=["cellscale", "classical", "cellpose3", "stardist"])
    p.add_argument("--sets", nargs="+", default=list(HELD_OUT), choices=list(HELD_OUT))
    p.add_argument("--our-model", help="cellscale model for nuclei (default: shipped 'nuclei')")
    p.add_argument("--our-cells-model", help="cellscale model for tissue (default: shipped 'cells')")
    p.add_argument("--train-data-nuclei", type=Path, help="make_data.py's train/ folder (else regenerated)")
    p.add_argument("--train-data-tissue", type=Path, help="make_data.py's train/ folder (else regenerated)")
    p.add_argument("--n-train", type=int, default=None,
                   help="training images per kind (default: make_data.py's; --quick: 4)")
    p.add_argument("--no-whole-command", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "segmentation.json")
    for hidden in ("--worker", "--worker-model", "--worker-set", "--worker-out"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    t_start = time.perf_counter()
    data_root = RESULTS / "data"
    data_root.mkdir(parents=True, exist_ok=True)
    n_train = 4 if args.quick and args.n_train is None else args.n_train
    notes, results, trained, specs, cards, budgets = [], {}, {}, {}, {}, {}

    def note(text: str) -> None:
        log(f"  NOTE {text}")
        notes.append(text)

    for kind in args.sets:
        spec = HELD_OUT[kind]
        if args.quick:
            spec = SetSpec(**{**spec.__dict__, "n": QUICK[kind][0], "size": QUICK[kind][1]})
        specs[kind] = spec
        cards[kind] = our_card(spec, args)
        log(f"[{kind}] held-out set: {spec.n} images {spec.size}², seeds {spec.seed}..{spec.seed + spec.n - 1}")
        set_dir = held_out_set(spec, data_root)
        results[kind] = {}
        for method in args.methods:
            out = RESULTS / "predictions" / kind / method
            py = None
            if method in PEER_SCRIPTS:
                py = peer_python(args.peers_dir, method)
                if py is None:
                    note(f"{method}: no venv at {args.peers_dir / PEER_VENVS[method]}; skipped")
                    results[kind][method] = {"skipped": "no venv"}
                    continue
                given = args.train_data_nuclei if kind == "nuclei" else args.train_data_tissue
                train_dir = training_set(spec, n_train, given, data_root, cards[kind])
                budgets[kind] = budget_minutes(args, cards[kind])
                model = str(train_peer(method, py, kind, train_dir, budgets[kind], args))
                trained[f"{method}/{kind}"] = json.loads((Path(model) / "train_info.json").read_text())
            elif method == "classical":
                if spec.kind != "nuclei":
                    results[kind][method] = {"skipped": "nuclei-only"}
                    continue
                model = "classical"
            else:
                model, why = our_model_spec(spec, args)
                if why:
                    note(f"{kind}: {why}")
                if model is None:
                    results[kind][method] = {"skipped": "no model"}
                    continue
            log(f"  running {method} ({model}) on {kind}")
            r = run_method(method, spec, set_dir, out, model, py)
            results[kind][method] = r if "error" in r else score(r, set_dir, out)
            if "error" in r:
                log("    " + r["error"].replace("\n", "\n    "))
                note(f"{method} on {kind} failed: {(r['error'].splitlines() or ['?'])[-1]}")
    whole = None
    if not args.no_whole_command:
        model = our_model_spec(HELD_OUT["nuclei"], args)[0]
        log(f"[whole command] cellscale segment ({model}) on one simulated nuclei image")
        whole = whole_command(model, data_root, args.quick)
        if "error" in whole:
            notes.append(f"whole command failed: {(whole['error'].splitlines() or ['?'])[-1]}")
    report = table(results)
    log("\n" + report)
    if whole:
        log(f"\nwhole command `cellscale {whole['command']}` ({whole['size']}²): "
            + (f"FAILED: {whole['error'][-200:]}" if "error" in whole else
               f"median of {len(whole['wall_s_runs'])} runs {whole['wall_s']:.2f} s "
               f"(runs: {', '.join(f'{w:.2f}' for w in whole['wall_s_runs'])}) -> "
               f"{whole['mp_per_s']:.3f} MP/s, F1@0.5 {whole['f1_at_0.5']:.3f} "
               f"({whole['n_true']} true, {whole['n_pred']} predicted objects)"))
    for text in notes:
        log(f"NOTE: {text}")
    import cellscale

    payload = {
        "benchmark": "segmentation", "quick": args.quick, "metric_definition": DEFINITION,
        "columns": {"F1@0.5 / AP@0.5 / mAP": "cellscale.metrics, TP/FP/FN pooled over the set's images",
                    "s_per_mp": "seconds per megapixel (sum over images / total MP), after one warm-up call",
                    "peak_rss_mib": "ru_maxrss of the method's own subprocess (loading + inference)",
                    "cellscale ÷ method": "throughput ratio, total MP/s of cellscale over the method's"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "held_out": {k: s.__dict__ for k, s in specs.items()},
        "training": {"make_data": "training/make_data.py (TRAIN_SEED=10000, sizes 256-512)",
                     "n_train": n_train, "peer_train_minutes": budgets,
                     "peers": trained, "our_model_cards": cards},
        "versions": {"cellscale": cellscale.__version__, "numpy": np.__version__},
        "results": results, "whole_command": whole, "notes": notes, "table": report,
        "benchmark_wall_s": time.perf_counter() - t_start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str))
    log(f"\nwrote {args.out} ({payload['benchmark_wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
