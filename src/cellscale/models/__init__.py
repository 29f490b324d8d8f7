"""Models: cards that describe them and the runtime that executes them (ONNX Runtime).

Training lives in :mod:`cellscale.train` and is the only place that imports torch.
``onnxruntime`` is imported only when a model is loaded.
"""

from cellscale.models._card import ModelCard, ModelInputs, Normalisation, PostProcess, sha256_of
from cellscale.models._load import load_model, model_info
from cellscale.models._registry import SHIPPED_MODELS, available_models
from cellscale.models._runtime import Model

__all__ = [
    "SHIPPED_MODELS",
    "Model",
    "ModelCard",
    "ModelInputs",
    "Normalisation",
    "PostProcess",
    "available_models",
    "load_model",
    "model_info",
    "sha256_of",
]
