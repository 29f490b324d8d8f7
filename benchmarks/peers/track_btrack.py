"""Link detections with btrack (Bayesian tracker + hypothesis optimisation); run inside the btrack venv.

Configuration: ``btrack_cell_config.json`` (btrack's own ``cell_config.json``;
path in ``$BTRACK_CONFIG``), ``max_search_radius = max_distance``, no
features, ``track(step_size=100)`` then ``optimize()`` (divisions, gaps).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from track_io import load, now, save


def main() -> None:
    import btrack

    det, folder = load()
    n = len(det["t"])
    objects = btrack.io.objects_from_dict({
        "ID": np.arange(n), "t": np.asarray(det["t"]), "x": np.asarray(det["x"], float),
        "y": np.asarray(det["y"], float), "z": np.zeros(n)})
    h, w = det["shape"]
    t0 = now()
    with btrack.BayesianTracker(verbose=False) as tracker:
        tracker.configure(os.environ["BTRACK_CONFIG"])
        tracker.max_search_radius = float(det["max_distance"])
        tracker.features = []
        tracker.append(objects)
        tracker.volume = ((0, w), (0, h))
        tracker.track(step_size=100)
        tracker.optimize()
        tracks = list(tracker.tracks)
    seconds = now() - t0
    out = [0] * n
    parent = {}
    for tr in tracks:
        for ref in tr.refs:
            if ref >= 0:
                out[int(ref)] = int(tr.ID)
        if tr.parent != tr.ID and tr.parent > 0:
            parent[int(tr.ID)] = int(tr.parent)
    save(folder, out, parent, seconds, btrack.__version__)


if __name__ == "__main__":
    main()
