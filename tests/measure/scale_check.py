"""Sanity check at scale (not collected by pytest): ``python tests/measure/scale_check.py [n]``.

Builds a packed field of ``n`` cells (default 10⁵, about 230 px each) with
nuclei and 4 channels, runs :func:`cellscale.measure.measure` and prints the
time and a few plausibility checks.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels

from cellscale.measure import measure


def main(n: int = 100_000) -> None:
    rng = np.random.default_rng(0)
    side = int(np.sqrt(n * 300))
    seeds = np.zeros((side, side), np.int32)
    seeds[rng.integers(0, side, n), rng.integers(0, side, n)] = np.arange(1, n + 1)
    cells = expand_labels(seeds, 12)
    nuclei = np.where(ndi.grey_erosion(cells, size=7) == cells, cells, 0)
    image = rng.integers(0, 4000, (4, side, side), dtype=np.uint16)
    start = time.perf_counter()
    table = measure(image, cells=cells, nuclei=nuclei, pixel_size=0.5, image_id="f0")
    seconds = time.perf_counter() - start
    print(f"{table.n_obs} cells, {cells.size / 1e6:.1f} Mpx, 4 channels: {seconds:.1f} s "
          f"({1e6 * seconds / table.n_obs:.0f} µs per cell)")
    matched = (table.obs["nucleus_label"] == table.obs["label"]).mean()
    print(f"nuclei matched to their own cell: {matched:.3f}; mean neighbours "
          f"{table.obs['n_neighbours'].mean():.2f}; solidity in "
          f"[{table.obs['solidity'].min():.2f}, {table.obs['solidity'].max():.2f}]")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
