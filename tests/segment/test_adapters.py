"""Peer adapters: Cellpose and StarDist run through Segmenter when installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from cellscale.data import simulate_nuclei
from cellscale.errors import InputNotFoundError, InvalidArgumentError
from cellscale.metrics import match_instances
from cellscale.segment import Segmenter
from cellscale.segment._adapters import is_peer_spec, load_peer

HAS = {p: importlib.util.find_spec(p) is not None for p in ("cellpose", "stardist")}


def test_peer_specs_are_recognised():
    assert is_peer_spec("cellpose") and is_peer_spec("cellpose:nuclei")
    assert is_peer_spec("StarDist:/models/x")
    assert not is_peer_spec("nuclei") and not is_peer_spec("classical")
    assert not is_peer_spec(None)
    with pytest.raises(InvalidArgumentError, match="no adapter"):
        load_peer("ilastik:x")


@pytest.mark.parametrize("peer", ["cellpose", "stardist"])
def test_missing_peer_says_how_to_install_it(peer):
    if HAS[peer]:
        pytest.skip(f"{peer} is installed")
    with pytest.raises(InvalidArgumentError, match="pip install"):
        Segmenter(peer)


@pytest.mark.skipif(not HAS["stardist"], reason="stardist not installed")
def test_stardist_model_folder_must_exist(tmp_path):
    with pytest.raises(InputNotFoundError, match="not a StarDist model folder"):
        load_peer(f"stardist:{tmp_path}")


@pytest.mark.skipif(not HAS["cellpose"], reason="cellpose not installed")
def test_cellpose_model_file_must_exist(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such Cellpose model"):
        load_peer(f"cellpose:{tmp_path / 'missing'}")


@pytest.mark.parametrize("peer", ["cellpose:nuclei", "stardist"])
def test_peer_segments_nuclei(peer):
    if not HAS[peer.split(":")[0]]:
        pytest.skip("peer not installed")
    sample = simulate_nuclei(shape=(256, 256), seed=3, diameter=18, density=0.3)
    try:
        seg = Segmenter(peer)
    except InputNotFoundError as exc:  # pretrained weights are downloaded on first use
        pytest.skip(f"{peer} weights unavailable: {exc}")
    labels = seg(sample.image)
    assert labels.dtype == np.uint32 and labels.shape == (256, 256)
    assert match_instances(np.asarray(sample.labels["nuclei"]), labels).f1_at(0.5) > 0.5
