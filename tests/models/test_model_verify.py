"""Load-time checks: the network is intact, is ONNX, and is the kind of network its card describes."""

from __future__ import annotations

import pytest

from cellscale.errors import FileFormatError
from cellscale.models import ModelCard, load_model, sha256_of


def test_checksum_mismatch(tmp_path, make_model):
    tiny = make_model(tmp_path, sha256="0" * 64)
    with pytest.raises(
        FileFormatError,
        match=r"tiny\.onnx: checksum mismatch.*corrupt or not the one the card describes",
    ):
        load_model(tiny.card)


def test_network_changed_after_card_was_written(tmp_path, make_model):
    tiny = make_model(tmp_path)
    load_model(tiny.card)
    tiny.onnx.write_bytes(tiny.onnx.read_bytes() + b"\0")
    with pytest.raises(FileFormatError, match="checksum mismatch"):
        load_model(tiny.card)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_not_onnx(tmp_path, make_model, damage):
    good = make_model(tmp_path / "good").onnx.read_bytes()
    payload = {
        "garbage": b"\x13\x37garbage" * 100,
        "truncated": good[: len(good) // 2],
        "empty": b"",
    }[damage]
    bad = make_model(tmp_path / "bad", payload=payload)
    assert sha256_of(bad.onnx) == ModelCard.read(bad.card).sha256
    with pytest.raises(FileFormatError, match=r"bad/tiny\.onnx: not a valid ONNX network"):
        load_model(bad.card)


def test_output_channels_differ_from_card(tmp_path, make_model):
    tiny = make_model(tmp_path, net_out=3)
    with pytest.raises(
        FileFormatError, match=r"wrong kind: output 'maps' has 3 channels.*\(N, 2, H, W\)"
    ):
        load_model(tiny.card)


def test_input_channels_differ_from_card(tmp_path, make_model):
    tiny = make_model(tmp_path, channels=("DNA",), net_in=2)
    with pytest.raises(
        FileFormatError, match=r"wrong kind: input 'image' has 2 channels.*\(N, 1, H, W\)"
    ):
        load_model(tiny.card)


def test_rank_3_network_is_the_wrong_kind(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"])],
        "flat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "L"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, "L"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    net = tmp_path / "flat.onnx"
    net.write_bytes(model.SerializeToString())
    ModelCard(
        name="flat",
        version="1",
        file=net.name,
        sha256=sha256_of(net),
        inputs={"channels": ["DNA"]},
        outputs=["nuclei.foreground", "nuclei.distance"],
    ).write(tmp_path / "flat.json")
    with pytest.raises(FileFormatError, match=r"wrong kind: input 'x' has rank 3"):
        load_model(net)
