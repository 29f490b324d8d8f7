"""``cellscale simulate culture``: writes a readable sample; bad choices name the flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile


def test_simulate_culture_writes_a_readable_sample(tmp_path: Path, cli):
    out_dir = tmp_path / "culture run"
    code, out, err = cli("simulate", "culture", "-o", str(out_dir), "--size", "128", "160",
                         "--shape-kind", "round", "--modality", "phase", "--seed", "2")  # fmt: skip
    assert code == 0, err
    assert "Simulated culture: (2, 128, 160) cyx" in out
    image = tifffile.imread(out_dir / "image.ome.tif")
    cells = tifffile.imread(out_dir / "labels_cells.tif")
    nuclei = tifffile.imread(out_dir / "labels_nuclei.tif")
    assert image.shape == (2, 128, 160) and image.dtype == np.uint16
    assert cells.max() > 0 and np.array_equal(nuclei[nuclei > 0], cells[nuclei > 0])
    params = json.loads((out_dir / "params.json").read_text())["params"]
    assert params["modality"] == "phase" and params["shape_kind"] == "round"
    code, out, err = cli("info", str(out_dir / "image.ome.tif"), "--json")
    assert code == 0, err
    assert json.loads(out)["channel_names"] == ["DNA", "membrane"]


def test_simulate_culture_names_the_bad_flag_and_its_choices(tmp_path: Path, cli):
    code, _, err = cli("simulate", "culture", "-o", str(tmp_path / "a"), "--shape-kind", "blob")
    assert (
        code == 1 and "--shape-kind must be one of epithelial, fibroblast, round, rod, mixed" in err
    )
    code, _, err = cli("simulate", "culture", "-o", str(tmp_path / "b"), "--modality", "dic")
    assert code == 1 and "--modality" in err and "brightfield" in err
    code, _, err = cli("simulate", "culture", "-o", str(tmp_path / "c"), "--size", "16", "64")
    assert code == 1 and "--size" in err
    assert not any(tmp_path.iterdir())
