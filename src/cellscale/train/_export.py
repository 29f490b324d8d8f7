"""Export a trained network: ONNX file, checked against torch, plus its model card.

The ONNX graph takes ``input`` of shape ``(N, C, H, W)`` (N, H, W dynamic)
and returns ``output`` ``(N, K, H, W)`` with the sigmoid inside the graph.
Exporting in eval mode folds BatchNorm into the convolutions.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cellscale
from cellscale.models._card import REQUIRED_MAPS, ModelCard, ModelInputs, PostProcess, sha256_of
from cellscale.train._inference import inference_form
from cellscale.train._unet import UNet

__all__ = ["export_onnx", "load_network", "load_weights", "output_names", "save_weights",
           "write_model"]

#: ONNX opset of exported networks.
OPSET = 17
#: Largest allowed difference between ONNX Runtime and torch outputs.
TOLERANCE = 1e-4


def output_names(outputs: Sequence[str], maps: Sequence[str] = REQUIRED_MAPS) -> list[str]:
    """Card output names, e.g. ``["nuclei.foreground", "nuclei.distance"]``."""
    return [f"{obj}.{kind}" for obj in outputs for kind in maps]


def export_onnx(model: UNet, path: Path, *, check_size: int = 64) -> float:
    """Write ``model`` (its inference form) as ONNX; check ONNX Runtime agrees with ``model``.

    Returns
    -------
    float
        Largest absolute difference between the two on a random input.

    Raises
    ------
    ValueError
        If the outputs differ in shape or by more than :data:`TOLERANCE`.
    """
    import onnxruntime as ort

    model = model.cpu().eval()
    c = model.in_channels
    dummy = torch.rand(1, c, check_size, check_size)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            inference_form(model),
            (dummy,),
            buf,
            opset_version=OPSET,
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "h", 3: "w"}},
        )
    Path(path).write_bytes(buf.getvalue())
    rng = np.random.default_rng(0)
    x = rng.random((2, c, 2 * check_size, 3 * check_size // 2), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    diff = float(np.abs(got - want).max())
    if got.shape != want.shape or diff > TOLERANCE:
        raise ValueError(
            f"ONNX export of {path.name} differs from torch: shape {got.shape} vs {want.shape}, "
            f"max difference {diff:.2e} > {TOLERANCE}"
        )
    return diff


def save_weights(
    model: UNet,
    path: Path,
    *,
    channels: Sequence[str],
    outputs: Sequence[str],
    maps: Sequence[str] = REQUIRED_MAPS,
) -> None:
    """Save the state dict and architecture (what fine-tuning starts from)."""
    torch.save(
        {
            "arch": model.arch(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "channels": list(channels),
            "outputs": list(outputs),
            "maps": list(maps),
        },
        path,
    )


def load_weights(path: Path) -> dict[str, Any]:
    """Read what :func:`save_weights` wrote."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_network(path: Path) -> UNet:
    """The network :func:`save_weights` saved, rebuilt in eval mode."""
    saved = load_weights(path)
    model = UNet(**{**saved["arch"], "widths": tuple(saved["arch"]["widths"])})
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def write_model(
    model: UNet,
    out_dir: Path,
    name: str,
    *,
    channels: Sequence[str],
    outputs: Sequence[str],
    postprocess: PostProcess,
    maps: Sequence[str] = REQUIRED_MAPS,
    training: dict[str, Any],
    metrics: dict[str, Any],
    diameter_range: tuple[float, float] = (8.0, 40.0),
    description: str = "",
    network: Path | None = None,
    precision: str = "float32",
) -> Path:
    """Write ``NAME.onnx``, ``NAME.json`` (card) and ``NAME.pt`` into ``out_dir``.

    ``network``, when given, is an ONNX file already exported from ``model``
    (e.g. its int8 quantisation, ``precision="int8"``) that becomes
    ``NAME.onnx``; otherwise ``model`` is exported in float32.

    Returns
    -------
    pathlib.Path
        The card's path.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    if network is None:
        diff: float | None = export_onnx(model, onnx_path)
    else:
        diff = None
        if Path(network).resolve() != onnx_path.resolve():
            onnx_path.write_bytes(Path(network).read_bytes())
    save_weights(model, out_dir / f"{name}.pt", channels=channels, outputs=outputs, maps=maps)
    card = ModelCard(
        name=name,
        version="1",
        file=onnx_path.name,
        precision=precision,
        sha256=sha256_of(onnx_path),
        inputs=ModelInputs(
            channels=list(channels),
            size_multiple=model.size_multiple,
            diameter_range=diameter_range,
        ),
        outputs=output_names(outputs, maps),
        postprocess=postprocess,
        training={
            **training,
            **({"onnx_vs_torch_max_abs_diff": diff} if diff is not None else {}),
            "architecture": {
                "type": "UNet-s2d",
                **model.arch(),
                "parameters": sum(p.numel() for p in model.parameters()),
            },
        },
        metrics=metrics,
        description=description,
        cellscale_version=cellscale.__version__,
    )
    card_path = out_dir / f"{name}.json"
    card.write(card_path)
    return card_path
