"""Fixtures for the segmentation tests: tiny ONNX models and simulated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import write_model

from cellscale.data import simulate_nuclei, simulate_tissue


@pytest.fixture(scope="session")
def nuclei_model(tmp_path_factory) -> Path:
    """Card of a 1-channel (DNA) model with outputs nuclei.foreground, nuclei.distance."""
    return write_model(tmp_path_factory.mktemp("models") / "nuclei", "tiny-nuclei")


@pytest.fixture(scope="session")
def cells_model(tmp_path_factory) -> Path:
    """Card of a 2-channel (DNA, membrane) model with cells.* and nuclei.* outputs."""
    return write_model(
        tmp_path_factory.mktemp("models") / "cells", "tiny-cells",
        channels=("DNA", "membrane"),
        outputs=("cells.foreground", "cells.distance", "nuclei.foreground", "nuclei.distance"),
    )


@pytest.fixture(scope="session")
def nuclei_sample():
    """A 256x256 simulated nuclei image (yx, uint16) with ground truth."""
    return simulate_nuclei(shape=(256, 256), seed=7, diameter=16, density=0.3)


@pytest.fixture(scope="session")
def tissue_image():
    """A 6-channel simulated tissue image (DNA, membrane, markers), 128x128."""
    return simulate_tissue(shape=(128, 128), seed=3).image


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
