"""Render the example images of the README into ``docs/images/``.

Run from the repository root::

    python docs/make_images.py

Every image is simulated with a fixed seed, so the pictures only change when
the simulator does. Each PNG is kept under 300 kB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from skimage.segmentation import find_boundaries

from cellscale.data import simulate_nuclei, simulate_tissue

OUT = Path(__file__).resolve().parent / "images"
SIZE = 400


def _stretch(a: np.ndarray, lo: float = 0.5, hi: float = 99.8) -> np.ndarray:
    a = a.astype(np.float32)
    p0, p1 = np.percentile(a, [lo, hi])
    return np.clip((a - p0) / max(p1 - p0, 1e-6), 0, 1)


def _save(rgb: np.ndarray, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    img = PILImage.fromarray((255 * np.clip(rgb, 0, 1)).astype(np.uint8))
    img.save(path, optimize=True)
    if path.stat().st_size > 300_000:  # a 256-colour palette keeps greys and outlines
        img.quantize(colors=256, method=PILImage.Quantize.MEDIANCUT).save(path, optimize=True)
    if path.stat().st_size > 300_000:
        raise RuntimeError(
            f"{path} is {path.stat().st_size} bytes; keep README images under 300 kB"
        )
    return path


def _with_outlines(gray: np.ndarray, labels: np.ndarray, colour=(1.0, 0.85, 0.0)) -> np.ndarray:
    left = np.repeat(gray[..., None], 3, axis=-1)
    right = left.copy()
    right[find_boundaries(labels, mode="inner")] = colour
    gap = np.ones((gray.shape[0], 4, 3))
    return np.concatenate([left, gap, right], axis=1)


def nuclei_examples() -> list[Path]:
    """Sparse and crowded nuclei, each as image | image with ground-truth outlines."""
    sparse = simulate_nuclei(shape=(SIZE, SIZE), seed=11, diameter=22, density=0.08, snr=30)
    crowded = simulate_nuclei(
        shape=(SIZE, SIZE), seed=12, diameter=16, density=0.55, snr=15, clustering=0.8
    )
    return [
        _save(
            _with_outlines(_stretch(sparse.image.data), sparse.labels["nuclei"]),
            "nuclei_sparse.png",
        ),
        _save(
            _with_outlines(_stretch(crowded.image.data), crowded.labels["nuclei"]),
            "nuclei_crowded.png",
        ),
    ]


def tissue_example() -> Path:
    """panCK (red), CD45 (green), DNA (blue) | the same with cell and nucleus outlines."""
    s = simulate_tissue(shape=(SIZE, SIZE), seed=3, n_markers=4, snr=30)
    ch = s.image.channel_index
    rgb = np.stack(
        [
            _stretch(s.image.data[ch("panCK")]),
            _stretch(s.image.data[ch("CD45")]),
            _stretch(s.image.data[ch("DNA")]),
        ],
        axis=-1,
    )
    over = rgb.copy()
    over[find_boundaries(s.labels["cells"], mode="inner")] = (1.0, 1.0, 1.0)
    over[find_boundaries(s.labels["nuclei"], mode="inner")] = (1.0, 0.85, 0.0)
    gap = np.ones((SIZE, 4, 3))
    return _save(np.concatenate([rgb, gap, over], axis=1), "tissue_composite.png")


def main() -> None:
    for path in [*nuclei_examples(), tissue_example()]:
        print(f"{path}  {path.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
