"""`cellscale segment` and `cellscale run` segment through one core: the same labels."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.cli import main
from cellscale.data import simulate_nuclei
from cellscale.engine import Pipeline
from cellscale.errors import InvalidArgumentError
from cellscale.io import open_store, read_labels, write_image
from cellscale.metrics import match_instances


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out = capsys.readouterr()
    return int(stop.value.code or 0), out.out, out.err


@pytest.mark.slow
@pytest.mark.parametrize("diameter, simulated, shape, scale", [
    ("auto", 40.0, (640, 576), "x0."),  # large nuclei found by the first pass, shrunk
    ("8", 8.0, (448, 416), "x1.50"),  # small nuclei, diameter given, enlarged
])
@pytest.mark.slow
def test_segment_and_run_give_identical_labels(client, capsys, tmp_path, diameter, simulated,
                                               shape, scale):
    sample = simulate_nuclei(shape=shape, seed=21, diameter=simulated, density=0.3)
    image = write_image(sample.image, tmp_path / "field.ome.zarr")
    chunk = 256  # several chunks: 3 x 3 and 2 x 2
    code, stdout, stderr = _cli(capsys, "segment", str(image), "-o", str(tmp_path / "seg.tif"),
                                "--diameter", diameter, "--chunk-size", str(chunk),
                                "--tile-size", "512")
    assert code == 0, stderr
    assert f"resized {scale}" in stdout
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"chunk_size: {chunk}\nsteps:\n  - step: segment\n    model: nuclei\n"
                        f"    tile_size: 512\n    diameter: {diameter}\n")
    code, _, stderr = _cli(capsys, "run", str(image), "-o", str(tmp_path / "res.zarr"),
                           "--pipeline", str(pipeline), "--scheduler",
                           client.scheduler.address)
    assert code == 0, stderr
    segmented = np.asarray(read_labels(tmp_path / "seg.tif", lazy=False))
    ran = np.asarray(open_store(tmp_path / "res.zarr").label_image("field_nuclei"))
    assert int(ran.max()) > 40
    np.testing.assert_array_equal(segmented, ran)
    # The resized segmentation finds the simulated nuclei (a sanity check, not a benchmark).
    truth = np.asarray(sample.labels["nuclei"])
    assert match_instances(truth, ran, thresholds=[0.5]).f1_at(0.5) > 0.7


def test_segment_step_options_mean_what_segment_flags_mean():
    step = Pipeline.model_validate({"steps": [{"step": "segment", "diameter": "off",
                                               "pixel_size": 0.65}]}).steps[0]
    assert step._diameter() is None and step.pixel_size == 0.65
    assert Pipeline.model_validate(
        {"steps": [{"step": "segment", "diameter": 25}]}).steps[0]._diameter() == 25
    assert Pipeline.model_validate({"steps": [{"step": "segment"}]}).steps[0].diameter == "auto"
    for bad in ({"diameter": -3}, {"diameter": "big"}, {"pixel_size": 0}):
        with pytest.raises((InvalidArgumentError, ValueError)):
            Pipeline.model_validate({"steps": [{"step": "segment", **bad}]})


def test_segment_streams_an_image_larger_than_a_chunk(capsys, tmp_path, monkeypatch):
    """Larger than --chunk-size: read lazily, never whole, labels as the Segmenter's."""
    import cellscale.cli._segment as cli_segment
    from cellscale.segment import Segmenter

    sample = simulate_nuclei(shape=(600, 520), seed=5, diameter=16, density=0.3)
    image = write_image(sample.image, tmp_path / "big.ome.zarr")
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def refuse(*args, **kwargs):
        raise AssertionError("the image was read whole")

    monkeypatch.setattr(cli_segment, "read_whole", refuse)
    code, stdout, stderr = _cli(capsys, "segment", str(image), "-o", str(out_dir / "l.zarr"),
                                "--chunk-size", "256", "--diameter", "off")
    assert code == 0, stderr
    written = np.asarray(read_labels(out_dir / "l.zarr", lazy=False))
    expected = Segmenter("nuclei", chunk_size=256, diameter=None)(sample.image)
    np.testing.assert_array_equal(written, expected)
    assert f"Segmented {int(expected.max())} nuclei" in stdout
    assert sorted(p.name for p in out_dir.iterdir()) == ["l.zarr"]  # no scratch left


@pytest.mark.parametrize("axes", ["cyx", "yx"])
def test_read_region_fills_a_blank_role_with_zeros(tmp_path, axes):
    """channels=[None, k]: a model role left blank reads as zeros beside the chosen channel."""
    import tifffile

    from cellscale.engine._job import ImageRef, read_region

    data = np.arange(3 * 8 * 10, dtype=np.uint16).reshape(3, 8, 10)
    if axes == "yx":
        data = data[2]
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, data)
    ref = ImageRef(str(path), "img", axes, data.shape, ("a", "b", "c") if axes == "cyx" else ("channel_0",))
    block = read_region(ref, (1, 5, 2, 9), channels=[None, 2 if axes == "cyx" else 0])
    expected = (data[2] if axes == "cyx" else data)[1:5, 2:9]
    assert block.shape == (2, 4, 7) and not block[0].any()
    np.testing.assert_array_equal(block[1], expected)
