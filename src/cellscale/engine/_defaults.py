"""The pipeline that fits an image when none is given."""

from __future__ import annotations

from collections.abc import Sequence

from cellscale.engine._job import ImageRef
from cellscale.engine._pipeline import Pipeline
from cellscale.errors import InvalidArgumentError

__all__ = ["default_pipeline"]

#: Channel names (lower case) taken as the nuclear stain.
DNA_NAMES = ("dna", "dapi", "hoechst", "draq5", "nuclei", "nuclear")
#: Channel names (lower case) taken as a membrane stain.
MEMBRANE_NAMES = ("membrane", "mem", "wga", "cellmask", "na/k-atpase", "atp1a1", "ecad",
                  "e-cadherin", "cd298")


def _find(names: Sequence[str], options: Sequence[str]) -> str | None:
    lower = [n.lower() for n in names]
    for option in options:
        if option in lower:
            return names[lower.index(option)]
    return None


def default_pipeline(ref: ImageRef, *, channels: Sequence[str | int] | None = None) -> Pipeline:
    """The pipeline for an image of this kind.

    * one channel (or one chosen with ``channels``): nuclear segmentation
      (model ``nuclei``) + measurement;
    * a nuclear and a membrane channel (found by name — DNA/DAPI/Hoechst and
      membrane/WGA/... — or the two given in ``channels``, nuclear first):
      whole-cell and nuclear segmentation (model ``cells``) + measurement;
    * with a time axis, tracking after segmentation (the ``track`` step; it
      fails with a clear error where tracking is not installed);
    * a z-stack: nuclear segmentation in 3-D only (model ``nuclei``, the
      nuclear channel; 3-D labels are not measured yet).

    Parameters
    ----------
    ref : ImageRef
        The image (axes and channel names).
    channels : sequence of str or int, optional
        One (nuclear) or two (nuclear, membrane) channels, by name or index.

    Returns
    -------
    Pipeline

    Raises
    ------
    InvalidArgumentError
        When several channels are present and none can be recognised as nuclear.
    """
    names = list(ref.channel_names)
    if channels is not None:
        chosen = list(channels)
        if len(chosen) not in (1, 2):
            raise InvalidArgumentError(
                f"{ref.path}: give one channel (nuclear) or two (nuclear, membrane), got "
                f"{chosen}; the image has channels {names}", option="channels",
                choices=tuple(names[:2]))
        model = "nuclei" if len(chosen) == 1 else "cells"
    elif len(names) == 1:
        model, chosen = "nuclei", None
    else:
        dna, membrane = _find(names, DNA_NAMES), _find(names, MEMBRANE_NAMES)
        if dna is None:
            raise InvalidArgumentError(
                f"{ref.path}: cannot tell which of the channels {names} is nuclear (DNA/DAPI/"
                f"Hoechst)", hint="pass channels=[NUCLEAR] or [NUCLEAR, MEMBRANE], or give a "
                                  "pipeline", option="channels",
                choices=(",".join(names[:2]), names[0]))
        model = "cells" if membrane is not None else "nuclei"
        chosen = [dna, membrane] if membrane is not None else [dna]
    if "z" in ref.axes and ref.shape[ref.axes.index("z")] > 1:
        # A z-stack: nuclei in 3-D (the measure step measures 2-D labels only).
        chosen = chosen[:1] if chosen else chosen
        return Pipeline.model_validate({"steps": [
            {"step": "segment", "model": "nuclei", "channels": chosen}]})
    steps: list[dict[str, object]] = [{"step": "segment", "model": model, "channels": chosen}]
    if "t" in ref.axes:
        steps.append({"step": "track"})
    steps.append({"step": "measure"})
    return Pipeline.model_validate({"steps": steps})
