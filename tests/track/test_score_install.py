"""score_tracking without py-ctcmetrics names the extra that installs it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellscale.errors import MissingDependencyError
from cellscale.track import score_tracking


def test_missing_py_ctcmetrics_names_the_metrics_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ctc_metrics", None)  # import ctc_metrics now raises ImportError
    labels = np.zeros((2, 8, 8), np.uint32)
    lineage = pd.DataFrame({"label": [], "start": [], "end": [], "parent": []})
    with pytest.raises(MissingDependencyError, match=r'pip install "cellscale\[metrics\]"') as err:
        score_tracking(labels, lineage, labels, lineage)
    assert isinstance(err.value, ImportError)


def test_the_metrics_extra_installs_py_ctcmetrics():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("py-ctcmetrics") for r in project["optional-dependencies"]["metrics"])
