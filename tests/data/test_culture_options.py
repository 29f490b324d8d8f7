"""culture_options and CULTURE_REGIMES; training/make_data.py culture."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cellscale.data import CULTURE_REGIMES, culture_options, load_sample, simulate_culture

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "make_data.py"


@pytest.fixture(scope="module")
def make_data():
    spec = importlib.util.spec_from_file_location("make_data_culture", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_options_are_drawn_widely_and_stay_in_their_ranges():
    draws = [culture_options(s) for s in range(400)]
    kinds = {d["shape_kind"] for d in draws}
    assert kinds == {"epithelial", "fibroblast", "round", "rod", "mixed"}
    assert {d["modality"] for d in draws} == {"fluorescence", "phase", "brightfield"}
    assert {d["nucleus_stain"] for d in draws} == {"dna", "none"}
    assert {d["camera"] for d in draws} == {"scmos", "emccd"}
    assert {d["dtype"] for d in draws} == {"uint16", "uint8"}
    assert {d["blank_dna"] for d in draws} == {"noise", "zeros"}
    for d in draws:
        side = d["shape"][0]
        assert d["shape"] == (side, side) and 256 <= side <= 768 and side % 32 == 0
        lo, hi = (10, 40) if d["shape_kind"] == "rod" else (15, 150)
        assert lo <= d["diameter"] <= hi and 3 <= d["snr"] <= 100 and 0 < d["density"] <= 0.9
        assert d["shape_kind"] != "rod" or d["nucleus_stain"] == "none"
        assert d["camera"] == "scmos" or d["modality"] == "fluorescence"
        assert d["jpeg_quality"] is None or d["dtype"] == "uint8"
        assert d["blank_dna"] == "noise" or d["nucleus_stain"] == "none"
        # No blank DNA channel beside a membrane stain: the nuclei would be invisible.
        assert not (
            d["modality"] == "fluorescence" and d["nucleus_stain"] == "none"
            and d["stain"] == "membrane" and d["shape_kind"] != "rod"
        )  # fmt: skip
    diam = np.array([d["diameter"] for d in draws if d["shape_kind"] != "rod"])
    assert diam.min() < 20 and diam.max() > 110


def test_the_same_seed_draws_the_same_options():
    assert culture_options(7) == culture_options(7) != culture_options(8)


def test_unknown_regime_lists_the_valid_ones():
    with pytest.raises(ValueError, match="epithelial, fibroblast, round, rod, membrane"):
        culture_options(0, regime="huge")


_FIXED = {
    "epithelial": {"shape_kind": "epithelial"},
    "fibroblast": {"shape_kind": "fibroblast"},
    "round": {"shape_kind": "round"},
    "rod": {"shape_kind": "rod", "nucleus_stain": "none"},
    "membrane": {"modality": "fluorescence", "stain": "membrane"},
    "cytoplasm": {"modality": "fluorescence", "stain": "cytoplasm"},
    "phase": {"modality": "phase"},
    "brightfield": {"modality": "brightfield"},
    "no_dna": {"nucleus_stain": "none"},
}


@pytest.mark.parametrize("regime", list(CULTURE_REGIMES))
def test_each_regime_produces_what_it_says(regime):
    for seed in range(3):
        kw = culture_options(100 + seed, regime=regime)
        s = simulate_culture(**kw)
        for key, value in _FIXED.get(regime, {}).items():
            assert kw[key] == value and s.params[key] == value, (regime, key)
        if regime == "large":
            assert 80 <= kw["diameter"] <= 150 and kw["shape_kind"] != "rod"
            assert s.cells["diameter"].median() > 60
        if regime == "small":
            assert 15 <= kw["diameter"] <= 25 and kw["shape_kind"] != "rod"
            assert s.cells["diameter"].median() < 32
        if regime == "rod":
            assert not s.labels["nuclei"].any() and s.labels["cells"].any()
        if regime == "no_dna":
            dna = s.image.data[0].astype(float)
            nuclei = s.labels["nuclei"] > 0
            if kw["blank_dna"] == "zeros":
                assert not dna.any()
            else:  # background and noise only: the nuclei are no brighter than the rest
                assert abs(dna[nuclei].mean() - dna[~nuclei].mean()) < 0.5 * dna[~nuclei].std()
        assert len(s.cells) >= 3


def test_culture_seeds_are_disjoint_from_every_other_set(make_data):
    jobs = make_data.culture_jobs(300, 30, list(CULTURE_REGIMES), 100)
    seeds = [seed for _, seed, _ in jobs]
    assert len(seeds) == len(set(seeds)) == 330 + 100 * len(CULTURE_REGIMES)
    generalist = make_data.generalist_jobs(400, 40, ["plain"], 100)
    last_generalist_regime = make_data.REGIME_SEED + 10_000 * 20
    assert min(seeds) > max(max(s for _, s, _ in generalist), last_generalist_regime)
    assert {split for split, _, _ in jobs} == {"train", "test"} | {
        f"test_{r}" for r in CULTURE_REGIMES
    }
    assert all(kw["seed"] == seed for _, seed, kw in jobs)


def test_make_data_culture_writes_loadable_samples(make_data, tmp_path, monkeypatch):
    argv = ["make_data.py", "culture", str(tmp_path), "--train", "2", "--test", "1",
            "--regime", "phase", "--per-regime", "1"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    make_data.main()
    folders = sorted(p for p in tmp_path.glob("*/*") if p.is_dir())
    assert [p.parent.name for p in folders] == ["test", "test_phase", "train", "train"]
    s = load_sample(folders[1])
    assert s.image.channel_names == ("DNA", "membrane") and set(s.labels) == {"cells", "nuclei"}
    assert s.params["modality"] == "phase"


def test_make_data_refuses_a_regime_of_another_kind(make_data, tmp_path, monkeypatch, capsys):
    argv = ["make_data.py", "culture", str(tmp_path), "--regime", "d6-12"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        make_data.main()
    assert "not a culture regime" in capsys.readouterr().err
