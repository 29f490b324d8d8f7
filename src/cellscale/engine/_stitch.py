"""Stitching for the engine: :mod:`cellscale.segment._stitch`, which the segmentation core owns."""

from __future__ import annotations

from cellscale.segment._stitch import assemble_core, chunk_offsets, keep_core_objects

__all__ = ["assemble_core", "chunk_offsets", "keep_core_objects"]
