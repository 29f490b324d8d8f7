"""Run Cellpose or StarDist through ``cellscale segment``, when the user has them.

Neither is a dependency of cellscale: an adapter imports its package only
when it is asked for, and says how to install it when it is absent. Model
specs:

``cellpose`` or ``cellpose:NAME``
    Cellpose 3 (``pip install "cellpose<4"``) with a built-in model type
    (``cyto3`` by default, ``nuclei``, ...; Cellpose downloads its weights
    once, so this needs the internet the first time).
``cellpose:PATH``
    A Cellpose model file trained by the user (``cellpose --train``).
``stardist`` or ``stardist:NAME``
    StarDist 2-D (``pip install stardist tensorflow``) with a registered
    pretrained model (``2D_versatile_fluo`` by default; downloaded once).
``stardist:FOLDER``
    A StarDist model folder (``config.json`` + ``weights_best.h5``); its
    name is the folder's name and its base directory the folder's parent.

Channels follow cellscale's roles: one channel (``DNA``) segments nuclei;
two channels (``DNA``, ``membrane``) segment whole cells with Cellpose
(``channels=[2, 1]``, membrane as its cytoplasm channel). StarDist models
here segment nuclei from one channel. Both peers do their own normalisation
(percentiles 1 and 99.8 in both), so the adapters pass raw intensities.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import InputNotFoundError, InvalidArgumentError

__all__ = ["PEERS", "PeerModel", "is_peer_spec", "load_peer"]

#: Peer packages an adapter exists for, with how to install each.
PEERS = {
    "cellpose": 'pip install "cellpose<4"',
    "stardist": "pip install stardist tensorflow",
}


def is_peer_spec(model: Any) -> bool:
    """Whether ``model`` names a peer adapter (``cellpose[:X]`` or ``stardist[:X]``)."""
    return isinstance(model, str) and model.split(":", 1)[0].lower() in PEERS


@dataclass
class PeerModel:
    """A loaded peer model behind the interface :class:`Segmenter` needs."""

    name: str
    inputs: list[str]
    objects: list[str]
    run: Any = field(repr=False)  # (C, H, W) float32 raw -> (H, W) labels

    def __call__(self, stack: np.ndarray) -> np.ndarray:
        labels = np.asarray(self.run(stack))
        return labels.astype(np.uint32, copy=False)


def _import(package: str) -> Any:
    import importlib

    root = package.split(".")[0]
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        hint = PEERS.get(root, PEERS["stardist"])  # csbdeep comes with stardist
        raise InvalidArgumentError(
            f"this model needs the {root} package, which cannot be imported ({exc}); "
            f"install it with: {hint}"
        ) from exc


def _pretrained(peer: str, name: str, make: Any) -> Any:
    """Build a peer's pretrained model; its weights are downloaded on first use."""
    try:
        return make()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputNotFoundError(
            f"{peer} could not load its pretrained model {name!r} (it downloads the weights "
            f"on first use, which needs the internet): {str(exc)[:200]}"
        ) from exc


def _cellpose(arg: str, diameter: float | None) -> PeerModel:
    version = str(getattr(_import("cellpose"), "version", "unknown"))
    if version.split(".")[0] not in ("2", "3", "unknown"):
        raise InvalidArgumentError(
            f"the cellpose adapter needs Cellpose 2 or 3 (found {version}); "
            f"install it with: {PEERS['cellpose']}"
        )
    models = _import("cellpose.models")
    path = Path(arg).expanduser() if arg else None
    if path is not None and (path.exists() or os.sep in arg or arg.startswith(".")):
        if not path.is_file():
            raise InputNotFoundError(f"{path}: no such Cellpose model file")
        model = models.CellposeModel(gpu=False, pretrained_model=str(path))
        name = f"cellpose:{path.name}"
    else:
        model_type = arg or "cyto3"
        model = _pretrained("Cellpose", model_type,
                            lambda: models.CellposeModel(gpu=False, model_type=model_type))
        name = f"cellpose:{model_type}"

    def run(stack: np.ndarray) -> np.ndarray:
        if stack.shape[0] == 1:
            image, channels, axis = stack[0], [0, 0], None
        else:
            image, channels, axis = np.moveaxis(stack[:2], 0, -1), [2, 1], 2
        masks = model.eval(image.astype(np.float32), channels=channels, channel_axis=axis,
                           diameter=diameter)[0]
        return masks

    return PeerModel(name=name, inputs=["DNA", "membrane"], objects=["cells", "nuclei"], run=run)


def _stardist(arg: str) -> PeerModel:
    sd_models = _import("stardist.models")
    utils = _import("csbdeep.utils")
    path = Path(arg).expanduser() if arg else None
    if path is not None and (path.exists() or os.sep in arg or arg.startswith(".")):
        if not (path / "config.json").is_file():
            raise InputNotFoundError(f"{path}: not a StarDist model folder (no config.json)")
        model = sd_models.StarDist2D(None, name=path.name, basedir=str(path.parent))
        name = f"stardist:{path.name}"
    else:
        pretrained = arg or "2D_versatile_fluo"
        model = _pretrained("StarDist", pretrained,
                            lambda: sd_models.StarDist2D.from_pretrained(pretrained))
        if model is None:
            raise InvalidArgumentError(f"StarDist has no pretrained model {pretrained!r}")
        name = f"stardist:{pretrained}"

    def run(stack: np.ndarray) -> np.ndarray:
        image = utils.normalize(stack[0].astype(np.float32), 1, 99.8)
        return model.predict_instances(image)[0]

    return PeerModel(name=name, inputs=["DNA"], objects=["nuclei"], run=run)


def load_peer(spec: str, *, diameter: float | None = None) -> PeerModel:
    """Load the peer model named by ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : str
        ``cellpose``, ``cellpose:NAME|PATH``, ``stardist`` or ``stardist:NAME|FOLDER``.
    diameter : float, optional
        Object diameter in pixels for Cellpose (default: its own estimate).

    Raises
    ------
    InvalidArgumentError
        The peer package is not installed (the message says how to install it).
    InputNotFoundError
        A model path that does not exist or is not a model.
    """
    package, _, arg = spec.partition(":")
    package = package.lower()
    if package == "cellpose":
        return _cellpose(arg, diameter)
    if package == "stardist":
        return _stardist(arg)
    raise InvalidArgumentError(f"no adapter for {spec!r}; adapters: {', '.join(PEERS)}")
