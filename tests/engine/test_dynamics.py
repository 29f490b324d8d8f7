"""cell_dynamics on a hand-made lineage with divisions and a gap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellscale.engine._dynamics import cell_dynamics

# Mother 1 (t 0-1) divides into 2 (t 2-4) and 3 (t 2-3); 3 is lost at t 4 and
# continues as 4 (t 5-6, a gap continuation); 2 divides into 5 and 6 (t 5);
# 4 divides into 7 and 8 (t 7).
LINEAGE = pd.DataFrame({"label": [1, 2, 3, 4, 5, 6, 7, 8],
                        "begin": [0, 2, 2, 5, 5, 5, 7, 7],
                        "end": [1, 4, 3, 6, 5, 5, 7, 7],
                        "parent": [0, 1, 1, 3, 2, 2, 4, 4]})

# (label, t, y, x)
ROWS = [(1, 0, 0, 0), (1, 1, 0, 3),
        (2, 2, 4, 3), (2, 3, 4, 3), (2, 4, 4, 6),
        (3, 2, 0, 7), (3, 3, 0, 7),
        (4, 5, 6, 15), (4, 6, 6, 15),
        (5, 5, 4, 9), (6, 5, 8, 6),
        (7, 7, 6, 18), (8, 7, 6, 15)]
NAN = np.nan
# (generation, cell_cycle_length, speed) per row of ROWS
EXPECTED = [(0, NAN, NAN), (0, NAN, 3.0),
            (1, 3.0, 4.0), (1, 3.0, 0.0), (1, 3.0, 3.0),
            (1, 5.0, 4.0), (1, 5.0, 0.0),
            (1, 5.0, 5.0), (1, 5.0, 0.0),  # first row of 4: 10 pixels over the 2-frame gap
            (2, NAN, 3.0), (2, NAN, 4.0),
            (2, NAN, 3.0), (2, NAN, 0.0)]


def _obs(order: list[int]) -> pd.DataFrame:
    rows = [ROWS[i] for i in order]
    return pd.DataFrame({"label": [r[0] for r in rows], "t": [r[1] for r in rows],
                         "centroid_y": [float(r[2]) for r in rows],
                         "centroid_x": [float(r[3]) for r in rows]},
                        index=[f"t{r[1]}_{r[0]}" for r in rows])


def test_dynamics_of_a_hand_made_lineage():
    order = list(np.random.default_rng(0).permutation(len(ROWS)))  # row order must not matter
    obs = _obs(order)
    out = cell_dynamics(obs, LINEAGE, pixel_size={"y": 0.5, "x": 0.5})
    assert list(out.index) == list(obs.index)
    assert list(out.columns) == ["track_id", "parent", "generation", "cell_cycle_length",
                                 "speed", "speed_um"]
    expected = [EXPECTED[i] for i in order]
    parents = dict(zip(LINEAGE["label"], LINEAGE["parent"]))
    assert out["track_id"].tolist() == obs["label"].tolist()
    assert out["parent"].tolist() == [parents[k] for k in obs["label"]]
    assert out["generation"].tolist() == [e[0] for e in expected]
    np.testing.assert_array_equal(out["cell_cycle_length"], [e[1] for e in expected])
    np.testing.assert_array_equal(out["speed"], [e[2] for e in expected])
    np.testing.assert_array_equal(out["speed_um"], [e[2] * 0.5 for e in expected])
    assert out["generation"].dtype == np.int64 and out["parent"].dtype == np.int64


def test_dynamics_without_pixel_size_or_lineage_entry():
    obs = _obs(list(range(len(ROWS))))
    obs.loc["t0_9"] = [9, 0, 50.0, 50.0]  # a track the lineage does not know
    out = cell_dynamics(obs, LINEAGE)
    assert "speed_um" not in out
    row = out.loc["t0_9"]
    assert row["parent"] == 0 and row["generation"] == 0
    assert np.isnan(row["cell_cycle_length"]) and np.isnan(row["speed"])
