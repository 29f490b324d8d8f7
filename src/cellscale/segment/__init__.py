"""Segmentation: a microscopy image in, an instance label image out.

======================================  ==========================================
:func:`segment`                          one image, with a shipped or given model
:class:`Segmenter`                       a model loaded once, for many images
:func:`segment_classical`                threshold + distance transform + watershed
:func:`instances_from_maps`              network maps (foreground, distance, centre) → labels
:func:`decode_maps`                      the same, for maps by kind and a card's thresholds
:func:`maps_from_labels`                 the foreground and distance maps of a label image
:func:`centre_from_labels`               the centre map of a label image
:func:`normalise`                        per-channel percentile normalisation
:func:`percentile_range`                 the (low, high) values normalisation maps to 0, 1
:func:`apply_ranges`                     normalise with given ranges (e.g. of a whole image)
:func:`select_channels`                  image channels for a model's inputs, by name
:func:`predict_tiled`                    run a network in overlapping, blended tiles
:func:`default_overlap`                  tile overlap for a model's largest objects
======================================  ==========================================

Networks run with ONNX Runtime through :mod:`cellscale.models`; nothing here
imports torch.
"""

from cellscale.segment._classical import segment_classical
from cellscale.segment._inputs import select_channels
from cellscale.segment._normalise import MAX_SAMPLES, apply_ranges, normalise, percentile_range
from cellscale.segment._postprocess import decode_maps, instances_from_maps, relabel_sequential
from cellscale.segment._segment import CLASSICAL, Segmenter, segment
from cellscale.segment._targets import centre_from_labels, maps_from_labels
from cellscale.segment._tiling import default_overlap, predict_tiled

__all__ = [
    "CLASSICAL",
    "MAX_SAMPLES",
    "Segmenter",
    "apply_ranges",
    "centre_from_labels",
    "decode_maps",
    "default_overlap",
    "instances_from_maps",
    "maps_from_labels",
    "normalise",
    "percentile_range",
    "predict_tiled",
    "relabel_sequential",
    "segment",
    "segment_classical",
    "select_channels",
]
