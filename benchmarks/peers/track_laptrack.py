"""Link detections with laptrack (LAP with gap closing and splitting); run inside the laptrack venv.

Squared-Euclidean costs with cut-offs ``max_distance²`` for frame links and gap
closing (``gap_closing_max_frame_count = max_gap + 1``) and ``split_distance²``
for splitting (divisions; ``split_distance`` defaults to ``max_distance``), as
in laptrack's documentation examples. The benchmark picks ``split_distance``
on development movies (see benchmarks/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd
from track_io import load, now, save


def main() -> None:
    import laptrack
    from laptrack import LapTrack

    det, folder = load()
    df = pd.DataFrame({"frame": det["t"], "y": det["y"], "x": det["x"], "row": range(len(det["t"]))})
    cut = float(det["max_distance"]) ** 2
    lt = LapTrack(track_dist_metric="sqeuclidean", track_cost_cutoff=cut,
                  gap_closing_dist_metric="sqeuclidean", gap_closing_cost_cutoff=cut,
                  gap_closing_max_frame_count=int(det["max_gap"]) + 1,
                  splitting_dist_metric="sqeuclidean",
                  splitting_cost_cutoff=float(det.get("split_distance", det["max_distance"])) ** 2)
    t0 = now()
    track_df, split_df, _ = lt.predict_dataframe(df, coordinate_cols=["y", "x"], only_coordinate_cols=False)
    seconds = now() - t0
    track_df = track_df.sort_values("row")
    parent = {int(r.child_track_id) + 1: int(r.parent_track_id) + 1 for r in split_df.itertuples()}
    save(folder, (track_df["track_id"] + 1).tolist(), parent, seconds, laptrack.__version__)


if __name__ == "__main__":
    main()
