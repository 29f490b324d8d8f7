"""Pipelines: an ordered list of steps, as a pydantic model loadable from YAML.

A step is a pydantic model (its options) with a ``run(job)`` method, and is
registered under a name with :func:`register_step`; a pipeline file names
steps by that name::

    steps:
      - step: segment
        model: cells
      - step: measure
    chunk_size: 2048

Adding a step (e.g. ``track``) is a subclass of :class:`Step` with a
``step: Literal["track"] = "track"`` field, a ``run`` method that reads what
earlier steps left on the :class:`~cellscale.engine.Job` (``job.labels``,
``job.tables``) and adds its own, and ``register_step(TrackStep)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from cellscale.errors import FileFormatError, InputNotFoundError, InvalidArgumentError

if TYPE_CHECKING:
    from cellscale.engine._job import Job

__all__ = ["Pipeline", "Step", "available_steps", "load_pipeline", "register_step"]

_STEPS: dict[str, type[Step]] = {}


class Step(BaseModel):
    """Base class of pipeline steps: options as fields, work in :meth:`run`."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(description="The registered name of the step.")

    #: Whether the step can run on an image with a time axis.
    handles_time: ClassVar[bool] = False

    def check(self, job: Job) -> None:
        """Raise a clear error before any work when ``job``'s image does not suit the step."""

    def run(self, job: Job) -> None:
        """Do the step's work on one image, reading and adding to ``job``."""
        raise NotImplementedError(f"step {self.step!r} has no run method")


def register_step(cls: type[Step]) -> type[Step]:
    """Register a :class:`Step` subclass under its ``step`` field's default.

    Usable as a class decorator. Registering a name twice replaces the
    earlier class (so a plug-in can override a built-in step).
    """
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise InvalidArgumentError(f"register_step expects a Step subclass, got {cls!r}")
    name = cls.model_fields["step"].default
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"{cls.__name__} needs a default for its 'step' field (its name)")
    _STEPS[name] = cls
    return cls


def available_steps() -> list[str]:
    """Names of the registered steps."""
    _load_builtin_steps()
    return sorted(_STEPS)


def _load_builtin_steps() -> None:
    from cellscale.engine import _measure_step, _segment_step, _track_step  # noqa: F401


def _parse_step(value: Any) -> Step:
    if isinstance(value, Step):
        return value
    if not isinstance(value, dict) or "step" not in value:
        raise ValueError(f"each step must be a mapping with a 'step' key naming it, got {value!r}")
    _load_builtin_steps()
    name = value["step"]
    if name not in _STEPS:
        raise ValueError(f"unknown step {name!r}; steps are {', '.join(sorted(_STEPS))}")
    return _STEPS[name].model_validate(value)


class Pipeline(BaseModel):
    """What to do with each image, and in what pieces.

    Examples
    --------
    >>> p = Pipeline.model_validate({"steps": [{"step": "segment", "model": "nuclei"},
    ...                                        {"step": "measure"}]})
    >>> [s.step for s in p.steps], p.chunk_size
    (['segment', 'measure'], None)
    """

    model_config = ConfigDict(extra="forbid")

    steps: list[SerializeAsAny[Step]] = Field(
        description="Steps, run in order on every image.")
    chunk_size: int | None = Field(
        None, ge=64, description="Core side (pixels) of the chunks of large images; default "
                                 "chosen from the workers' memory limit.")
    save_image: bool = Field(
        False, description="Also copy each input image into the results store (images/).")

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> list[Step]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError("steps must be a non-empty list")
        steps = []
        for i, item in enumerate(value):
            try:
                steps.append(_parse_step(item))
            except ValidationError as exc:
                name = item.get("step") if isinstance(item, dict) else "?"
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                     for e in exc.errors())
                raise ValueError(f"step {i} ({name}): {problems}") from None
        return steps

    def describe(self) -> str:
        """One line: the steps and their main options."""
        parts = []
        for step in self.steps:
            opts = {k: v for k, v in step.model_dump().items() if k != "step" and v is not None}
            inner = ", ".join(f"{k}={v}" for k, v in list(opts.items())[:3])
            parts.append(f"{step.step}({inner})")
        return " -> ".join(parts)


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read a pipeline from a YAML (or JSON) file.

    Raises
    ------
    InputNotFoundError
        No such file.
    FileFormatError
        Not YAML, or not a valid pipeline (the message lists what is wrong).
    """
    import yaml

    target = Path(path).expanduser()
    if not target.is_file():
        raise InputNotFoundError(f"{target}: no such pipeline file")
    try:
        data = yaml.safe_load(target.read_text())
    except yaml.YAMLError as exc:
        raise FileFormatError(f"{target}: not valid YAML ({exc})") from exc
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'pipeline'}: {e['msg']}"
                             for e in exc.errors())
        raise FileFormatError(f"{target}: not a valid pipeline: {problems}") from exc
