"""What the labelling server writes besides the labels store: a movie's CTC export, recovered edits.

Functions of one :class:`~cellscale.label._workspace.OpenImage` (its methods of
the same names call them, holding its lock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError

__all__ = ["export_ctc", "recover"]


def export_ctc(image: Any) -> dict[str, Any]:
    """Track the movie's current labels and write a Cell Tracking Challenge result beside it.

    The labels as they are now (saved or not; frames not opened yet are
    proposed first) are linked by :func:`cellscale.track.track` and written
    as ``<image stem>_RES/`` (``maskTTT.tif`` + ``res_track.txt``), replacing
    an earlier export. Track identities come from the tracker: the page
    does not edit them.
    """
    from cellscale.data._ctc import write_ctc_result
    from cellscale.label import labels_path
    from cellscale.track import track

    image.open()
    if "t" not in image.image.axes:
        raise InvalidArgumentError(
            f"{image.path.name} is one image, not a movie: the Cell Tracking Challenge format "
            "is for time-lapse movies (axes tyx)")
    labels = np.stack([image.frame(t).session.labels for t in range(image.n_frames)])
    tracked, lineage = track(labels, source=str(image.path))
    stem = labels_path(image.path).name[: -len(".labels.zarr")]
    folder = write_ctc_result(tracked, lineage, image.path.with_name(f"{stem}_RES"),
                              overwrite=True)
    divisions = int((lineage["parent"] > 0).sum()) if len(lineage) else 0
    return {"folder": str(folder), "frames": int(labels.shape[0]), "tracks": int(len(lineage)),
            "divisions": divisions}


def recover(image: Any, stamp: str) -> Path | None:
    """Write unsaved edits to ``<stem>.labels.unsaved-<stamp>.zarr`` (None: nothing unsaved).

    For a server stopping with edits nobody saved: the labels store is left
    as it is, and the edits are kept beside it as a plain OME-Zarr label
    image (frames never opened: their saved labels, else 0).
    """
    from cellscale.io import write_labels
    from cellscale.label import labels_path

    if image.image is None or not image.unsaved():
        return None
    planes = []
    for t in range(image.n_frames):
        if t in image.frames:
            planes.append(image.frames[t].session.labels)
        elif image.saved is not None:
            planes.append(image.saved[t])
        else:
            planes.append(np.zeros(image.plane_shape, np.uint32))
    movie = "t" in image.image.axes
    stem = labels_path(image.path).name[: -len(".labels.zarr")]
    return write_labels(np.stack(planes) if movie else planes[0],
                        image.path.with_name(f"{stem}.labels.unsaved-{stamp}.zarr"),
                        axes="tyx" if movie else "yx")
