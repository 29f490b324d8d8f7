"""Train segmentation models: label data in, ONNX model + card out.

:func:`train_model` reads image/label pairs (see :func:`cellscale.io._dataset.find_pairs`
for the folder layouts), trains the cellscale U-Net on augmented patches and
writes ``NAME.onnx`` with its card ``NAME.json`` (and the torch weights
``NAME.pt``, which fine-tuning starts from) into ``out_dir``.

torch is needed (``pip install cellscale[train]``) but imported only when
:func:`train_model` runs, so ``import cellscale.train`` stays light.

The shipped models' weights (``cellscale/models/weights/NAME.pt``) sit beside
their ONNX files so that ``from_model="nuclei"`` can fine-tune them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from cellscale.train._augment import AugmentOptions
from cellscale.train._config import TrainConfig

__all__ = ["AugmentOptions", "TrainConfig", "train_model"]


def train_model(
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    model_name: str,
    channels: Sequence[str] = ("DNA",),
    outputs: Sequence[str] = ("nuclei",),
    from_model: str | os.PathLike[str] | None = None,
    epochs: int = 60,
    batch_size: int = 8,
    patch_size: int = 256,
    lr: float = 3e-3,
    val_fraction: float = 0.1,
    patience: int = 10,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    device: Literal["auto", "cpu", "cuda"] = "auto",
    progress: bool = True,
    **options: Any,
) -> Path:
    """Train a segmentation model and export it to ONNX with a model card.

    Parameters
    ----------
    data : path-like or sequence of path-like
        Folder(s) of training images with label images.
    model_name : str
        Name of the model and of its files (``NAME.onnx``, ``NAME.json``, ``NAME.pt``).
    channels : sequence of str
        Image channels the model takes, by name, in order. Default ("DNA",).
        A single-channel image is used whatever its channel is called.
    outputs : sequence of {"nuclei", "cells"}
        Object kinds to segment. Default ("nuclei",).
    from_model : str or path-like, optional
        Fine-tune: start from a shipped model (``"nuclei"``) or a ``.pt`` file
        written by an earlier run. Layers whose shape differs are re-initialised.
    epochs, batch_size, patch_size, lr, val_fraction, patience, seed
        See :class:`TrainConfig`.
    out_dir : path-like, optional
        Where everything is written; default ``./<model_name>``. A
        ``checkpoint.pt`` there from the same configuration is resumed.
    device : {"auto", "cpu", "cuda"}
        Default "auto": a CUDA GPU when there is one.
    progress : bool
        Show a progress bar on stderr. Default True.
    **options
        Further :class:`TrainConfig` fields (``steps_per_epoch``, ``max_minutes``,
        ``test_data``, ``widths``, ``augment``, ...).

    Returns
    -------
    pathlib.Path
        The exported ``NAME.onnx``; its card is ``NAME.json`` beside it.

    Raises
    ------
    InputNotFoundError
        If a data folder is missing or holds no image/label pairs.
    InvalidImageError
        If a label image's shape differs from its image's (the file is named).
    InvalidArgumentError
        For an invalid option.
    ImportError
        If torch is not installed.
    """
    from pydantic import ValidationError

    from cellscale.errors import InvalidArgumentError

    command = options.pop("command", None)
    folders = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    if from_model is not None:
        from_model = str(from_model)
    try:
        config = TrainConfig(
            data=[str(Path(f).expanduser()) for f in folders],
            model_name=model_name,
            channels=tuple(channels),
            outputs=tuple(outputs),
            from_model=from_model,
            epochs=epochs,
            batch_size=batch_size,
            patch_size=patch_size,
            lr=lr,
            val_fraction=val_fraction,
            patience=patience,
            seed=seed,
            device=device,
            **options,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidArgumentError(f"invalid training configuration: {problems}") from None
    try:
        import torch  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "training needs torch: pip install 'cellscale[train]' (install torch first, pinned)"
        ) from exc
    from cellscale.train._loop import run_training

    out = Path(out_dir if out_dir is not None else model_name).expanduser()
    return run_training(config, out, progress=progress, command=command)
