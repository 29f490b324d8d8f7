"""The core of ``cellscale label``: labels on disk, the editing tools, the model's proposals.

===============================  ==================================================
:func:`labels_path`              ``<image stem>.labels.zarr`` beside an image
:class:`LabelStore`              load / save (atomic, versioned, conflict-checked)
                                 and the edit history of one image's labels
:class:`EditSession`             paint, erase, fill, delete, merge, split,
                                 add a cell, undo/redo on one label plane
:class:`Patch`                   the block of labels an edit changed
:func:`propose`                  the model's labels and maps of one plane
:class:`LabelConflictError`      the labels on disk moved on since they were loaded
===============================  ==================================================

No web code lives here; the browser page and the server build on this.
"""

from cellscale.label._edit import EditSession
from cellscale.label._history import LabelHistoryWarning
from cellscale.label._patch import Patch
from cellscale.label._propose import propose
from cellscale.label._store import (
    LabelConflictError,
    LabelShapeError,
    LabelStore,
    labels_path,
)

__all__ = [
    "EditSession",
    "LabelConflictError",
    "LabelHistoryWarning",
    "LabelShapeError",
    "LabelStore",
    "Patch",
    "labels_path",
    "propose",
]
