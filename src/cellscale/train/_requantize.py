"""Quantise an already trained float32 model to int8, and re-score it.

``cellscale train`` quantises at the end of training (``precision="int8"``,
the default). This is the same step for a model trained before, or trained
with ``precision="float32"``: calibrate on its training images, check the
int8 network against the float one, score it on held-out images with the
model's post-processing thresholds, and write ``NAME.onnx`` + ``NAME.json``
(and a copy of ``NAME.pt`` when there is one) into a new folder.

With ``from_weights=True`` the float32 network is first exported again from
the model's torch weights (``NAME.pt``), so a model made by an older export
gets the current one (e.g. :mod:`cellscale.train._inference`), whatever the
precision of its shipped network.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import cellscale
from cellscale.errors import InvalidArgumentError, OutputExistsError
from cellscale.models._card import ModelCard, sha256_of
from cellscale.train._dataset import gather_pairs, load_items
from cellscale.train._evaluate import all_maps, evaluate
from cellscale.train._export import export_onnx, load_network, output_names
from cellscale.train._quantize import calibration_crops, quantize_int8

__all__ = ["requantize"]


def requantize(
    card_path: str | Path,
    out_dir: str | Path,
    *,
    data: Sequence[str],
    test_data: Sequence[str],
    threads: int = 2,
    overwrite: bool = False,
    from_weights: bool = False,
) -> Path:
    """Write an int8 copy of a float32 model, calibrated and re-scored.

    Parameters
    ----------
    card_path : path
        The float32 model's card (``NAME.json``, its network beside it).
    out_dir : path
        Folder for the quantised model; must not exist unless ``overwrite``.
    data : sequence of str
        Training folders (images + labels) to calibrate on.
    test_data : sequence of str
        Held-out folders to score the quantised model on.
    threads : int
        ONNX Runtime threads for scoring.
    overwrite : bool
        Replace files in an existing ``out_dir``.
    from_weights : bool
        Export the float32 network again from ``NAME.pt`` beside the card
        (and score it too) instead of reading the card's float32 network.

    Returns
    -------
    pathlib.Path
        The new card's path.
    """
    card_path = Path(card_path)
    card = ModelCard.read(card_path)
    pt = card_path.parent / f"{card.name}.pt"
    if from_weights and not pt.is_file():
        raise InvalidArgumentError(f"{card_path}: no torch weights {pt.name} beside it to export")
    if card.precision != "float32" and not from_weights:
        raise InvalidArgumentError(f"{card_path}: model is already {card.precision}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out_dir} exists and is not empty (use overwrite=True)")
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = card.objects()
    kinds = card.maps(objects[0])
    if card.outputs != output_names(objects, kinds):
        raise InvalidArgumentError(
            f"{card_path}: outputs {card.outputs} are not the layout cellscale train writes "
            f"(the same maps for every object kind, in the order {list(kinds)})"
        )
    train_items = load_items(gather_pairs(data, objects), card.inputs.channels)
    calibration = calibration_crops([it.image for it in train_items], size=256)
    network = card_path.parent / card.file
    target = out_dir / f"{card.name}.onnx"
    test_items = load_items(gather_pairs(test_data, objects), card.inputs.channels)
    float_metrics = {o: card.metrics.get(o) for o in objects}
    if from_weights:
        network = out_dir / f".{card.name}.float32.onnx"
        try:
            export_diff = export_onnx(load_network(pt), network)
            maps = all_maps(network, [it.image for it in test_items], card.inputs.size_multiple,
                            threads)
            scored = evaluate(maps, [it.labels for it in test_items], objects, card.postprocess,
                              kinds)
            float_metrics = {o: scored[o] for o in objects}
            diff = quantize_int8(network, target, calibration)
        finally:
            network.unlink(missing_ok=True)
    else:
        diff = quantize_int8(network, target, calibration)

    maps = all_maps(target, [it.image for it in test_items], card.inputs.size_multiple, threads)
    metrics = evaluate(maps, [it.labels for it in test_items], objects, card.postprocess,
                              kinds)
    metrics["data"] = f"{len(test_items)} held-out images in {', '.join(test_data)}"
    for key in ("postprocess",):
        if key in card.metrics:
            metrics[key] = card.metrics[key]
    metrics["float32"] = float_metrics
    training = dict(card.training)
    training["quantisation"] = {
        "method": "onnxruntime static QDQ: per-channel int8 weights, uint8 activations "
        "(min/max calibration)",
        "calibration": f"{len(calibration)} crops of {len(train_items)} training images "
        f"in {', '.join(data)}",
        "int8_vs_float32_mean_abs_diff": round(diff, 5),
        **({} if from_weights else {"float32_sha256": card.sha256}),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if from_weights:
        training["export"] = (
            f"float32 network exported again from {pt.name} by cellscale "
            f"{cellscale.__version__} (inference form: cellscale.train._inference)"
        )
        training["onnx_vs_torch_max_abs_diff"] = export_diff
    new = card.model_copy(
        update={
            "precision": "int8",
            "sha256": sha256_of(target),
            "file": target.name,
            "training": training,
            "metrics": metrics,
        }
    )
    if pt.exists() and pt.resolve() != (out_dir / pt.name).resolve():
        shutil.copyfile(pt, out_dir / pt.name)
    new_path = out_dir / f"{card.name}.json"
    new.write(new_path)
    return new_path
