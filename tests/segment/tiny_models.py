"""Tiny ONNX segmentation networks built in the tests (no torch, no shipped weights).

The network is one Conv + Sigmoid: every output map is a sigmoid of Gaussian-smoothed
input, so on bright-blob images it yields a plausible foreground (light smoothing)
and a plausible distance map (heavier smoothing, peaking at blob centres). Its
receptive field is ``ksize`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cellscale.models import ModelCard, sha256_of


def _gauss(ksize: int, sigma: float) -> np.ndarray:
    r = np.arange(ksize) - ksize // 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def smooth_onnx(c: int, k: int, *, ksize: int = 9) -> bytes:
    """Conv (C -> K, ksize x ksize, zero padding) + Sigmoid, dynamic N, H, W.

    Map ``j`` reads input channel ``j % C``: even maps are "foreground"
    (sigma 1, threshold 0.3), odd maps "distance" (sigma 3, threshold 0.45).
    """
    weight = np.zeros((k, c, ksize, ksize), np.float32)
    bias = np.zeros(k, np.float32)
    for j in range(k):
        sigma, level, gain = (1.0, 0.3, 20.0) if j % 2 == 0 else (3.0, 0.45, 12.0)
        weight[j, j % c] = gain * _gauss(ksize, sigma)
        bias[j] = -gain * level
    pad = ksize // 2
    nodes = [
        helper.make_node("Conv", ["image", "w", "b"], ["z"], kernel_shape=[ksize, ksize],
                         pads=[pad, pad, pad, pad]),
        helper.make_node("Sigmoid", ["z"], ["maps"]),
    ]
    graph = helper.make_graph(
        nodes, "smooth",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", c, "H", "W"])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", k, "H", "W"])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_model(
    folder: Path,
    name: str = "tiny",
    *,
    channels: Sequence[str] = ("DNA",),
    outputs: Sequence[str] = ("nuclei.foreground", "nuclei.distance"),
    size_multiple: int = 16,
    ksize: int = 9,
) -> Path:
    """Write ``NAME.onnx`` and its card ``NAME.json`` into ``folder``; return the card's path."""
    folder.mkdir(parents=True, exist_ok=True)
    net = folder / f"{name}.onnx"
    net.write_bytes(smooth_onnx(len(channels), len(outputs), ksize=ksize))
    card = ModelCard(
        name=name, version="0.0.1", file=net.name, sha256=sha256_of(net),
        inputs={"channels": list(channels), "size_multiple": size_multiple,
                "diameter_range": (8.0, 40.0)},
        outputs=list(outputs),
    )
    path = folder / f"{name}.json"
    card.write(path)
    return path
