"""Models: cards that describe them and the runtime that executes them (ONNX Runtime).

Training lives in :mod:`cellscale.train` and is the only place that imports torch.
"""

from cellscale.models._card import ModelCard, ModelInputs, Normalisation, PostProcess, sha256_of

__all__ = ["ModelCard", "ModelInputs", "Normalisation", "PostProcess", "sha256_of"]
