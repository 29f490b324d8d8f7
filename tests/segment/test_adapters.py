"""The Cellpose 3 adapter, run for real with a small Cellpose model trained from scratch."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from cellscale.data import simulate_nuclei, simulate_tissue
from cellscale.errors import InputNotFoundError, InvalidArgumentError, MissingDependencyError
from cellscale.metrics import match_instances
from cellscale.segment import Segmenter, segment
from cellscale.segment._adapters import is_peer_spec, load_peer

HAS_CELLPOSE = importlib.util.find_spec("cellpose") is not None
NO_CELLPOSE = 'cellpose not installed (pip install "cellpose<4"; the test extra has it)'


def needs_cellpose(test):
    """Skipped without Cellpose; slow, as importing Cellpose (and torch) takes seconds."""
    return pytest.mark.slow(pytest.mark.skipif(not HAS_CELLPOSE, reason=NO_CELLPOSE)(test))


#: Nuclei of the tiny training set and the held-out image, in pixels.
DIAMETER = 10


def _sample(seed: int):
    return simulate_nuclei(shape=(96, 96), seed=seed, diameter=DIAMETER, density=0.3)


@pytest.fixture(scope="session")
def cellpose_model(tmp_path_factory):
    """A Cellpose 3 model file trained from scratch on three 96x96 simulated nuclei images.

    Random initialisation (no weights are downloaded), ``diam_mean`` = the
    nuclei's diameter, 25 short epochs on one CPU thread (about 35 s).
    """
    if not HAS_CELLPOSE:
        pytest.skip(NO_CELLPOSE)
    import torch
    from cellpose import models, train

    samples = [_sample(seed) for seed in range(3)]
    images = [np.asarray(s.image.data, np.float32)[None] for s in samples]
    masks = [np.asarray(s.labels["nuclei"]).astype(np.int32) for s in samples]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster, and the same everywhere
    try:
        torch.manual_seed(0)
        np.random.seed(0)
        net = models.CellposeModel(gpu=False, pretrained_model=False, model_type=None, nchan=2,
                                   diam_mean=float(DIAMETER)).net
        out = tmp_path_factory.mktemp("cellpose")
        path = train.train_seg(net, train_data=images, train_labels=masks, channels=[0, 0],
                               channel_axis=0, n_epochs=25, batch_size=4, nimg_per_epoch=8,
                               bsize=48, learning_rate=0.1, SGD=True, min_train_masks=1,
                               save_path=str(out), model_name="tiny")[0]
    finally:
        torch.set_num_threads(threads)
    return str(path)


@pytest.fixture
def eval_calls(monkeypatch):
    """Records the keyword arguments of every ``CellposeModel.eval`` call (the call still runs)."""
    from cellpose import models

    calls: list[dict] = []
    original = models.CellposeModel.eval

    def spy(self, x, **kwargs):
        calls.append({"image": np.array(x), **kwargs})
        return original(self, x, **kwargs)

    monkeypatch.setattr(models.CellposeModel, "eval", spy)
    return calls


def test_peer_specs_are_recognised():
    assert is_peer_spec("cellpose") and is_peer_spec("cellpose:nuclei")
    assert is_peer_spec("Cellpose:/models/x") and is_peer_spec("stardist:/models/x")
    assert not is_peer_spec("nuclei") and not is_peer_spec("classical")
    assert not is_peer_spec(None)
    with pytest.raises(InvalidArgumentError, match="no adapter"):
        load_peer("ilastik:x")


def test_stardist_has_no_adapter_and_says_so():
    for spec in ("stardist", "stardist:/models/2D_versatile_fluo"):
        with pytest.raises(InvalidArgumentError, match="no StarDist adapter.*cellpose"):
            Segmenter(spec)


def test_missing_cellpose_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cellpose", None)  # import cellpose now raises ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "cellpose<4"'):
        Segmenter("cellpose:nuclei")


@needs_cellpose
def test_cellpose_model_file_must_exist(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such Cellpose model file"):
        load_peer(f"cellpose:{tmp_path / 'missing'}")


@needs_cellpose
def test_a_file_that_is_not_a_cellpose_model_is_named(tmp_path):
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"not a network")
    with pytest.raises(InvalidArgumentError, match=f"{bad}: not a Cellpose 3 model file"):
        load_peer(f"cellpose:{bad}")


@needs_cellpose
def test_unknown_model_type_lists_the_types():
    with pytest.raises(InvalidArgumentError, match="no model type 'cyto9'.*cyto3"):
        load_peer("cellpose:cyto9")


@needs_cellpose
def test_built_in_type_that_cannot_be_downloaded_is_a_clear_error(monkeypatch):
    from cellpose import models

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(models, "CellposeModel", offline)
    with pytest.raises(InputNotFoundError, match="downloads the weights on first use"):
        load_peer("cellpose:nuclei")


@needs_cellpose
@pytest.mark.parametrize("bad", [0, -3, "big", True])
def test_bad_diameter_is_refused_before_loading(bad):
    with pytest.raises(InvalidArgumentError, match="diameter must be a positive number"):
        load_peer("cellpose:nuclei", diameter=bad)


@pytest.mark.slow
def test_cellpose_segments_nuclei(cellpose_model):
    sample = _sample(seed=11)
    labels = segment(sample.image, model=f"cellpose:{cellpose_model}", compartment="nuclei",
                     diameter=DIAMETER)
    assert labels.dtype == np.uint32 and labels.shape == (96, 96)
    ids = np.unique(labels[labels > 0])
    assert np.array_equal(ids, np.arange(1, ids.size + 1))  # numbered 1..n
    # measured 0.84 here (0.58-0.84 on three held-out images); a wrong channel or scale gives ~0
    assert match_instances(np.asarray(sample.labels["nuclei"]), labels).f1_at(0.5) > 0.4


@pytest.mark.slow
def test_diameter_reaches_cellpose(cellpose_model, eval_calls):
    image = _sample(seed=11).image
    spec = f"cellpose:{cellpose_model}"
    by_diameter = {}
    for diameter in (DIAMETER, 2 * DIAMETER, "auto", None):
        seg = Segmenter(spec, compartment="nuclei", diameter=diameter)
        by_diameter[diameter] = seg(image)
        assert seg.peer.options["diameter"] == eval_calls[-1]["diameter"]
    given = [call["diameter"] for call in eval_calls]
    # "auto": Cellpose's default (the model's training diameter); None: no resizing (diam_mean)
    assert given == [DIAMETER, 2 * DIAMETER, None, DIAMETER]
    assert all(call["channels"] == [0, 0] for call in eval_calls)
    # Cellpose really resized: objects assumed twice as large are shrunk 2x and mostly lost
    small, large = by_diameter[DIAMETER].max(), by_diameter[2 * DIAMETER].max()
    assert large < small, (small, large)


@pytest.mark.slow
def test_two_channels_go_to_cellpose_as_membrane_and_dna(cellpose_model, eval_calls):
    image = simulate_tissue(shape=(64, 64), seed=3).image
    labels = segment(image, model=f"cellpose:{cellpose_model}", compartment="cells",
                     diameter=DIAMETER)
    assert labels.shape == (64, 64) and labels.dtype == np.uint32
    call = eval_calls[-1]
    assert call["channels"] == [2, 1] and call["channel_axis"] == 2
    dna, membrane = (np.asarray(image.channel(c).data, np.float32) for c in ("DNA", "membrane"))
    assert np.array_equal(call["image"][..., 0], dna)
    assert np.array_equal(call["image"][..., 1], membrane)


@pytest.mark.slow
def test_cli_passes_diameter_to_cellpose(cellpose_model, tmp_path, capsys):
    from cellscale.cli import main
    from cellscale.io import read_labels, write_image

    image = _sample(seed=11).image
    source = write_image(image, tmp_path / "nuclei.tif")

    def cli(diameter: str) -> np.ndarray:
        out = tmp_path / f"labels_{diameter}.tif"
        with pytest.raises(SystemExit) as stop:
            main(["segment", str(source), "-o", str(out), "--model", f"cellpose:{cellpose_model}",
                  "--compartment", "nuclei", "--diameter", diameter])
        assert int(stop.value.code or 0) == 0, capsys.readouterr().err
        return np.asarray(read_labels(out).data)

    by_cli = {d: cli(str(d)) for d in (DIAMETER, 2 * DIAMETER)}
    for diameter, labels in by_cli.items():
        python = segment(image, model=f"cellpose:{cellpose_model}", compartment="nuclei",
                         diameter=diameter)
        assert np.array_equal(labels, python)
    assert not np.array_equal(by_cli[DIAMETER], by_cli[2 * DIAMETER])
