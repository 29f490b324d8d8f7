"""Segmentation: a microscopy image in, an instance label image out.

======================================  ==========================================
:func:`segment`                          one image, with a shipped or given model
:class:`Segmenter`                       a model loaded once, for many images
:func:`segment_classical`                threshold + distance transform + watershed
:func:`instances_from_maps`              network maps (foreground, distance) → labels
:func:`maps_from_labels`                 the maps a perfect network would output
:func:`normalise`                        per-channel percentile normalisation
:func:`predict_tiled`                    run a network in overlapping, blended tiles
======================================  ==========================================

Networks run with ONNX Runtime through :mod:`cellscale.models`; nothing here
imports torch.
"""

from cellscale.segment._classical import segment_classical
from cellscale.segment._normalise import normalise, percentile_range
from cellscale.segment._postprocess import instances_from_maps, maps_from_labels, relabel_sequential
from cellscale.segment._segment import CLASSICAL, Segmenter, segment
from cellscale.segment._tiling import predict_tiled

__all__ = [
    "CLASSICAL",
    "Segmenter",
    "instances_from_maps",
    "maps_from_labels",
    "normalise",
    "percentile_range",
    "predict_tiled",
    "relabel_sequential",
    "segment",
    "segment_classical",
]
