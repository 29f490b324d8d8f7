"""measure: hand-computed values on small synthetic labels, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.measure import regionprops

from cellscale.errors import InvalidArgumentError, InvalidAxesError, InvalidImageError
from cellscale.io import Image
from cellscale.measure import match_nuclei, measure


@pytest.fixture
def scene():
    """Two touching cells (ids 5, 9) with nuclei (ids 2, 3) and one lone cell (id 20)."""
    cells = np.zeros((12, 16), np.int32)
    cells[1:6, 1:7] = 5      # 5 x 6 = 30 px
    cells[1:6, 7:11] = 9     # 5 x 4 = 20 px, touches 5
    cells[8:11, 12:15] = 20  # 3 x 3 = 9 px, alone
    nuclei = np.zeros_like(cells)
    nuclei[2:4, 2:4] = 2     # 4 px inside cell 5
    nuclei[2:5, 8:10] = 3    # 6 px inside cell 9
    img = np.zeros((2, 12, 16), np.float32)
    img[0][nuclei > 0] = 10.0          # DNA only in nuclei
    img[1][cells > 0] = 1.0            # marker everywhere in cells ...
    img[1][cells == 9] = 4.0           # ... brighter in cell 9
    return img, cells, nuclei


def test_compartments_areas_and_means(scene):
    img, cells, nuclei = scene
    t = measure(img, cells=cells, nuclei=nuclei, channel_names=["DNA", "CD45"],
                pixel_size=0.5, image_id="f1")
    assert t.var_names.tolist() == ["DNA", "CD45"]
    assert t.obs["label"].tolist() == [5, 9, 20]
    assert t.obs_names.tolist() == ["f1_5", "f1_9", "f1_20"]
    assert t.obs["area"].tolist() == [30, 20, 9]
    assert t.obs["area_um2"].tolist() == pytest.approx([7.5, 5.0, 2.25])
    assert t.obs["nucleus_label"].tolist() == [2, 3, 0]
    assert t.obs["nucleus_area"].tolist()[:2] == [4, 6]
    assert t.obs["cytoplasm_area"].tolist() == [26, 14, 9]
    assert t.obs["nc_area_ratio"].tolist()[:2] == pytest.approx([4 / 26, 6 / 14])
    dna = t.var_names.get_loc("DNA")
    # whole-cell DNA mean = 10 * nucleus area / cell area
    assert t.X[:, dna].tolist() == pytest.approx([40 / 30, 60 / 20, 0.0])
    assert t.layers["mean_nucleus"][:2, dna].tolist() == pytest.approx([10.0, 10.0])
    assert t.layers["mean_cytoplasm"][:, dna].tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert np.isnan(t.layers["mean_nucleus"][2]).all()  # cell 20 has no nucleus
    assert t.layers["sum_cell"][:, 1].tolist() == pytest.approx([30.0, 80.0, 9.0])
    assert t.layers["nc_ratio"][:2, 1].tolist() == pytest.approx([1.0, 1.0])
    assert t.obs["n_neighbours"].tolist() == [1, 1, 0]
    assert t.obsp["touching"][0, 1] == 1 and t.obsp["touching"][1, 0] == 1


def test_centroids_pixels_and_micrometres(scene):
    img, cells, nuclei = scene
    t = measure(Image.from_array(img, "cyx", pixel_size={"y": 0.5, "x": 0.25}), cells=cells)
    assert t.obs["centroid_y"].tolist() == pytest.approx([3.0, 3.0, 9.0])
    assert t.obs["centroid_x"].tolist() == pytest.approx([3.5, 8.5, 13.0])
    assert t.obs["centroid_y_um"].tolist() == pytest.approx([1.5, 1.5, 4.5])
    assert t.obs["centroid_x_um"].tolist() == pytest.approx([0.875, 2.125, 3.25])
    np.testing.assert_allclose(t.obsm["spatial"], [[3.5, 3.0], [8.5, 3.0], [13.0, 9.0]])
    assert np.isnan(t.layers["mean_nucleus"]).all()  # no nuclei given


def test_shape_features_agree_with_skimage():
    from skimage.segmentation import expand_labels

    rng = np.random.default_rng(3)
    seeds = np.zeros((120, 150), np.int32)
    seeds[rng.integers(0, 120, 40), rng.integers(0, 150, 40)] = np.arange(1, 41) * 7
    cells = expand_labels(seeds, 8)
    t = measure(np.ones(cells.shape), cells=cells)
    props = regionprops(cells)
    assert t.obs["label"].tolist() == [p.label for p in props]
    assert t.obs["perimeter"].to_numpy() == pytest.approx([p.perimeter for p in props])
    assert t.obs["eccentricity"].to_numpy() == pytest.approx(
        [p.eccentricity for p in props], abs=1e-5)
    # solidity uses the hull of pixel squares: close to skimage's, never above 1
    assert t.obs["solidity"].to_numpy() == pytest.approx([p.solidity for p in props], abs=0.08)
    assert (t.obs["solidity"] <= 1 + 1e-12).all()


def test_solidity_of_known_shapes():
    cells = np.zeros((10, 10), np.int32)
    cells[1:4, 1:6] = 1                  # rectangle: solidity 1
    cells[6:8, 0:3] = 2
    cells[7, 3] = 2                      # hull of squares has area 7.5, object 7 px
    t = measure(np.ones((10, 10)), cells=cells)
    assert t.obs["solidity"].tolist() == pytest.approx([1.0, 7 / 7.5])
    assert t.obs["perimeter"].tolist()[0] == pytest.approx(regionprops(cells)[0].perimeter)


def test_nuclei_only_the_nucleus_is_the_cell(scene):
    img, _, nuclei = scene
    t = measure(img, nuclei=nuclei)
    assert t.obs["label"].tolist() == [2, 3]
    assert t.obs["nucleus_label"].tolist() == [2, 3]
    assert t.obs["area"].tolist() == [4, 6]
    np.testing.assert_array_equal(t.layers["mean_nucleus"], t.layers["mean_cell"])
    assert np.isnan(t.layers["mean_cytoplasm"]).all()
    assert t.uns["cellscale_measure"]["labels"] == "nuclei"


def test_majority_matching():
    cells = np.zeros((6, 12), np.int32)
    cells[:, :6], cells[:, 6:] = 1, 2
    nuclei = np.zeros_like(cells)
    nuclei[1:3, 3:8] = 4   # 2 x (3 in cell 1, 2 in cell 2): majority in cell 1
    nuclei[4, 5:7] = 5     # 1 px in each: no majority, unmatched
    nuclei[4, 9:11] = 6    # wholly in cell 2
    cell_of, nucleus_of = match_nuclei(cells, np.searchsorted([0, 4, 5, 6], nuclei), 2, 3)
    assert cell_of.tolist() == [1, 0, 2]
    assert nucleus_of.tolist() == [1, 3]


def test_spot_counts_per_cell_and_gene(scene):
    img, cells, _ = scene
    spots = pd.DataFrame({"y": [2.0, 3.2, 3.0, 9.0, 0.0, 50.0],
                          "x": [2.0, 2.9, 8.0, 13.0, 0.0, 3.0],
                          "gene": ["A", "B", "A", "A", "A", "B"]})
    t = measure(img, cells=cells, points=spots)
    assert t.obs["n_spots"].tolist() == [2, 1, 1]
    assert t.obsm["spots"].loc[:, "A"].tolist() == [1, 1, 1]
    assert t.obsm["spots"].loc[:, "B"].tolist() == [1, 0, 0]
    assert t.uns["cellscale_measure"]["spots_off_cells"] == 2


def test_bad_input_names_the_problem(scene):
    img, cells, _ = scene
    with pytest.raises(InvalidImageError, match=r"cells labels have shape \(11, 16\).*\(12, 16\)"):
        measure(img, cells=cells[:-1])
    with pytest.raises(InvalidImageError, match="must be integers.*float"):
        measure(img, cells=cells.astype(float))
    with pytest.raises(InvalidArgumentError, match="got 3 channel name.*2 channel"):
        measure(img, cells=cells, channel_names=["a", "b", "c"])
    with pytest.raises(InvalidArgumentError, match="cells=, nuclei="):
        measure(img)
    with pytest.raises(InvalidImageError, match=">= 0"):
        measure(img, cells=-cells)
    with pytest.raises(InvalidAxesError, match="axes 'tcyx'"):
        measure(Image(np.zeros((2,) + img.shape), axes="tcyx"), cells=cells)
    with pytest.raises(InvalidArgumentError, match="columns 'y' and 'x'"):
        measure(img, cells=cells, points=pd.DataFrame({"row": [1.0]}))


def test_large_ids_and_empty_field():
    cells = np.zeros((8, 8), np.int64)
    cells[1:3, 1:3] = 2**40
    t = measure(np.ones((8, 8)), cells=cells)
    assert t.obs["label"].tolist() == [2**40] and t.obs["area"].tolist() == [4]
    empty = measure(np.ones((8, 8)), cells=np.zeros((8, 8), np.uint16))
    assert empty.n_obs == 0 and empty.n_vars == 1


def test_simulated_tissue_matches_ground_truth_pairing():
    from cellscale.data import simulate_tissue

    s = simulate_tissue(shape=(192, 192), seed=2, n_markers=1)
    t = measure(s.image, cells=s.labels["cells"], nuclei=s.labels["nuclei"])
    matched = t.obs[t.obs["nucleus_label"] > 0]
    # in the simulator nucleus i lies in cell i
    assert len(matched) > 0.9 * t.n_obs
    assert (matched["nucleus_label"] == matched["label"]).mean() > 0.98
