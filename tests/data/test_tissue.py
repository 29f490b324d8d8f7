"""simulate_tissue: packing, nuclei inside cells, marker compartments, spatial structure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellscale.data import MARKERS, simulate_tissue
from cellscale.data._tissue_layout import _Regions
from cellscale.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def tissue():
    return simulate_tissue(
        shape=(320, 320), seed=3, n_markers=6, epithelium_fraction=0.45, lumen_fraction=0.03, snr=30
    )


def test_channels_labels_and_table(tissue):
    s = tissue
    assert s.kind == "tissue" and s.image.axes == "cyx"
    assert s.image.channel_names == (
        "DNA",
        "membrane",
        "CD45",
        "panCK",
        "Ki67",
        "CD3",
        "CD68",
        "CD20",
    )
    assert s.image.dtype == np.uint16 and s.image.shape == (8, 320, 320)
    cells, nuclei = s.labels["cells"], s.labels["nuclei"]
    assert cells.dtype == nuclei.dtype == np.uint32
    assert set(np.unique(cells).tolist()) - {0} == set(s.cells["label"].tolist())
    assert {"cell_type", "region", "CD45", "panCK", "Ki67", "CD3"} <= set(s.cells.columns)
    assert s.cells["cell_type"].nunique() >= 5


def test_each_nucleus_lies_inside_its_own_cell(tissue):
    cells, nuclei = tissue.labels["cells"], tissue.labels["nuclei"]
    inside = nuclei > 0
    np.testing.assert_array_equal(nuclei[inside], cells[inside])
    with_nucleus = set(np.unique(nuclei).tolist()) - {0}
    assert len(with_nucleus) >= 0.97 * len(tissue.cells)
    # Nuclei are smaller than their cells and typically off centre.
    labels = tissue.cells["label"].to_numpy()
    a_cell = ndi.sum_labels(np.ones_like(cells), cells, labels)
    a_nuc = ndi.sum_labels(np.ones_like(nuclei), nuclei, labels)
    assert np.median(a_nuc / a_cell) < 0.8


def test_cells_fill_the_epithelium(tissue):
    p = tissue.params["resolved"]
    regions = _Regions(3, 10.5 * p["scale"], p["t_epi"], p["t_lumen"], p["t_agg"], 0.08)
    yy, xx = np.mgrid[0:320, 0:320]
    reg = regions.at(yy.ravel().astype(float), xx.ravel().astype(float)).reshape(320, 320)
    epi = ndi.binary_erosion(reg == 0, iterations=10)
    assert epi.sum() > 2000
    assert (tissue.labels["cells"][epi] == 0).mean() < 0.05
    stroma = ndi.binary_erosion(reg == 2, iterations=10)
    if stroma.sum() > 2000:
        assert (tissue.labels["cells"][stroma] == 0).mean() > (
            tissue.labels["cells"][epi] == 0
        ).mean()


def _compartment_means(s, channel):
    img = s.image.data[s.image.channel_index(channel)].astype(float)
    cells, nuclei = s.labels["cells"], s.labels["nuclei"]
    edge = (ndi.grey_dilation(cells, size=3) != ndi.grey_erosion(cells, size=3)) & (cells > 0)
    cyto = (cells > 0) & (nuclei == 0) & ~edge
    labels = s.cells["label"].to_numpy()
    with np.errstate(invalid="ignore"):  # cells without a compartment give NaN
        return {
            "membrane": ndi.mean(img, np.where(edge, cells, 0), labels),
            "cytoplasm": ndi.mean(img, np.where(cyto, cells, 0), labels),
            "nucleus": ndi.mean(img, nuclei, labels),
        }


@pytest.mark.parametrize(
    "marker, positive",
    [("panCK", "tumor"), ("CD45", "T_cytotoxic"), ("CD3", "T_helper"), ("CD68", "macrophage")],
)
def test_markers_separate_cell_types(tissue, marker, positive):
    comp = MARKERS[marker]
    m = _compartment_means(tissue, marker)[comp]
    types = tissue.cells["cell_type"].to_numpy()
    ok = ~np.isnan(m)
    pos = ok & (types == positive)
    neg = ok & (tissue.cells[marker].to_numpy() == 0)
    assert pos.sum() >= 5 and neg.sum() >= 5
    assert (
        np.median(m[pos])
        > np.median(m[neg])
        + 3 * (np.percentile(m[neg], 75) - np.percentile(m[neg], 25)) / 1.35 * 0.5
    )
    # The measured signal follows the ground-truth level.
    truth = tissue.cells[marker].to_numpy()
    assert np.corrcoef(truth[ok], m[ok])[0, 1] > 0.6


@pytest.mark.parametrize("marker", ["panCK", "CD45", "Ki67"])
def test_markers_stain_their_compartment(tissue, marker):
    means = _compartment_means(tissue, marker)
    pos = tissue.cells[marker].to_numpy() > 0.5
    comp = MARKERS[marker]
    # A cytoplasmic stain reaches the cell edge, so it is compared with the nucleus only.
    others = (
        ["nucleus"]
        if comp == "cytoplasm"
        else [c for c in ("membrane", "cytoplasm", "nucleus") if c != comp]
    )
    for other in others:
        ok = pos & ~np.isnan(means[comp]) & ~np.isnan(means[other])
        assert ok.sum() >= 5
        assert np.median(means[comp][ok] / means[other][ok]) > 1.15, (marker, other)


def test_cell_types_cluster_in_space(tissue):
    from scipy.spatial import cKDTree

    c = tissue.cells
    pts = c[["y", "x"]].to_numpy()
    _, nb = cKDTree(pts).query(pts, k=7)
    tumor = (c["cell_type"] == "tumor").to_numpy()
    same = tumor[nb[:, 1:]][tumor].mean()
    assert same > tumor.mean() + 0.25, "tumour cells neighbour tumour cells"


def test_determinism_and_options():
    a = simulate_tissue(shape=(96, 96), seed=1, n_markers=2)
    b = simulate_tissue(shape=(96, 96), seed=1, n_markers=2)
    c = simulate_tissue(shape=(96, 96), seed=2, n_markers=2)
    np.testing.assert_array_equal(a.image.data, b.image.data)
    np.testing.assert_array_equal(a.labels["cells"], b.labels["cells"])
    assert not np.array_equal(a.labels["cells"], c.labels["cells"])
    s = simulate_tissue(
        shape=(96, 96), seed=1, markers=["Ki67", "CD8"], cell_types=["tumor", "T_cytotoxic"]
    )
    assert s.image.channel_names == ("DNA", "membrane", "Ki67", "CD8")
    assert set(s.cells["cell_type"]) <= {"tumor", "T_cytotoxic"}
    with pytest.raises(InvalidArgumentError, match="valid markers"):
        simulate_tissue(markers=["CD999"])
    with pytest.raises(InvalidArgumentError, match="valid types"):
        simulate_tissue(cell_types=["neuron"])
