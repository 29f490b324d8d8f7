"""The smFISH simulator and codebooks: spots inside cells, counts, detectability."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from cellscale.data._codebook import codebook_bits, hamming_distances, make_codebook
from cellscale.data._fish import render_spots, simulate_fish
from cellscale.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def fish():
    return simulate_fish(shape=(320, 320), seed=4, n_genes=3, snr=8.0, diameter=50.0, density=0.15)


def _pixels(spots: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return np.rint(spots["y"].to_numpy()).astype(int), np.rint(spots["x"].to_numpy()).astype(int)


def test_axes_channels_and_tables(fish):
    assert fish.kind == "fish"
    assert fish.image.axes == "cyx" and fish.image.channel_names == ("DNA", "ACTB", "GAPDH", "MKI67")
    assert fish.labels["cells"].shape == fish.labels["nuclei"].shape == (320, 320)
    assert list(fish.spots.columns) == ["y", "x", "gene", "cell", "intensity", "kind", "nucleus"]
    assert list(fish.tables["counts"].columns) == ["ACTB", "GAPDH", "MKI67"]
    assert set(fish.spots.kind) == {"mrna", "transcription_site", "nonspecific"}


def test_every_spot_is_in_its_cell(fish):
    spots, cells = fish.spots, fish.labels["cells"]
    iy, ix = _pixels(spots)
    assert (iy >= 0).all() and (iy < 320).all() and (ix >= 0).all() and (ix < 320).all()
    np.testing.assert_array_equal(cells[iy, ix], spots["cell"].to_numpy())
    np.testing.assert_array_equal(fish.labels["nuclei"][iy, ix] > 0, spots["nucleus"].to_numpy())
    ts = spots[spots.kind == "transcription_site"]
    assert ts["nucleus"].all() and (ts["cell"] > 0).all()
    assert (spots.loc[spots.kind == "mrna", "cell"] > 0).all()
    assert (spots["cell"] == 0).any()  # some non-specific spots fall outside cells
    mrna = spots[spots.kind == "mrna"]
    assert 0.05 < mrna["nucleus"].mean() < 0.35  # mostly cytoplasmic


def test_nuclei_lie_inside_cells(fish):
    nuc, cells = fish.labels["nuclei"], fish.labels["cells"]
    assert (cells[nuc > 0] == nuc[nuc > 0]).all()
    assert (cells > 0).sum() > 1.5 * (nuc > 0).sum()


def test_counts_equal_the_spot_table(fish):
    spots, counts = fish.spots, fish.tables["counts"]
    real = spots[(spots.cell > 0) & (spots.kind != "nonspecific")]
    assert sorted(counts.index) == sorted(set(np.unique(fish.labels["cells"])) - {0})
    for (cell, gene), n in real.groupby(["cell", "gene"]).size().items():
        assert counts.loc[cell, gene] == n
    assert counts.to_numpy().sum() == len(real)
    assert counts.to_numpy().std() > 0  # expression varies


def test_spots_are_brighter_than_their_cell(fish):
    img = fish.image.data.astype(float)
    cells = fish.labels["cells"]
    spots = fish.spots[fish.spots.kind == "mrna"]
    brighter = []
    for k, gene in enumerate(fish.image.channel_names[1:], start=1):
        sub = spots[spots.gene == gene]
        iy, ix = _pixels(sub)
        med = {c: np.median(img[k][cells == c]) for c in np.unique(sub.cell)}
        brighter.append(img[k][iy, ix] > np.array([med[c] for c in sub.cell]))
    assert np.concatenate(brighter).mean() > 0.98  # single pixel at the spot, SNR 8


def test_deterministic_and_snr_varies():
    a = simulate_fish(shape=(160, 160), seed=3, n_genes=2, diameter=40.0)
    b = simulate_fish(shape=(160, 160), seed=3, n_genes=2, diameter=40.0)
    c = simulate_fish(shape=(160, 160), seed=8, n_genes=2, diameter=40.0)
    np.testing.assert_array_equal(a.image.data, b.image.data)
    pd.testing.assert_frame_equal(a.spots, b.spots)
    assert a.params["snr"] != c.params["snr"] and 3.0 <= a.params["snr"] <= 15.0


def test_multiplexed_rounds_follow_the_codebook():
    s = simulate_fish(shape=(200, 200), seed=1, n_genes=6, rounds=4, colours=2, snr=12.0,
                      diameter=50.0, density=0.15, bit_error=0.0)
    assert s.image.axes == "tcyx" and s.image.shape == (4, 3, 200, 200)
    assert s.image.channel_names == ("DNA", "AF488", "Cy3")
    cb = s.tables["codebook"]
    assert cb["blank"].sum() >= 1 and not (s.spots.gene.str.startswith("Blank-")).any()
    bits = codebook_bits(cb)
    shifts = s.tables["round_shifts"].set_index("round")
    img = s.image.data.astype(float)
    mrna = s.spots[s.spots.kind == "mrna"]
    on_vals, off_vals = [], []
    for gene, row in zip(cb.index, bits):
        sub = mrna[mrna.gene == gene]
        for b, on in enumerate(row):
            r, c = divmod(b, 2)
            y = np.rint(sub.y + shifts.loc[r, "shift_y"]).astype(int)
            x = np.rint(sub.x + shifts.loc[r, "shift_x"]).astype(int)
            ok = (y >= 0) & (y < 200) & (x >= 0) & (x < 200)
            (on_vals if on else off_vals).append(img[r, c + 1][y[ok], x[ok]])
    assert np.median(np.concatenate(on_vals)) > np.median(np.concatenate(off_vals)) + 5
    counts = s.tables["counts"]
    assert counts.to_numpy().sum() == ((s.spots.cell > 0) & (s.spots.kind != "nonspecific")).sum()


def test_codebook_constant_weight_and_distance():
    genes = [f"g{i}" for i in range(30)]
    cb = make_codebook(genes, rounds=8, colours=2, seed=2)
    bits = codebook_bits(cb)
    assert bits.shape == (33, 16) and list(cb.index[:30]) == genes
    assert (bits.sum(axis=1) == 4).all()
    d = hamming_distances(bits)
    np.fill_diagonal(d, 99)
    assert d.min() >= 4  # 30 genes + 3 blanks fit a distance-4 code
    big = make_codebook([f"g{i}" for i in range(200)], rounds=8, colours=2, seed=2)
    d = hamming_distances(codebook_bits(big))
    np.fill_diagonal(d, 99)
    assert d.min() >= 2 and len(np.unique(codebook_bits(big), axis=0)) == len(big)
    with pytest.raises(InvalidArgumentError, match="no 2-of-4 codebook"):
        make_codebook([f"g{i}" for i in range(10)], rounds=2, colours=2, weight=2)
    pd.testing.assert_frame_equal(cb, make_codebook(genes, rounds=8, colours=2, seed=2))


def test_render_spots_peak_and_subpixel_centre():
    img = render_spots((21, 21), np.array([10.3]), np.array([9.8]), np.array([5.0]), 1.2)
    assert abs(img.max() - 5.0 * np.exp(-(0.3**2 + 0.2**2) / (2 * 1.44))) < 1e-4
    yy, xx = np.indices(img.shape)
    assert abs((img * yy).sum() / img.sum() - 10.3) < 0.02 and abs((img * xx).sum() / img.sum() - 9.8) < 0.02


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError):
        simulate_fish(genes=["DNA"])
    with pytest.raises(InvalidArgumentError):
        simulate_fish(base="organoid")


@pytest.mark.skipif(importlib.util.find_spec("cellscale.data._tissue") is None, reason="no tissue simulator")
def test_tissue_base():
    s = simulate_fish(base="tissue", shape=(192, 192), seed=0, n_genes=2, diameter=25.0)
    assert s.tables["counts"].shape[0] >= 5 and s.cells["cell_type"].nunique() >= 2
    iy, ix = _pixels(s.spots)
    np.testing.assert_array_equal(s.labels["cells"][iy, ix], s.spots["cell"].to_numpy())
