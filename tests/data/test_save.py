"""save_sample / load_sample: files readable by standard tools, atomic, round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from cellscale.data import load_sample, save_sample, simulate_nuclei, simulate_tissue
from cellscale.errors import InvalidArgumentError, OutputExistsError


def test_save_in_memory_tissue_as_tiff_and_csv(tmp_path):
    s = simulate_tissue(shape=(96, 128), seed=2, n_markers=2)
    paths = save_sample(s, tmp_path / "sample")
    assert paths["image"].name == "image.ome.tif"
    img = tifffile.imread(paths["image"])
    np.testing.assert_array_equal(img, s.image.data)
    for name in ("cells", "nuclei"):
        np.testing.assert_array_equal(tifffile.imread(paths[f"labels_{name}"]), s.labels[name])
    cells = pd.read_csv(paths["cells"])
    assert len(cells) == len(s.cells) and list(cells.columns) == list(s.cells.columns)
    np.testing.assert_allclose(cells["y"], s.cells["y"])
    meta = json.loads(paths["params"].read_text())
    assert meta["kind"] == "tissue" and meta["params"]["options"]["seed"] == 2
    assert meta["params"]["cellscale_version"]
    # Regenerating from the saved options gives the same sample.
    again = simulate_tissue(**meta["params"]["options"])
    np.testing.assert_array_equal(again.image.data, s.image.data)
    back = load_sample(tmp_path / "sample")
    assert back.image.channel_names == s.image.channel_names
    np.testing.assert_array_equal(back.labels["cells"], s.labels["cells"])
    assert not list(tmp_path.glob(".*")), "no temporary folder left behind"


def test_save_lazy_nuclei_as_omezarr(tmp_path):
    import zarr

    s = simulate_nuclei(shape=(200, 300), seed=3, chunked=True, chunk_size=256)
    paths = save_sample(s, tmp_path / "big")
    assert (
        paths["image"].name == "image.zarr" and paths["labels_nuclei"].name == "labels_nuclei.zarr"
    )
    root = zarr.open_group(str(paths["image"]), mode="r")
    ms = root.attrs["ome"]["multiscales"][0]
    assert root[ms["datasets"][0]["path"]].shape == (200, 300)
    expected = s.compute()
    back = load_sample(tmp_path / "big")
    np.testing.assert_array_equal(np.asarray(back.labels["nuclei"]), expected.labels["nuclei"])
    np.testing.assert_array_equal(np.asarray(back.image.data), expected.image.data)


def test_existing_folder_is_not_overwritten_unless_asked(tmp_path):
    s = simulate_nuclei(shape=(64, 64), seed=0, diameter=12)
    out = tmp_path / "s"
    save_sample(s, out)
    (out / "marker.txt").write_text("old")
    with pytest.raises(OutputExistsError):
        save_sample(s, out)
    assert (out / "marker.txt").exists(), "the old folder is untouched"
    save_sample(s, out, overwrite=True)
    assert not (out / "marker.txt").exists() and (out / "cells.csv").exists()


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    import cellscale.data._save as save_mod

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(save_mod, "write_labels", boom)
    s = simulate_nuclei(shape=(64, 64), seed=0, diameter=12)
    with pytest.raises(RuntimeError):
        save_sample(s, tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


def test_bad_image_format(tmp_path):
    s = simulate_nuclei(shape=(64, 64), seed=0, diameter=12)
    with pytest.raises(InvalidArgumentError, match="image_format"):
        save_sample(s, tmp_path / "s", image_format="jpeg")
