"""Train and run Cellpose 3 (CPnet) from scratch; executed inside the cellpose venv.

Usage::

    python cellpose3_runner.py train SET_DIR MODEL_DIR --minutes 15 [--epochs N --nimg-per-epoch K --batch-size B]
        [--rescale] [--size-model] [--threads T]
    python cellpose3_runner.py predict MODEL_DIR SET_DIR OUT_DIR [--diameter native|true|size] [--once]

Images with one channel are segmented as grayscale (``channels=[0, 0]``);
two channels are ``(DNA, membrane)`` and segment whole cells with
``channels=[2, 1]`` (membrane = cytoplasm channel, DNA = nuclear channel).
The network is random-initialised (``pretrained_model=False``, no weight
download) and trained with ``train_seg``. Training keeps the native pixel scale
(``rescale=False``; evaluation at ``diameter = diam_mean``, i.e. no resizing):
a model trained from scratch has no size model, and the held-out images mix
nucleus diameters of 8-40 px, so one global diameter would be wrong for most.

With ``--rescale`` it follows Cellpose's own recipe instead: every training
image is resized so its median object diameter (from its labels) becomes the
network's ``diam_mean`` (30 px), with Cellpose's random scale jitter, and the
model must then be told the diameter of each image at prediction:
``--diameter true`` reads it from the set's ``diameters.json`` (the median
equivalent-disc diameter of the true objects), ``--diameter size`` estimates
it with a size model that ``--size-model`` trains after the network
(``train_size``: a ridge regression from the network's style vector to the
log diameter, then Cellpose's own refinement by a first segmentation).

The wall-time budget covers everything (flow targets, normalisation, SGD, the
size model): a short calibration run measures one optimiser step, then
``n_epochs`` is chosen so the real run ends within the budget (the
learning-rate schedule of ``train_seg`` needs ``n_epochs`` up front).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner_io import Clock, read_set, write_json, write_labels

NAME = "cp3_scratch"


def _channels(image: np.ndarray) -> tuple[list[int], int | None]:
    return ([0, 0], None) if image.ndim == 2 else ([2, 1], 0)


def train(args: argparse.Namespace) -> None:
    import torch
    from cellpose import dynamics, models, version
    from cellpose import train as cp_train

    t_start = time.perf_counter()
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    _, images, labels = read_set(args.set_dir)
    images = [im.astype(np.float32) for im in images]
    channels, channel_axis = _channels(images[0])
    out = Path(args.model_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu")
    flows = dynamics.labels_to_flows([lab.astype(np.int32) for lab in labels], device=device)
    t_flows = time.perf_counter() - t_start
    common = {
        "train_data": images, "train_labels": flows, "channels": channels,
        "channel_axis": channel_axis, "batch_size": args.batch_size, "learning_rate": args.lr,
        "SGD": True, "weight_decay": 1e-5, "rescale": args.rescale, "bsize": args.bsize,
        "min_train_masks": 1, "save_path": str(out),
    }
    nimg_epoch = min(len(images), args.nimg_per_epoch)
    steps_per_epoch = math.ceil(nimg_epoch / args.batch_size)
    calibration = None
    n_epochs = args.epochs
    if n_epochs is None:
        # Calibrate: time each optimiser step (loss calls) in a 3-step run.
        stamps: list[float] = []
        loss_fn = cp_train._loss_fn_seg

        def timed_loss(*a, **k):
            stamps.append(time.perf_counter())
            return loss_fn(*a, **k)

        cp_train._loss_fn_seg = timed_loss
        probe = models.CellposeModel(gpu=False, pretrained_model=False, model_type=None, nchan=2)
        t0 = time.perf_counter()
        cp_train.train_seg(probe.net, n_epochs=1, nimg_per_epoch=3 * args.batch_size,
                           model_name="calibration", **common)
        t_probe = time.perf_counter() - t0
        cp_train._loss_fn_seg = loss_fn
        step = float(np.median(np.diff(stamps))) if len(stamps) > 1 else t_probe
        overhead = max(0.0, t_probe - len(stamps) * step)
        left = (args.minutes * 60 - (time.perf_counter() - t_start) - overhead
                - (args.size_seconds if args.size_model else 0.0))
        n_epochs = max(1, int(left / (step * steps_per_epoch)))
        calibration = {"step_s": step, "overhead_s": overhead, "probe_s": t_probe}
        (out / "models" / "calibration").unlink(missing_ok=True)
    model = models.CellposeModel(gpu=False, pretrained_model=False, model_type=None, nchan=2)
    path, losses, _ = cp_train.train_seg(model.net, n_epochs=n_epochs, nimg_per_epoch=nimg_epoch,
                                         model_name=NAME, **common)
    t_seg = time.perf_counter() - t_start
    size = None
    if args.size_model:
        # Cellpose's size model: styles of random crops -> log diameter (ridge regression).
        # Given the flows (not the labels), train_size does not compute them a second time.
        t0 = time.perf_counter()
        size_net = models.CellposeModel(gpu=False, pretrained_model=str(path), nchan=2).net
        cp_train.train_size(size_net, str(path), train_data=images, train_labels=flows,
                            channels=channels, channel_axis=channel_axis, min_train_masks=1,
                            n_epochs=args.size_epochs, nimg_per_epoch=min(len(images), 64),
                            batch_size=8, bsize=args.bsize)
        size = {"file": str(path) + "_size.npy", "epochs": args.size_epochs,
                "crops": args.size_epochs * min(len(images), 64), "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t_start
    info = {
        "method": "cellpose3", "weights": str(Path(path).resolve()), "n_train_images": len(images),
        "n_epochs": n_epochs, "nimg_per_epoch": nimg_epoch, "batch_size": args.batch_size,
        "optimiser_steps": n_epochs * steps_per_epoch, "learning_rate": args.lr, "SGD": True,
        "bsize": args.bsize, "rescale": args.rescale, "channels": channels,
        "budget_minutes": args.minutes, "train_wall_s": wall, "flow_targets_s": t_flows,
        "network_done_s": t_seg, "size_model": size, "calibration": calibration,
        "torch_threads": torch.get_num_threads(),
        "final_train_loss": float(losses[-1]) if len(losses) else None,
        "versions": {"cellpose": version, "torch": torch.__version__},
    }
    write_json(out / "train_info.json", info)
    print(json.dumps({k: info[k] for k in ("n_epochs", "optimiser_steps", "train_wall_s")}))


def _true_diameters(set_dir: Path) -> dict[str, float]:
    path = set_dir / "diameters.json"
    if not path.is_file():
        raise SystemExit(f"--diameter true needs {path} (image name -> true median diameter, px); "
                         "the regime benchmark writes it")
    return json.loads(path.read_text())


def predict(args: argparse.Namespace) -> None:
    import torch
    from cellpose import models, version

    if args.threads:
        torch.set_num_threads(args.threads)
    info = json.loads((Path(args.model_dir) / "train_info.json").read_text())
    model = models.CellposeModel(gpu=False, pretrained_model=info["weights"], nchan=2)
    names, images, _ = read_set(args.set_dir, labels=False)
    true = _true_diameters(Path(args.set_dir)) if args.diameter == "true" else {}
    sizer = None
    if args.diameter == "size":
        if not (info.get("size_model") or {}).get("file"):
            raise SystemExit(f"{args.model_dir} has no size model: train with --size-model")
        sizer = models.SizeModel(model, pretrained_size=info["size_model"]["file"])
    out = Path(args.out_dir)
    per_image = []

    def run(image: np.ndarray, masks: bool, diameter: float):
        channels, channel_axis = _channels(image)
        return model.eval(image.astype(np.float32), channels=channels, channel_axis=channel_axis,
                          diameter=diameter, compute_masks=masks)

    def diameter_of(name: str, image: np.ndarray) -> float:
        if args.diameter == "true":
            return float(true[name])
        if sizer is not None:
            channels, channel_axis = _channels(image)
            return float(sizer.eval(image.astype(np.float32), channels=channels,
                                    channel_axis=channel_axis)[0])
        return float(model.diam_mean)  # native scale, as trained with rescale=False

    warm = images[0][..., :256, :256] if args.once else images[0]
    run(warm, True, diameter_of(names[0], images[0]) if args.diameter == "true" else model.diam_mean)
    for i, (name, image) in enumerate(zip(names, images)):
        clock = Clock()
        with clock("size"):
            diameter = diameter_of(name, image)
        order = (True,) if args.once else ((False, True) if i % 2 == 0 else (True, False))
        for masks_too in order:  # alternate the order
            with clock("total" if masks_too else "network"):
                result = run(image, masks_too, diameter)
            if masks_too:
                masks = result[0]
        write_labels(out, name, masks)
        t = clock.times
        network = t.get("network")
        per_image.append({
            "name": name, "shape": list(image.shape[-2:]), "normalise_s": None,
            "network_s": network, "size_s": t["size"] if sizer is not None else None,
            "postprocess_s": None if network is None else max(0.0, t["total"] - network),
            "total_s": t["total"] + (t["size"] if sizer is not None else 0.0), "diameter": diameter,
        })
    write_json(out / "result.json", {
        "method": "cellpose3", "model": info["weights"], "per_image": per_image,
        "diameter_mode": args.diameter,
        "timing_note": ("total = one full eval (+ the size model's estimate with --diameter size)"
                        if args.once else
                        "network = eval(compute_masks=False) (includes normalisation and resizing); "
                        "postprocess = full eval - network (flow dynamics + mask creation), clipped "
                        "at 0; the two calls alternate order from image to image"),
        "torch_threads": torch.get_num_threads(),
        "versions": {"cellpose": version, "torch": torch.__version__}, "train_info": info,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("set_dir")
    p.add_argument("model_dir")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--epochs", type=int, default=None, help="fixed epochs (skips calibration)")
    p.add_argument("--nimg-per-epoch", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bsize", type=int, default=224)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--rescale", action="store_true",
                   help="resize training images to diam_mean by their label diameters (Cellpose's recipe)")
    p.add_argument("--size-model", action="store_true", help="train Cellpose's size model afterwards")
    p.add_argument("--size-epochs", type=int, default=2, help="size model: passes over <= 64 images")
    p.add_argument("--size-seconds", type=float, default=120.0,
                   help="budget kept for the size model when choosing n_epochs")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p = sub.add_parser("predict")
    p.add_argument("model_dir")
    p.add_argument("set_dir")
    p.add_argument("out_dir")
    p.add_argument("--diameter", choices=("native", "true", "size"), default="native",
                   help="native: diam_mean (no resizing); true: SET_DIR/diameters.json; size: size model")
    p.add_argument("--once", action="store_true",
                   help="one full eval per image (no network/postprocess split), warm-up on a 256² crop")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    train(args) if args.command == "train" else predict(args)


if __name__ == "__main__":
    main()
