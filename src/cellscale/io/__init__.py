"""Reading and writing images, label images and cell tables.

An :class:`Image` carries named axes (a subset of ``t, c, z, y, x``), channel
names and pixel size. Readers infer axes where unambiguous and take them
explicitly otherwise; files larger than a memory budget are read lazily.

======================  =====================================================
function                formats
======================  =====================================================
:func:`read`            TIFF, OME-TIFF, ImageJ TIFF, PNG, JPEG, OME-Zarr,
                        folders of image files, glob patterns
:func:`write_image`     OME-Zarr (NGFF 0.5, multiscale), OME-TIFF, PNG
:func:`read_labels`,    TIFF, OME-Zarr ``labels/<name>``
:func:`write_labels`
:func:`read_table`,     ``.h5ad``, AnnData ``.zarr``, flat ``.parquet``
:func:`write_table`
:func:`describe`        header-only summary of anything :func:`read` accepts
:func:`describe_path`   the same, and cellscale's outputs: results stores,
                        OME-Zarr label images
:func:`write_store`,    results store: SpatialData-compatible Zarr (images,
:func:`open_store`      labels, points, tables); ``create_store`` + ``add_*``
                        write it one element at a time
======================  =====================================================

Format libraries (tifffile, zarr, ome-zarr, Pillow, anndata, Dask) are
imported inside the functions that use them, so importing this package is fast.
"""

from cellscale.io._atomic import atomic_output, check_output_path
from cellscale.io._axes import infer_axes
from cellscale.io._common import MAX_PIXELS, parse_memory
from cellscale.io._dataset import find_pairs
from cellscale.io._describe import ImageInfo, describe
from cellscale.io._describe_store import LabelsInfo, StoreInfo, describe_path
from cellscale.io._image import AXES_ORDER, Image, validate_axes
from cellscale.io._paths import check_output
from cellscale.io._read import read, read_labels
from cellscale.io._store import (
    add_image,
    add_labels,
    add_points,
    add_table,
    create_store,
    write_store,
)
from cellscale.io._store_read import Store, open_store
from cellscale.io._table import read_table, write_table
from cellscale.io._write import write_image, write_labels

__all__ = [
    "AXES_ORDER",
    "MAX_PIXELS",
    "Image",
    "ImageInfo",
    "LabelsInfo",
    "Store",
    "StoreInfo",
    "add_image",
    "add_labels",
    "add_points",
    "add_table",
    "atomic_output",
    "check_output",
    "check_output_path",
    "create_store",
    "describe",
    "describe_path",
    "find_pairs",
    "infer_axes",
    "open_store",
    "parse_memory",
    "read",
    "read_labels",
    "read_table",
    "validate_axes",
    "write_image",
    "write_labels",
    "write_store",
    "write_table",
]
