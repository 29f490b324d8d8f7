"""Tiny ONNX networks and matching cards, built in the test (no torch, no shipped weights)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx  # test-time dependency (the `test` extra); never needed to run models
import pytest
from onnx import TensorProto, helper, numpy_helper

from cellscale.models import ModelCard, _runtime, sha256_of


@dataclass
class TinyModel:
    card: Path
    onnx: Path
    weight: np.ndarray  # (K, C)
    bias: np.ndarray  # (K,)

    def expected(self, batch: np.ndarray) -> np.ndarray:
        """What the network computes, in NumPy: sigmoid(1x1 conv)."""
        z = np.einsum("kc,nchw->nkhw", self.weight, batch.astype(np.float64))
        return 1.0 / (1.0 + np.exp(-(z + self.bias[None, :, None, None])))


def tiny_onnx(
    c: int, k: int, *, seed: int = 0, halve: bool = False, hw: int | None = None
) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A 1x1 Conv from C to K channels + Sigmoid; N, H, W dynamic unless ``hw`` fixes H and W.

    ``halve`` adds a 2x2 max-pool, so the output is at half the input's resolution.
    """
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(k, c)).astype(np.float32)
    bias = rng.normal(size=k).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "w", "b"], ["z"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["z"], ["s" if halve else "maps"]),
    ]
    if halve:
        nodes.append(
            helper.make_node("MaxPool", ["s"], ["maps"], kernel_shape=[2, 2], strides=[2, 2])
        )
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", c, hw or "H", hw or "W"])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", k, "Ho", "Wo"])],
        initializer=[
            numpy_helper.from_array(weight.reshape(k, c, 1, 1), "w"),
            numpy_helper.from_array(bias, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), weight, bias


def write_card(
    path: Path,
    network: Path,
    *,
    name: str,
    channels: Sequence[str],
    outputs: Sequence[str],
    size_multiple: int = 8,
    sha256: str | None = None,
) -> Path:
    card = ModelCard(
        name=name,
        version="0.0.1",
        file=network.name,
        sha256=sha256 or sha256_of(network),
        inputs={"channels": list(channels), "size_multiple": size_multiple},
        outputs=list(outputs),
    )
    card.write(path)
    return path


@pytest.fixture
def make_model() -> Callable[..., TinyModel]:
    """Factory: write NAME.onnx and NAME.json into a folder; options build broken ones."""

    def make(
        folder: Path,
        name: str = "tiny",
        *,
        channels: Sequence[str] = ("DNA", "membrane"),
        outputs: Sequence[str] = ("cells.foreground", "cells.distance"),
        net_in: int | None = None,
        net_out: int | None = None,
        halve: bool = False,
        hw: int | None = None,
        payload: bytes | None = None,
        sha256: str | None = None,
        size_multiple: int = 8,
    ) -> TinyModel:
        folder.mkdir(parents=True, exist_ok=True)
        data, weight, bias = tiny_onnx(
            net_in or len(channels), net_out or len(outputs), halve=halve, hw=hw
        )
        net = folder / f"{name}.onnx"
        net.write_bytes(data if payload is None else payload)
        card = write_card(
            folder / f"{name}.json",
            net,
            name=name,
            channels=channels,
            outputs=outputs,
            size_multiple=size_multiple,
            sha256=sha256,
        )
        return TinyModel(card, net, weight, bias)

    return make


@pytest.fixture(autouse=True)
def _fresh_session_cache():
    """Each test loads its own sessions (files in tmp folders may reuse paths and mtimes)."""
    _runtime._open_cached.cache_clear()
    yield
    _runtime._open_cached.cache_clear()


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the shipped-models folder at an empty temporary folder."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr("cellscale.models._registry._weights_dir", lambda: folder)
    return folder
