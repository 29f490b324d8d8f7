"""`cellscale segment` and `cellscale evaluate`, run in-process as a user would type them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from cellscale.data import save_sample, simulate_nuclei, simulate_tissue
from cellscale.io import read_labels
from cellscale.segment import segment


def _tiny_models():
    path = Path(__file__).parents[1] / "segment" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("_cli_tiny_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two saved nuclei samples and one tissue sample, plus a tiny model."""
    root = tmp_path_factory.mktemp("cli-seg")
    for seed in (1, 2):
        save_sample(simulate_nuclei(shape=(160, 192), seed=seed, diameter=14, density=0.25),
                    root / "nuclei" / f"img{seed}")
    save_sample(simulate_tissue(shape=(128, 128), seed=4), root / "tissue")
    tiny = _tiny_models()
    tiny.write_model(root / "model", "tiny-nuclei")
    tiny.write_model(root / "cells-model", "tiny-cells", channels=("DNA", "membrane"),
                     outputs=("cells.foreground", "cells.distance",
                              "nuclei.foreground", "nuclei.distance"))
    return root


def test_segment_classical_writes_labels_and_summary(data, tmp_path, cli):
    image = data / "nuclei" / "img1" / "image.ome.tif"
    out = tmp_path / "labels.tif"
    code, stdout, err = cli("segment", str(image), "-o", str(out), "--model", "classical")
    assert code == 0, err
    labels = np.asarray(read_labels(out))
    assert labels.shape == (160, 192) and labels.max() > 5
    assert f"Segmented {labels.max()} nuclei" in stdout
    assert "network" in stdout and "post-processing" in stdout and "Mpx/s" in stdout
    # Existing output: refused without --overwrite, replaced with it.
    code, _, err = cli("segment", str(image), "-o", str(out), "--model", "classical")
    assert code == 1 and "already exists" in err
    code, _, err = cli("segment", str(image), "-o", str(out), "--model", "classical",
                              "--overwrite")
    assert code == 0, err


def test_segment_with_onnx_model_zarr_and_channels(data, tmp_path, cli):
    image = data / "tissue" / "image.ome.tif"
    card = data / "cells-model" / "tiny-cells.json"
    out = tmp_path / "cells.zarr"
    code, stdout, err = cli("segment", str(image), "-o", str(out), "--model", str(card),
                                   "--channels", "DNA,membrane", "--tile-size", "64", "--threads", "1")
    assert code == 0, err
    assert " cells in image.ome.tif" in stdout
    labels = np.asarray(read_labels(out, name="cells"))
    from cellscale.io import read

    expected = segment(read(image), model=card, channels=["DNA", "membrane"], tile_size=64)
    np.testing.assert_array_equal(labels, expected)
    code, stdout, err = cli("segment", str(image), "-o", str(tmp_path / "n.tif"),
                                   "--model", str(card), "--channels", "0,1", "--compartment", "nuclei")
    assert code == 0, err
    assert " nuclei in " in stdout


def test_segment_blank_nuclear_channel(data, tmp_path, cli):
    """--channels none,0: the cells model on a one-channel image (no nuclear stain)."""
    import tifffile

    from cellscale.io import read

    card = data / "cells-model" / "tiny-cells.json"
    one = tmp_path / "membrane_only.tif"
    tifffile.imwrite(one, np.asarray(read(data / "tissue" / "image.ome.tif").data)[1])
    code, _, err = cli("segment", str(one), "-o", str(tmp_path / "refused.tif"), "--model", str(card))
    assert code == 1 and "--channels none,channel_0" in err, err
    out = tmp_path / "cells.tif"
    code, stdout, err = cli("segment", str(one), "-o", str(out), "--model", str(card),
                            "--channels", "none,0", "--tile-size", "64")
    assert code == 0, err
    expected = segment(read(one), model=card, channels=[None, 0], tile_size=64)
    np.testing.assert_array_equal(np.asarray(read_labels(out)), expected)


def test_segment_errors_are_one_paragraph(data, tmp_path, cli):
    card = data / "cells-model" / "tiny-cells.json"
    image = data / "tissue" / "image.ome.tif"
    code, _, err = cli("segment", str(image), "-o", str(tmp_path / "x.tif"),
                              "--model", str(card), "--channels", "DNA,GFP")
    assert code == 1 and "no channel 'GFP'" in err and "'membrane'" in err and "Traceback" not in err
    code, _, err = cli("segment", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "y.tif"))
    assert code == 1 and "missing.tif" in err
    code, _, err = cli("segment", str(image), "-o", str(tmp_path / "z.tif"),
                              "--model", "classical", "--compartment", "cells")
    assert code == 1 and "compartment 'cells'" in err
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "z.tif").exists()


def test_evaluate_folder_of_samples_text_and_json(data, cli):
    code, stdout, err = cli("evaluate", "classical", str(data / "nuclei"))
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].split()[:4] == ["image", "true", "pred", "F1@0.5"]
    assert [ln.split()[0] for ln in lines[1:4]] == ["img1", "img2", "all"]
    code, stdout, err = cli("evaluate", "classical", str(data / "nuclei"), "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["compartment"] == "nuclei" and len(report["images"]) == 2
    agg = report["aggregate"]
    assert agg["n_true"] == sum(r["n_true"] for r in report["images"])
    assert 0.5 < agg["f1@0.5"] <= 1.0 and 0 < agg["mean_ap"] <= agg["ap@0.5"]


def test_evaluate_one_sample_with_onnx_model(data, cli):
    card = data / "cells-model" / "tiny-cells.json"
    code, stdout, err = cli("evaluate", str(card), str(data / "tissue"), "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["compartment"] == "cells" and report["images"][0]["image"] == "tissue"
    code, _, err = cli("evaluate", "classical", str(data / "model"))
    assert code == 1 and "no image/label pairs" in err
    code, _, err = cli("evaluate", str(data / "model" / "tiny-nuclei.json"),
                              str(data / "tissue"), "--compartment", "cells")
    assert code == 1 and "compartment 'cells'" in err


def test_pixel_size_option_labels_the_output(tmp_path, cli):
    from cellscale.io import read

    save_sample(simulate_nuclei(shape=(96, 96), seed=1, diameter=14), tmp_path / "s")
    image, out = str(tmp_path / "s" / "image.ome.tif"), tmp_path / "labels.tif"
    code, _, err = cli("segment", image, "-o", str(out), "--pixel-size", "0.65",
                              "--diameter", "off")
    assert code == 0, err
    assert read(out).pixel_size["x"] == pytest.approx(0.65)
    code, _, err = cli("segment", image, "-o", str(tmp_path / "x.tif"),
                              "--diameter", "huge")
    assert code == 1 and "--diameter" in err


@pytest.mark.parametrize("layout", ["split", "cellpose", "simulator"])
def test_evaluate_takes_every_training_layout(tmp_path, cli, layout):
    """The layouts `cellscale train` accepts; scores equal segment + match_instances by hand."""
    import tifffile

    from cellscale.metrics import aggregate, match_instances

    truth, results = {}, []
    for seed in (1, 2):
        sample = simulate_nuclei(shape=(96, 96), seed=seed, diameter=14, density=0.25)
        pixels, labels = np.asarray(sample.image.data), np.asarray(sample.labels["nuclei"])
        name = f"img{seed}"
        if layout == "split":
            (tmp_path / "images").mkdir(exist_ok=True)
            (tmp_path / "masks").mkdir(exist_ok=True)
            tifffile.imwrite(tmp_path / "images" / f"{name}.tif", pixels)
            tifffile.imwrite(tmp_path / "masks" / f"{name}.tif", labels.astype(np.uint16))
        elif layout == "cellpose":
            tifffile.imwrite(tmp_path / f"{name}.tif", pixels)
            tifffile.imwrite(tmp_path / f"{name}_masks.tif", labels.astype(np.uint16))
        else:
            save_sample(sample, tmp_path / name)
            (tmp_path / name / "params.json").write_text("{")  # truncated: never read
        truth[name] = labels
        results.append(match_instances(labels, segment(pixels, model="classical")))
    code, stdout, err = cli("evaluate", "classical", str(tmp_path), "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert len(report["images"]) == 2
    assert all(any(n in row["image"] for n in truth) for row in report["images"])
    expected = aggregate(results)
    assert report["aggregate"]["f1@0.5"] == pytest.approx(expected.f1_at(0.5))
    assert report["aggregate"]["n_true"] == expected.n_true
