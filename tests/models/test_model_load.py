"""load_model / model_info / available_models: finding a model from a name, path or folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cellscale.errors import FileFormatError, InputNotFoundError, InvalidArgumentError
from cellscale.models import Model, available_models, load_model, model_info


def test_load_by_card_onnx_and_folder_give_the_same_network(tmp_path, make_model):
    tiny = make_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"epochs": 3}))  # not a card
    by_card = load_model(tiny.card)
    by_onnx = load_model(str(tiny.onnx))
    by_folder = load_model(tmp_path / "m")
    for model in (by_card, by_onnx, by_folder):
        assert isinstance(model, Model)
        assert model.path == tiny.onnx.resolve()
        assert model.card.name == "tiny"
        assert model.card.outputs == ["cells.foreground", "cells.distance"]
        assert model.providers == ["CPUExecutionProvider"]
    assert by_folder.source == str(tmp_path / "m")


def test_same_files_and_options_reuse_the_session(tmp_path, make_model):
    tiny = make_model(tmp_path)
    first = load_model(tiny.card)
    assert load_model(tiny.card) is first
    assert load_model(tiny.card, threads=1) is not first


def test_onnx_renamed_with_its_card_still_loads(tmp_path, make_model):
    tiny = make_model(tmp_path, "orig")
    tiny.onnx.rename(tmp_path / "renamed.onnx")
    tiny.card.rename(tmp_path / "renamed.json")
    # The card still says file="orig.onnx"; the network given is checked by checksum instead.
    assert load_model(tmp_path / "renamed.onnx").path.name == "renamed.onnx"


def test_options_are_validated(tmp_path, make_model):
    tiny = make_model(tmp_path)
    with pytest.raises(InvalidArgumentError, match="CPUExecutionProvider"):
        load_model(tiny.card, providers=["NoSuchExecutionProvider"])
    with pytest.raises(InvalidArgumentError, match="threads"):
        load_model(tiny.card, threads=0)
    assert load_model(tiny.card, providers="CPUExecutionProvider", threads=1).providers == [
        "CPUExecutionProvider"
    ]
    with pytest.raises(InvalidArgumentError, match="shipped name"):
        load_model(3)


def test_missing_paths_and_pieces(tmp_path, make_model):
    with pytest.raises(InputNotFoundError, match="no such model"):
        load_model(tmp_path / "absent.json")
    lonely = tmp_path / "lonely"
    tiny = make_model(lonely)
    tiny.card.unlink()
    with pytest.raises(InputNotFoundError, match=r"no model card beside .*lonely/tiny\.json"):
        load_model(tiny.onnx)
    with pytest.raises(InputNotFoundError, match="no model card"):
        load_model(lonely)
    headless = make_model(tmp_path / "headless")
    headless.onnx.unlink()
    with pytest.raises(InputNotFoundError, match="network file 'tiny.onnx' is not there"):
        load_model(headless.card)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InvalidArgumentError, match=r"not a model: expected a card \(\.json\)"):
        load_model(tmp_path / "x.txt")


def test_folder_with_two_cards_asks_which(tmp_path, make_model):
    make_model(tmp_path, "a")
    make_model(tmp_path, "b")
    with pytest.raises(InvalidArgumentError, match=r"holds 2 model cards.*a\.json.*b\.json"):
        load_model(tmp_path)


def test_unknown_name_lists_shipped_names(weights_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        InvalidArgumentError, match=r"unknown model 'nucleus'.*\['nuclei', 'cells'\]"
    ):
        load_model("nucleus")


def test_shipped_model_not_installed_lists_available(weights_dir, make_model):
    with pytest.raises(
        InputNotFoundError, match=r"'nuclei' is not installed.*installed models: none"
    ):
        load_model("nuclei")
    cells = make_model(weights_dir, "cells")
    assert available_models() == ["cells"]
    with pytest.raises(InputNotFoundError, match=r"'nuclei' is not installed.*\['cells'\]"):
        load_model("nuclei")
    model = load_model("cells")
    assert model.source == "cells" and model.path == cells.onnx.resolve()
    assert model_info("cells").name == "cells"
    cells.onnx.unlink()  # card without network: info still works, loading does not
    assert available_models() == []
    assert model_info("cells").outputs == ["cells.foreground", "cells.distance"]
    with pytest.raises(InputNotFoundError, match="'cells' is not installed"):
        load_model("cells")


def test_model_info_reads_the_card_only(tmp_path, make_model):
    tiny = make_model(tmp_path, payload=b"not even onnx")
    info = model_info(tiny.card)
    assert info.inputs.channels == ["DNA", "membrane"]
    assert model_info(tmp_path).name == "tiny"


def test_not_a_card(tmp_path, make_model):
    tiny = make_model(tmp_path)
    tiny.card.write_text(json.dumps({"name": "x"}))
    with pytest.raises(FileFormatError, match=r"tiny\.json: not a valid model card"):
        load_model(tiny.card)
    tiny.card.write_text("{ nope")
    with pytest.raises(FileFormatError, match="invalid JSON"):
        load_model(tiny.onnx)


def test_output_maps_are_checked(tmp_path, make_model):
    with_centre = ("cells.foreground", "cells.distance", "cells.centre")
    model = load_model(make_model(tmp_path / "ok", outputs=with_centre).card)
    assert model.card.maps("cells") == ["foreground", "distance", "centre"]
    bad = make_model(tmp_path / "flow", outputs=("cells.foreground", "cells.flow"))
    with pytest.raises(FileFormatError,
                       match=r"'cells\.flow' is not .*foreground\|distance\|centre"):
        load_model(bad.card)
    lone = make_model(tmp_path / "lone", outputs=("cells.foreground", "cells.centre"))
    with pytest.raises(FileFormatError,
                       match=r"lone[/\\]tiny\.json: outputs have no cells\.distance"):
        load_model(lone.card)


def test_real_weights_folder_lists_only_complete_models():
    names = available_models()
    assert names == sorted(names)
    for name in names:
        model = load_model(name)
        c, m = len(model.card.inputs.channels), model.card.inputs.size_multiple
        out = model.predict(np.zeros((1, c, m, m), dtype=np.float32))
        assert out.shape == (1, len(model.card.outputs), m, m)
