"""Pipelines from YAML, the step registry, default pipelines and the local cluster."""

from __future__ import annotations

from typing import Literal

import pytest

from cellscale.engine import (
    ImageRef,
    Pipeline,
    Step,
    available_steps,
    chunk_size_for,
    cluster_client,
    default_pipeline,
    load_pipeline,
    register_step,
)
from cellscale.errors import FileFormatError, InvalidArgumentError


def _ref(axes: str, shape: tuple[int, ...], names: tuple[str, ...]) -> ImageRef:
    return ImageRef(path="/data/x.tif", image_id="x", axes=axes, shape=shape, channel_names=names)


def test_pipeline_round_trips_through_yaml(tmp_path):
    import yaml

    p = Pipeline.model_validate({"steps": [{"step": "segment", "model": "cells",
                                            "channels": ["DAPI", "WGA"]}, {"step": "measure"}],
                                 "chunk_size": 1024})
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(p.model_dump(mode="json")))
    again = load_pipeline(path)
    assert again == p and again.steps[0].channels == ["DAPI", "WGA"]


def test_bad_pipelines_name_the_problem(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("steps:\n  - step: segment\n    tile_size: 8\n")
    with pytest.raises(FileFormatError, match=r"p.yaml.*step 0 \(segment\): tile_size"):
        load_pipeline(path)
    with pytest.raises(FileNotFoundError, match="no such pipeline file"):
        load_pipeline(tmp_path / "missing.yaml")


def test_a_new_step_plugs_in_by_name():
    @register_step
    class CountStep(Step):
        step: Literal["count_test"] = "count_test"
        factor: int = 2

        def run(self, job):  # pragma: no cover - not run here
            job.extras["count"] = self.factor

    p = Pipeline.model_validate({"steps": [{"step": "count_test", "factor": 3}]})
    assert isinstance(p.steps[0], CountStep) and p.steps[0].factor == 3
    assert p.model_dump()["steps"][0] == {"step": "count_test", "factor": 3}
    assert {"segment", "measure", "track", "count_test"} <= set(available_steps())
    with pytest.raises(InvalidArgumentError, match="Step subclass"):
        register_step(int)  # type: ignore[arg-type]


@pytest.mark.parametrize("ref, model, channels, steps", [
    (_ref("yx", (64, 64), ("channel_0",)), "nuclei", None, ["segment", "measure"]),
    (_ref("cyx", (3, 64, 64), ("CD3", "Hoechst", "WGA")), "cells", ["Hoechst", "WGA"],
     ["segment", "measure"]),
    (_ref("cyx", (2, 64, 64), ("DAPI", "CD45")), "nuclei", ["DAPI"], ["segment", "measure"]),
    (_ref("tyx", (5, 64, 64), ("channel_0",)), "nuclei", None, ["segment", "track", "measure"]),
])
def test_default_pipeline_fits_the_image(ref, model, channels, steps):
    p = default_pipeline(ref)
    assert [s.step for s in p.steps] == steps
    assert p.steps[0].model == model and p.steps[0].channels == channels


def test_default_pipeline_needs_a_recognisable_nuclear_channel():
    ref = _ref("cyx", (2, 64, 64), ("A", "B"))
    with pytest.raises(InvalidArgumentError, match=r"x.tif: cannot tell .* pass channels=") as err:
        default_pipeline(ref)
    assert err.value.option == "channels" and err.value.choices == ("A,B", "A")
    p = default_pipeline(ref, channels=["B", "A"])
    assert p.steps[0].model == "cells" and p.steps[0].channels == ["B", "A"]


@pytest.mark.slow
def test_local_cluster_has_the_asked_workers_and_memory():
    with cluster_client(n_workers=1, memory_limit="700MB") as client:
        workers = client.scheduler_info()["workers"].values()
        assert [w["memory_limit"] for w in workers] == [700_000_000]
        assert [w["nthreads"] for w in workers] == [1]
    assert chunk_size_for(700_000_000) == 512 and chunk_size_for(2 * 10**9) == 2048
    with pytest.raises(InvalidArgumentError, match="memory limit"), \
            cluster_client(memory_limit="lots"):
        pass
