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
:func:`uncertain_tiles`          the tiles the model is least sure of (active learning)
:func:`finetune`                 fine-tune a model on corrected labels in the background
===============================  ==================================================

The server (``make_app``, ``cellscale label``) builds on these; FastAPI is
imported only there.
"""

from cellscale.label._active import uncertain_tiles
from cellscale.label._edit import EditSession
from cellscale.label._finetune import FinetuneJob, finetune
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
    "FinetuneJob",
    "LabelConflictError",
    "LabelHistoryWarning",
    "LabelShapeError",
    "LabelStore",
    "Patch",
    "finetune",
    "labels_path",
    "propose",
    "uncertain_tiles",
]
