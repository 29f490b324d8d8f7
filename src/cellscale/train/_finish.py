"""After training: export the best network, quantise it, tune and score it, write the model.

Steps, in order: export float32 ONNX (checked against torch); quantise to
int8 when the config asks (calibrated on training images, see
:mod:`cellscale.train._quantize`); tune post-processing thresholds on the
validation images and score the held-out images, both *with the network that
ships*; write ``NAME.onnx`` + card + ``NAME.pt``.
"""

from __future__ import annotations

import json
import logging
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from cellscale.models._card import REQUIRED_MAPS
from cellscale.train._dataset import gather_pairs, load_items
from cellscale.train._evaluate import POSTPROCESS_METHOD, tune_and_score
from cellscale.train._export import export_onnx, write_model
from cellscale.train._quantize import calibration_crops, quantize_int8

__all__ = ["finish"]

log = logging.getLogger("cellscale.train")


def finish(
    model,
    config,
    out_dir,
    items,
    train_idx,
    val_idx,
    pairs,
    state,
    *,
    stop_reason,
    started,
    device,
    steps,
    finetune,
    command,
    maps=REQUIRED_MAPS,
) -> Path:
    duration = time.perf_counter() - started
    tmp = out_dir / f"{config.model_name}.onnx"
    # First export with default thresholds, then tune them on the validation images.
    onnx_diff = export_onnx(model, tmp)
    quantisation = None
    if config.precision == "int8":
        calibration = calibration_crops(
            [items[i].image for i in train_idx], size=config.patch_size, seed=config.seed
        )
        diff = quantize_int8(tmp, tmp, calibration)
        quantisation = {
            "method": "onnxruntime static QDQ: per-channel int8 weights, uint8 activations "
            "(min/max calibration)",
            "calibration": f"{len(calibration)} crops of training images",
            "int8_vs_float32_mean_abs_diff": round(diff, 5),
        }
    val_items = [items[i] for i in val_idx] or [items[i] for i in train_idx]
    if config.test_data:
        test_pairs = gather_pairs(config.test_data, config.outputs)
        test_items = load_items(test_pairs, config.channels)
        test_desc = f"{len(test_items)} held-out images in {', '.join(config.test_data)}"
    else:
        test_items = val_items
        test_desc = f"the {len(val_items)} validation images (held out from training by image)"
    post, metrics = tune_and_score(
        tmp, val_items, test_items, config.outputs, maps, model.size_multiple, config.threads
    )
    metrics["data"] = test_desc
    metrics["postprocess"] = (
        f"cellscale.segment._postprocess.instances_from_maps (method={POSTPROCESS_METHOD!r})"
    )
    training = {
        "data": {
            "description": config.data_description,
            "folders": config.data,
            "n_train_images": len(train_idx),
            "n_val_images": len(val_idx),
        },
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "config": config.model_dump(mode="json"),
        "epochs_run": state["epoch"],
        "steps_per_epoch": steps,
        "best_val_loss": state["best"],
        "stopped": stop_reason,
        "duration_s": round(duration, 1),
        "device": f"{device.type} ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)"
        if device.type == "cpu"
        else f"cuda ({torch.cuda.get_device_name(device)})",
        "torch": torch.__version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "onnx_vs_torch_max_abs_diff": onnx_diff,
    }
    if finetune:
        training["fine_tuned_from"] = finetune
    if quantisation:
        training["quantisation"] = quantisation
    card = write_model(
        model,
        out_dir,
        config.model_name,
        channels=config.channels,
        outputs=config.outputs,
        postprocess=post,
        maps=maps,
        training=training,
        metrics=metrics,
        description=f"cellscale U-Net segmenting {' and '.join(config.outputs)} from "
        f"{' + '.join(config.channels)}; trained with cellscale train.",
        network=tmp,
        precision=config.precision,
    )
    log.info("model written: %s (%s)", card, json.dumps({o: metrics[o] for o in config.outputs}))
    return out_dir / f"{config.model_name}.onnx"
