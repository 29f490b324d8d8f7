"""Score an exported network on held-out images, and pick its post-processing thresholds.

Held-out images go through the segmentation core's network pass
(:func:`cellscale.segment.predict_tiled` with the tile size and overlap
``cellscale segment`` uses by default) and are decoded
with :func:`cellscale.segment.decode_maps`, the decoder of every door; the
result is scored with :mod:`cellscale.metrics`. Images are scored at their own
size (``cellscale segment --diameter off``): the items are already normalised
and the score is the network's, not the resizing's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.metrics import DEFINITION, aggregate, match_instances
from cellscale.models._card import REQUIRED_MAPS, PostProcess
from cellscale.segment._core import TILE_SIZE
from cellscale.segment._postprocess import decode_maps
from cellscale.segment._tiling import default_overlap, predict_tiled

__all__ = ["POSTPROCESS_METHOD", "evaluate", "predict_maps", "tune_and_score", "tune_postprocess"]

#: Largest object diameter the overlap is derived from: a card's default ``diameter_range[1]``.
MAX_DIAMETER = 40.0
#: Post-processing method used to score models: the default of ``cellscale segment``.
POSTPROCESS_METHOD = "flood"


def _session(onnx_path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def predict_maps(session: Any, image: np.ndarray, multiple: int,
                 max_diameter: float = MAX_DIAMETER) -> np.ndarray:
    """Output maps ``(K, H, W)`` of a normalised ``(C, H, W)`` image, all K in output order.

    The core's network pass: :func:`cellscale.segment.predict_tiled` with the
    tile size (:data:`cellscale.segment._core.TILE_SIZE`) and the overlap
    (:func:`cellscale.segment.default_overlap` of ``max_diameter``) that
    ``cellscale segment`` uses, so held-out scores are those of the inference path.
    """
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch.astype(np.float32, copy=False)})[0]

    return predict_tiled(run, image, tile_size=TILE_SIZE,
                         overlap=default_overlap(max_diameter, multiple), size_multiple=multiple,
                         batch_size=1)


def _decode(maps: np.ndarray, k: int, post: PostProcess, kinds: Sequence[str]) -> np.ndarray:
    """Instances of object kind ``k`` from all output maps (``len(kinds)`` per kind)."""
    own = dict(zip(kinds, maps[len(kinds) * k : len(kinds) * (k + 1)]))
    return decode_maps(own, post, method=POSTPROCESS_METHOD)


def all_maps(
    onnx_path: Path, images: Sequence[np.ndarray], multiple: int, threads: int
) -> list[np.ndarray]:
    """Predicted maps of each normalised image."""
    session = _session(onnx_path, threads)
    return [predict_maps(session, img, multiple) for img in images]


def evaluate(
    maps: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    outputs: Sequence[str],
    post: PostProcess,
    kinds: Sequence[str] = REQUIRED_MAPS,
) -> dict[str, Any]:
    """Data-set F1@0.5, AP@0.5 and mean AP (0.5:0.95) per object kind.

    ``kinds`` names the maps each object kind has, in output order.
    """
    scores: dict[str, Any] = {}
    for k, obj in enumerate(outputs):
        result = aggregate(
            match_instances(lab[k], _decode(m, k, post, kinds)) for m, lab in zip(maps, labels)
        )
        scores[obj] = {
            "f1@0.5": round(result.f1_at(0.5), 4),
            "ap@0.5": round(result.ap_at(0.5), 4),
            "mean_ap@0.5:0.95": round(result.mean_ap, 4),
            "f1@0.75": round(result.f1_at(0.75), 4),
            "n_images": result.n_images,
            "n_true": result.n_true,
            "n_pred": result.n_pred,
        }
    scores["definition"] = DEFINITION
    return scores


def tune_postprocess(
    maps: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    outputs: Sequence[str],
    kinds: Sequence[str] = REQUIRED_MAPS,
) -> PostProcess:
    """Thresholds with the best mean F1@0.5 over object kinds on (validation) images.

    The foreground and seed thresholds on a grid, then, with the best pair,
    a least peak (``min_peak``) for objects the flood reached without a
    confident seed, kept only when it scores higher than none.
    """
    def score_of(post: PostProcess) -> float:
        scores = evaluate(maps, labels, outputs, post, kinds)
        return float(np.mean([scores[o]["f1@0.5"] for o in outputs]))

    best, best_score = PostProcess(), -1.0
    for fg in (0.4, 0.5, 0.6):
        for seed in (0.3, 0.4, 0.5, 0.6, 0.7):
            post = PostProcess(foreground_threshold=fg, seed_threshold=seed, min_size=8)
            score = score_of(post)
            if score > best_score + 1e-4:
                best, best_score = post, score
    for peak in (0.3, 0.5, 0.7):
        post = best.model_copy(update={"min_peak": peak})
        score = score_of(post)
        if score > best_score + 1e-4:
            best, best_score = post, score
    return best


def tune_and_score(
    network: Path,
    val_items: Sequence[Any],
    test_items: Sequence[Any],
    outputs: Sequence[str],
    kinds: Sequence[str],
    multiple: int,
    threads: int,
) -> tuple[PostProcess, dict[str, Any]]:
    """Thresholds tuned on the validation items, and the held-out items' scores with them.

    Items are :class:`cellscale.train._dataset.Item` (normalised image, labels).
    """
    val_maps = all_maps(network, [it.image for it in val_items], multiple, threads)
    post = tune_postprocess(val_maps, [it.labels for it in val_items], outputs, kinds)
    test_maps = all_maps(network, [it.image for it in test_items], multiple, threads)
    return post, evaluate(test_maps, [it.labels for it in test_items], outputs, post, kinds)
