"""The shipped weights: card, ONNX network and torch weights (for fine-tuning) agree."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.models._card import ModelCard, sha256_of
from cellscale.train._config import TrainConfig

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from cellscale.train._export import load_network
from cellscale.train._loop import WEIGHTS_DIR, resolve_from_model


@pytest.mark.parametrize("name", ["nuclei", "cells"])
def test_shipped_files_agree(name):
    card_path = WEIGHTS_DIR / f"{name}.json"
    if not card_path.exists():
        pytest.skip(f"{name} weights are not shipped")
    card = ModelCard.read(card_path)
    onnx_path = WEIGHTS_DIR / card.file
    assert card.sha256 == sha256_of(onnx_path)
    assert onnx_path.stat().st_size + (WEIGHTS_DIR / f"{name}.pt").stat().st_size < 20e6
    config = TrainConfig.model_validate(card.training["config"])
    assert list(config.channels) == card.inputs.channels
    assert resolve_from_model(name) == WEIGHTS_DIR / f"{name}.pt"
    model = load_network(WEIGHTS_DIR / f"{name}.pt")
    assert model.size_multiple == card.inputs.size_multiple
    # A realistic input: int8 activations are calibrated on images like it, not on noise.
    from cellscale.data import simulate_nuclei, simulate_tissue
    from cellscale.segment._normalise import normalise

    sample = (simulate_nuclei if name == "nuclei" else simulate_tissue)(shape=(64, 96), seed=5)
    img = sample.image
    idx = [img.channel_names.index(c) for c in card.inputs.channels] if "c" in img.axes else [0]
    stack = np.asarray(img.data).reshape(-1, 64, 96)[idx].astype(np.float32)
    x = normalise(stack)[None]
    got = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (1, len(card.outputs), 64, 96)
    if card.precision == "int8":  # quantised: close on average, as checked when it was made
        assert np.abs(got - want).mean() <= 0.02
        assert card.training["quantisation"]["int8_vs_float32_mean_abs_diff"] <= 0.02
    else:
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert card.metrics[card.objects()[0]]["f1@0.5"] > 0.8
