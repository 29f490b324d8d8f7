"""``segment`` and ``Segmenter``: an image in, a label image out."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError
from cellscale.segment._adapters import is_peer_spec, load_peer
from cellscale.segment._classical import segment_classical
from cellscale.segment._core import (
    CHUNK_SIZE,
    image_settings,
    network_maps,
    read_block,
    sample,
    segment_chunked,
)
from cellscale.segment._inputs import as_image, channel_stack, select_channels
from cellscale.segment._normalise import apply_ranges
from cellscale.segment._stack import check_views, is_stack, segment_stack
from cellscale.segment._tiling import default_overlap

__all__ = ["CLASSICAL", "Segmenter", "segment"]

#: The model name that selects :func:`segment_classical` instead of a network.
CLASSICAL = "classical"

Channels = Sequence[str | int | None] | None


class Segmenter:
    """A model loaded once, ready to segment many images.

    Parameters
    ----------
    model : str, path-like or Model
        A shipped model's name (``"nuclei"``, ``"cells"``), a path or URL of a
        model card (see :func:`cellscale.models.load_model`), a loaded
        :class:`cellscale.models.Model`, ``"classical"`` for the
        threshold-and-watershed baseline (nuclei only, one DNA channel), or a
        Cellpose 3 model installed by the user: ``"cellpose[:TYPE|PATH]"``
        (see :mod:`cellscale.segment._adapters`).
    channels : sequence of str, int or None, optional
        The image's channels to feed the model's inputs
        (``model.card.inputs.channels``), in that order, by name or index;
        None (or ``"none"``) leaves a role blank, e.g. ``(None, 0)`` for the
        ``cells`` model on a phase-contrast, bright-field or cytoplasm image
        without a nuclear stain.
        Default: by name (case-insensitive; DAPI/Hoechst/DRAQ5 count as DNA),
        else all channels in order when their number is what the model needs.
    tile_size : int
        Largest tile side in pixels; larger images are cut into overlapping
        tiles. Default 1024 (larger tiles waste less work on overlaps; 512
        needs less memory). The result does not depend on it (see Notes).
    overlap : int, optional
        Least overlap of neighbouring tiles; default the model's largest
        object diameter rounded up to its size multiple.
    compartment : {"cells", "nuclei"}, optional
        Which objects to return; default ``"cells"`` when the model outputs
        them, else ``"nuclei"``.
    batch_size : int
        Tiles per network call. Default 4.
    threads : int, optional
        CPU threads of the network runtime; default the runtime's own choice.
        Used when loading the model; a loaded Model keeps its own setting.
    diameter : float, "auto" or None
        Typical object diameter in pixels. Images whose objects lie outside
        the sizes the network segments best (:data:`~cellscale.segment._scale.SWEET_SPOT`,
        12-30 px) are resized for the network (small objects to 12 px, large
        ones to 20 px) and the labels mapped back.
        ``"auto"`` (default) estimates it from a first pass and runs a second
        pass only when needed; None never resizes. A Cellpose model gets it
        as Cellpose's own ``diameter`` (``"auto"``: the model's default).
    pixel_size : float, optional
        Pixel size of the images in µm, overriding what their files say. When
        the model's card states the pixel size it was trained at, images are
        resized to it (and ``diameter`` is not used); the shipped models are
        trained in pixels (no pixel size), so for them it only labels the output.
    chunk_size : int
        Images larger than this many pixels along y or x are segmented in
        chunks of this side (plus a halo derived from the model's object size)
        and stitched, reading one row of chunks at a time from a lazy image,
        exactly as ``cellscale run`` does with the same chunk size. Default
        2048: a typical image is one chunk.
    anisotropy : float, optional
        z-stacks only: z step over xy pixel size. Default: from the image's
        ``z`` and ``x`` pixel sizes, else 1 (with a warning).
    views : sequence of {"yx", "zx", "zy"}
        z-stacks only: the planes the 2-D network runs on, averaged (see
        :mod:`cellscale.segment._volume`). Default all three; ``("yx",)``
        is 2-5x faster and less accurate (F1@0.5 0.875 against 0.925 on
        simulated stacks).

    Attributes
    ----------
    model : Model or None
        The loaded network; None for ``"classical"`` and peers.
    peer : PeerModel or None
        The loaded Cellpose model, if one was asked for.
    compartment : str
        The object kind this segmenter returns.
    scale : float
        Resize factor the last image was segmented at (1.0: its own size).
    estimated_diameter : float or None
        The last image's typical object diameter in its pixels: the given
        ``diameter``, or what ``"auto"`` found across scales (see
        :mod:`cellscale.segment._estimate`); None when unknown.
    confidence : float or None
        How sure the model was on the last image, 0-1: the F1@0.5 between its
        objects and those found on the image flipped (1.0: identical). Below
        0.7 a warning is added. None for classical and peer models, or with
        too few objects to tell.
    warnings : list of str
        What the user should know about the last image (an unconfirmed size
        estimate, objects outside the model's range, low confidence).
    timings : dict of str to float
        Seconds spent in ``"normalise"`` (reading pixels, choosing channels,
        normalising), ``"network"`` (tiling, inference, blending) and
        ``"postprocess"`` (maps to labels) by the last call, network models also
        ``"estimate"`` (size passes at other scales and the flipped pass), and
        their ``"total"``.

    Notes
    -----
    Network models segment through the one core, :mod:`cellscale.segment._core`:
    normalisation ranges and the resize factor are fixed for the whole image,
    the network runs on overlapping tiles whose outputs are blended into maps,
    and instances are formed from those maps, so no tile border cuts an
    object. This assumes the network's output at a pixel depends, up to a
    small error, only on the input within ``overlap / 2`` pixels (see
    :mod:`cellscale.segment._tiling`). Memory for an image of one chunk: the
    image as float32 plus the float32 maps of its size; for larger images,
    three rows of chunks plus the output labels.

    Examples
    --------
    >>> from cellscale.data import simulate_nuclei
    >>> seg = Segmenter("classical")
    >>> labels = seg(simulate_nuclei(shape=(96, 96), seed=2, diameter=14).image)
    >>> labels.shape, sorted(seg.timings)
    ((96, 96), ['network', 'normalise', 'postprocess', 'total'])
    """

    def __init__(
        self,
        model: Any = "nuclei",
        *,
        channels: Channels = None,
        tile_size: int = 1024,
        overlap: int | None = None,
        compartment: str | None = None,
        batch_size: int = 4,
        threads: int | None = None,
        diameter: float | str | None = "auto",
        pixel_size: float | None = None,
        chunk_size: int = CHUNK_SIZE,
        anisotropy: float | None = None,
        views: Sequence[str] = ("yx", "zx", "zy"),
    ) -> None:
        _positive("tile_size", tile_size)
        if anisotropy is not None and not (isinstance(anisotropy, (int, float, np.integer, np.floating))
                                           and not isinstance(anisotropy, bool) and anisotropy > 0):
            raise InvalidArgumentError(f"anisotropy must be a positive number, got {anisotropy!r}")
        self.anisotropy = None if anisotropy is None else float(anisotropy)
        self.views = check_views(views)
        _positive("chunk_size", chunk_size)
        self.chunk_size = int(chunk_size)
        if pixel_size is not None and not (
                isinstance(pixel_size, (int, float, np.integer, np.floating))
                and not isinstance(pixel_size, bool) and pixel_size > 0):
            raise InvalidArgumentError(
                f"pixel_size must be a positive number of µm, got {pixel_size!r}")
        self.pixel_size = None if pixel_size is None else float(pixel_size)
        self._image_pixel: float | None = None
        if not (diameter is None or diameter == "auto" or (
                isinstance(diameter, (int, float, np.integer, np.floating))
                and not isinstance(diameter, bool) and diameter > 0)):
            raise InvalidArgumentError(
                f"diameter must be a positive number of pixels, 'auto' or None, got {diameter!r}")
        self.diameter = diameter
        self.scale = 1.0
        self.estimated_diameter: float | None = None
        self.confidence: float | None = None
        self.warnings: list[str] = []
        _positive("batch_size", batch_size)
        if overlap is not None and (not isinstance(overlap, (int, np.integer)) or overlap < 0):
            raise InvalidArgumentError(f"overlap must be a non-negative integer, got {overlap!r}")
        if isinstance(channels, (str, int)):
            channels = [channels]
        self.channels = list(channels) if channels is not None else None
        self.tile_size = int(tile_size)
        self.batch_size = int(batch_size)
        self.timings: dict[str, float] = {}
        self.peer = None
        if isinstance(model, str) and model == CLASSICAL:
            self.model = None
            self.name = CLASSICAL
            self.inputs = ["DNA"]
            objects = ["nuclei"]
        elif is_peer_spec(model):
            self.model = None
            self.peer = load_peer(model, diameter=diameter)
            self.name = self.peer.name
            objects = self.peer.objects
            if compartment is None:
                compartment = "nuclei" if "nuclei" in model.lower() else objects[0]
            self.inputs = self.peer.inputs if compartment == "cells" else ["DNA"]
        else:
            self.model = _load(model, threads)
            card = self.model.card
            self.name = card.name
            self.inputs = list(card.inputs.channels)
            objects = card.objects()
        if compartment is None:
            compartment = "cells" if "cells" in objects else objects[0]
        if compartment not in objects:
            raise InvalidArgumentError(
                f"model {self.name!r} outputs {', '.join(map(repr, objects))}; "
                f"compartment {compartment!r} is not among them"
            )
        self.compartment = compartment
        if self.model is not None:
            multiple = self.model.card.inputs.size_multiple
            self.overlap = int(overlap) if overlap is not None else default_overlap(
                self.model.card.inputs.diameter_range[1], multiple)
        else:
            self.overlap = int(overlap or 0)

    def __repr__(self) -> str:
        return (f"Segmenter(model={self.name!r}, compartment={self.compartment!r}, "
                f"tile_size={self.tile_size}, overlap={self.overlap})")

    def maps(self, image: Any, *, axes: str | None = None) -> dict[str, np.ndarray]:
        """The blended network maps of this segmenter's compartment.

        Parameters
        ----------
        image : Image or ndarray
            As for :meth:`__call__`.
        axes : str, optional
            As for :meth:`__call__`.

        Returns
        -------
        dict of str to ndarray of float32, shape (y, x)
            ``"<compartment>.foreground"``, ``"<compartment>.distance"`` and,
            when the model has one, ``"<compartment>.centre"``.
        """
        if self.model is None:
            raise InvalidArgumentError(f"model {self.name!r} has no network maps")
        self.timings = {"normalise": 0.0, "network": 0.0, "postprocess": 0.0}
        img, chosen = self._image(image, axes)
        samples, _ = sample(img, chosen, source=str(img.source or ""))
        settings = image_settings(self.model.card, samples, compartments=[self.compartment],
                                  scale=1.0, tile_size=self.tile_size, overlap=self.overlap,
                                  batch_size=self.batch_size)
        whole = (0, img.sizes["y"], 0, img.sizes["x"])
        data = apply_ranges(read_block(img, chosen, whole), list(settings.ranges))
        kinds = self.model.card.maps(self.compartment)
        if not data.any():
            return {f"{self.compartment}.{k}": np.zeros(data.shape[1:], np.float32)
                    for k in kinds}
        maps = network_maps(self.model, data, [self.compartment], tile_size=self.tile_size,
                            overlap=self.overlap, batch_size=self.batch_size)
        return {f"{self.compartment}.{k}": m for k, m in maps[self.compartment].items()}

    def __call__(self, image: Any, *, axes: str | None = None, out: Any = None) -> Any:
        """Segment one 2-D image, or the nuclei of one z-stack in 3-D.

        Parameters
        ----------
        image : Image or ndarray, shape (y, x), (c, y, x), (z, y, x) or (c, z, y, x)
            An :class:`cellscale.io.Image` with axes ``yx`` or ``cyx`` (singleton
            ``t``/``z`` allowed), or an array; arrays of more than two
            dimensions need ``axes``. A z-stack (``zyx``, ``czyx``) is
            segmented in 3-D (:mod:`cellscale.segment._stack`; network
            models, nuclei only) and gives ``(z, y, x)`` labels.
        axes : str, optional
            Axes of an array, e.g. ``"cyx"`` or ``"yxc"``.
        out : array-like, shape (y, x), optional
            Where to write the labels (e.g. a uint32 Zarr array), chunk row by
            chunk row, so a lazy image larger than memory is segmented in
            bounded memory; network models only. Default: a new array.

        Returns
        -------
        ndarray of uint32, shape (y, x)
            0 = background; objects numbered 1 .. n. All zeros for an image
            whose chosen channels are constant. ``out`` when given.

        Raises
        ------
        InvalidAxesError
            An array of 3+ dimensions without ``axes``; a time series.
        InvalidImageError
            An empty image, a non-numeric one, or NaN/infinite pixels.
        InvalidArgumentError
            Channels that cannot be matched to the model's inputs (the message
            lists both).
        """
        start = time.perf_counter()
        self.timings = {"normalise": 0.0, "network": 0.0, "postprocess": 0.0}
        self.scale, self.estimated_diameter, self.confidence = 1.0, None, None
        self.warnings = []
        if is_stack(image, axes):  # z-stacks: 3-D nuclei (cellscale.segment._stack)
            return segment_stack(self, image, axes=axes, out=out, start=start)
        img, chosen = self._image(image, axes)
        if self.model is not None:
            pixel = self.pixel_size or self._image_pixel
            labels, estimate = segment_chunked(
                self.model, img, chosen, compartments=[self.compartment],
                diameter=self.diameter, pixel_size=pixel, tile_size=self.tile_size,
                overlap=self.overlap, batch_size=self.batch_size, chunk_size=self.chunk_size,
                out=None if out is None else (lambda _c, _shape: out), timings=self.timings)
            self.scale, self.estimated_diameter = estimate.scale, estimate.diameter
            self.confidence, self.warnings = estimate.confidence, list(estimate.warnings)
            self.timings["total"] = time.perf_counter() - start
            return labels[self.compartment]
        if out is not None:
            raise InvalidArgumentError(f"out= needs a network model; {self.name!r} is not one")
        stack = channel_stack(img, chosen)
        if self.peer is not None:
            # Network and post-processing both happen inside the peer's own call.
            labels = self.peer(stack)
            self.timings["network"] = time.perf_counter() - start
        else:
            self.timings["normalise"] = time.perf_counter() - start
            t0 = time.perf_counter()
            labels = segment_classical(stack[0])
            self.timings["postprocess"] = time.perf_counter() - t0
        self.timings["total"] = time.perf_counter() - start
        return labels

    # -- steps --------------------------------------------------------------------------
    def _image(self, image: Any, axes: str | None) -> tuple[Any, list[int]]:
        """The checked 2-D image and the indices of the channels for the model's inputs."""
        img = as_image(image, axes=axes)
        self._image_pixel = img.pixel_size.get("x") or img.pixel_size.get("y")
        chosen = select_channels(img, self.inputs, self.channels, model=f"model {self.name!r}")
        return img, chosen


def segment(
    image: Any,
    *,
    model: Any = "nuclei",
    channels: Channels = None,
    tile_size: int = 1024,
    overlap: int | None = None,
    compartment: str | None = None,
    batch_size: int = 4,
    threads: int | None = None,
    diameter: float | str | None = "auto",
    pixel_size: float | None = None,
    chunk_size: int = CHUNK_SIZE,
    axes: str | None = None,
    anisotropy: float | None = None,
) -> np.ndarray:
    """Segment nuclei or whole cells in a 2-D image.

    A thin wrapper: ``Segmenter(model, ...)(image, axes=axes)``; build a
    :class:`Segmenter` to segment many images with one loaded model.

    Parameters
    ----------
    image : Image or ndarray, shape (y, x) or (c, y, x)
        See :meth:`Segmenter.__call__`.
    model, channels, tile_size, overlap, compartment, batch_size, threads, diameter, pixel_size, chunk_size
        See :class:`Segmenter`.
    axes : str, optional
        Axes of an array image, e.g. ``"cyx"`` or ``"zyx"``; needed for arrays that are not 2-D.
    anisotropy : float, optional
        For a z-stack; see :class:`Segmenter`.

    Returns
    -------
    ndarray of uint32, shape (y, x)
        0 = background; objects numbered 1 .. n.

    Examples
    --------
    >>> from cellscale.data import simulate_nuclei
    >>> sample = simulate_nuclei(shape=(128, 128), seed=1, diameter=16, density=0.2)
    >>> labels = segment(sample.image, model="classical")
    >>> labels.dtype.name, labels.shape
    ('uint32', (128, 128))
    """
    segmenter = Segmenter(model, channels=channels, tile_size=tile_size, overlap=overlap,
                          compartment=compartment, batch_size=batch_size, threads=threads,
                          diameter=diameter, pixel_size=pixel_size, chunk_size=chunk_size,
                          anisotropy=anisotropy)
    return segmenter(image, axes=axes)


def _load(model: Any, threads: int | None) -> Any:
    if hasattr(model, "card") and hasattr(model, "predict"):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidArgumentError(
            f"model must be a model name, a path or URL of a model card, a loaded Model or "
            f"{CLASSICAL!r}; got {type(model).__name__}"
        )
    from cellscale.models import load_model

    return load_model(model, threads=threads)


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
