"""3-D nuclei: z-stacks through Segmenter, the CLI and the 3-D decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellscale.data import simulate_nuclei_3d
from cellscale.errors import InvalidArgumentError, InvalidAxesError
from cellscale.io import Image, read_labels
from cellscale.metrics import aggregate, match_instances
from cellscale.segment import Segmenter, segment
from cellscale.segment._decode3d import instances_from_maps_3d, trim_columns
from cellscale.segment._stack import stack_anisotropy


def _stacks() -> list:
    return [simulate_nuclei_3d(shape=(24, 96, 96), seed=seed, diameter=18, anisotropy=2.0,
                               snr=30, density=0.15) for seed in (300, 301, 302)]


def test_shipped_nuclei_model_segments_simulated_stacks() -> None:
    """Measured 2026-12-03 (nuclei model v2, three views): F1@0.5 0.947, 0.947, 1.0 (pooled
    0.965), mean AP 0.62, 0.64, 0.41."""
    seg = Segmenter("nuclei", threads=1)
    results = []
    for sample in _stacks():
        labels = seg(sample.image)
        assert labels.shape == sample.image.shape and labels.dtype == np.uint32
        assert not any("z step" in w for w in seg.warnings)  # from the image's pixel sizes
        results.append(match_instances(sample.labels["nuclei"], labels))
    pooled = aggregate(results)
    assert pooled.f1_at(0.5) >= 0.8
    assert pooled.mean_ap >= 0.25


def test_anisotropy_from_pixel_sizes_or_given_or_assumed() -> None:
    image = Image.from_array(np.zeros((4, 8, 8), np.uint16), "zyx",
                             pixel_size={"z": 1.0, "y": 0.25, "x": 0.25})
    assert stack_anisotropy(image) == (4.0, None)
    assert stack_anisotropy(image, anisotropy=2.5) == (2.5, None)
    assert stack_anisotropy(image, pixel_size=0.5) == (2.0, None)
    bare = Image.from_array(np.zeros((4, 8, 8), np.uint16), "zyx")
    value, warning = stack_anisotropy(bare)
    assert value == 1.0 and "anisotropy" in warning


def test_array_with_axes_and_unknown_z_step_warns() -> None:
    sample = _stacks()[0]
    seg = Segmenter("nuclei", threads=1)
    labels = seg(np.asarray(sample.image.data), axes="zyx")
    assert labels.shape == (24, 96, 96) and labels.max() > 10
    assert any("z step is unknown" in w for w in seg.warnings)
    given = segment(np.asarray(sample.image.data), axes="zyx", anisotropy=2.0, threads=1)
    assert match_instances(sample.labels["nuclei"], given).f1_at(0.5) >= 0.8


def test_unsupported_stacks_are_refused_with_advice() -> None:
    stack = np.zeros((3, 32, 32), np.uint16)
    with pytest.raises(InvalidArgumentError, match="2-D images only.*'nuclei' model"):
        Segmenter("classical")(stack, axes="zyx")
    with pytest.raises(InvalidArgumentError, match="nuclei only.*compartment 'nuclei'"):
        Segmenter("cells", threads=1)(np.zeros((2, 3, 32, 32)), axes="czyx")
    with pytest.raises(InvalidAxesError, match="one time point"):
        Segmenter("nuclei", threads=1)(np.zeros((2, 3, 32, 32)), axes="tzyx")
    with pytest.raises(InvalidArgumentError, match="views"):
        Segmenter("nuclei", views=("xy",))
    with pytest.raises(InvalidArgumentError, match="anisotropy"):
        Segmenter("nuclei", anisotropy=0)
    # A constant stack has no nuclei.
    assert Segmenter("nuclei", threads=1)(stack, axes="zyx").max() == 0


def test_decoder_separates_touching_and_stacked_spheres() -> None:
    zz, yy, xx = np.mgrid[:24, :32, :48].astype(float)
    centres = [(7, 16, 12), (7, 16, 32), (17, 16, 22)]  # two side by side, one above between
    dist = np.zeros(zz.shape)
    for cz, cy, cx in centres:
        dist = np.maximum(dist, np.clip(1 - np.sqrt((zz - cz) ** 2 + (yy - cy) ** 2
                                                    + (xx - cx) ** 2) / 6.5, 0, 1))
    fg = (dist > 0).astype(float)
    centre = np.clip(dist * 2 - 1, 0, 1)
    labels = instances_from_maps_3d(fg, dist, centre, intensity=fg, diameter=13, anisotropy=1.0,
                                    min_size=10)
    assert int(labels.max()) == 3
    truth = np.zeros(zz.shape, np.int32)
    for k, (cz, cy, cx) in enumerate(centres, start=1):
        inside = (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 < 6.5 ** 2
        truth[inside & (truth == 0)] = k
    assert match_instances(truth, labels).f1_at(0.5) == 1.0


def test_trim_columns_cuts_dim_ends_in_z() -> None:
    profile = np.array([0.1, 0.3, 0.9, 1.0, 0.95, 0.35, 0.1])
    intensity = np.broadcast_to(profile[:, None, None], (7, 9, 9)).copy()
    labels = np.ones((7, 9, 9), np.int32)
    kept = trim_columns(labels, intensity)
    assert kept[:, 4, 4].tolist() == [0, 0, 1, 1, 1, 0, 0]


def test_cli_round_trip_on_a_zyx_tiff(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from typer.testing import CliRunner

    from cellscale.cli import app

    sample = _stacks()[0]
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.asarray(sample.image.data))  # no metadata: --axes says what it is
    out = tmp_path / "labels.tif"
    result = CliRunner().invoke(app, ["segment", str(path), "-o", str(out), "--axes", "zyx",
                                      "--anisotropy", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "24x96x96" in result.output
    labels = np.asarray(read_labels(out, lazy=False))
    assert labels.shape == (24, 96, 96) and labels.dtype == np.uint32
    assert match_instances(sample.labels["nuclei"], labels).f1_at(0.5) >= 0.8
    zarr_out = tmp_path / "labels.zarr"
    result = CliRunner().invoke(app, ["segment", str(path), "-o", str(zarr_out), "--axes", "zyx",
                                      "--anisotropy", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(read_labels(zarr_out, lazy=False)), labels)
