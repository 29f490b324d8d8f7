"""Simulate the training and held-out sets of the shipped models.

Every option the simulator leaves open (diameter 8-40 px, density, clustering,
SNR, background, blur, texture, mitosis, ...) is drawn per image from its
realistic range, so this randomisation is the data augmentation over
conditions; image sizes vary too. Training and held-out sets use disjoint
seeds. Usage::

    python training/make_data.py nuclei OUT_DIR [--train 320] [--test 40]
    python training/make_data.py tissue OUT_DIR [--train 200] [--test 30]

writes ``OUT_DIR/train/<kind>_<seed>/`` and ``OUT_DIR/test/<kind>_<seed>/``
(the :func:`cellscale.data.save_sample` layout that ``cellscale train`` reads).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cellscale.data import save_sample, simulate_nuclei, simulate_tissue

#: First seed of each set; held-out seeds never overlap training seeds.
TRAIN_SEED, TEST_SEED = 10_000, 900_000
SIZES = (256, 320, 384, 448, 512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("nuclei", "tissue"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=None, help="training images")
    parser.add_argument("--test", type=int, default=None, help="held-out images (512 x 512)")
    args = parser.parse_args()
    n_train = args.train if args.train is not None else (320 if args.kind == "nuclei" else 200)
    n_test = args.test if args.test is not None else (40 if args.kind == "nuclei" else 30)
    make = simulate_nuclei if args.kind == "nuclei" else simulate_tissue
    rng = np.random.default_rng(0)
    jobs = [("train", TRAIN_SEED + i, int(rng.choice(SIZES))) for i in range(n_train)]
    jobs += [("test", TEST_SEED + i, 512) for i in range(n_test)]
    for split, seed, size in jobs:
        out = args.out / split / f"{args.kind}_{seed}"
        if out.exists():
            continue
        save_sample(make(shape=(size, size), seed=seed), out)
    print(f"{n_train} training and {n_test} held-out {args.kind} images in {args.out}")


if __name__ == "__main__":
    main()
