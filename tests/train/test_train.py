"""End to end: a tiny training run, its ONNX export and card, resuming and fine-tuning."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from cellscale.errors import InputNotFoundError, InvalidArgumentError, InvalidImageError
from cellscale.models._card import ModelCard, sha256_of
from cellscale.train import TrainConfig, train_model

TINY = {
    "epochs": 2,
    "steps_per_epoch": 2,
    "batch_size": 2,
    "patch_size": 64,
    "val_fraction": 0.25,
    "device": "cpu",
    "progress": False,
    "widths": (8, 16, 32),
}


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    path = train_model(tiny_data, model_name="tiny", out_dir=out, **TINY)
    return out, path


@pytest.mark.slow
def test_training_writes_a_loadable_model_and_card(trained):
    out, path = trained
    assert path == out / "tiny.onnx"
    card = ModelCard.read(out / "tiny.json")
    assert card.sha256 == sha256_of(path)
    # A centre map by default: its peaks seed the instances.
    assert card.outputs == ["nuclei.foreground", "nuclei.distance", "nuclei.centre"]
    assert card.inputs.channels == ["DNA"] and card.inputs.size_multiple == 8
    assert card.training["epochs_run"] == 2 and card.training["config"]["model_name"] == "tiny"
    # int8 by default: the shipped network is the quantised one, and the card says so.
    assert card.precision == "int8"
    assert card.training["quantisation"]["int8_vs_float32_mean_abs_diff"] <= 0.02
    assert 0.0 <= card.metrics["nuclei"]["f1@0.5"] <= 1.0
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = session.run(None, {"input": np.random.default_rng(0).random((2, 1, 48, 72), np.float32)})[0]
    assert y.shape == (2, 3, 48, 72) and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 1.0
    config = TrainConfig.model_validate_json((out / "config.json").read_text())
    assert config.patch_size == 64
    with open(out / "history.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 2


@pytest.mark.slow
def test_same_config_resumes_from_the_checkpoint(trained, tiny_data):
    out, _ = trained
    before = json.loads((out / "tiny.json").read_text())["training"]
    train_model(tiny_data, model_name="tiny", out_dir=out, **TINY)
    after = json.loads((out / "tiny.json").read_text())["training"]
    assert after["epochs_run"] == 2  # nothing left to train: no epoch was repeated
    assert after["best_val_loss"] == before["best_val_loss"]


@pytest.mark.slow
def test_fine_tuning_starts_from_saved_weights(trained, tiny_data, tmp_path):
    from cellscale.train._loop import _init_from
    from cellscale.train._unet import UNet

    out, _ = trained
    saved = torch.load(out / "tiny.pt", weights_only=True)["state_dict"]
    same = UNet(1, 3, widths=(8, 16, 32))
    assert _init_from(same, out / "tiny.pt")["reinitialised"] == []
    for key, value in same.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    # Two object kinds: everything but the output layer is reused.
    wider = UNet(1, 6, widths=(8, 16, 32))
    assert _init_from(wider, out / "tiny.pt")["reinitialised"] == ["head.bias", "head.weight"]
    path = train_model(
        tiny_data,
        model_name="tuned",
        out_dir=tmp_path,
        from_model=out / "tiny.pt",
        **{**TINY, "epochs": 1},
    )
    card = ModelCard.read(path.with_suffix(".json"))
    assert card.training["fine_tuned_from"]["from"].endswith("tiny.pt")
    assert card.outputs[-1] == "nuclei.centre"
    with pytest.raises(InvalidArgumentError, match="widths"):
        _init_from(UNet(1, 3, widths=(16, 32, 64)), out / "tiny.pt")
    with pytest.raises(InputNotFoundError, match="no torch weights"):
        train_model(
            tiny_data, model_name="x", out_dir=tmp_path / "x", from_model="no-such-model", **TINY
        )


@pytest.mark.slow
def test_fine_tuning_keeps_the_maps_of_the_model_it_starts_from(tiny_data, tmp_path):
    plain = train_model(tiny_data, model_name="plain", out_dir=tmp_path / "plain", centre=False,
                        **{**TINY, "epochs": 1})
    assert ModelCard.read(plain.with_suffix(".json")).outputs == [
        "nuclei.foreground", "nuclei.distance"]
    # No centre map in the weights fine-tuned from: none in the new model either ...
    tuned = train_model(tiny_data, model_name="tuned", out_dir=tmp_path / "tuned",
                        from_model=plain.with_suffix(".pt"), **{**TINY, "epochs": 1})
    card = ModelCard.read(tuned.with_suffix(".json"))
    assert card.maps("nuclei") == ["foreground", "distance"]
    assert card.training["fine_tuned_from"]["reinitialised"] == []
    # ... unless asked for: then only the output layer starts afresh.
    more = train_model(tiny_data, model_name="more", out_dir=tmp_path / "more", centre=True,
                       from_model=plain.with_suffix(".pt"), **{**TINY, "epochs": 1})
    card = ModelCard.read(more.with_suffix(".json"))
    assert card.maps("nuclei") == ["foreground", "distance", "centre"]
    assert card.training["fine_tuned_from"]["reinitialised"] == ["head.bias", "head.weight"]


@pytest.mark.slow
def test_export_matches_torch(tmp_path):
    from cellscale.train._export import TOLERANCE, export_onnx
    from cellscale.train._unet import UNet

    torch.manual_seed(0)
    model = UNet(2, 4, widths=(8, 16, 32, 64))
    model.train()
    model(torch.rand(2, 2, 64, 64))  # move BatchNorm statistics away from their defaults
    model.eval()
    assert export_onnx(model, tmp_path / "m.onnx") <= TOLERANCE
    x = np.random.default_rng(1).random((1, 2, 96, 160), np.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=TOLERANCE)
    # The exported decoder computes the upsampling inside its convolutions.
    ops = {node.op_type for node in onnx.load(tmp_path / "m.onnx").graph.node}
    assert "Resize" not in ops and "Conv" in ops


def test_bad_data_is_reported(tmp_path, tiny_data):
    import shutil

    import tifffile

    with pytest.raises(InputNotFoundError, match=str(tmp_path)):
        train_model(tmp_path, model_name="x", out_dir=tmp_path / "o", **TINY)
    bad = tmp_path / "bad"
    shutil.copytree(tiny_data, bad)
    tifffile.imwrite(bad / "s2" / "labels_nuclei.tif", np.zeros((40, 40), np.uint32))
    with pytest.raises(InvalidImageError, match=r"s2.labels_nuclei\.tif.*\(40, 40\)"):
        train_model(bad, model_name="x", out_dir=tmp_path / "o", **TINY)
    with pytest.raises(InvalidArgumentError, match="patch_size"):
        train_model(tiny_data, model_name="x", out_dir=tmp_path / "o", **{**TINY, "patch_size": 60})
    with pytest.raises(InvalidImageError, match="membrane"):
        train_model(
            tiny_data, model_name="x", out_dir=tmp_path / "o", channels=("DNA", "membrane"), **TINY
        )


@pytest.mark.slow
def test_cli_train(tiny_data, tmp_path):
    import typer
    from typer.testing import CliRunner

    from cellscale.cli._train import train

    app = typer.Typer()
    app.command()(train)
    app.command("other")(lambda: None)  # keep "train" a named subcommand
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(tiny_data),
            "--model-name",
            "clitiny",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--patch-size",
            "64",
            "--batch-size",
            "2",
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "F1@0.5" in result.output
    assert (
        ModelCard.read(tmp_path / "o" / "clitiny.json").training["command"].startswith("cellscale")
    )
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path / "missing"), "--model-name", "m", "--out", str(tmp_path / "m")]
    )
    assert isinstance(result.exception, InputNotFoundError)
    assert not (tmp_path / "m").exists()  # nothing written when the data is missing


def test_int8_quantisation_stays_close_to_float(tmp_path):
    from cellscale.train._export import export_onnx
    from cellscale.train._quantize import calibration_crops, quantize_int8
    from cellscale.train._unet import UNet

    torch.manual_seed(0)
    model = UNet(1, 2, widths=(8, 16, 32)).eval()
    export_onnx(model, tmp_path / "f32.onnx")
    rng = np.random.default_rng(0)
    images = [rng.random((1, 80 + 16 * i, 96), np.float32) for i in range(4)]
    crops = calibration_crops(images, size=64)
    assert len(crops) == 4 and all(c.shape == (1, 1, 64, 64) for c in crops)
    diff = quantize_int8(tmp_path / "f32.onnx", tmp_path / "i8.onnx", crops)
    assert 0.0 < diff <= 0.02  # quantised (not a copy), and still close
    graph = (tmp_path / "i8.onnx").read_bytes()
    assert b"QuantizeLinear" in graph and b"QuantizeLinear" not in (tmp_path / "f32.onnx").read_bytes()


@pytest.mark.slow
def test_float32_precision_skips_quantisation(tiny_data, tmp_path):
    path = train_model(
        tiny_data, model_name="f32", out_dir=tmp_path, precision="float32", **{**TINY, "epochs": 1}
    )
    card = ModelCard.read(path.with_suffix(".json"))
    assert card.precision == "float32" and "quantisation" not in card.training
    assert b"QuantizeLinear" not in path.read_bytes()


@pytest.mark.slow
def test_rescore_rewrites_thresholds_and_scores_only(trained, tiny_data, tmp_path):
    """training/rescore.py: the card is re-tuned and re-scored; the network is untouched."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    out, _ = trained
    run = tmp_path / "run"
    shutil.copytree(out, run)
    card_path = run / "tiny.json"
    before = ModelCard.read(card_path)
    script = Path(__file__).resolve().parents[2] / "training" / "rescore.py"
    subprocess.run([sys.executable, str(script), str(card_path), "--data", str(tiny_data),
                    "--test-data", str(tiny_data), "--threads", "1"],
                   check=True, capture_output=True, text=True)
    after = ModelCard.read(card_path)
    assert after.sha256 == before.sha256 == sha256_of(run / "tiny.onnx")
    assert after.outputs == before.outputs and after.training == before.training
    assert after.metrics["rescored"]["previous"]["nuclei"] == before.metrics["nuclei"]
    assert after.metrics["nuclei"]["n_images"] == 4  # the whole "held-out" folder
    assert not list(run.glob(".*.tmp"))
