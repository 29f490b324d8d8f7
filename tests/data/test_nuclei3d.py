"""simulate_nuclei_3d: 3-D stacks of nuclei with ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.data import simulate_nuclei_3d
from cellscale.errors import InvalidArgumentError


def test_stack_labels_and_table_agree() -> None:
    s = simulate_nuclei_3d(shape=(20, 96, 96), seed=4, diameter=20, anisotropy=2.0,
                           density=0.15, snr=30)
    lab = s.labels["nuclei"]
    assert s.image.axes == "zyx" and s.image.shape == (20, 96, 96) and s.image.dtype == np.uint16
    assert lab.dtype == np.uint32 and lab.shape == (20, 96, 96)
    assert int(lab.max()) == len(s.cells) >= 5
    assert set(np.unique(lab)) == set(range(len(s.cells) + 1))
    # Voxel counts in the table are those of the labels.
    assert np.array_equal(np.bincount(lab.ravel())[1:], s.cells["voxels"].to_numpy())
    assert s.image.pixel_size["z"] == pytest.approx(2.0 * s.image.pixel_size["x"], rel=1e-3)
    # Nuclei are brighter than the background.
    img = s.image.data.astype(float)
    assert img[lab > 0].mean() > img[lab == 0].mean() + 3 * img[lab == 0].std() / 2


def test_deterministic_and_seed_dependent() -> None:
    a = simulate_nuclei_3d(shape=(8, 48, 48), seed=1)
    b = simulate_nuclei_3d(shape=(8, 48, 48), seed=1)
    c = simulate_nuclei_3d(shape=(8, 48, 48), seed=2)
    assert np.array_equal(a.image.data, b.image.data)
    assert np.array_equal(a.labels["nuclei"], b.labels["nuclei"])
    assert not np.array_equal(a.image.data, c.image.data)


def test_anisotropy_flattens_nuclei_in_planes() -> None:
    """The same nuclei span fewer planes when the z step is larger."""
    heights = []
    for aniso in (1.0, 4.0):
        s = simulate_nuclei_3d(shape=(40, 96, 96), seed=7, diameter=24, anisotropy=aniso,
                               density=0.1)
        lab = s.labels["nuclei"]
        spans = [np.ptp(np.nonzero(lab == i)[0]) + 1 for i in range(1, int(lab.max()) + 1)]
        heights.append(np.median(spans))
    assert heights[1] < heights[0] / 2.5


def test_domain_randomised_per_seed() -> None:
    resolved = [simulate_nuclei_3d(shape=(4, 32, 32), seed=k).params["resolved"]
                for k in range(6)]
    for key in ("diameter", "anisotropy", "snr", "psf_sigma", "density"):
        values = [r[key] for r in resolved]
        assert len(set(values)) == 6, key
    assert all(12 <= r["diameter"] <= 40 and 1 <= r["anisotropy"] <= 4 for r in resolved)


@pytest.mark.parametrize("options", [{"shape": (8, 8, 64)}, {"anisotropy": 0.5},
                                     {"diameter": (30, 20)}, {"density": 0.9}])
def test_bad_options_are_refused(options: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        simulate_nuclei_3d(**options)


def test_cli_simulates_a_stack(tmp_path) -> None:
    from typer.testing import CliRunner

    from cellscale.cli import app
    from cellscale.data import load_sample

    out = tmp_path / "stack"
    result = CliRunner().invoke(app, ["simulate", "nuclei3d", "-o", str(out), "--size", "12", "48",
                                      "48", "--seed", "3", "--diameter", "16", "--anisotropy", "2"])
    assert result.exit_code == 0, result.output
    sample = load_sample(out)
    assert sample.image.axes == "zyx" and sample.labels["nuclei"].shape == (12, 48, 48)
    assert sample.image.pixel_size["z"] == pytest.approx(2 * sample.image.pixel_size["x"], rel=1e-3)
    assert int(np.asarray(sample.labels["nuclei"]).max()) == len(sample.cells)
