"""Simulate the training and held-out sets of the shipped models.

Every option the simulator leaves open (diameter 8-40 px, density, clustering,
SNR, background, blur, texture, mitosis, ...) is drawn per image from its
realistic range, so this randomisation is the data augmentation over
conditions; image sizes vary too. Training and held-out sets use disjoint
seeds. Usage::

    python training/make_data.py nuclei OUT_DIR [--train 320] [--test 40]
    python training/make_data.py tissue OUT_DIR [--train 200] [--test 30]
    python training/make_data.py generalist OUT_DIR [--train 400] [--test 40]
        [--regime NAME ...] [--per-regime 20] [--train-regime NAME ...] [--per-train-regime 30]
    python training/make_data.py culture OUT_DIR [--train 300] [--test 30]
        [--regime NAME|all ...] [--per-regime 10]

writes ``OUT_DIR/train/<kind>_<seed>/`` and ``OUT_DIR/test/<kind>_<seed>/``
(the :func:`cellscale.data.save_sample` layout that ``cellscale train`` reads).

``generalist`` draws every option of :func:`cellscale.data.simulate_nuclei`
per image from wide ranges (:func:`cellscale.data.generalist_options`:
diameters 6-150 px, image side 10-16 diameters clamped to 256-1024,
brightness spread up to 100x, heavy texture, nucleoli, vacuoles, unlabelled
cytoplasm, uneven illumination, sCMOS/EMCCD/8-bit/JPEG cameras, clipping,
bent, lobed, touching and overlapping nuclei). ``--regime`` (repeatable, or
``all``) adds per-regime held-out sets ``OUT_DIR/test_<regime>/`` of
``--per-regime`` images each (regimes: diameter bands d6-12 .. d96-150,
brightness, texture, cytoplasm, emccd, jpeg, saturated, shapes, plain). Seeds
of every set are disjoint from each other and from the other kinds'.

``culture`` draws every option of :func:`cellscale.data.simulate_culture` per
image (:func:`cellscale.data.culture_options`: epithelial, fibroblast, round,
rod and mixed cells of 15-150 px (rods 10-40 px long), membrane or cytoplasm
stain in fluorescence, phase contrast or bright field, DNA channel stained or
blank, sides 256-768 px), the training data of the ``cells`` model beside
tissue (channels ``DNA``, ``membrane``; labels ``cells``, ``nuclei``). Its
regimes: epithelial, fibroblast, round, rod, membrane, cytoplasm, phase,
brightfield, no_dna, large, small.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cellscale.data import (
    CULTURE_REGIMES,
    GENERALIST_REGIMES,
    culture_options,
    generalist_options,
    save_sample,
    simulate_culture,
    simulate_nuclei,
    simulate_tissue,
)

#: First seed of each set; held-out seeds never overlap training seeds.
TRAIN_SEED, TEST_SEED = 10_000, 900_000
#: The generalist's seeds: training, held-out, and per regime (10,000 apart).
GENERALIST_TRAIN_SEED, GENERALIST_TEST_SEED, REGIME_SEED = 2_000_000, 2_900_000, 3_000_000
#: Extra generalist training images at a regime's hard end (``--train-regime``), 10,000 apart.
TRAIN_REGIME_SEED = 2_500_000
#: The culture kind's seeds (after the generalist's regimes, 10,000 apart, end).
CULTURE_TRAIN_SEED, CULTURE_TEST_SEED, CULTURE_REGIME_SEED = 4_000_000, 4_900_000, 5_000_000
SIZES = (256, 320, 384, 448, 512)
DEFAULTS = {"nuclei": (320, 40), "tissue": (200, 30), "generalist": (400, 40), "culture": (300, 30)}


def generalist_jobs(
    n_train: int,
    n_test: int,
    regimes: list[str],
    per_regime: int,
    *,
    draw: Callable[..., dict] = generalist_options,
    names: tuple[str, ...] = tuple(GENERALIST_REGIMES),
    seeds: tuple[int, int, int] = (GENERALIST_TRAIN_SEED, GENERALIST_TEST_SEED, REGIME_SEED),
    train_regimes: Sequence[str] = (),
    per_train_regime: int = 30,
) -> list[tuple[str, int, dict]]:
    """(set name, seed, options) of every image of a domain-randomised kind.

    ``draw(seed, regime=...)`` gives one image's options; ``names`` are its
    regimes and ``seeds`` the first seeds of the training, held-out and regime
    sets (the generalist's by default; :func:`culture_jobs` passes the culture's).
    ``train_regimes`` add ``per_train_regime`` training images each, the k-th
    drawing seeds ``TRAIN_REGIME_SEED + 10,000 k`` (by position: the order given
    is the recipe).
    """
    train, test, regime_seed = seeds
    jobs = [("train", s, draw(s)) for s in range(train, train + n_train)]
    for k, regime in enumerate(train_regimes):
        first = TRAIN_REGIME_SEED + 10_000 * k
        jobs += [("train", s, draw(s, regime=regime)) for s in range(first, first + per_train_regime)]
    jobs += [("test", s, draw(s)) for s in range(test, test + n_test)]
    for regime in regimes:
        first = regime_seed + 10_000 * list(names).index(regime)
        jobs += [
            (f"test_{regime}", s, draw(s, regime=regime)) for s in range(first, first + per_regime)
        ]
    return jobs


def culture_jobs(
    n_train: int, n_test: int, regimes: list[str], per_regime: int
) -> list[tuple[str, int, dict]]:
    """(set name, seed, simulate_culture options) of every culture image."""
    return generalist_jobs(
        n_train,
        n_test,
        regimes,
        per_regime,
        draw=culture_options,
        names=tuple(CULTURE_REGIMES),
        seeds=(CULTURE_TRAIN_SEED, CULTURE_TEST_SEED, CULTURE_REGIME_SEED),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("nuclei", "tissue", "generalist", "culture"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=None, help="training images")
    parser.add_argument("--test", type=int, default=None, help="held-out images")
    parser.add_argument(
        "--regime",
        action="append",
        default=[],
        choices=[*GENERALIST_REGIMES, *CULTURE_REGIMES, "all"],
        help="generalist and culture: also write a held-out set for this regime (repeatable)",
    )
    parser.add_argument(
        "--train-regime",
        action="append",
        default=[],
        choices=[*GENERALIST_REGIMES, "all"],
        help="generalist: also write --per-train-regime training images of this regime "
        "(repeatable; the k-th given draws seeds 2,500,000 + 10,000 k, disjoint from every "
        "held-out set)",
    )
    parser.add_argument("--per-train-regime", type=int, default=30)
    parser.add_argument(
        "--per-regime",
        type=int,
        default=None,
        help="images per regime's held-out set (default 20, culture 10)",
    )
    args = parser.parse_args()
    if args.regime and args.kind not in ("generalist", "culture"):
        parser.error("--regime needs the generalist or culture kind")
    if args.train_regime and args.kind != "generalist":
        parser.error("--train-regime needs the generalist kind")
    valid = {"generalist": GENERALIST_REGIMES, "culture": CULTURE_REGIMES}.get(args.kind, {})
    bad = [r for r in args.regime if r != "all" and r not in valid]
    if bad:
        parser.error(
            f"--regime {bad[0]} is not a {args.kind} regime; valid: {', '.join(valid)}, all"
        )
    per_regime = args.per_regime
    if per_regime is None:
        per_regime = 10 if args.kind == "culture" else 20
    n_train = args.train if args.train is not None else DEFAULTS[args.kind][0]
    n_test = args.test if args.test is not None else DEFAULTS[args.kind][1]
    start = time.perf_counter()
    if args.kind == "generalist":
        regimes = list(GENERALIST_REGIMES) if "all" in args.regime else args.regime
        hard = list(GENERALIST_REGIMES) if "all" in args.train_regime else args.train_regime
        jobs = generalist_jobs(n_train, n_test, regimes, per_regime, train_regimes=hard,
                               per_train_regime=args.per_train_regime)
        make = simulate_nuclei
        name = "nuclei"
    elif args.kind == "culture":
        regimes = list(CULTURE_REGIMES) if "all" in args.regime else args.regime
        jobs = culture_jobs(n_train, n_test, regimes, per_regime)
        make = simulate_culture
        name = "culture"
    else:
        make = simulate_nuclei if args.kind == "nuclei" else simulate_tissue
        name = args.kind
        rng = np.random.default_rng(0)
        jobs = [
            ("train", TRAIN_SEED + i, {"shape": (s, s), "seed": TRAIN_SEED + i})
            for i, s in enumerate(int(rng.choice(SIZES)) for _ in range(n_train))
        ]
        jobs += [
            ("test", TEST_SEED + i, {"shape": (512, 512), "seed": TEST_SEED + i})
            for i in range(n_test)
        ]
    for split, seed, options in jobs:
        out = args.out / split / f"{name}_{seed}"
        if out.exists():
            continue
        save_sample(make(**options), out)
    took = time.perf_counter() - start
    print(
        f"{sum(split == 'train' for split, _, _ in jobs)} training and {n_test} held-out "
        f"{args.kind} images"
        f"{' (+ per-regime sets)' if args.regime else ''}"
        f" in {args.out} ({took:.0f} s)"
    )


if __name__ == "__main__":
    main()
