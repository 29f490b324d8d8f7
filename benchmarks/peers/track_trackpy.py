"""Link detections with trackpy (no divisions); run inside the trackpy venv.

``trackpy.link(search_range=max_distance, memory=max_gap)``: nearest-neighbour
linking with gap memory (Crocker-Grier), trackpy's defaults otherwise, plus
trackpy's documented adaptive search (``adaptive_stop = 1`` px,
``adaptive_step = 0.95``): in dense fields a subnetwork of candidates would
otherwise be too large to solve and ``link`` raises
``SubnetOversizeException``; adaptive search shrinks the search range for
that subnetwork only, until it is solvable.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd
from track_io import load, now, save


def main() -> None:
    import trackpy as tp

    tp.quiet()
    det, folder = load()
    df = pd.DataFrame({"frame": det["t"], "y": det["y"], "x": det["x"]})
    t0 = now()
    linked = tp.link(df, search_range=det["max_distance"], memory=det["max_gap"],
                     adaptive_stop=1.0, adaptive_step=0.95)
    seconds = now() - t0
    save(folder, (linked.loc[df.index, "particle"] + 1).tolist(), {}, seconds, tp.__version__)


if __name__ == "__main__":
    main()
