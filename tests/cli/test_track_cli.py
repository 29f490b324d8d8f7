"""`cellscale track`, run in-process as a user would type it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from cellscale.data import simulate_movie
from cellscale.data._ctc import read_ctc


@pytest.fixture(scope="module")
def movie(tmp_path_factory) -> tuple[Path, Path, object]:
    root = tmp_path_factory.mktemp("cli-track")
    # 160² holds ~11 nuclei: one noise speck in a frame of 1-3 nuclei (96²) was a 25 % count error
    sample = simulate_movie(shape=(160, 160), n_frames=8, seed=3, division_rate=0.05)
    tifffile.imwrite(root / "movie.tif", np.asarray(sample.image.data), imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(root / "labels.tif", sample.labels["nuclei"].astype(np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    return root / "movie.tif", root / "labels.tif", sample


def test_track_existing_labels_writes_ctc_and_napari_table(movie, tmp_path, cli):
    mov, lab, sample = movie
    code, out, err = cli("track", str(mov), "--labels", str(lab), "-o", str(tmp_path / "res"))
    assert code == 0, err
    assert "Tracked" in out and "frames/s" in out
    labels, lineage = read_ctc(tmp_path / "res")  # validates masks against res_track.txt
    assert labels.shape == sample.labels["nuclei"].shape
    assert len(lineage) >= len(sample.lineage) - 2
    table = pd.read_csv(tmp_path / "res" / "tracks.csv")
    assert list(table.columns) == ["track_id", "t", "y", "x", "area", "parent"]
    assert set(table.track_id) == set(lineage.label)
    assert (tmp_path / "res" / "track_config.json").is_file()
    code, _, err = cli("track", str(mov), "--labels", str(lab), "-o", str(tmp_path / "res"))
    assert code == 1 and "already exists" in err


def test_track_raw_movie_segments_first(movie, tmp_path, cli):
    mov, _, sample = movie
    code, _out, err = cli("track", str(mov), "-o", str(tmp_path / "res"))
    assert code == 0, err
    labels, lineage = read_ctc(tmp_path / "res")
    n_true = np.mean([len(np.unique(f)) - 1 for f in sample.labels["nuclei"]])
    n_found = np.mean([len(np.unique(f)) - 1 for f in labels])
    assert 0.8 * n_true <= n_found <= 1.2 * n_true
    assert lineage.end.max() == 7


def test_bad_inputs_are_named(movie, tmp_path, cli):
    mov, lab, _ = movie
    short = tmp_path / "short.tif"
    tifffile.imwrite(short, tifffile.imread(lab)[:5], imagej=True, metadata={"axes": "TYX"})
    code, _, err = cli("track", str(mov), "--labels", str(short), "-o", str(tmp_path / "a"))
    assert code == 1 and "short.tif has 5 frame(s)" in err and "has 8" in err
    floats = tmp_path / "floats.tif"
    tifffile.imwrite(floats, tifffile.imread(lab).astype(np.float32), imagej=True, metadata={"axes": "TYX"})
    code, _, err = cli("track", str(mov), "--labels", str(floats), "-o", str(tmp_path / "b"))
    assert code == 1 and "floats.tif" in err and "integers" in err
    single = tmp_path / "single.tif"
    tifffile.imwrite(single, tifffile.imread(mov)[0])
    code, _, err = cli("track", str(single), "-o", str(tmp_path / "c"))
    assert code == 1 and "single.tif" in err and "time series" in err
    assert not any(p.name in "abc" for p in tmp_path.iterdir())
