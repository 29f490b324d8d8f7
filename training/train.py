"""Train a model from a recipe config (a TrainConfig without its data folders).

Usage::

    python training/train.py training/nuclei.json --data DIR/train --test-data DIR/test --out OUT
        [--from-model NAME_OR_PATH]

The recipe's fields are :class:`cellscale.train.TrainConfig` fields; the command
line adds the data folders, so the recipe is the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from cellscale.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--test-data", nargs="*", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--from-model", default=None,
                        help="fine-tune this model (name, card or NAME.pt) instead of the "
                             "recipe's from_model")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = json.loads(args.recipe.read_text())
    name = recipe.pop("model_name")
    if args.from_model:
        recipe["from_model"] = args.from_model
    command = "python training/train.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path = train_model(
        args.data,
        model_name=name,
        test_data=args.test_data,
        out_dir=args.out,
        progress=not args.no_progress,
        command=command,
        **recipe,
    )
    print(path)


if __name__ == "__main__":
    main()
