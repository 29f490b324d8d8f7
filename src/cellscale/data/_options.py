"""Options shared by the image simulators, and their validation."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cellscale.errors import InvalidArgumentError

__all__ = ["SimulationOptions"]


class SimulationOptions(BaseModel):
    """What every chunk-rendered simulator takes: image size, seed, camera type, chunking.

    Subclasses add their own options and set ``min_side``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Smallest image side the simulator accepts, pixels.
    min_side: ClassVar[int] = 16

    shape: tuple[int, int] = (512, 512)
    """Image size (rows, columns), pixels; each side ``min_side`` (16 for nuclei, 32 for
    tissue) .. 200,000."""
    seed: int = 0
    """Seed; the sample is a function of the options only."""
    dtype: Literal["uint16", "uint8"] = "uint16"
    """Camera data type: ``uint16`` (offset ~100 ADU) or ``uint8`` (8-bit export with a
    dark background, offset of a few ADU)."""
    chunked: bool | None = None
    """Render lazily with Dask chunks; default when the image exceeds 4096² pixels."""
    chunk_size: int = Field(2048, ge=256, le=16384)
    """Chunk side for lazy rendering, pixels."""

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(cls.min_side <= s <= 200_000 for s in v):
            raise ValueError(f"each side of shape must be in {cls.min_side} .. 200000, got {v}")
        return v


def _validated(model: type[BaseModel], **options: Any) -> Any:
    """Build an options model; turn validation errors into :class:`InvalidArgumentError`."""
    try:
        return model(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidArgumentError(f"invalid {model.__name__}: {problems}") from None
