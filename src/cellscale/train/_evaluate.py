"""Score an exported network on held-out images, and pick its post-processing thresholds.

Whole images are run through ONNX Runtime (padded by reflection to the
network's size multiple, in overlapping tiles when large) and decoded with
:func:`cellscale.segment._postprocess.instances_from_maps`, the decoder that
``cellscale segment`` uses; the result is scored with :mod:`cellscale.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.metrics import DEFINITION, aggregate, match_instances
from cellscale.models._card import PostProcess
from cellscale.segment._postprocess import instances_from_maps

__all__ = ["evaluate", "predict_maps", "tune_postprocess"]

#: Tile side and overlap used to predict images larger than a tile.
TILE, OVERLAP = 1024, 64


def _session(onnx_path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def _run_padded(session: Any, image: np.ndarray, multiple: int) -> np.ndarray:
    _, h, w = image.shape
    ph, pw = (-h) % multiple, (-w) % multiple
    mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
    x = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode=mode)[None].astype(np.float32)
    return session.run(None, {"input": x})[0][0, :, :h, :w]


def predict_maps(session: Any, image: np.ndarray, multiple: int) -> np.ndarray:
    """Output maps ``(K, H, W)`` of a normalised ``(C, H, W)`` image."""
    _, h, w = image.shape
    if h <= TILE and w <= TILE:
        return _run_padded(session, image, multiple)
    out = None
    step = TILE - 2 * OVERLAP
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            ys, xs = max(y0 - OVERLAP, 0), max(x0 - OVERLAP, 0)
            ye, xe = min(y0 + step + OVERLAP, h), min(x0 + step + OVERLAP, w)
            tile = _run_padded(session, image[:, ys:ye, xs:xe], multiple)
            if out is None:
                out = np.zeros((tile.shape[0], h, w), np.float32)
            yk, xk = min(y0 + step, h), min(x0 + step, w)
            out[:, y0:yk, x0:xk] = tile[:, y0 - ys : yk - ys, x0 - xs : xk - xs]
    return out


def _decode(maps: np.ndarray, k: int, post: PostProcess) -> np.ndarray:
    return instances_from_maps(
        maps[2 * k],
        maps[2 * k + 1],
        foreground_threshold=post.foreground_threshold,
        seed_threshold=post.seed_threshold,
        min_size=post.min_size,
    )


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
) -> dict[str, Any]:
    """Data-set F1@0.5, AP@0.5 and mean AP (0.5:0.95) per object kind."""
    scores: dict[str, Any] = {}
    for k, obj in enumerate(outputs):
        result = aggregate(
            match_instances(lab[k], _decode(m, k, post)) for m, lab in zip(maps, labels)
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
    maps: Sequence[np.ndarray], labels: Sequence[np.ndarray], outputs: Sequence[str]
) -> PostProcess:
    """Thresholds with the best mean F1@0.5 over object kinds on (validation) images."""
    best, best_score = PostProcess(), -1.0
    for fg in (0.4, 0.5, 0.6):
        for seed in (0.3, 0.4, 0.5, 0.6, 0.7):
            post = PostProcess(foreground_threshold=fg, seed_threshold=seed, min_size=8)
            scores = evaluate(maps, labels, outputs, post)
            score = float(np.mean([scores[o]["f1@0.5"] for o in outputs]))
            if score > best_score + 1e-4:
                best, best_score = post, score
    return best
