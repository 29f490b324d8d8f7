"""Tune a model's post-processing thresholds again and re-score it, in its card.

For when the decoder (:func:`cellscale.segment.instances_from_maps`) changes
but the network does not: the thresholds are picked on the run's validation
images and the held-out images are scored, exactly as ``cellscale train``
does at the end of a run (:mod:`cellscale.train._finish`), with the network
the card names. The card is rewritten in place (through a temporary file);
the network and weights are untouched.

Usage::

    python training/rescore.py src/cellscale/models/weights/cells.json --data D/train --test-data D/test
    python training/rescore.py CARD --data ... --test-data ... \
        --postprocess '{"foreground_threshold": 0.5, "seed_threshold": 0.4, "min_peak": 0.5}'

With ``--postprocess`` the given values are kept (not tuned) and only the
held-out images are scored: for thresholds chosen elsewhere (the nuclei
model's ``min_peak``, chosen on hard-regime training images, see
training/README.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from cellscale.models._card import ModelCard, PostProcess
from cellscale.train._config import TrainConfig
from cellscale.train._dataset import gather_pairs, load_items
from cellscale.train._evaluate import all_maps, evaluate, tune_and_score
from cellscale.train._loop import split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("card", type=Path)
    parser.add_argument("--data", nargs="+", required=True, help="the training folders")
    parser.add_argument("--test-data", nargs="+", required=True, help="the held-out folders")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--postprocess", type=json.loads, default=None,
                        help="JSON of PostProcess fields to use as they are instead of tuning")
    args = parser.parse_args()

    card = ModelCard.read(args.card)
    config = TrainConfig.model_validate(card.training["config"])
    objects, kinds = card.objects(), card.maps(card.objects()[0])
    channels = card.inputs.channels
    test_items = load_items(gather_pairs(args.test_data, objects), channels)
    network = args.card.parent / card.file
    if args.postprocess is None:
        # The validation images of the original run: the same split of the same folders.
        pairs = gather_pairs(args.data, objects)
        _, val_idx = split(len(pairs), config.val_fraction, config.seed)
        val_items = load_items([pairs[i] for i in val_idx], channels)
        post, metrics = tune_and_score(network, val_items, test_items, objects, kinds,
                                       card.inputs.size_multiple, args.threads)
    else:
        post = PostProcess.model_validate(args.postprocess)
        maps = all_maps(network, [it.image for it in test_items], card.inputs.size_multiple,
                        args.threads)
        metrics = evaluate(maps, [it.labels for it in test_items], objects, post, kinds)
    for key in ("data", "postprocess"):
        if key in card.metrics:
            metrics[key] = card.metrics[key]
    metrics["rescored"] = {
        "previous_postprocess": card.postprocess.model_dump(),
        "previous": {o: card.metrics.get(o) for o in objects},
        "command": "python training/rescore.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    new = card.model_copy(update={"postprocess": post, "metrics": metrics})
    tmp = args.card.with_name(f".{args.card.name}.tmp")
    new.write(tmp)
    tmp.replace(args.card)
    for o in objects:
        print(f"{o}: {card.metrics.get(o, {}).get('f1@0.5')} -> {metrics[o]['f1@0.5']} (F1@0.5)")
    print(f"thresholds: {card.postprocess.model_dump()} -> {post.model_dump()}")


if __name__ == "__main__":
    main()
