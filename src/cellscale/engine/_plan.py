"""Chunk plans for the engine: :mod:`cellscale.segment._plan`, which the segmentation core owns."""

from __future__ import annotations

from cellscale.segment._plan import Chunk, ChunkPlan, halo_for, plan_chunks

__all__ = ["Chunk", "ChunkPlan", "halo_for", "plan_chunks"]
