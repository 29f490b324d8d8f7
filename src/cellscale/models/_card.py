"""Model cards: what a model file is, what it expects, and how well it did.

A model is two files side by side: ``NAME.onnx`` (the network) and
``NAME.json`` (its card). The card is the contract between training, which
writes it, and inference, which reads it:

* the network takes ``float32`` input of shape ``(N, C, H, W)`` where the C
  channels are ``inputs.channels`` in that order, each normalised per image
  by ``inputs.normalisation``; H and W must be multiples of
  ``inputs.size_multiple``;
* it returns ``float32`` of shape ``(N, K, H, W)``: the K maps named in
  ``outputs``, already passed through their activation (probabilities and
  distances in [0, 1]), at the input's resolution;
* ``postprocess`` holds the thresholds that turn those maps into instances.

Output names are ``"<object>.<map>"``: ``object`` is ``nuclei`` or ``cells``
and ``map`` is ``foreground`` (probability that a pixel belongs to an
object), ``distance`` (distance to the object's boundary divided by the
object's largest such distance: 1 at its centre, near 0 at its edge) or
``centre`` (optional: a blob around one central point of each object, which
seeds the instances; see :func:`cellscale.segment.centre_from_labels`). Every
object kind has a ``foreground`` and a ``distance`` map.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cellscale.errors import FileFormatError

__all__ = [
    "OUTPUT_MAPS",
    "REQUIRED_MAPS",
    "ModelCard",
    "ModelInputs",
    "Normalisation",
    "PostProcess",
    "sha256_of",
]

#: The maps a segmentation network may output, per object kind.
OUTPUT_MAPS = ("foreground", "distance", "centre")
#: The maps every object kind must have.
REQUIRED_MAPS = ("foreground", "distance")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Normalisation(_Strict):
    """How each input channel is scaled before the network sees it."""

    method: Literal["percentile"] = "percentile"
    #: Lower percentile mapped to 0.
    low: float = Field(1.0, ge=0, le=100)
    #: Upper percentile mapped to 1.
    high: float = Field(99.8, ge=0, le=100)


class ModelInputs(_Strict):
    """What the network takes."""

    #: Channel roles in the order the network expects them, e.g. ``["DNA"]`` or ``["DNA", "membrane"]``.
    channels: list[str]
    #: Axes of one input image, before batching.
    axes: Literal["cyx"] = "cyx"
    normalisation: Normalisation = Normalisation()
    #: Input height and width must be multiples of this (the network's total down-sampling).
    size_multiple: int = Field(16, ge=1)
    #: Object diameters in pixels the model was trained on (the working range).
    diameter_range: tuple[float, float] = (8.0, 40.0)
    #: Physical pixel size of the training images in µm, if meaningful.
    pixel_size: float | None = None


class PostProcess(_Strict):
    """Thresholds that turn output maps into instance labels."""

    #: A pixel is foreground when its foreground probability exceeds this.
    foreground_threshold: float = Field(0.5, gt=0, lt=1)
    #: Seeds are connected regions where the centre map (else the distance map) exceeds this.
    seed_threshold: float = Field(0.5, gt=0, lt=1)
    #: Objects smaller than this many pixels are dropped.
    min_size: int = Field(8, ge=0)
    #: Objects whose highest centre-map (else distance-map) value is below this are dropped:
    #: regions the flood reached without a confident seed (crescents of cytoplasm, texture).
    min_peak: float = Field(0.0, ge=0, lt=1)


class ModelCard(_Strict):
    """Everything needed to run a model and to know what it is good for."""

    name: str
    version: str
    kind: Literal["instance-segmentation"] = "instance-segmentation"
    #: Network file name, relative to the card.
    file: str
    #: Arithmetic of the network file: ``int8`` for a quantised network.
    precision: Literal["float32", "int8"] = "float32"
    #: sha256 of the network file, checked when the model is loaded.
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: ModelInputs
    #: Names of the output maps in channel order, e.g. ``["nuclei.foreground", "nuclei.distance"]``.
    outputs: list[str]
    postprocess: PostProcess = PostProcess()
    #: Training data, command, configuration and duration (free-form, JSON).
    training: dict = Field(default_factory=dict)
    #: Held-out metrics, e.g. ``{"f1@0.5": 0.93, "ap@0.5:0.95": 0.71, "data": "..."}``.
    metrics: dict = Field(default_factory=dict)
    description: str = ""
    cellscale_version: str = ""

    def objects(self) -> list[str]:
        """Object kinds the model outputs (``"nuclei"``, ``"cells"``), in output order."""
        seen: list[str] = []
        for name in self.outputs:
            obj = name.split(".", 1)[0]
            if obj not in seen:
                seen.append(obj)
        return seen

    def output_index(self, obj: str, kind: str) -> int:
        """Channel of the output map ``"<obj>.<kind>"``."""
        return self.outputs.index(f"{obj}.{kind}")

    def maps(self, obj: str) -> list[str]:
        """The maps of object kind ``obj``, in :data:`OUTPUT_MAPS` order.

        E.g. ``["foreground", "distance"]``, or with ``"centre"`` after them.
        """
        return [kind for kind in OUTPUT_MAPS if f"{obj}.{kind}" in self.outputs]

    # -- files --------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ModelCard:
        """Read and validate a card; errors name the file and the bad field."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FileFormatError(f"{path}: not a model card (invalid JSON: {exc})") from exc
        try:
            card = cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
            )
            raise FileFormatError(f"{path}: not a valid model card ({problems})") from exc
        for name in card.outputs:
            obj, _, kind = name.partition(".")
            if obj not in ("nuclei", "cells") or kind not in OUTPUT_MAPS:
                raise FileFormatError(
                    f"{path}: output {name!r} is not '<nuclei|cells>.<{'|'.join(OUTPUT_MAPS)}>'"
                )
        for obj in card.objects():
            missing = [k for k in REQUIRED_MAPS if f"{obj}.{k}" not in card.outputs]
            if missing:
                raise FileFormatError(
                    f"{path}: outputs have no {', '.join(f'{obj}.{k}' for k in missing)} map"
                )
        return card

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the card as indented JSON."""
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def sha256_of(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
