"""`cellscale run` flags the images the model was unsure of; `cellscale info` lists why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellscale.data import simulate_nuclei
from cellscale.io import open_store, write_image


@pytest.mark.slow  # a run on the cluster: ~5 s warm, ~30 s when its workers start cold
def test_run_flags_only_the_unsure_image_and_info_says_why(cli, scheduler, tmp_path):
    # ~16 px nuclei (confidence 0.94) and ~110 px textured nuclei segmented at their own
    # scale, which the model cuts into pieces that change when the image is flipped (0.17).
    write_image(simulate_nuclei(shape=(256, 256), diameter=16, density=0.4, seed=3).image,
                tmp_path / "normal.ome.tif")
    write_image(simulate_nuclei(shape=(512, 512), diameter=110, density=0.4, seed=1).image,
                tmp_path / "large.ome.tif")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("steps:\n  - step: segment\n    model: nuclei\n    diameter: 'off'\n"
                        "  - step: measure\n")
    out = tmp_path / "res.zarr"
    code, stdout, stderr = cli("run", str(tmp_path / "normal.ome.tif"),
                               str(tmp_path / "large.ome.tif"), "-o", str(out),
                               "--pipeline", str(pipeline), "--scheduler", scheduler)
    assert code == 0, stderr
    flagged = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    assert len(flagged) == 1 and flagged[0].startswith("warning: large: low confidence (0.")
    assert f"1 of 2 image(s) flagged as uncertain; see `cellscale info {out}`" in stdout
    confidence = open_store(out).config["images"]["large"]["quality"]["confidence"]

    code, stdout, _ = cli("info", str(out))
    assert code == 0
    rows = {line.split()[0]: line for line in stdout.splitlines()
            if line.startswith("  ") and "objects, diameter" in line}
    assert set(rows) == {"normal", "large"}
    assert f"confidence {confidence:.2f}" in rows["large"]
    assert "    warning: low confidence" in stdout
    assert "segment(model=nuclei" in stdout  # the pipeline's steps, not "(no steps recorded)"
    code, stdout, _ = cli("info", str(out), "--json")
    entry = json.loads(stdout)["config"]["images"]["normal"]["quality"]
    assert entry["confidence"] > 0.85 and entry["warnings"] == []


def test_a_run_without_doubts_prints_no_tally():
    from cellscale.cli._run import print_flags
    from cellscale.engine import RunReport

    report = RunReport(store=Path("res.zarr"), estimates={
        "a": {"confidence": 0.95, "diameter": 15.0, "warnings": []}})
    assert print_flags(report) == ""
    report.estimates["b"] = {"confidence": 0.5, "diameter": None, "warnings": []}
    assert print_flags(report) == ("\n1 of 2 image(s) flagged as uncertain; "
                                   "see `cellscale info res.zarr`")
