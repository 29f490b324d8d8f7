from __future__ import annotations

import pytest

from cellscale.data import save_sample, simulate_nuclei


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Four small simulated nuclei images in the simulator's folder layout."""
    root = tmp_path_factory.mktemp("tiny_nuclei")
    for i in range(4):
        save_sample(simulate_nuclei(shape=(80, 80), seed=100 + i, diameter=12), root / f"s{i}")
    return root
