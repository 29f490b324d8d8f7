"""simulate_culture: options, channels, labels, stains and modalities, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellscale.data import CultureOptions, simulate_culture
from cellscale.errors import InvalidArgumentError

SIDE = (160, 192)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"shape_kind": "blob"}, ["shape_kind", "epithelial, fibroblast, round, rod, mixed"]),
        ({"modality": "dic"}, ["modality", "fluorescence, phase, brightfield"]),
        ({"stain": "actin"}, ["stain", "membrane, cytoplasm"]),
        ({"nucleus_stain": "hoechst"}, ["nucleus_stain", "dna, none"]),
        ({"shape": (16, 64)}, ["shape", "32 .. 8192"]),
        ({"jpeg_quality": 50}, ["jpeg_quality", "uint8"]),
        ({"density": 1.5}, ["density"]),
    ],
)
def test_bad_options_name_the_option_and_the_choices(options, words):
    with pytest.raises(InvalidArgumentError) as err:
        simulate_culture(**{"shape": SIDE, **options})
    assert all(w in str(err.value) for w in words), str(err.value)


def test_chunked_rendering_is_refused():
    with pytest.raises(InvalidArgumentError, match="whole planes"):
        from cellscale.data._options import _validated

        _validated(CultureOptions, shape=SIDE, chunked=True)


@pytest.mark.parametrize("modality", ["fluorescence", "phase", "brightfield"])
@pytest.mark.parametrize("dtype", ["uint16", "uint8"])
def test_channels_dtype_labels_and_truthful_params(modality, dtype):
    s = simulate_culture(SIDE, seed=2, modality=modality, shape_kind="mixed", dtype=dtype)
    assert s.kind == "culture" and s.image.axes == "cyx"
    assert s.image.channel_names == ("DNA", "membrane")
    assert s.image.shape == (2, *SIDE) and s.image.dtype == np.dtype(dtype)
    assert set(s.labels) == {"cells", "nuclei"}
    assert all(v.dtype == np.uint32 and v.shape == SIDE for v in s.labels.values())
    assert s.params["modality"] == modality and s.params["stain"] in ("membrane", "cytoplasm")
    assert s.params["resolved"]["channels"][1]["transmitted"] == (modality != "fluorescence")
    present = set(np.unique(s.labels["cells"]).tolist()) - {0}
    assert present == set(s.cells["label"].tolist()) and len(present) >= 3


@pytest.mark.parametrize("kind", ["epithelial", "fibroblast", "round", "rod", "mixed"])
def test_each_nucleus_lies_inside_its_cell_and_rods_have_none(kind):
    s = simulate_culture((192, 192), seed=5, shape_kind=kind, diameter=20 if kind == "rod" else 40)
    cells, nuclei = s.labels["cells"], s.labels["nuclei"]
    inside = nuclei > 0
    assert np.array_equal(nuclei[inside], cells[inside])
    if kind == "rod":
        assert not inside.any() and (cells > 0).any()
        assert s.params["nucleus_stain"] == "none"
    else:
        # Most cells show their nucleus, and a nucleus is smaller than its cell.
        with_nucleus = set(np.unique(nuclei).tolist()) - {0}
        assert len(with_nucleus) >= 0.7 * len(s.cells)
        ids = np.array(sorted(with_nucleus))
        n_area = ndi.sum_labels(inside, nuclei, ids)
        c_area = ndi.sum_labels(cells > 0, cells, ids)
        assert np.all(n_area < c_area)
        assert set(s.cells["shape_kind"].astype(str)) <= {"epithelial", "fibroblast", "round"}


def test_epithelial_cells_touch_and_round_cells_are_compact():
    epi = simulate_culture((256, 256), seed=1, shape_kind="epithelial", diameter=30, density=0.6)
    cells = epi.labels["cells"]
    # Neighbouring pixels of two different cells: cells share membranes in a sheet.
    shared = (cells[:, 1:] != cells[:, :-1]) & (cells[:, 1:] > 0) & (cells[:, :-1] > 0)
    assert shared.sum() > 10 * len(epi.cells)
    fib = simulate_culture((256, 256), seed=1, shape_kind="fibroblast", diameter=30)
    rnd = simulate_culture((256, 256), seed=1, shape_kind="round", diameter=30)
    assert fib.cells["elongation"].median() > 2.5 > 1.3 > rnd.cells["elongation"].median()


def test_a_blank_dna_channel_has_no_nuclear_signal():
    kw = dict(shape=(192, 192), seed=3, shape_kind="round", diameter=40, snr=40, dna_snr=40)
    stained = simulate_culture(**kw, nucleus_stain="dna")
    blank = simulate_culture(**kw, nucleus_stain="none")
    nuclei = blank.labels["nuclei"] > 0
    assert np.array_equal(stained.labels["nuclei"], blank.labels["nuclei"]) and nuclei.any()
    ring = ndi.binary_dilation(nuclei, iterations=12) & ~ndi.binary_dilation(nuclei, iterations=4)

    def contrast(s):
        dna = s.image.data[0].astype(float)
        return (dna[nuclei].mean() - dna[ring].mean()) / dna[ring].std()

    assert contrast(stained) > 3.0
    assert abs(contrast(blank)) < 0.3
    # As a model's blank role: zeros, the boundary channel and labels unchanged.
    zeros = simulate_culture(**kw, nucleus_stain="none", blank_dna="zeros")
    assert not zeros.image.data[0].any()
    assert np.array_equal(zeros.image.data[1], blank.image.data[1])
    assert np.array_equal(zeros.labels["cells"], blank.labels["cells"])


def test_membrane_stain_is_bright_at_edges_and_cytoplasm_inside():
    kw = dict(shape=(224, 224), seed=4, shape_kind="round", diameter=50, snr=50)
    for stain, edge_brighter in (("membrane", True), ("cytoplasm", False)):
        s = simulate_culture(**kw, modality="fluorescence", stain=stain)
        cells = s.labels["cells"]
        depth = ndi.distance_transform_edt(cells > 0)
        img = s.image.data[1].astype(float)
        bg = np.median(img[~ndi.binary_dilation(cells > 0, iterations=10)])
        edge, deep = img[(depth > 0) & (depth <= 2)].mean() - bg, img[depth > 8].mean() - bg
        if edge_brighter:
            assert edge > 1.5 * deep > 0, (stain, edge, deep)
        else:
            assert 0 < edge < 0.7 * deep, (stain, edge, deep)


def test_phase_contrast_has_dark_cells_with_a_bright_halo():
    s = simulate_culture((224, 224), seed=6, shape_kind="round", modality="phase", diameter=40,
                         snr=50)  # fmt: skip
    contrast = s.params["resolved"]["contrast"]
    cells = s.labels["cells"] > 0
    img = s.image.data[1].astype(float)
    halo = ndi.binary_dilation(cells, iterations=3) & ~cells
    far = ndi.binary_dilation(cells, iterations=25) & ~ndi.binary_dilation(cells, iterations=15)
    sign = np.sign(contrast)
    assert sign * (np.median(img[far]) - np.median(img[cells])) > 0  # dark (or bright) cells
    assert sign * (np.median(img[halo]) - np.median(img[far])) > 0  # the opposite halo


def test_the_same_seed_gives_the_same_sample():
    a = simulate_culture(SIDE, seed=11)
    b = simulate_culture(SIDE, seed=11)
    c = simulate_culture(SIDE, seed=12)
    assert np.array_equal(a.image.data, b.image.data)
    assert np.array_equal(a.labels["cells"], b.labels["cells"])
    assert a.params["resolved"] == b.params["resolved"]
    assert not np.array_equal(a.image.data, c.image.data)


def test_jpeg_and_emccd_cameras():
    j = simulate_culture(SIDE, seed=1, dtype="uint8", jpeg_quality=40, modality="phase")
    assert j.image.dtype == np.uint8 and j.params["resolved"]["channels"][1]["jpeg_quality"] == 40
    e = simulate_culture(SIDE, seed=1, camera="emccd", modality="fluorescence")
    assert e.params["resolved"]["channels"][0]["camera"] == "emccd"
    assert e.image.data.max() > 0


def test_rods_have_the_asked_length_and_width():
    from skimage.measure import regionprops

    s = simulate_culture((256, 256), seed=8, shape_kind="rod", diameter=30, rod_width=6,
                         diameter_cv=0.0, density=0.05)  # fmt: skip
    props = [r for r in regionprops(s.labels["cells"]) if r.bbox[0] > 0 and r.bbox[1] > 0
             and r.bbox[2] < 256 and r.bbox[3] < 256]  # fmt: skip
    assert len(props) >= 5
    # Capsules: the length spreads with the rod's drawn elongation, the width stays.
    width = np.median([r.axis_minor_length for r in props])
    length = np.median([r.axis_major_length for r in props])
    assert 4.5 < width < 8.0 and 20 < length < 42, (width, length)
    assert all(r.solidity > 0.85 for r in props)


def test_debris_shows_as_unlabelled_specks():
    kw = dict(shape=(256, 256), shape_kind="round", modality="phase", diameter=30, density=0.1,
              snr=100)  # fmt: skip
    with_debris = simulate_culture(**kw, seed=0)
    without = simulate_culture(**kw, seed=2)
    assert with_debris.params["resolved"]["debris"] > 100
    assert without.params["resolved"]["debris"] == 0

    def dark_specks(s):
        img = s.image.data[1].astype(float)
        far = ~ndi.binary_dilation(s.labels["cells"] > 0, iterations=12)
        local = ndi.median_filter(img, 15)
        dips = far & (img < local * 0.9)
        return ndi.label(dips)[1]

    assert dark_specks(with_debris) >= 3 and dark_specks(without) == 0
