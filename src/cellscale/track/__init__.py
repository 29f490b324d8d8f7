"""Tracking: segmented movies in, cells followed through time out.

======================================  ==========================================
:func:`track`                            label movie → labels relabelled by track
                                         + lineage (CTC ``label, begin, end, parent``)
:func:`tracks_table`                     one row per cell and frame, for napari's
                                         tracks layer (``track_id, t, y, x, parent``)
:func:`score_tracking`                   TRA, DET, division F1 with py-ctcmetrics
======================================  ==========================================
"""

from cellscale.track._table import tracks_table
from cellscale.track._track import track

__all__ = ["score_tracking", "track", "tracks_table"]


def __getattr__(name: str):  # score_tracking imports py-ctcmetrics only when asked for
    if name == "score_tracking":
        from cellscale.track._score import score_tracking

        return score_tracking
    raise AttributeError(f"module 'cellscale.track' has no attribute {name!r}")
