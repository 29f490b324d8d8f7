"""Train and run StarDist 2D from scratch; executed inside the stardist venv.

Usage::

    python stardist_runner.py train SET_DIR MODEL_DIR --minutes 15 [--steps N --patch 256 --batch-size 4]
        [--n-rays 32 --grid 2 2] [--threads T]
    python stardist_runner.py predict MODEL_DIR SET_DIR OUT_DIR [--diameter native|true] [--once] [--threads T]

Images are normalised per channel to the 1st-99.8th percentile
(``csbdeep.utils.normalize``, the StarDist convention); one or two input
channels (``n_channel_in`` follows the data). 10 % of the training images
(at least one) are the validation set, as for cellscale's own training;
training patches get random flips, 90-degree rotations and intensity scaling.
The wall-time budget covers everything: a Keras callback stops the SGD when
the budget minus a reserve for ``optimize_thresholds`` (probability / NMS
thresholds tuned on up to 8 validation images) is spent. ``--threads`` fixes TensorFlow's intra- and inter-op threads.

Prediction at ``--diameter native`` runs on the image as it is; ``true``
rescales each image (``predict_instances(scale=...)``) so that its true median
diameter (``SET_DIR/diameters.json``) becomes the median diameter of the
training images (recorded in ``train_info.json``), the way Cellpose is given
the true diameter. ``--once`` times only ``predict_instances`` (no separate
network pass).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner_io import Clock, read_set, write_json, write_labels

NAME = "sd_scratch"


def _threads(n: int | None) -> None:
    """Fix TensorFlow's thread pools (must run before TensorFlow executes anything)."""
    if n:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


def _median_diameter(labels: np.ndarray) -> float:
    """Median equivalent-disc diameter of the objects (Cellpose's definition)."""
    counts = np.bincount(labels.ravel())[1:]
    counts = counts[counts > 0]
    return float(np.median(2 * np.sqrt(counts / np.pi))) if counts.size else 0.0


def _prepare(image: np.ndarray) -> np.ndarray:
    """Percentile normalisation; a channel whose 1st and 99.8th percentiles coincide (e.g. an
    image saturated almost everywhere) is scaled by its min-max range instead, since dividing
    by csbdeep's eps (1e-20) gives values of ~1e20 that make the training loss NaN."""
    from csbdeep.utils import normalize

    img = image if image.ndim == 2 else np.moveaxis(image, 0, -1)  # (c, y, x) -> (y, x, c)
    img = img.astype(np.float32)
    lo, hi = np.percentile(img, (1, 99.8), axis=(0, 1))
    if np.all(hi - lo > 1e-6 * np.maximum(1.0, np.abs(hi))):
        return normalize(img, 1, 99.8, axis=(0, 1))
    lo, hi = img.min(axis=(0, 1)), img.max(axis=(0, 1))
    return (img - lo) / np.where(hi > lo, hi - lo, 1.0)


def _augment(x: np.ndarray, y: np.ndarray):
    """Random flips, 90-degree rotations and intensity scaling (StarDist's example augmenter)."""
    k = np.random.randint(4)
    x, y = np.rot90(x, k, axes=(0, 1)), np.rot90(y, k, axes=(0, 1))
    for axis in (0, 1):
        if np.random.rand() < 0.5:
            x, y = np.flip(x, axis), np.flip(y, axis)
    x = x * np.random.uniform(0.6, 2.0) + np.random.uniform(-0.2, 0.2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def train(args: argparse.Namespace) -> None:
    import keras
    import stardist
    import tensorflow as tf
    from stardist.models import Config2D, StarDist2D

    _threads(args.threads)
    t_start = time.perf_counter()
    np.random.seed(0)
    keras.utils.set_random_seed(0)
    _, images, labels = read_set(args.set_dir)
    X = [_prepare(im) for im in images]
    Y = [lab.astype(np.int32) for lab in labels]
    n_val = max(1, len(X) // 10)
    order = np.random.default_rng(0).permutation(len(X))
    val, trn = order[:n_val], order[n_val:] if len(X) > 1 else order
    n_channel = 1 if X[0].ndim == 2 else X[0].shape[-1]
    conf = Config2D(
        n_rays=args.n_rays, grid=tuple(args.grid), n_channel_in=n_channel, train_patch_size=(args.patch, args.patch),
        train_batch_size=args.batch_size, train_epochs=args.epochs,
        train_steps_per_epoch=args.steps_per_epoch, use_gpu=False, train_tensorboard=False,
    )
    out = Path(args.model_dir)
    model = StarDist2D(conf, name=NAME, basedir=str(out))
    stop_after = args.minutes * 60 * (1 - args.reserve)
    steps = {"n": 0}

    class Budget(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps["n"] += 1
            if not np.isfinite((logs or {}).get("loss", 0.0)):
                steps["nan_at"] = steps.get("nan_at", steps["n"])
            if steps["n"] % args.log_every == 0:
                print(f"step {steps['n']} at {time.perf_counter() - t_start:.0f} s, "
                      f"loss {(logs or {}).get('loss', float('nan')):.4f}", flush=True)
            if args.steps is not None:
                if steps["n"] >= args.steps:
                    self.model.stop_training = True
            elif time.perf_counter() - t_start > stop_after:
                self.model.stop_training = True

    model.prepare_for_training()
    model.callbacks.append(Budget())
    model.train([X[i] for i in trn], [Y[i] for i in trn],
                validation_data=([X[i] for i in val], [Y[i] for i in val]),
                augmenter=_augment, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
    t_sgd = time.perf_counter() - t_start
    n_opt = min(len(val), args.threshold_images)
    thresholds = model.optimize_thresholds([X[i] for i in val[:n_opt]], [Y[i] for i in val[:n_opt]],
                                           nms_threshs=args.nms)
    wall = time.perf_counter() - t_start
    info = {
        "method": "stardist", "model_dir": str((out / NAME).resolve()),
        "n_train_images": len(trn), "n_val_images": len(val), "optimiser_steps": steps["n"],
        "loss_nan_from_step": steps.get("nan_at"),
        "patch": args.patch, "batch_size": args.batch_size, "n_rays": args.n_rays,
        "grid": list(args.grid), "median_train_diameter": float(np.median(
            [_median_diameter(Y[i]) for i in trn])),
        "tf_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "n_channel_in": n_channel, "budget_minutes": args.minutes, "sgd_wall_s": t_sgd,
        "train_wall_s": wall, "thresholds": {k: float(v) for k, v in thresholds.items()},
        "versions": {"stardist": stardist.__version__, "tensorflow": tf.__version__},
    }
    write_json(out / "train_info.json", info)
    print(json.dumps({k: info[k] for k in ("optimiser_steps", "train_wall_s", "thresholds")}))


def predict(args: argparse.Namespace) -> None:
    import stardist
    import tensorflow as tf
    from stardist.models import StarDist2D

    _threads(args.threads)
    info = json.loads((Path(args.model_dir) / "train_info.json").read_text())
    model = StarDist2D(None, name=NAME, basedir=str(Path(args.model_dir)))
    names, images, _ = read_set(args.set_dir, labels=False)
    out = Path(args.out_dir)
    per_image = []
    scales = {name: 1.0 for name in names}
    if args.diameter == "true":
        path = Path(args.set_dir) / "diameters.json"
        if not path.is_file():
            raise SystemExit(f"--diameter true needs {path} (image name -> true median diameter, px); "
                             "write it, or use --diameter native")
        target = info.get("median_train_diameter")
        if not target:
            raise SystemExit(f"{args.model_dir}/train_info.json has no median_train_diameter (a model "
                             "trained by an older runner); retrain it, or use --diameter native")
        true_d = json.loads(path.read_text())
        scales = {name: float(target) / float(true_d[name]) for name in names}
    model.predict_instances(_prepare(images[0]))  # warm-up (graph tracing), not timed
    for i, (name, image) in enumerate(zip(names, images)):
        clock = Clock()
        with clock("normalise"):
            x = _prepare(image)
        kw = {} if scales[name] == 1.0 else {"scale": scales[name]}
        passes = (True,) if args.once else (False, True) if i % 2 == 0 else (True, False)
        for full in passes:  # alternate the order
            with clock("instances" if full else "network"):
                result = model.predict_instances(x, **kw) if full else model.predict(x)
            if full:
                labels = result[0]
        write_labels(out, name, labels)
        t = clock.times
        row = {"name": name, "shape": list(image.shape[-2:]), "scale": scales[name],
               "normalise_s": t["normalise"], "total_s": t["normalise"] + t["instances"]}
        if not args.once:
            row.update(network_s=t["network"], postprocess_s=max(0.0, t["instances"] - t["network"]))
        per_image.append(row)
    write_json(out / "result.json", {
        "method": "stardist", "model": info["model_dir"], "diameter": args.diameter,
        "per_image": per_image,
        "timing_note": "network = model.predict; postprocess = predict_instances - predict "
                       "(NMS of star-convex polygons), clipped at 0; the two calls alternate order from "
                       "image to image; normalise = percentile normalisation",
        "tf_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "versions": {"stardist": stardist.__version__, "tensorflow": tf.__version__},
        "train_info": info,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("set_dir")
    p.add_argument("model_dir")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--reserve", type=float, default=0.1,
                   help="fraction of the budget kept for optimize_thresholds")
    p.add_argument("--steps", type=int, default=None, help="fixed optimiser steps (ignores --minutes)")
    p.add_argument("--epochs", type=int, default=10_000)
    p.add_argument("--steps-per-epoch", type=int, default=50)
    p.add_argument("--patch", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threshold-images", type=int, default=8)
    p.add_argument("--nms", type=float, nargs="+", default=[0.3, 0.4, 0.5])
    p.add_argument("--n-rays", type=int, default=32)
    p.add_argument("--grid", type=int, nargs=2, default=[2, 2])
    p.add_argument("--log-every", type=int, default=10, help="print the loss every N steps")
    p.add_argument("--threads", type=int, default=None, help="TensorFlow intra/inter-op threads")
    p = sub.add_parser("predict")
    p.add_argument("model_dir")
    p.add_argument("set_dir")
    p.add_argument("out_dir")
    p.add_argument("--diameter", choices=("native", "true"), default="native")
    p.add_argument("--once", action="store_true", help="time predict_instances only")
    p.add_argument("--threads", type=int, default=None, help="TensorFlow intra/inter-op threads")
    args = parser.parse_args()
    train(args) if args.command == "train" else predict(args)


if __name__ == "__main__":
    main()
