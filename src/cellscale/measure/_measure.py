"""``measure``: one row per cell, one column per channel, in an AnnData table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError
from cellscale.measure import _shape
from cellscale.measure._inputs import as_field, compact_labels, spot_table
from cellscale.measure._regions import channel_sums, count_spots, match_nuclei, touching_pairs

__all__ = ["COMPARTMENTS", "measure"]

#: Compartments measured per channel: layers ``mean_<c>`` and ``sum_<c>``.
COMPARTMENTS = ("cell", "nucleus", "cytoplasm")


def measure(
    image: Any,
    *,
    cells: Any = None,
    nuclei: Any = None,
    channel_names: Sequence[str] | None = None,
    pixel_size: float | Mapping[str, float] | None = None,
    image_id: str | None = None,
    points: Any = None,
) -> Any:
    """Measure every cell of one 2-D field: intensities per compartment, shape, neighbours.

    Parameters
    ----------
    image : cellscale.io.Image or numpy.ndarray, axes ``"yx"`` or ``"cyx"``
        The pixels. A Dask-backed image is loaded (one field must fit in memory;
        the engine splits larger data).
    cells : numpy.ndarray of int, shape (y, x), optional
        Whole-cell labels (0 = background).
    nuclei : numpy.ndarray of int, shape (y, x), optional
        Nuclear labels. With ``cells``, each nucleus is matched to the cell that
        holds more than half of its pixels (a cell keeps the nucleus it overlaps
        most). Without ``cells``, the nuclei are the cells: nucleus and cell
        compartments are the same and there is no cytoplasm.
    channel_names : sequence of str, optional
        One name per channel; default the image's names (``channel_<i>`` for arrays).
    pixel_size : float or mapping, optional
        µm per pixel (one number, or ``{"y": ..., "x": ...}``); default the
        image's. Without one, the µm columns are NaN.
    image_id : str, optional
        Name of the field; fills ``obs["image_id"]`` and prefixes ``obs_names``
        (``"<image_id>_<label>"``) so tables of several fields concatenate.
    points : pandas.DataFrame or numpy.ndarray, optional
        Spots with columns ``y``, ``x`` (pixels) and optionally ``gene``, or an
        (n, 2) array of (y, x). Counted per cell by the pixel they fall in.

    Returns
    -------
    anndata.AnnData, shape (n_cells, n_channels)
        ``X`` (float32): mean intensity over the whole cell. ``var_names``: the
        channels. ``layers``: ``mean_<compartment>`` and ``sum_<compartment>``
        for ``cell``, ``nucleus`` and ``cytoplasm`` (cytoplasm = cell minus its
        nucleus; NaN means where a compartment is missing or empty), and
        ``nc_ratio`` (mean nucleus / mean cytoplasm). ``obs``: ``label`` (the id in
        the label image measured: cells, or nuclei without cells), ``image_id``,
        ``centroid_y``, ``centroid_x`` (pixels), ``centroid_y_um``,
        ``centroid_x_um``, ``area`` (pixels), ``area_um2``, ``perimeter``,
        ``perimeter_um``, ``eccentricity``, ``solidity``, ``nucleus_label`` (0 = none),
        ``nucleus_area``, ``cytoplasm_area``, ``nc_area_ratio`` (nucleus area /
        cytoplasm area), ``n_neighbours`` (cells touching it, sides or corners)
        and, with points, ``n_spots``. ``obsm["spatial"]``: centroid (x, y) in
        pixels of the label image; ``obsm["spots"]``: counts per gene (with a
        ``gene`` column). ``obsp["touching"]``: the touching graph (CSR).
        ``uns["cellscale_measure"]``: pixel size, compartments, spots off cells.

    Raises
    ------
    InvalidArgumentError
        Neither ``cells`` nor ``nuclei``, or a wrong number of channel names.
    InvalidImageError, InvalidAxesError
        Labels that are not integer, negative, or of another (y, x) shape than
        the image; images with ``t`` or ``z`` axes.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.ones((2, 8, 8), np.float32); img[1] *= 3
    >>> cells = np.zeros((8, 8), np.int32); cells[1:4, 1:4] = 7; cells[4:7, 4:8] = 9
    >>> table = measure(img, cells=cells, channel_names=["DNA", "CD45"], pixel_size=0.5)
    >>> table.obs["label"].tolist(), table.obs["area_um2"].tolist()
    ([7, 9], [2.25, 3.0])
    >>> table.X[:, 1].tolist(), table.obs["n_neighbours"].tolist()
    ([3.0, 3.0], [1, 1])
    """
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    if cells is None and nuclei is None:
        raise InvalidArgumentError("measure needs cells=, nuclei= or both (label images)")
    field = as_field(image, channel_names=channel_names, pixel_size=pixel_size)
    shape = field.pixels.shape[1:]
    main = compact_labels(cells if cells is not None else nuclei,
                          name="cells" if cells is not None else "nuclei", shape=shape)
    n, n_channels = main.n, field.pixels.shape[0]
    geometry = _shape.moments(main.image, n)
    area = geometry["area"]
    sums = {"cell": channel_sums(field.pixels, main.image, n)}
    nucleus_label = np.zeros(n, dtype=np.int64)
    nucleus_area = np.full(n, np.nan)
    if cells is None:  # the nuclei are the cells
        nucleus_label = main.ids.copy()
        nucleus_area = area.copy()
        sums["nucleus"] = sums["cell"]
        sums["cytoplasm"] = np.full((n, n_channels), np.nan)
        cyto_area = np.full(n, np.nan)
    elif nuclei is None:
        sums["nucleus"] = sums["cytoplasm"] = np.full((n, n_channels), np.nan)
        cyto_area = np.full(n, np.nan)
    else:
        nuc = compact_labels(nuclei, name="nuclei", shape=shape)
        cell_of, nucleus_of = match_nuclei(main.image, nuc.image, n, nuc.n)
        has = nucleus_of > 0
        nucleus_sums = channel_sums(field.pixels, nuc.image, nuc.n)
        nuc_area = np.bincount(nuc.image.ravel(), minlength=nuc.n + 1)[1:].astype(float)
        lut = np.concatenate([[0], cell_of])
        in_own = (nuc.image > 0) & (lut[nuc.image] == main.image)  # nucleus pixels in its cell
        overlap_sums = channel_sums(field.pixels, main.image, n, mask=in_own)
        overlap_area = np.bincount(main.image[in_own], minlength=n + 1)[1:].astype(float)
        sums["nucleus"] = np.where(has[:, None], nucleus_sums[np.maximum(nucleus_of - 1, 0)], np.nan)
        sums["cytoplasm"] = sums["cell"] - overlap_sums
        nucleus_label = np.where(has, nuc.ids[np.maximum(nucleus_of - 1, 0)], 0)
        nucleus_area = np.where(has, nuc_area[np.maximum(nucleus_of - 1, 0)], np.nan)
        cyto_area = area - overlap_area
    with np.errstate(divide="ignore", invalid="ignore"):
        areas = {"cell": area, "nucleus": nucleus_area, "cytoplasm": cyto_area}
        means = {k: sums[k] / np.where(areas[k] > 0, areas[k], np.nan)[:, None] for k in COMPARTMENTS}
        nc_ratio = means["nucleus"] / means["cytoplasm"]
        nc_area = nucleus_area / np.where(cyto_area > 0, cyto_area, np.nan)
    pairs = touching_pairs(main.image)
    graph = sparse.coo_matrix((np.ones(len(pairs) * 2, np.float32),
                               (np.r_[pairs[:, 0], pairs[:, 1]] - 1, np.r_[pairs[:, 1], pairs[:, 0]] - 1)),
                              shape=(n, n)).tocsr()
    um_y, um_x = field.pixel_size if field.pixel_size else (np.nan, np.nan)
    per = _shape.perimeter(main.image, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        solidity = area / _shape.convex_area(main.image, n)
    obs = pd.DataFrame({
        "label": main.ids,
        "image_id": pd.Categorical([image_id or ""] * n),
        "centroid_y": geometry["y"], "centroid_x": geometry["x"],
        "centroid_y_um": geometry["y"] * um_y, "centroid_x_um": geometry["x"] * um_x,
        "area": area.astype(np.int64), "area_um2": area * um_y * um_x,
        "perimeter": per,
        "perimeter_um": per * np.sqrt(um_y * um_x),
        "eccentricity": _shape.eccentricity(geometry), "solidity": solidity,
        "nucleus_label": nucleus_label.astype(np.int64), "nucleus_area": nucleus_area,
        "cytoplasm_area": cyto_area, "nc_area_ratio": nc_area,
        "n_neighbours": np.diff(graph.indptr).astype(np.int64),
    })
    obsm: dict[str, Any] = {"spatial": np.stack([geometry["x"], geometry["y"]], axis=1)}
    uns_info: dict[str, Any] = {
        "compartments": list(COMPARTMENTS),
        "pixel_size_um": list(field.pixel_size) if field.pixel_size else None,
        "labels": "cells" if cells is not None else "nuclei",
    }
    if points is not None:
        y, x, gene = spot_table(points)
        total, per_gene, off = count_spots(main.image, n, y, x, gene)
        obs["n_spots"] = total.astype(np.int64)
        uns_info["spots_off_cells"] = off
        if per_gene is not None:
            obsm["spots"] = per_gene
    prefix = f"{image_id}_" if image_id else ""
    obs.index = pd.Index([f"{prefix}{i}" for i in main.ids])
    for frame in obsm.values():
        if isinstance(frame, pd.DataFrame):
            frame.index = obs.index
    layers = {f"mean_{k}": means[k].astype(np.float32) for k in COMPARTMENTS}
    layers.update({f"sum_{k}": sums[k] for k in COMPARTMENTS})
    layers["nc_ratio"] = nc_ratio.astype(np.float32)
    table = ad.AnnData(
        X=means["cell"].astype(np.float32), obs=obs,
        var=pd.DataFrame(index=pd.Index(list(field.channel_names))),
        layers=layers, obsm=obsm, obsp={"touching": graph},
        uns={"cellscale_measure": uns_info},
    )
    return table
