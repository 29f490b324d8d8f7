"""The results store: round trip, SpatialData/anndata compatibility, atomic writes."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from cellscale.errors import InputNotFoundError, InvalidArgumentError, OutputExistsError
from cellscale.io import (
    Image,
    add_labels,
    add_table,
    create_store,
    open_store,
    write_store,
)
from cellscale.measure import measure


@pytest.fixture(scope="module")
def parts():
    cells = np.zeros((64, 80), np.uint32)
    cells[5:20, 5:25], cells[5:20, 25:40], cells[40:60, 50:75] = 3, 7, 11
    rng = np.random.default_rng(0)
    image = Image.from_array(rng.integers(0, 200, (2, 64, 80)).astype(np.uint16), "cyx",
                             channel_names=["DNA", "CD45"], pixel_size=0.5)
    spots = pd.DataFrame({"x": [10.0, 30.0, 60.0], "y": [10.0, 12.0, 50.0],
                          "gene": ["ACTB", "CD3E", "ACTB"]})
    table = measure(image, cells=cells, image_id="f0",
                    points=spots.rename(columns={}).loc[:, ["y", "x", "gene"]])
    return image, cells, spots, table


def _write(path, parts, **kw):
    image, cells, spots, table = parts
    return write_store(path, images={"f0": image}, labels={"f0_cells": Image.from_array(
        cells, "yx", pixel_size=0.5)}, points={"f0_spots": spots}, tables={"cells": table},
        config={"segment": {"model": "cells"}, "seed": 1}, **kw)


def test_round_trip(tmp_path, parts):
    image, cells, spots, table = parts
    out = _write(tmp_path / "run.zarr", parts)
    store = open_store(out)
    assert store.images == ("f0",) and store.labels == ("f0_cells",)
    assert store.points == ("f0_spots",) and store.tables == ("cells",)
    assert store.config == {"segment": {"model": "cells"}, "seed": 1}
    back = store.image("f0")
    assert back.channel_names == ("DNA", "CD45") and back.pixel_size == {"y": 0.5, "x": 0.5}
    np.testing.assert_array_equal(np.asarray(back.data), image.data)
    np.testing.assert_array_equal(store.label_image("f0_cells"), cells)
    pts = store.point_table("f0_spots")
    assert pts["x"].tolist() == spots["x"].tolist() and pts["gene"].astype(str).tolist() == \
        spots["gene"].tolist()
    t = store.table("cells")
    np.testing.assert_allclose(t.X, table.X)
    assert t.obs["label"].tolist() == [3, 7, 11]
    assert t.uns["spatialdata_attrs"] == {"region": "f0_cells", "region_key": "region",
                                          "instance_key": "label"}
    assert (t.obs["region"] == "f0_cells").all()
    assert t.obsm["spots"]["ACTB"].tolist() == [1, 0, 1]


def test_table_is_plain_anndata_and_images_plain_ngff(tmp_path, parts):
    import anndata as ad
    import zarr

    out = _write(tmp_path / "run.zarr", parts)
    t = ad.read_zarr(out / "tables" / "cells")
    assert t.n_obs == 3 and t.var_names.tolist() == ["DNA", "CD45"]
    ome = dict(zarr.open_group(str(out / "labels" / "f0_cells"), mode="r").attrs)["ome"]
    assert "image-label" in ome
    axes = ome["multiscales"][0]["axes"]
    assert [a.get("unit") for a in axes] == ["micrometer", "micrometer"]
    root = json.loads((out / "zarr.json").read_text())["attributes"]
    assert root["spatialdata_attrs"]["version"] == "0.2"
    assert root["cellscale"]["config"]["seed"] == 1


def test_ome_zarr_reader_opens_images_and_labels(tmp_path, parts, caplog):
    """What napari-ome-zarr does: ome-zarr-py's Reader on each raster element.

    napari-ome-zarr shows the nodes that have data; a label image's parent (the
    store root, NGFF's ``source.image`` "../../") has none and is skipped. No
    "no parent found" warning is logged for the label image.
    """
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    out = _write(tmp_path / "run.zarr", parts)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("ignore")
        image_nodes = list(Reader(parse_url(str(out / "images" / "f0")))())
        label_nodes = [n for n in Reader(parse_url(str(out / "labels" / "f0_cells")))() if n.data]
    assert tuple(image_nodes[0].data[0].shape) == (2, 64, 80)
    assert len(label_nodes) == 1 and tuple(label_nodes[0].data[0].shape) == (64, 80)
    assert label_nodes[0].visible and label_nodes[0].load(Label) is not None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_spatialdata_reads_the_store(tmp_path, parts, caplog):
    import spatialdata as sd  # in the test extra: CI must run this, never skip it
    import spatialdata._io  # imported lazily; warns on import about ome-zarr

    out = _write(tmp_path / "run.zarr", parts)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")  # e.g. ome_zarr's "no parent found", name clashes
        sdata = sd.read_zarr(out)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert set(sdata.images) == {"f0"} and set(sdata.labels) == {"f0_cells"}
    assert set(sdata.points) == {"f0_spots"} and set(sdata.tables) == {"cells"}
    assert sd.get_element_annotators(sdata, "f0_cells") == {"cells"}
    table = sdata.tables["cells"]
    assert table.uns["spatialdata_attrs"]["region"] == "f0_cells"
    assert list(sdata.images["f0"].coords["c"].values) == ["DNA", "CD45"]
    assert len(sdata.points["f0_spots"].compute()) == 3
    from spatialdata.transformations import get_transformation

    assert set(get_transformation(sdata.labels["f0_cells"], get_all=True)) == {"global"}


def test_spatialdata_reads_the_pyramids(tmp_path):
    """Images and labels large enough for two levels open as multiscale DataTrees."""
    import spatialdata as sd

    cells = np.zeros((600, 520), np.uint32)
    cells[10:50, 10:61], cells[300:401, 200:300] = 4, 9
    pixels = np.random.default_rng(1).integers(0, 200, (2, 600, 520)).astype(np.uint16)
    image = Image.from_array(pixels, "cyx", channel_names=["DNA", "CD45"], pixel_size=0.5)
    out = write_store(tmp_path / "big.zarr", images={"big": image},
                      labels={"big_cells": Image.from_array(cells, "yx", pixel_size=0.5)})
    sdata = sd.read_zarr(out)
    big, big_cells = sdata.images["big"], sdata.labels["big_cells"]
    assert list(big.keys()) == ["scale0", "scale1"] == list(big_cells.keys())
    assert dict(big["scale1"]["image"].sizes) == {"c": 2, "y": 300, "x": 260}
    assert list(big["scale1"]["image"].coords["c"].values) == ["DNA", "CD45"]
    np.testing.assert_array_equal(big["scale0"]["image"].values, pixels)
    np.testing.assert_array_equal(big_cells["scale0"]["image"].values, cells)
    low = big_cells["scale1"]["image"].values
    assert low.shape == (300, 260) and set(np.unique(low)) == {0, 4, 9}
    np.testing.assert_array_equal(low, cells[1::2, 1::2])


def test_existing_store_is_not_replaced(tmp_path, parts):
    out = _write(tmp_path / "run.zarr", parts)
    with pytest.raises(OutputExistsError, match="run.zarr: output already exists"):
        _write(out, parts)
    _write(out, parts, overwrite=True)
    assert open_store(out).tables == ("cells",)


def test_incremental_and_resumable(tmp_path, parts):
    _, cells, _, table = parts
    out = create_store(tmp_path / "run.zarr", config={"n": 2})
    add_labels(out, "f0_cells", cells, pixel_size=0.5)
    add_table(out, "f0", table, region="f0_cells")
    store = open_store(out)
    assert store.has("tables", "f0") and not store.has("tables", "f1")
    with pytest.raises(OutputExistsError, match="tables element 'f0' already exists"):
        add_table(out, "f0", table, region="f0_cells")
    with pytest.raises(InvalidArgumentError, match="region label layer.*nope"):
        add_table(out, "f1", table, region="nope")
    with pytest.raises(InputNotFoundError, match="not a cellscale results store"):
        add_labels(tmp_path, "x", cells)


def test_interrupted_write_leaves_nothing_complete(tmp_path, parts, monkeypatch):
    import cellscale.io._store as store_module

    _, cells, _, table = parts

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "_write_zarr_v3", boom)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path / "run.zarr", parts)
    assert not (tmp_path / "run.zarr").exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    monkeypatch.undo()
    out = create_store(tmp_path / "inc.zarr")
    add_labels(out, "f0_cells", cells)
    monkeypatch.setattr(store_module, "_write_zarr_v3", boom)
    with pytest.raises(KeyboardInterrupt):
        add_table(out, "f0", table, region="f0_cells")
    assert open_store(out).tables == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inc.zarr"]
