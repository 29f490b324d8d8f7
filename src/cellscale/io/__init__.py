"""Reading and writing images, label images and cell tables.

An :class:`Image` carries named axes (a subset of ``t, c, z, y, x``), channel
names and pixel size. Readers infer axes where unambiguous and take them
explicitly otherwise; files larger than a memory budget are read lazily.
"""

from cellscale.io._atomic import atomic_output, check_output_path
from cellscale.io._image import AXES_ORDER, Image, validate_axes

__all__ = ["AXES_ORDER", "Image", "atomic_output", "check_output_path", "validate_axes"]
