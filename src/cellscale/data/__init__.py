"""Simulated microscopy images with exact ground truth (the simulator).

The models cellscale ships are trained on these images, so they aim to look
like real ones: irregular, textured, touching nuclei; tissue packed with cells
of several types; microscope blur, uneven background and camera noise.
Every function is deterministic given ``seed`` and returns a :class:`Sample`
(image, instance labels, a table of per-cell ground truth, parameters).
Images larger than 4096² are rendered lazily, chunk by chunk, with Dask.

======================  ===================================================
:func:`simulate_nuclei` fluorescence nuclei of cultured cells (DNA stain)
:func:`generalist_options` per-image options drawn from wide ranges (domain randomisation)
:func:`simulate_tissue` multiplexed tissue: DNA, membrane, marker channels
:func:`simulate_culture` cultured cells: DNA + stain, phase or bright field
:func:`culture_options` per-image options of simulate_culture (wide ranges)
:func:`simulate_movie`  live-cell time-lapse with tracks and lineage (CTC)
:func:`simulate_fish`   single-molecule FISH spots in cells, with codebooks
:func:`simulate_nuclei_3d` 3-D stacks of nuclei (anisotropic voxels, z-elongated PSF)
:func:`save_sample`     write a sample to a folder (OME-TIFF/OME-Zarr, CSV)
:func:`load_sample`     read it back
======================  ===================================================
"""

from cellscale.data._culture import CultureOptions, simulate_culture
from cellscale.data._culture_options import CULTURE_REGIMES, culture_options
from cellscale.data._fish import simulate_fish
from cellscale.data._generalist import REGIMES as GENERALIST_REGIMES
from cellscale.data._generalist import generalist_options
from cellscale.data._movie import simulate_movie
from cellscale.data._nuclei import NucleiOptions, simulate_nuclei
from cellscale.data._nuclei3d import Nuclei3DOptions, simulate_nuclei_3d
from cellscale.data._sample import Sample
from cellscale.data._save import load_sample, save_sample
from cellscale.data._tissue import CELL_TYPES, MARKERS, TissueOptions, simulate_tissue

__all__ = [
    "CELL_TYPES",
    "CULTURE_REGIMES",
    "CultureOptions",
    "GENERALIST_REGIMES",
    "MARKERS",
    "Nuclei3DOptions",
    "NucleiOptions",
    "Sample",
    "TissueOptions",
    "culture_options",
    "generalist_options",
    "load_sample",
    "save_sample",
    "simulate_culture",
    "simulate_fish",
    "simulate_movie",
    "simulate_nuclei",
    "simulate_nuclei_3d",
    "simulate_tissue",
]
