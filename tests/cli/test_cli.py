"""The `cellscale` command as a user types it: exit codes, messages, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile


def run(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a subprocess, as a user would (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "cellscale", *args], capture_output=True, text=True, timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_help_and_version():
    code, out, _ = run("--help")
    assert code == 0 and "simulate" in out and "info" in out
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("cellscale ")


@pytest.mark.parametrize("kind", ["nuclei", "tissue", "movie", "fish"])
def test_every_subcommand_has_help(cli, kind):
    code, out, _ = cli("simulate", kind, "--help")
    assert code == 0
    assert "--output" in out and "--seed" in out


def test_simulate_then_info_reads_back(tmp_path: Path, cli):
    out_dir = tmp_path / "nuclei run"  # a space in the path
    code, out, err = cli("simulate", "nuclei", "-o", str(out_dir), "--size", "128", "160", "--seed", "3")
    assert code == 0, err
    image_path = out_dir / "image.ome.tif"
    labels_path = out_dir / "labels_nuclei.tif"
    assert image_path.exists() and labels_path.exists()
    image = tifffile.imread(image_path)
    labels = tifffile.imread(labels_path)
    assert image.shape[-2:] == (128, 160) and labels.shape == (128, 160)
    assert labels.max() > 0

    code, out, err = cli("info", str(image_path), "--json")
    assert code == 0, err
    facts = json.loads(out)
    assert facts["shape"][-2:] == [128, 160]
    assert facts["axes"].endswith("yx")
    assert facts["lazy"] is False

    code, out, _ = cli("info", str(image_path))
    assert code == 0 and "axes" in out and "pixel size" in out


def test_same_seed_same_output(tmp_path: Path, cli):
    for name in ("a", "b"):
        code, _, err = cli("simulate", "nuclei", "-o", str(tmp_path / name), "--size", "96", "96", "--seed", "7")
        assert code == 0, err
    a = tifffile.imread(tmp_path / "a" / "image.ome.tif")
    b = tifffile.imread(tmp_path / "b" / "image.ome.tif")
    np.testing.assert_array_equal(a, b)


def test_existing_output_needs_overwrite(tmp_path: Path, cli):
    out_dir = tmp_path / "out"
    assert cli("simulate", "nuclei", "-o", str(out_dir), "--size", "64", "64")[0] == 0
    code, _, err = cli("simulate", "nuclei", "-o", str(out_dir), "--size", "64", "64")
    assert code == 1
    assert "already exists" in err and "--overwrite" in err and str(out_dir) in err
    code, _, err = cli("simulate", "nuclei", "-o", str(out_dir), "--size", "64", "64", "--overwrite")
    assert code == 0, err


def test_user_errors_are_one_paragraph_without_traceback(tmp_path: Path):
    missing = tmp_path / "no such file.tif"
    code, _, err = run("info", str(missing))
    assert code == 1
    assert "Traceback" not in err
    assert str(missing) in err
    assert err.startswith("cellscale: error:")


def test_debug_shows_traceback(tmp_path: Path):
    code, _, err = run("--debug", "info", str(tmp_path / "missing.tif"))
    assert code != 0 and "Traceback" in err


def test_unwritable_output_is_reported_before_simulating(tmp_path: Path, cli):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, _, err = cli("simulate", "nuclei", "-o", str(blocker / "out"), "--size", "64", "64")
    assert code == 1 and "Traceback" not in err and str(blocker) in err


def test_usage_errors_exit_2(cli):
    code, _, _ = run("simulate", "nuclei")  # missing -o
    assert code == 2
    code, _, _ = run("no-such-command")
    assert code == 2


def test_bad_option_values_are_reported(tmp_path: Path, cli):
    code, _, err = cli("simulate", "nuclei", "-o", str(tmp_path / "x"), "--size", "4", "4")
    assert code == 1 and "--size" in err
    code, _, err = cli("simulate", "fish", "-o", str(tmp_path / "y"), "--base", "plants")
    assert code == 1 and "'nuclei', 'tissue'" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
