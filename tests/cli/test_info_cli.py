"""`cellscale info` on images, on cellscale's own outputs, and on images too large to read whole."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import tifffile
import zarr

from cellscale.io import Image, LabelsInfo, StoreInfo, describe_path, write_labels, write_store


def _labels() -> np.ndarray:
    lab = np.zeros((48, 64), np.uint32)
    lab[2:9, 2:9], lab[20:30, 20:30], lab[30:40, 50:60] = 1, 2, 7
    return lab


def test_info_describes_a_segment_zarr(tmp_path: Path, cli):
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, (np.random.default_rng(0).random((48, 64)) * 100).astype(np.uint16))
    out = tmp_path / "seg.zarr"
    code, _, err = cli("segment", str(image), "-o", str(out), "--model", "classical")
    assert code == 0, err
    code, text, err = cli("info", str(out))
    assert code == 0, err
    assert "ome-zarr labels" in text and "(48, 64)" in text and "objects:" in text
    code, text, _ = cli("info", str(out), "--json")
    facts = json.loads(text)
    n = len(np.unique(np.asarray(zarr.open_group(str(out))["labels/nuclei/s0"][...]))) - 1
    assert facts["shape"] == [48, 64] and facts["dtype"] == "uint32" and facts["n_objects"] == n


def test_describe_path_counts_objects_of_a_label_store(tmp_path: Path):
    out = write_labels(_labels(), tmp_path / "cells.zarr", name="cells")
    info = describe_path(out)
    assert isinstance(info, LabelsInfo)
    assert (info.name, info.shape, info.n_objects, info.axes) == ("cells", (48, 64), 3, "yx")


def test_info_describes_a_results_store(tmp_path: Path, cli):
    image = Image.from_array(np.ones((2, 48, 64), np.uint16), "cyx", channel_names=("DNA", "m"))
    table = ad.AnnData(
        X=np.ones((3, 2), np.float32),
        obs=pd.DataFrame({"label": [1, 2, 7], "region": pd.Categorical(["s_nuclei"] * 3)},
                         index=["1", "2", "7"]),
        var=pd.DataFrame(index=["DNA", "m"]))
    config = {"pipelines": {"p1": {"steps": [{"step": "segment", "model": "nuclei"},
                                             {"step": "measure"}]}},
              "images": {"s": {}}}
    store = write_store(tmp_path / "results.zarr", images={"s_image": image},
                        labels={"s_nuclei": _labels()}, tables={"s": table},
                        regions={"s": "s_nuclei"}, config=config)
    info = describe_path(store)
    assert isinstance(info, StoreInfo)
    assert info.elements["labels"] == [{"name": "s_nuclei", "axes": "yx", "shape": [48, 64],
                                        "dtype": "uint32", "n_objects": 3}]
    assert info.elements["tables"] == [{"name": "s", "n_obs": 3, "n_vars": 2}]
    assert info.elements["images"][0]["shape"] == [2, 48, 64]
    code, text, err = cli("info", str(store))
    assert code == 0, err
    assert "results store" in text and "s_nuclei" in text and "3 objects" in text
    assert "3 rows x 2 columns" in text and "segment(model=nuclei) -> measure()" in text
    code, text, _ = cli("info", str(store), "--json")
    assert json.loads(text)["elements"]["tables"][0]["n_obs"] == 3


def test_info_says_whether_commands_can_read_it_whole(tmp_path: Path, cli):
    zarr.open_array(str(tmp_path / "huge.zarr"), mode="w", shape=(100_000, 100_000),
                    chunks=(4096, 4096), dtype="uint16", zarr_format=3, dimension_names=["y", "x"])
    code, text, err = cli("info", str(tmp_path / "huge.zarr"))
    assert code == 0, err
    assert "read lazily" in text and "too large for them" in text and "cellscale run" in text
    code, text, _ = cli("info", str(tmp_path / "huge.zarr"), "--json")
    facts = json.loads(text)
    assert facts["lazy"] is True and facts["fits_whole_read"] is False
    tifffile.imwrite(tmp_path / "small.tif", np.zeros((40, 32, 32), np.uint16), metadata=None)
    code, text, _ = cli("info", str(tmp_path / "small.tif"))
    assert "ambiguous" in text and "it fits" in text
    code, text, err = cli("info", str(tmp_path / "small.tif"), "--axes", "tyx")
    assert code == 0 and "t=40" in text, err
