"""The :class:`Sample` container: a simulated image together with its ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cellscale.io import Image

__all__ = ["Sample"]


@dataclass(eq=False)
class Sample:
    """A simulated image and everything that is true about it.

    Parameters
    ----------
    kind : str
        What was simulated, e.g. ``"nuclei"``, ``"tissue"``, ``"movie"``, ``"fish"``.
    image : cellscale.io.Image
        The acquired image (camera counts, e.g. ``uint16``), with named axes and
        channel names. ``image.data`` is a Dask array for large (chunked) samples.
    labels : dict of str to array
        Instance label images, ``uint32`` with 0 = background and the same
        trailing ``(..., y, x)`` shape as the image's spatial axes, e.g.
        ``{"nuclei": ...}`` or ``{"nuclei": ..., "cells": ...}``. A label id is
        the ``label`` of a row in :attr:`cells`; in tissue, nucleus ``i`` lies in
        cell ``i``. NumPy or Dask arrays.
    cells : pandas.DataFrame
        One row per simulated object with at least ``label``, ``y``, ``x`` (pixel
        coordinates of the centre in the full image) and ``diameter`` (pixels),
        plus kind-specific columns (``kind`` / ``cell_type``, brightness, marker
        levels, ...).
    spots : pandas.DataFrame, optional
        Point ground truth (e.g. single molecules: ``y``, ``x``, ``gene``, ``cell``).
    lineage : pandas.DataFrame, optional
        Cell Tracking Challenge lineage with columns ``label, begin, end, parent``.
    tables : dict of str to pandas.DataFrame
        Extra ground-truth tables, e.g. per-cell gene counts.
    params : dict
        Everything needed to regenerate the sample: the function's name, the
        seed and every option (JSON-serialisable).
    """

    kind: str
    image: Image
    labels: dict[str, Any]
    cells: pd.DataFrame
    spots: pd.DataFrame | None = None
    lineage: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_lazy(self) -> bool:
        """True when the image is a Dask array (a large, chunked sample)."""
        return self.image.is_lazy

    def compute(self) -> Sample:
        """Return the same sample with image and labels loaded into NumPy arrays."""
        labels = {
            name: np.asarray(arr.compute()) if hasattr(arr, "compute") else arr
            for name, arr in self.labels.items()
        }
        return Sample(
            kind=self.kind,
            image=self.image.compute(),
            labels=labels,
            cells=self.cells,
            spots=self.spots,
            lineage=self.lineage,
            tables=dict(self.tables),
            params=dict(self.params),
        )

    def __repr__(self) -> str:
        labels = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.labels.items())
        extra = []
        if self.spots is not None:
            extra.append(f"spots={len(self.spots)}")
        if self.lineage is not None:
            extra.append(f"tracks={len(self.lineage)}")
        if self.tables:
            extra.append(f"tables={sorted(self.tables)}")
        tail = (", " + ", ".join(extra)) if extra else ""
        return (
            f"Sample(kind={self.kind!r}, image={self.image!r}, labels={{{labels}}}, "
            f"cells={len(self.cells)}{tail})"
        )
