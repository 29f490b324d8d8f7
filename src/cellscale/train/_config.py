"""The configuration of a training run (saved as ``config.json`` beside its outputs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cellscale.train._augment import AugmentOptions

__all__ = ["OBJECTS", "TrainConfig"]

#: Object kinds a model may output.
OBJECTS = ("nuclei", "cells")


class TrainConfig(BaseModel):
    """Everything that decides a training run; the same config gives the same model."""

    model_config = ConfigDict(extra="forbid")

    data: list[str]
    """Training data folders (layouts of :func:`cellscale.io._dataset.find_pairs`)."""
    model_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Name of the model; the files are ``<model_name>.onnx/.json/.pt``."""
    channels: tuple[str, ...] = ("DNA",)
    """Input channel names, in the network's order."""
    outputs: tuple[str, ...] = ("nuclei",)
    """Object kinds to segment; each adds a foreground, a distance and (``centre``) a centre map."""
    from_model: str | None = None
    """Start from these weights: a shipped model name or a ``.pt`` file (fine-tuning)."""
    epochs: int = Field(60, ge=1)
    """Largest number of epochs."""
    steps_per_epoch: int | None = Field(None, ge=1)
    """Batches per epoch; default: as many patches as there are training pixels (20 .. 400 batches)."""
    batch_size: int = Field(8, ge=1)
    """Patches per batch."""
    patch_size: int = Field(256, ge=32)
    """Side of a training patch, pixels (a multiple of 16)."""
    lr: float = Field(3e-3, gt=0)
    """Peak learning rate (AdamW; linear warm-up then cosine decay)."""
    weight_decay: float = Field(1e-4, ge=0)
    """AdamW weight decay."""
    val_fraction: float = Field(0.1, ge=0, lt=1)
    """Fraction of the images (whole images) held out for validation."""
    patience: int = Field(10, ge=1)
    """Stop after this many epochs without a better validation loss."""
    seed: int = 0
    """Seed of the split, the initial weights and the patch sampling."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train; ``auto`` uses a CUDA GPU when there is one."""
    threads: int = Field(2, ge=1)
    """CPU threads torch may use."""
    widths: tuple[int, ...] = (16, 32, 64, 128)
    """Feature channels per U-Net level (see :mod:`cellscale.train._unet`)."""
    distance_weight: float = Field(1.0, ge=0)
    """Weight of the distance loss relative to the foreground loss."""
    centre: bool | None = None
    """Also learn a centre map per object kind, whose peaks seed the instances (one per object,
    whatever its shape; see :func:`cellscale.segment.centre_from_labels`). Default: as the model
    fine-tuned from (``from_model``), else True. Fine-tuning with another choice than the
    starting model's re-initialises the output layer."""
    centre_weight: float = Field(1.0, ge=0)
    """Weight of the centre loss relative to the foreground loss."""
    max_minutes: float | None = Field(None, gt=0)
    """Training wall-time budget: the learning-rate schedule follows it and training stops when
    it is spent (the best weights are kept)."""
    data_description: str = ""
    """Free text about the training data (where it came from, how it was made), for the card."""
    test_data: list[str] = []
    """Held-out folders scored for the model card; default: the validation images."""
    augment: AugmentOptions = AugmentOptions()
    """Patch augmentation."""
    precision: Literal["float32", "int8"] = "int8"
    """Precision of the exported network: ``int8`` (post-training quantisation, about twice as
    fast on CPUs; see :mod:`cellscale.train._quantize`) or ``float32``."""

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [o for o in v if o not in OBJECTS]
        if not v or bad or len(set(v)) != len(v):
            raise ValueError(f"outputs must be distinct names among {list(OBJECTS)}, got {list(v)}")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or len({c.lower() for c in v}) != len(v):
            raise ValueError(f"channels must be distinct names, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _patch(self) -> TrainConfig:
        multiple = 2 ** len(self.widths)
        if self.patch_size % multiple:
            raise ValueError(f"patch_size must be a multiple of {multiple}, got {self.patch_size}")
        return self
