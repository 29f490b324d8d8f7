"""``Patch``: a rectangular block of a label image, as an edit leaves it.

Every edit of an :class:`~cellscale.label.EditSession` touches one bounding
box of the label image and returns the labels inside it after the edit, so a
browser redraws that box only and large images never travel whole.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError

__all__ = ["Patch"]


@dataclass(frozen=True, eq=False)
class Patch:
    """The labels of the box ``[y0, y1) x [x0, x1)`` of a label image.

    Parameters
    ----------
    y0, x0 : int
        Top-left pixel of the box (row, column).
    data : ndarray of uint32, shape (h, w)
        The labels inside the box; ``h`` or ``w`` may be 0 (nothing changed).

    Examples
    --------
    >>> p = Patch(2, 3, np.array([[1, 0]], dtype=np.uint32))
    >>> p.y1, p.x1, p.to_json()["data"]
    (3, 5, 'AQAAAAAAAAA=')
    >>> Patch.from_json(p.to_json()).data.tolist()
    [[1, 0]]
    """

    y0: int
    x0: int
    data: np.ndarray

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 2:
            raise InvalidArgumentError(f"a patch holds a 2-D block of labels, got shape {data.shape}")
        if data.dtype != np.uint32:
            data = data.astype(np.uint32)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "y0", int(self.y0))
        object.__setattr__(self, "x0", int(self.x0))

    @property
    def y1(self) -> int:
        """Row after the box's last row."""
        return self.y0 + int(self.data.shape[0])

    @property
    def x1(self) -> int:
        """Column after the box's last column."""
        return self.x0 + int(self.data.shape[1])

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """``(y0, x0, y1, x1)``."""
        return (self.y0, self.x0, self.y1, self.x1)

    def apply(self, labels: np.ndarray) -> None:
        """Write this patch into ``labels`` (shape (y, x)) in place."""
        labels[self.y0:self.y1, self.x0:self.x1] = self.data

    def to_json(self) -> dict[str, Any]:
        """The patch as JSON-ready values.

        Returns
        -------
        dict
            ``y0``, ``x0``, ``h``, ``w``, ``dtype`` (``"<u4"``) and ``data``: the
            block's uint32 values, little-endian, row-major, base64-encoded.
        """
        raw = np.ascontiguousarray(self.data, dtype="<u4").tobytes()
        return {"y0": self.y0, "x0": self.x0, "h": int(self.data.shape[0]),
                "w": int(self.data.shape[1]), "dtype": "<u4",
                "data": base64.b64encode(raw).decode("ascii")}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Patch:
        """A patch from :meth:`to_json`'s record."""
        try:
            h, w = int(record["h"]), int(record["w"])
            raw = base64.b64decode(record["data"])
            data = np.frombuffer(raw, dtype="<u4").reshape(h, w).astype(np.uint32)
            return cls(int(record["y0"]), int(record["x0"]), data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"not a patch record: {exc}") from exc

    def __repr__(self) -> str:
        return f"Patch(y0={self.y0}, x0={self.x0}, shape={tuple(self.data.shape)})"
