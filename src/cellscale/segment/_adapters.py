"""Run Cellpose 3 through :func:`~cellscale.segment.segment` and ``cellscale segment``.

Cellpose is not a dependency of cellscale: the adapter imports it only when a
``cellpose`` model is asked for and says how to install it when it is absent
(``pip install "cellpose<4"``; the ``test`` extra installs it, and the adapter's
tests run with a small Cellpose model trained from scratch). Model specs:

``cellpose`` or ``cellpose:TYPE``
    A built-in Cellpose 3 model type (``cyto3`` by default, ``nuclei``,
    ``cyto2``, ... see ``cellpose.models.MODEL_NAMES``). Cellpose downloads
    its weights the first time, which needs the internet.
``cellpose:PATH``
    A Cellpose 3 model file, e.g. trained with ``cellpose --train``.

Channels follow cellscale's roles. The compartment ``"nuclei"`` gives Cellpose
the DNA channel as a grey image (``channels=[0, 0]``); ``"cells"`` gives it
membrane as its cytoplasm channel and DNA as its nuclear channel
(``channels=[2, 1]``). Without a compartment, a spec that contains "nuclei"
(``cellpose:nuclei``) means nuclei, any other whole cells. What the labels
outline is what the Cellpose model was trained on. Cellpose normalises the
image itself (percentiles 1 and 99), so the adapter passes raw intensities.

``diameter`` is cellscale's option with Cellpose's meaning:

a number ``d``
    Cellpose's own ``diameter=d``: Cellpose resizes the image by
    ``diam_mean / d`` (``diam_mean``: the object size its network was trained
    at, 30 px unless the model says otherwise) and returns labels at the
    image's size.
``"auto"``
    Cellpose's default for the model: ``diameter=None``, which takes the
    diameter stored in the model (``diam_labels``: for a model trained with
    Cellpose, the mean diameter of its training masks). Nothing is estimated
    from the image: Cellpose 3 estimates sizes only with the separate size
    models of its built-in types, which this adapter does not load.
``None``
    No resizing (``diameter=diam_mean``).

A pixel size is not used: Cellpose models state no pixel size.

There is no StarDist adapter. StarDist needs TensorFlow (about 2 GB), too much
to install where cellscale is tested, and an adapter that is never run is not
kept; run StarDist on its own and use its label images with cellscale.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import InputNotFoundError, InvalidArgumentError, MissingDependencyError

__all__ = ["NO_ADAPTER", "PEERS", "PeerModel", "is_peer_spec", "load_peer"]

#: Peer packages an adapter exists for, with how to install each.
PEERS = {"cellpose": 'pip install "cellpose<4"'}

#: Peers users ask for that have no adapter, with why.
NO_ADAPTER = {
    "stardist": "cellscale has no StarDist adapter: StarDist needs TensorFlow (about 2 GB), "
                "too much to install where cellscale is tested. Run StarDist on its own and "
                "give its label images to cellscale; the Cellpose 3 adapter is 'cellpose[:TYPE|PATH]'",
}


def is_peer_spec(model: Any) -> bool:
    """Whether ``model`` names a peer (``cellpose[:X]``; also ``stardist[:X]``, which has no adapter)."""
    return isinstance(model, str) and model.split(":", 1)[0].lower() in {**PEERS, **NO_ADAPTER}


@dataclass
class PeerModel:
    """A loaded peer model behind the interface :class:`Segmenter` needs.

    Attributes
    ----------
    name : str
        ``"cellpose:TYPE"`` or ``"cellpose:FILENAME"``.
    inputs : list of str
        Channel roles the model takes, in order (``["DNA", "membrane"]``).
    objects : list of str
        Object kinds it can return (``["cells", "nuclei"]``).
    run : callable
        ``(C, H, W)`` float32 raw intensities to ``(H, W)`` labels.
    options : dict
        The options given to the peer's own call (e.g. Cellpose's ``diameter``).
    """

    name: str
    inputs: list[str]
    objects: list[str]
    run: Any = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self, stack: np.ndarray) -> np.ndarray:
        labels = np.asarray(self.run(stack))
        return labels.astype(np.uint32, copy=False)


def _import(package: str) -> Any:
    import importlib

    root = package.split(".")[0]
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this model needs the {root} package, which cannot be imported ({exc}); "
            f"install it with: {PEERS[root]}"
        ) from exc


def _cellpose_diameter(diameter: Any, diam_mean: float) -> float | None:
    """Cellpose's ``diameter`` for cellscale's (see the module docstring)."""
    if isinstance(diameter, str) and diameter == "auto":
        return None
    if diameter is None:
        return float(diam_mean)
    if isinstance(diameter, bool) or not isinstance(diameter, Real) or not diameter > 0:
        raise InvalidArgumentError(
            f"diameter must be a positive number of pixels, 'auto' or None, got {diameter!r}")
    return float(diameter)


def _cellpose(arg: str, diameter: Any) -> PeerModel:
    version = str(getattr(_import("cellpose"), "version", "unknown"))
    if version.split(".")[0] != "3":
        raise InvalidArgumentError(
            f"the cellpose adapter needs Cellpose 3 (found {version}); "
            f"install it with: {PEERS['cellpose']}"
        )
    models = _import("cellpose.models")
    _cellpose_diameter(diameter, 30.0)  # a bad value fails before a model is loaded
    path = Path(arg).expanduser() if arg else None
    if path is not None and (path.exists() or os.sep in arg or arg.startswith(".")):
        if not path.is_file():
            raise InputNotFoundError(f"{path}: no such Cellpose model file")
        try:
            model = models.CellposeModel(gpu=False, pretrained_model=str(path))
        except (OSError, RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            raise InvalidArgumentError(
                f"{path}: not a Cellpose 3 model file ({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc
        name = f"cellpose:{path.name}"
    else:
        model_type = arg or "cyto3"
        if model_type not in models.MODEL_NAMES:
            raise InvalidArgumentError(
                f"Cellpose 3 has no model type {model_type!r}; choose one of "
                f"{', '.join(dict.fromkeys(models.MODEL_NAMES))}, or give a model file's path")
        try:  # Cellpose downloads a built-in model's weights on first use
            model = models.CellposeModel(gpu=False, model_type=model_type)
        except (OSError, ValueError, RuntimeError) as exc:
            raise InputNotFoundError(
                f"Cellpose could not load its model {model_type!r} (it downloads the weights on "
                f"first use, which needs the internet): {str(exc)[:200]}"
            ) from exc
        name = f"cellpose:{model_type}"
    options = {"diameter": _cellpose_diameter(diameter, float(model.diam_mean))}

    def run(stack: np.ndarray) -> np.ndarray:
        if stack.shape[0] == 1:
            image, channels, axis = stack[0], [0, 0], None
        else:
            image, channels, axis = np.moveaxis(stack[:2], 0, -1), [2, 1], 2
        return model.eval(image.astype(np.float32), channels=channels, channel_axis=axis,
                          **options)[0]

    return PeerModel(name=name, inputs=["DNA", "membrane"], objects=["cells", "nuclei"],
                     run=run, options=options)


def load_peer(spec: str, *, diameter: float | str | None = "auto") -> PeerModel:
    """Load the peer model named by ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : str
        ``cellpose``, ``cellpose:TYPE`` or ``cellpose:PATH``.
    diameter : float, "auto" or None
        Typical object diameter in pixels, given to Cellpose as its
        ``diameter`` (see the module docstring for ``"auto"`` and None).

    Returns
    -------
    PeerModel
        Call it with a ``(C, H, W)`` array of raw intensities.

    Raises
    ------
    MissingDependencyError
        Cellpose is not installed (the message says how to install it).
    InvalidArgumentError
        A peer without an adapter (StarDist), a Cellpose version other than 3,
        an unknown model type, a file that is not a Cellpose model, or a bad
        ``diameter``.
    InputNotFoundError
        A model path that does not exist, or a built-in model whose weights
        cannot be downloaded.

    Examples
    --------
    >>> load_peer("stardist:/models/2D_versatile_fluo")
    Traceback (most recent call last):
    ...
    cellscale.errors.InvalidArgumentError: cellscale has no StarDist adapter: ...
    """
    package, _, arg = spec.partition(":")
    package = package.lower()
    if package in NO_ADAPTER:
        raise InvalidArgumentError(NO_ADAPTER[package])
    if package == "cellpose":
        return _cellpose(arg, diameter)
    raise InvalidArgumentError(f"no adapter for {spec!r}; adapters: {', '.join(PEERS)}")
