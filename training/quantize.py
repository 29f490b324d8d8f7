"""Quantise a trained float32 model to int8 and re-score it on held-out images.

    python training/quantize.py src/cellscale/models/weights/nuclei.json \\
        --data D/nuclei/train --test-data D/nuclei/test --out RUN/nuclei-int8

``cellscale train`` already exports int8 by default; this is for models
trained with ``precision: float32`` (the shipped models were quantised this
way from their float32 networks; see each card's ``training.quantisation``).
``--from-weights`` exports the float32 network again from ``NAME.pt`` first,
so a model exported by an older cellscale gets the current export (the
shipped models were re-exported this way; see each card's ``training.export``):

    python training/quantize.py src/cellscale/models/weights/nuclei.json --from-weights \\
        --data D/nuclei/train --test-data D/nuclei/test --out RUN/nuclei-reexport
"""

from __future__ import annotations

import argparse
import json

from cellscale.train._requantize import requantize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("card", help="the float32 model's card (NAME.json)")
    parser.add_argument("--data", nargs="+", required=True, help="training folders (calibration)")
    parser.add_argument("--test-data", nargs="+", required=True, help="held-out folders")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--from-weights", action="store_true",
                        help="export the float32 network again from NAME.pt beside the card")
    args = parser.parse_args()
    card = requantize(args.card, args.out, data=args.data, test_data=args.test_data,
                      overwrite=args.overwrite, from_weights=args.from_weights)
    metrics = json.loads(card.read_text())["metrics"]
    print(f"wrote {card}")
    print(json.dumps({k: v for k, v in metrics.items() if k != "definition"}, indent=1))


if __name__ == "__main__":
    main()
