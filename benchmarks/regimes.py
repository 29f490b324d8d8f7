"""Segmentation accuracy per regime: cellscale vs classical vs Cellpose 3, one factor at a time.

Each regime is a small held-out set from :func:`cellscale.data.simulate_nuclei`
(seeds 950000+, disjoint from training's 10000+ and ``make_data.py``'s test
900000+) that fixes one factor and draws the rest per image:

- ``diameter``: nucleus diameters 6, 8, 12, 20, 40, 60, 90, 120, 150 px; the
  image side grows with the diameter so an image holds ~30 nuclei or more
  (256 .. 1536 px);
- ``brightness``: ratio of the brightest to the dimmest nucleus 1x, 10x, 100x;
- ``texture``: none, fine speckles, heavy, heavy with dark/bright nucleoli and holes;
- ``shape``: elongated, bent, lobed, overlapping nuclei;
- ``cytoplasm``: unlabelled cytoplasm/autofluorescence around nuclei off, dim, strong;
- ``illumination``: strongly uneven illumination and vignetting;
- ``camera``: sCMOS, EMCCD (at the default SNR and at SNR 3-10), 8-bit JPEG
  (quality 30), saturated (clipping at 0.8 of a typical nucleus);
- ``mix``: every option drawn per image as in the generalist training data
  (:func:`cellscale.data.generalist_options`; sides 256-1024, densities from 0.03).

Outside the diameter group, diameters are drawn in 16-48 px; density is drawn
in 0.15-0.45 everywhere (so every image has enough nuclei). A regime whose
option the simulator does not have is reported as skipped, never approximated.

Methods: cellscale's model with ``diameter="auto"`` (the default, untuned),
the same model given each image's true diameter (median equivalent-disc
diameter of its true objects, Cellpose's definition), the classical
pipeline, and Cellpose 3 trained from scratch on the same training data
(``benchmarks/peers/cellpose3_runner.py``, Cellpose's rescaling recipe) given
the true diameter or its own size model's estimate, and StarDist 2D trained
from scratch (``benchmarks/peers/stardist_runner.py``; it has no size model:
``stardist`` runs at the image's own scale, ``stardist-true`` rescales each
image so its true diameter becomes the training images' median). Accuracy:
F1@0.5 and mean AP@0.5:0.95 from :mod:`cellscale.metrics`, pooled over a regime's images.
``--throughput`` adds the whole ``cellscale segment`` command on a 2048²
image (``segmentation.py``'s figure) and Cellpose's process on the same image.

Prints a markdown table and writes ``benchmarks/results/regimes[_LABEL].json``.

Usage::

    python benchmarks/regimes.py [--quick] [--images 3] [--groups diameter camera]
        [--model nuclei] [--methods auto true classical cellpose3-true cellpose3-size stardist stardist-true]
        [--cellpose-model DIR] [--cellpose-images K] [--cellpose run|reuse] [--threads T]
        [--throughput | --only-throughput] [--label before]
    python benchmarks/regimes.py --train-cellpose TRAIN_DIR [--peer-train-minutes 35]
    python benchmarks/regimes.py --train-stardist TRAIN_DIR [TRAIN_DIR ...] [--peer-train-minutes 40]
    python benchmarks/regimes.py --compare results/regimes_before.json results/regimes_after.json
        [results/regimes_cellpose_true.json ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from cellscale.data import generalist_options, load_sample, simulate_nuclei
from cellscale.data._nuclei import NucleiOptions
from cellscale.metrics import DEFINITION, aggregate, match_instances

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = RESULTS / "data" / "regimes"
CELLPOSE_MODEL = RESULTS / "peers" / "cellpose3_generalist"
SEED0 = 950_000
#: Nuclei an image should hold at the lower density bound; sides are clamped to this range.
TARGET_NUCLEI, SIDE_RANGE, DENSITY = 30, (256, 1536), (0.15, 0.45)
DIAMETERS = (6, 8, 12, 20, 40, 60, 90, 120, 150)
OTHER_DIAMETERS = (16.0, 48.0)
#: One optimiser step per Cellpose "epoch": a one-thread budget buys ~10^2 steps, and
#: train_seg's learning rate warms up over the first 10 epochs, so 8-step epochs
#: would spend the whole run warming up.
CELLPOSE_TRAIN_ARGS = ("--nimg-per-epoch", "8", "--batch-size", "8", "--size-seconds", "150")
#: StarDist for nuclei of 6-150 px at native scale: grid (4, 4) puts the U-Net at a quarter of
#: the resolution (16x fewer pixels per step, a field of view that spans ~150 px nuclei, as
#: StarDist's docs advise for large objects), 256² patches hold whole large nuclei, 32 rays
#: (the default) keep the targets and the NMS cheap.
STARDIST_TRAIN_ARGS = ("--n-rays", "32", "--grid", "4", "4", "--patch", "256", "--batch-size", "4",
                       "--steps-per-epoch", "50", "--threshold-images", "4")
STARDIST_MODEL = RESULTS / "peers" / "stardist_generalist"
#: Option key of the regime drawn like the generalist training data.
MIX = "generalist_options"
METHODS = ("auto", "true", "classical", "cellpose3-true", "cellpose3-size", "stardist", "stardist-true")


@dataclass(frozen=True)
class Regime:
    """One held-out set: ``options`` for simulate_nuclei, fixed by the regime."""

    group: str
    name: str
    options: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return f"{self.group}-{self.name}".replace(" ", "_").replace("/", "_")

    @property
    def max_diameter(self) -> float:
        if MIX in self.options:
            return 150.0
        d = self.options.get("diameter", OTHER_DIAMETERS)
        return float(max(d) if isinstance(d, (tuple, list)) else d)

    @property
    def side(self) -> int:
        if MIX in self.options:
            return 1024  # the largest side generalist_options draws
        area = TARGET_NUCLEI * math.pi / 4 * self.max_diameter**2 / DENSITY[0]
        side = 32 * math.ceil(math.sqrt(area) / 32)
        return int(min(max(side, SIDE_RANGE[0]), SIDE_RANGE[1]))


def all_regimes() -> list[Regime]:
    """The regimes, in report order; options left out stay at the simulator's defaults."""
    out = [Regime("diameter", f"{d} px", {"diameter": float(d)}) for d in DIAMETERS]
    out += [Regime("brightness", f"{k}x", {"brightness_range": float(k)}) for k in (1, 10, 100)]
    out += [
        Regime("texture", "none", {"texture": 0.0}),
        Regime("texture", "fine speckles", {"texture": 1.0, "speckle": 3.0}),
        Regime("texture", "heavy", {"texture": 3.0}),
        Regime("texture", "heavy+nucleoli+holes",
               {"texture": 3.0, "nucleoli": (-0.9, 2.0), "vacuoles": 0.5}),
        Regime("shape", "elongated", {"elongation": 1.0}),
        Regime("shape", "bent", {"bent_fraction": 0.5}),
        Regime("shape", "lobed", {"lobed_fraction": 0.4}),
        Regime("shape", "overlapping", {"overlap": 0.3}),
        Regime("cytoplasm", "off", {}),
        Regime("cytoplasm", "dim", {"cytoplasm": 0.08}),
        Regime("cytoplasm", "strong", {"cytoplasm": 0.3}),
        Regime("illumination", "uneven", {"illumination": 0.5, "vignetting": 0.6}),
        Regime("camera", "sCMOS", {"camera": "scmos"}),
        Regime("camera", "EMCCD", {"camera": "emccd"}),
        Regime("camera", "EMCCD SNR 3-10", {"camera": "emccd", "snr": (3.0, 10.0)}),
        Regime("camera", "8-bit JPEG q30", {"dtype": "uint8", "jpeg_quality": 30}),
        Regime("camera", "saturated", {"saturation": 0.8}),
        Regime("mix", "generalist draw", {MIX: True}),
    ]
    return out


def unsupported(regime: Regime) -> list[str]:
    """Options of the regime that :class:`NucleiOptions` does not have."""
    return sorted(set(regime.options) - set(NucleiOptions.model_fields) - {MIX})


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- data
def true_diameter(labels: np.ndarray) -> float:
    """Median equivalent-disc diameter of the objects (Cellpose's ``utils.diameters``)."""
    counts = np.bincount(labels.ravel())[1:]
    counts = counts[counts > 0]
    return float(np.median(np.sqrt(counts)) / (math.sqrt(math.pi) / 2)) if counts.size else 0.0


def simulator_digest() -> str:
    """Digest of the simulator's source: a cached set is remade when the simulator changes."""
    import cellscale.data

    folder = Path(cellscale.data.__file__).parent
    h = hashlib.sha1()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:10]


def build(regime: Regime, index: int, n: int, root: Path, rebuild: bool = False) -> Path:
    """Simulate (or reuse) a regime's set in the runners' layout, plus ``diameters.json``.

    A cached set is reused even when the simulator has changed since (a note is
    printed), so that runs at different times compare methods on the same images.
    """
    options = {"density": DENSITY, "diameter": OTHER_DIAMETERS, **regime.options}
    seed0 = SEED0 + 100 * index
    key = json.dumps({"options": options, "side": regime.side}, sort_keys=True, default=list)
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    out = root / f"{regime.slug}_seed{seed0}_n{n}_{regime.side}_{digest}"
    if (out / "done.json").is_file() and not rebuild:
        made = json.loads((out / "done.json").read_text()).get("simulator")
        if made != simulator_digest():
            log(f"  NOTE {out.name}: made by another version of the simulator ({made}); reused so "
                "that every method sees the same images (--rebuild remakes it)")
        return out
    shutil.rmtree(out, ignore_errors=True)
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    diameters = {}
    for seed in range(seed0, seed0 + n):
        if MIX in options:
            s = simulate_nuclei(**generalist_options(seed))
        else:
            s = simulate_nuclei(shape=(regime.side, regime.side), seed=seed, **options)
        name = f"nuclei_{seed}"
        labels = np.asarray(s.labels["nuclei"]).astype(np.uint32)
        tifffile.imwrite(out / "images" / f"{name}.tif", np.asarray(s.image.data))
        tifffile.imwrite(out / "labels" / f"{name}.tif", labels, compression="zlib")
        diameters[name] = true_diameter(labels)
    (out / "diameters.json").write_text(json.dumps(diameters, indent=1))
    (out / "done.json").write_text(json.dumps({"options": options, "seed0": seed0, "n": n,
                                               "side": regime.side, "simulator": simulator_digest(),
                                               "made": time.strftime("%Y-%m-%d %H:%M:%S")},
                                              default=list, indent=1))
    return out


def union_set(sets: dict[str, Path], root: Path, limit: int | None = None) -> Path:
    """One folder with every regime's images (``<slug>__<name>``) for a single peer process;
    ``limit``: only each regime's first images (by name)."""
    digest = hashlib.sha1("\n".join(str(p) for p in sets.values()).encode()).hexdigest()[:8]
    out = root / (f"union_{digest}" if limit is None else f"union_{digest}_first{limit}")
    if (out / "done.json").is_file():
        return out
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    diameters = {}
    for slug, folder in sets.items():
        d = json.loads((folder / "diameters.json").read_text())
        for name, value in sorted(d.items())[:limit]:
            for sub in ("images", "labels"):
                dst = out / sub / f"{slug}__{name}.tif"
                if not dst.exists():
                    os.link(folder / sub / f"{name}.tif", dst)
            diameters[f"{slug}__{name}"] = value
    (out / "diameters.json").write_text(json.dumps(diameters, indent=1))
    (out / "done.json").write_text("{}")
    return out


# --------------------------------------------------------------------------- methods
def run_cellscale(method: str, model: str, folder: Path, pred: Path) -> list[dict]:
    """Segment a set's images with one cellscale configuration; writes labels, returns per image."""
    from cellscale.segment import Segmenter

    seg = Segmenter("classical") if method == "classical" else Segmenter(model)
    diameters = json.loads((folder / "diameters.json").read_text())
    pred.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in sorted(diameters):
        image = tifffile.imread(folder / "images" / f"{name}.tif")
        if method == "true":
            seg.diameter = diameters[name]
        t0 = time.perf_counter()
        labels = np.asarray(seg(image))
        wall = time.perf_counter() - t0
        tifffile.imwrite(pred / f"{name}.tif", labels.astype(np.uint32), compression="zlib")
        rows.append({"name": name, "shape": list(image.shape), "total_s": wall,
                     "true_diameter": diameters[name],
                     "estimated_diameter": getattr(seg, "estimated_diameter", None),
                     "confidence": getattr(seg, "confidence", None),
                     "warnings": list(getattr(seg, "warnings", []) or [])})
    return rows


def run_cellpose(py: Path, model_dir: Path, folder: Path, pred: Path, mode: str,
                 threads: int | None, reuse: bool = True) -> dict:
    """Cellpose 3 on a set folder in its venv (``--once``); returns its result.json and wall time.

    Predictions of the same trained model (same weights and training wall time)
    on the same folder are reused: Cellpose does not change between runs of
    this benchmark that compare cellscale models.
    """
    return _run_peer("Cellpose", "cellpose3_runner.py", ("weights", "train_wall_s"), py,
                     model_dir, folder, pred, mode, threads, reuse=reuse)


def run_stardist(py: Path, model_dir: Path, folder: Path, pred: Path, mode: str,
                 threads: int | None) -> dict:
    """StarDist on a set folder in its venv (``--once``): at the image's own scale (``native``)
    or rescaled so the true diameter becomes the training median (``true``).

    Predictions of the same trained model on the same folder are reused.
    """
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    return _run_peer("StarDist", "stardist_runner.py", ("model_dir", "train_wall_s"), py,
                     model_dir, folder, pred, mode, threads, env=env)


def _run_peer(name: str, runner: str, same_keys: tuple[str, ...], py: Path, model_dir: Path,
              folder: Path, pred: Path, mode: str, threads: int | None, *, reuse: bool = True,
              env: dict[str, str] | None = None) -> dict:
    """A peer runner's ``predict --once`` on a set folder; its result.json plus the wall time.

    A result of the same trained model (``same_keys`` of its train_info.json)
    on the same folder is reused.
    """
    info = json.loads((model_dir / "train_info.json").read_text())
    done = pred / "result.json"
    if reuse and done.is_file():
        old = json.loads(done.read_text())
        same = {k: old.get("train_info", {}).get(k) for k in same_keys} == \
            {k: info.get(k) for k in same_keys}
        if same and old.get("set") == str(folder) and "process_wall_s" in old:
            log(f"  reusing {name} predictions in {pred}")
            return old
    shutil.rmtree(pred, ignore_errors=True)
    cmd = [str(py), str(HERE / "peers" / runner), "predict", str(model_dir),
           str(folder), str(pred), "--diameter", mode, "--once"]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})})
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not done.is_file():
        return {"error": "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])}
    result = {**json.loads(done.read_text()), "process_wall_s": wall, "set": str(folder)}
    done.write_text(json.dumps(result, indent=2))
    return result


def regime_groups(rows: list[dict]) -> dict[str, dict[str, Path]]:
    """The scored regimes' set folders by group and slug: a peer runs once per group."""
    groups: dict[str, dict[str, Path]] = {}
    for row in rows:
        if "scores" in row:
            groups.setdefault(row["group"], {})[Regime(row["group"], row["name"]).slug] = \
                Path(row["set"])
    return groups


def peer_scores(rows: list[dict], members: dict[str, Path], method: str, result: dict,
                pred: Path, *, limit: int | None = None, count_images: bool = False,
                log_rows: bool = False) -> None:
    """Score a peer's run over one group's union set into each member regime's row.

    ``limit``: only the first images of each regime were run; ``count_images``:
    record how many as ``images``; ``log_rows``: print each regime's F1.
    """
    for row in rows:
        slug = Regime(row["group"], row["name"]).slug
        if slug not in members:
            continue
        if "error" in result or "skipped" in result:
            row["scores"][method] = {k: result[k] for k in ("error", "skipped") if k in result}
            continue
        names = row["names"][:limit]
        scores = score(Path(row["set"]), pred, names, prefix=f"{slug}__")
        row["scores"][method] = {**scores, "images": len(names)} if count_images else scores
        row["per_image"][method] = [x for x in result["per_image"]
                                    if x["name"].startswith(f"{slug}__")]
        if log_rows:
            log(f"  {row['group']:10s} {row['name']:22s} {method} {scores['f1']:.3f}")


def score(folder: Path, pred: Path, names: list[str], prefix: str = "") -> dict:
    """F1@0.5 and mean AP pooled over a set's images."""
    total = aggregate(
        match_instances(tifffile.imread(folder / "labels" / f"{n}.tif"),
                        tifffile.imread(pred / f"{prefix}{n}.tif"))
        for n in names)
    return {"f1": round(total.f1_at(0.5), 4), "mean_ap": round(total.mean_ap, 4),
            "n_true": total.n_true, "n_pred": total.n_pred}


# --------------------------------------------------------------------------- training
def export_train_set(train_dirs: list[Path]) -> Path:
    """Export make_data ``train/`` folders (saved samples) to one set folder in the runner layout.

    The export (format conversion) is outside the peers' budgets. One folder
    keeps the name the Cellpose run used (``train_cellpose_N_DIGEST``).
    """
    samples = []
    for train_dir in train_dirs:
        found = sorted(p for p in train_dir.iterdir() if (p / "params.json").is_file())
        if not found:
            raise SystemExit(f"{train_dir} holds no saved samples (folders with params.json); "
                             "make them with training/make_data.py")
        samples += found
    names = [p.name for p in samples]
    if len(set(names)) != len(names):
        raise SystemExit(f"{' '.join(map(str, train_dirs))}: two samples share a folder name; "
                         "pass training folders whose sample names differ")
    digest = hashlib.sha1("\n".join(str(p) for p in samples).encode()).hexdigest()[:8]
    kind = "cellpose" if len(train_dirs) == 1 else "peers"
    set_dir = RESULTS / "data" / f"train_{kind}_{len(samples)}_{digest}"
    if not (set_dir / "done.json").is_file():
        log(f"exporting {len(samples)} training samples to {set_dir}")
        for sub in ("images", "labels"):
            (set_dir / sub).mkdir(parents=True, exist_ok=True)
        for p in samples:
            s = load_sample(p)
            labels = s.labels.get("nuclei")
            if labels is None or "c" in s.image.axes:
                raise SystemExit(f"{p}: expected a one-channel nuclei sample with labels['nuclei']")
            tifffile.imwrite(set_dir / "images" / f"{p.name}.tif", np.asarray(s.image.data))
            tifffile.imwrite(set_dir / "labels" / f"{p.name}.tif",
                             np.asarray(labels).astype(np.uint32), compression="zlib")
        (set_dir / "done.json").write_text(json.dumps({"from": [str(d) for d in train_dirs]}))
    return set_dir


def train_cellpose(py: Path, train_dir: Path, minutes: float, out: Path, threads: int) -> None:
    """Export make_data's ``train/`` folder to the runner layout and train Cellpose 3 on it.

    The runner's budget covers flow targets, SGD and the size model.
    """
    set_dir = export_train_set([train_dir])
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(py), str(HERE / "peers" / "cellpose3_runner.py"), "train", str(set_dir), str(out),
           "--minutes", str(minutes), "--rescale", "--size-model", "--threads", str(threads),
           *CELLPOSE_TRAIN_ARGS]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads),
                                         "MKL_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"})
    info_path = out / "train_info.json"
    info = json.loads(info_path.read_text())
    info["train_data"] = str(train_dir)
    info_path.write_text(json.dumps(info, indent=2))


def train_stardist(py: Path, train_dirs: list[Path], minutes: float, out: Path, threads: int) -> None:
    """Train StarDist 2D from scratch on make_data ``train/`` folders (one set, the runner layout).

    The runner's budget covers patch sampling, SGD and ``optimize_thresholds``;
    ``STARDIST_TRAIN_ARGS`` holds the settings for large nuclei.
    """
    set_dir = export_train_set(train_dirs)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(py), str(HERE / "peers" / "stardist_runner.py"), "train", str(set_dir), str(out),
           "--minutes", str(minutes), "--threads", str(threads), *STARDIST_TRAIN_ARGS]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads),
                                         "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"})
    info_path = out / "train_info.json"
    info = json.loads(info_path.read_text())
    info["train_data"] = [str(d) for d in train_dirs]
    info_path.write_text(json.dumps(info, indent=2))


# --------------------------------------------------------------------------- throughput
def throughput(model: str, py: Path | None, cellpose_dir: Path, threads: int | None,
               quick: bool) -> dict:
    """The whole ``cellscale segment`` command (segmentation.py) and Cellpose on the same image."""
    sys.path.insert(0, str(HERE))
    import segmentation  # noqa: PLC0415 - the sibling benchmark script

    root = RESULTS / "data"
    root.mkdir(parents=True, exist_ok=True)
    ours = segmentation.whole_command(model, root, quick)
    # Nuclei of 18 px: ``auto`` keeps the image's own scale, the network runs on every pixel.
    row = {"cellscale": ours, "cellscale-18px": segmentation.whole_command(model, root, quick, 18.0)}
    if py is None or not (cellpose_dir / "train_info.json").is_file() or "error" in ours:
        return row
    size = segmentation.WHOLE_SIZE_QUICK if quick else segmentation.WHOLE_SIZE
    image = root / f"whole_nuclei_seed{segmentation.WHOLE_SEED}_{size}.tif"
    folder = root / f"whole_set_{size}"
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        dst = folder / sub / "whole.tif"
        if not dst.exists():
            os.link(image if sub == "images" else image.with_name(image.stem + "_labels.tif"), dst)
    truth = tifffile.imread(folder / "labels" / "whole.tif")
    (folder / "diameters.json").write_text(json.dumps({"whole": true_diameter(truth)}))
    for mode in ("true",):  # the size model's estimate adds a first full segmentation
        pred = RESULTS / "predictions" / "regimes_whole" / mode
        r = run_cellpose(py, cellpose_dir, folder, pred, mode, threads)
        if "error" in r:
            row[f"cellpose3-{mode}"] = r
            continue
        m = match_instances(truth, tifffile.imread(pred / "whole.tif"))
        item = r["per_image"][0]
        row[f"cellpose3-{mode}"] = {
            "eval_s": item["total_s"], "process_wall_s": r["process_wall_s"],
            "mp_per_s": size * size / 1e6 / r["process_wall_s"], "diameter": item["diameter"],
            "f1_at_0.5": m.f1_at(0.5), "n_true": m.n_true, "n_pred": m.n_pred,
            "torch_threads": r["torch_threads"],
            "ratio_cellscale_over_cellpose": ours["mp_per_s"] / (size * size / 1e6 / r["process_wall_s"]),
        }
    return row


# --------------------------------------------------------------------------- report
def _cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if "skipped" in r or "error" in r:
        return r.get("skipped") or "failed"
    text = f"{r['f1']:.3f} / {r['mean_ap']:.3f}"
    return text + (f" ({r['images']} img)" if r.get("images") not in (None, 3) else "")


def table(rows: list[dict], methods: list[str]) -> str:
    head = "| group | regime | side | nuclei | d true | d auto | " + " | ".join(
        f"{m} F1 / mAP" for m in methods) + " |"
    lines = [head, "|" + "---|" * (6 + len(methods))]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['group']} | {r['name']} | — | — | — | — | "
                         + " | ".join(["skipped: " + r["skipped"]] + ["—"] * (len(methods) - 1)) + " |")
            continue
        d_auto = [x["estimated_diameter"] for x in r.get("per_image", {}).get("auto", [])
                  if x.get("estimated_diameter")]
        lines.append(
            f"| {r['group']} | {r['name']} | {r['side']} | {r['n_true']} | {r['d_true']:.0f} | "
            + (f"{np.median(d_auto):.0f}" if d_auto else "—") + " | "
            + " | ".join(_cell(r["scores"].get(m)) for m in methods) + " |")
    return "\n".join(lines)


def summary(rows: list[dict], methods: list[str]) -> dict:
    """Lowest F1@0.5 of each method over all regimes, and over the 8-120 px diameter bands."""
    out = {}
    for m in methods:
        scored = [(r, r["scores"].get(m)) for r in rows if "scores" in r]
        scored = [(r, s) for r, s in scored if s and "f1" in s]
        band = [(r, s) for r, s in scored
                if r["group"] != "diameter" or 8 <= r["options"]["diameter"] <= 120]
        if scored:
            worst = min(band or scored, key=lambda rs: rs[1]["f1"])
            out[m] = {"min_f1_8_120": worst[1]["f1"], "worst": f"{worst[0]['group']} {worst[0]['name']}",
                      "below_0.85": [f"{r['group']} {r['name']}" for r, s in band if s["f1"] < 0.85],
                      "mean_f1": round(float(np.mean([s["f1"] for _, s in scored])), 4)}
    return out


def compare(before: Path, after: Path, *more: Path) -> str:
    """Markdown table of runs on the same sets: ``before``'s auto column, then the methods of
    ``after`` and ``more`` (e.g. Cellpose-only runs); a cell comes from the first of those
    runs that scored the method on the same set."""
    runs = [json.loads(Path(p).read_text()) for p in (before, after, *more)]
    methods: list[str] = []
    for run in runs[1:]:
        methods += [m for m in run["methods"] if m not in methods]

    def cell(rs: list[dict], method: str, row: dict) -> str:
        for run in rs:
            for r in run["rows"]:
                if (r["group"], r["name"]) == (row["group"], row["name"]) and r.get("set") == row["set"]:
                    got = r.get("scores", {}).get(method)
                    if got and "f1" in got:
                        return _cell(got)
        return "—"  # not run, or only on another set: not comparable

    head = ("| group | regime | nuclei | d true | d auto (after) | before: auto | "
            + " | ".join(methods) + " |")
    lines = [f"F1@0.5 / mean AP; before = {runs[0]['model']}, after = {runs[1]['model']}", "",
             head, "|" + "---|" * (6 + len(methods))]
    for r in runs[1]["rows"]:
        if "scores" not in r:
            continue
        d_auto = [x["estimated_diameter"] for x in r["per_image"].get("auto", [])
                  if x.get("estimated_diameter")]
        lines.append(f"| {r['group']} | {r['name']} | {r['n_true']} | {r['d_true']:.0f} | "
                     + (f"{np.median(d_auto):.0f}" if d_auto else "—") + " | "
                     + cell(runs[:1], "auto", r) + " | "
                     + " | ".join(cell(runs[1:], m, r) for m in methods) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 image per regime, diameter 12/60 and camera only")
    p.add_argument("--images", type=int, default=3, help="images per regime")
    p.add_argument("--groups", nargs="+", default=None,
                   choices=["diameter", "brightness", "texture", "shape", "cytoplasm", "illumination",
                            "camera", "mix"])
    p.add_argument("--model", default="nuclei", help="cellscale model (name or card path)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--peers-dir", type=Path, default=Path(os.environ.get("CELLSCALE_PEERS", "/work/peers")))
    p.add_argument("--cellpose-model", type=Path, default=CELLPOSE_MODEL)
    p.add_argument("--threads", type=int, default=1, help="Cellpose's torch / StarDist's TensorFlow threads")
    p.add_argument("--cellpose-images", type=int, default=3,
                   help="Cellpose on each regime's first K images only (it is ~100x slower)")
    p.add_argument("--cellpose", choices=("run", "reuse"), default="run",
                   help="run: reuse cached Cellpose predictions, else predict; reuse: never predict "
                        "(groups without cached predictions are reported as not run)")
    p.add_argument("--train-cellpose", type=Path, default=None,
                   help="train Cellpose 3 on this make_data.py train/ folder, then stop")
    p.add_argument("--train-stardist", type=Path, nargs="+", default=None, metavar="TRAIN_DIR",
                   help="train StarDist 2D from scratch on these make_data.py train/ folders, then stop")
    p.add_argument("--stardist-model", type=Path, default=STARDIST_MODEL)
    p.add_argument("--peer-train-minutes", type=float, default=35.0)
    p.add_argument("--throughput", action="store_true", help="also time the whole command on 2048²")
    p.add_argument("--only-throughput", action="store_true", help="the 2048² timings without the regimes")
    p.add_argument("--rebuild", action="store_true", help="remake cached regime sets")
    p.add_argument("--compare", nargs="+", type=Path, metavar="JSON",
                   help="BEFORE AFTER [MORE...]: print one table from result files of this script "
                        "(MORE: runs of other methods, e.g. Cellpose only), then stop")
    p.add_argument("--label", default="", help="suffix of the JSON file, e.g. 'before'")
    args = p.parse_args()

    if args.compare:
        log(compare(*args.compare))
        return
    py = args.peers_dir / "cellpose3" / "bin" / "python"
    py = py if py.is_file() else None
    sd_py = args.peers_dir / "stardist" / "bin" / "python"
    sd_py = sd_py if sd_py.is_file() else None
    if args.train_stardist:
        if sd_py is None:
            raise SystemExit(f"no StarDist venv at {args.peers_dir / 'stardist'} (see benchmarks/README.md)")
        train_stardist(sd_py, args.train_stardist, args.peer_train_minutes, args.stardist_model,
                       args.threads)
        return
    if args.train_cellpose:
        if py is None:
            raise SystemExit(f"no Cellpose venv at {args.peers_dir / 'cellpose3'} (see benchmarks/README.md)")
        train_cellpose(py, args.train_cellpose, args.peer_train_minutes, args.cellpose_model, args.threads)
        return

    t_start = time.perf_counter()
    regimes = all_regimes()
    if args.quick:
        args.images = 1
        regimes = [r for r in regimes if r.name in ("12 px", "60 px") or r.group == "camera"]
    if args.groups:
        regimes = [r for r in regimes if r.group in args.groups]
    if args.only_throughput:
        regimes, args.throughput = [], True
    methods = list(args.methods)
    notes = []
    cp_ready = py is not None and (args.cellpose_model / "train_info.json").is_file()
    if any(m.startswith("cellpose3") for m in methods) and not cp_ready:
        notes.append(f"Cellpose 3: no venv ({args.peers_dir / 'cellpose3'}) or no trained model "
                     f"({args.cellpose_model}); its columns are skipped")
    rows, sets = [], {}
    for index, regime in enumerate(all_regimes()):
        if regime not in regimes:
            continue
        row = {"group": regime.group, "name": regime.name, "options": regime.options}
        missing = unsupported(regime)
        if missing:
            row["skipped"] = f"simulator has no {', '.join(missing)}"
            rows.append(row)
            continue
        t0 = time.perf_counter()
        folder = build(regime, index, args.images, DATA, args.rebuild)
        diameters = json.loads((folder / "diameters.json").read_text())
        names = sorted(diameters)
        truth = [tifffile.imread(folder / "labels" / f"{n}.tif") for n in names]
        row.update({"side": regime.side, "set": str(folder), "names": names,
                    "n_true": int(sum(len(np.unique(t)) - 1 for t in truth)),
                    "d_true": float(np.median(list(diameters.values()))),
                    "build_s": round(time.perf_counter() - t0, 1), "scores": {}, "per_image": {}})
        sets[regime.slug] = folder
        for m in methods:
            if m.startswith(("cellpose3", "stardist")):
                continue
            pred = RESULTS / "predictions" / "regimes" / (args.label or "_") / regime.slug / m
            row["per_image"][m] = run_cellscale(m, args.model, folder, pred)
            row["scores"][m] = score(folder, pred, names)
        log(f"  {regime.group:10s} {regime.name:22s} side {regime.side:4d} d {row['d_true']:5.1f}: "
            + ", ".join(f"{m} {s['f1']:.3f}" for m, s in row["scores"].items()))
        rows.append(row)
    cellpose_runs = {}
    if cp_ready and sets:
        groups = regime_groups(rows)
        for m in [m for m in methods if m.startswith("cellpose3")]:
            for group, members in groups.items():
                limit = args.cellpose_images if args.cellpose_images < args.images else None
                union = union_set(members, DATA, limit)  # one Cellpose process per group
                pred = RESULTS / "predictions" / "regimes" / f"{union.name}_{m}"
                if args.cellpose == "reuse" and not (pred / "result.json").is_file():
                    r = {"skipped": "not run"}
                else:
                    log(f"  {m} on {group} ({len(members)} regimes, {union.name})")
                    r = run_cellpose(py, args.cellpose_model, union, pred, m.split("-")[1],
                                     args.threads)
                cellpose_runs[f"{m}/{group}"] = {k: v for k, v in r.items() if k != "train_info"}
                if "error" in r:
                    notes.append(f"{m} on {group} failed: {r['error'].splitlines()[-1]}")
                peer_scores(rows, members, m, r, pred, limit=limit, count_images=True)
    else:
        for row in rows:
            for m in methods:
                if m.startswith("cellpose3") and "scores" in row:
                    row["scores"][m] = {"skipped": "no model"}
    sd_ready = sd_py is not None and (args.stardist_model / "train_info.json").is_file()
    stardist_runs = {}
    for m in [m for m in methods if m.startswith("stardist")]:
        for group, members in regime_groups(rows).items():
            if not sd_ready:
                r = {"skipped": "no model"}
            else:
                union = union_set(members, DATA)  # one StarDist process per group
                pred = RESULTS / "predictions" / "regimes" / f"{union.name}_{m}"
                log(f"  {m} on {group} ({len(members)} regimes, {union.name})")
                r = run_stardist(sd_py, args.stardist_model, union, pred,
                                 "true" if m == "stardist-true" else "native", args.threads)
                stardist_runs[f"{m}/{group}"] = {k: v for k, v in r.items() if k != "train_info"}
                if "error" in r:
                    notes.append(f"{m} on {group} failed: {r['error'].splitlines()[-1]}")
            peer_scores(rows, members, m, r, pred, log_rows=True)
    for m in [m for m in methods if m.startswith("stardist")]:
        times = [x["total_s"] for row in rows for x in row.get("per_image", {}).get(m, [])]
        if times:
            stardist_runs[f"{m}/time_per_image"] = {
                "n": len(times), "median_s": float(np.median(times)), "mean_s": float(np.mean(times)),
                "max_s": float(np.max(times)), "note": "predict_instances (network + NMS) after a warm-up "
                "call, plus normalisation; one process per group, TensorFlow threads = --threads"}
            log(f"{m}: {np.median(times):.2f} s per image (median of {len(times)}, max {np.max(times):.1f})")
    whole = None
    if args.throughput:
        # Both at their runtimes' default threads (onnxruntime's and torch's: the machine's cores).
        whole = throughput(args.model, py if cp_ready else None, args.cellpose_model, None, args.quick)
    report = table(rows, methods)
    worst = summary(rows, methods)
    log("\n" + report + "\n")
    for m, s in worst.items():
        log(f"{m}: lowest F1@0.5 (8-120 px and other regimes) {s['min_f1_8_120']:.3f} ({s['worst']}); "
            f"mean {s['mean_f1']:.3f}; below 0.85: {', '.join(s['below_0.85']) or 'none'}")
    for c in (whole or {}).values():
        if "command" not in c:
            continue
        log(f"whole command `cellscale {c.get('command')}`: "
            + (f"FAILED {c['error'][-200:]}" if "error" in c else
               f"{c['wall_s']:.2f} s -> {c['mp_per_s']:.2f} MP/s, F1@0.5 {c['f1_at_0.5']:.3f}"))
    if whole:
        for k in ("cellpose3-true", "cellpose3-size"):
            if k in whole and "error" not in whole[k]:
                w = whole[k]
                log(f"{k}: process {w['process_wall_s']:.1f} s (eval {w['eval_s']:.1f} s) -> "
                    f"{w['mp_per_s']:.3f} MP/s, F1@0.5 {w['f1_at_0.5']:.3f}; "
                    f"cellscale is {w['ratio_cellscale_over_cellpose']:.1f}x faster")
    for text in notes:
        log(f"NOTE: {text}")
    import cellscale
    from cellscale.models import model_info

    try:
        card = model_info(args.model).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - a missing card does not stop the report
        card = {"error": str(exc)}
    sd_info = None
    if sd_ready:
        sd_info = json.loads((args.stardist_model / "train_info.json").read_text())
    cp_info = None
    if cp_ready:
        cp_info = json.loads((args.cellpose_model / "train_info.json").read_text())
    payload = {
        "benchmark": "regimes", "label": args.label, "model": args.model,
        "model_card": {k: card.get(k) for k in ("name", "version", "sha256", "training", "error")},
        "cellpose3_training": cp_info, "stardist_training": sd_info, "methods": methods,
        "images_per_regime": args.images,
        "seed0": SEED0, "simulator_digest": simulator_digest(), "density": DENSITY, "other_diameters": OTHER_DIAMETERS,
        "metric_definition": DEFINITION, "rows": rows, "summary": worst, "cellpose_runs": cellpose_runs,
        "stardist_runs": stardist_runs,
        "throughput": whole, "notes": notes, "table": report,
        "regimes": [asdict(r) for r in regimes],
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_end": os.getloadavg(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "versions": {"cellscale": cellscale.__version__, "numpy": np.__version__},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    out = RESULTS / (f"regimes_{args.label}.json" if args.label else "regimes.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str))
    log(f"\nwrote {out} ({payload['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
