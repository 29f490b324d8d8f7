"""find_pairs: the three data layouts and the errors for folders without data."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellscale.data import save_sample, simulate_nuclei
from cellscale.errors import InputNotFoundError, InvalidArgumentError
from cellscale.io._dataset import find_pairs


def _tif(path, value=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.full((16, 16), value, np.uint16))


def test_simulator_folders_at_any_depth(tmp_path):
    for i in range(2):
        save_sample(
            simulate_nuclei(shape=(32, 32), seed=i, diameter=10), tmp_path / "set" / f"s{i}"
        )
    pairs = find_pairs(tmp_path)
    assert [(p[0].parent.name, p[0].name, p[1].name) for p in pairs] == [
        ("s0", "image.ome.tif", "labels_nuclei.tif"),
        ("s1", "image.ome.tif", "labels_nuclei.tif"),
    ]
    # One sample folder by itself works too.
    assert find_pairs(tmp_path / "set" / "s1") == pairs[1:]


def test_simulator_folder_without_the_compartment_names_it(tmp_path):
    save_sample(simulate_nuclei(shape=(32, 32), seed=0, diameter=10), tmp_path / "s0")
    with pytest.raises(InputNotFoundError, match="labels_cells"):
        find_pairs(tmp_path, compartment="cells")


def test_cellpose_flat_folder(tmp_path):
    for name in ("a", "b", "c"):
        _tif(tmp_path / f"{name}.tif")
    _tif(tmp_path / "a_masks.tif")
    _tif(tmp_path / "b_masks.tif")
    pairs = find_pairs(tmp_path)
    assert [(i.name, m.name) for i, m in pairs] == [
        ("a.tif", "a_masks.tif"),
        ("b.tif", "b_masks.tif"),
    ]


def test_images_and_masks_subfolders(tmp_path):
    for name in ("x1", "x2"):
        _tif(tmp_path / "images" / f"{name}.tif")
    _tif(tmp_path / "masks" / "x2.tiff")
    _tif(tmp_path / "masks" / "x1.tif")
    pairs = find_pairs(tmp_path)
    assert [(i.name, m.name) for i, m in pairs] == [("x1.tif", "x1.tif"), ("x2.tif", "x2.tiff")]


def test_empty_missing_and_bad_arguments(tmp_path):
    with pytest.raises(InputNotFoundError, match=str(tmp_path)):
        find_pairs(tmp_path)
    _tif(tmp_path / "lonely.tif")
    with pytest.raises(InputNotFoundError, match="NAME_masks.tif"):
        find_pairs(tmp_path)
    with pytest.raises(InputNotFoundError, match="does not exist"):
        find_pairs(tmp_path / "nope")
    with pytest.raises(InputNotFoundError, match="not a folder"):
        find_pairs(tmp_path / "lonely.tif")
    with pytest.raises(InvalidArgumentError, match="'nuclei', 'cells'"):
        find_pairs(tmp_path, compartment="nucleus")
