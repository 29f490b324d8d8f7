"""training/make_data.py generalist: the sets it writes and their seeds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cellscale.data import GENERALIST_REGIMES, load_sample

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "make_data.py"


@pytest.fixture(scope="module")
def make_data():
    spec = importlib.util.spec_from_file_location("make_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generalist_seeds_are_disjoint_across_every_set(make_data):
    jobs = make_data.generalist_jobs(400, 40, list(GENERALIST_REGIMES), 100)
    seeds = [seed for _, seed, _ in jobs]
    assert len(seeds) == len(set(seeds)) == 440 + 100 * len(GENERALIST_REGIMES)
    # and disjoint from the specialist kinds' seeds (10,000+ and 900,000+)
    assert min(seeds) > make_data.TEST_SEED + 100_000
    sets = {split for split, _, _ in jobs}
    assert sets == {"train", "test"} | {f"test_{r}" for r in GENERALIST_REGIMES}


def test_train_regimes_add_training_images_with_their_own_seeds(make_data):
    """--train-regime: the k-th regime's seeds start at TRAIN_REGIME_SEED + 10,000 k."""
    hard = ["cytoplasm", "texture"]
    jobs = make_data.generalist_jobs(400, 40, list(GENERALIST_REGIMES), 100,
                                     train_regimes=hard, per_train_regime=30)
    seeds = [seed for _, seed, _ in jobs]
    assert len(seeds) == len(set(seeds)) == 440 + 60 + 100 * len(GENERALIST_REGIMES)
    extra = [(seed, options) for split, seed, options in jobs
             if split == "train" and seed >= make_data.TRAIN_REGIME_SEED]
    assert [s for s, _ in extra] == [*range(2_500_000, 2_500_030), *range(2_510_000, 2_510_030)]
    from cellscale.data import generalist_options

    assert extra[31][1] == generalist_options(2_510_001, regime="texture")


def test_generalist_writes_loadable_samples(make_data, tmp_path, monkeypatch):
    argv = ["make_data.py", "generalist", str(tmp_path), "--train", "1", "--test", "0",
            "--regime", "d6-12", "--per-regime", "1"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    make_data.main()
    folders = sorted(p for p in tmp_path.glob("*/*") if p.is_dir())
    assert [p.parent.name for p in folders] == ["test_d6-12", "train"]
    for folder in folders:
        s = load_sample(folder)
        assert s.kind == "nuclei" and len(s.cells) > 0
        labels = np.asarray(s.labels["nuclei"])
        assert labels.shape == s.image.shape and labels.max() == len(s.cells)
    small = load_sample(folders[0])
    assert 6 <= small.params["resolved"]["diameter"] <= 12


def test_regime_needs_the_generalist_kind(make_data, tmp_path, monkeypatch):
    argv = ["make_data.py", "nuclei", str(tmp_path), "--regime", "jpeg"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        make_data.main()
