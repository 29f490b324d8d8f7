"""The models shipped inside the package: ``cellscale/models/weights/<name>.{json,onnx}``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from cellscale.errors import InputNotFoundError

__all__ = ["SHIPPED_MODELS", "available_models", "shipped_card_path"]

#: Names of the models the package ships (whether or not their weights are installed yet).
SHIPPED_MODELS: tuple[str, ...] = ("nuclei", "cells")


def _weights_dir() -> Path:
    """Folder holding the shipped cards and networks (tests point it elsewhere)."""
    folder = files("cellscale.models").joinpath("weights")
    # Installed as plain files (wheel, editable, source tree); a zipped install is not supported.
    return Path(str(folder))


def _installed(folder: Path) -> list[str]:
    names = []
    for card in sorted(folder.glob("*.json")):
        # The card's network file is checked properly at load; here only "is it there".
        if card.with_suffix(".onnx").is_file():
            names.append(card.stem)
    return names


def available_models() -> list[str]:
    """Names of the shipped models whose card and network are both installed.

    Returns
    -------
    list of str
        Sorted names accepted by :func:`cellscale.models.load_model`, e.g.
        ``["cells", "nuclei"]``; empty when no weights are installed.

    Examples
    --------
    >>> from cellscale.models import available_models
    >>> isinstance(available_models(), list)
    True
    """
    folder = _weights_dir()
    return _installed(folder) if folder.is_dir() else []


def known_names() -> list[str]:
    """Shipped names plus any extra cards found in the weights folder, sorted."""
    return sorted(set(SHIPPED_MODELS) | set(available_models()))


def is_model_name(spec: str) -> bool:
    """Whether a string is a shipped model's name rather than a path or URL."""
    return spec in known_names()


def shipped_card_path(name: str, *, need_network: bool = True) -> Path:
    """Card of a shipped model; :class:`InputNotFoundError` when it is not installed."""
    folder = _weights_dir()
    card = folder / f"{name}.json"
    missing = [p for p in (card, card.with_suffix(".onnx")) if not p.is_file()]
    if not need_network:
        missing = [p for p in missing if p == card]
    if missing:
        available = available_models()
        raise InputNotFoundError(
            f"model {name!r} is not installed: {', '.join(str(p) for p in missing)} "
            f"missing; installed models: {available if available else 'none'}. "
            "Pass a path to a card (.json), a network (.onnx) with its card beside it, "
            "a model folder, or an http(s) URL of a card instead"
        )
    return card
