"""``cellscale train --data DIR --model-name NAME``: train a segmentation model."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer


def train(
    data: Annotated[
        list[Path],
        typer.Option(
            "--data",
            help="Training data folder (repeat for several): simulator samples, "
            "images/ + masks/, or NAME.tif + NAME_masks.tif.",
        ),
    ],
    model_name: Annotated[
        str, typer.Option("--model-name", help="Name of the model and its files.")
    ],
    from_model: Annotated[
        str | None,
        typer.Option("--from", help="Fine-tune a shipped model (e.g. 'nuclei') or a .pt file."),
    ] = None,
    channels: Annotated[
        list[str] | None,
        typer.Option("--channels", help="Input channel name, in order (repeat); default DNA."),
    ] = None,
    outputs: Annotated[
        list[str] | None,
        typer.Option(
            "--outputs", help="Objects to segment: nuclei and/or cells (repeat); default nuclei."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Largest number of epochs.")] = 60,
    steps_per_epoch: Annotated[
        int | None,
        typer.Option("--steps-per-epoch", help="Batches per epoch; default from the data size."),
    ] = None,
    patch_size: Annotated[
        int, typer.Option("--patch-size", help="Training patch side (multiple of 16).")
    ] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Patches per batch.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 3e-3,
    patience: Annotated[
        int, typer.Option("--patience", help="Early-stopping patience, epochs.")
    ] = 10,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", help="Wall-time budget for training.")
    ] = None,
    test_data: Annotated[
        list[Path] | None,
        typer.Option("--test-data", help="Held-out folder scored for the model card (repeat)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    centre: Annotated[
        bool | None,
        typer.Option(
            "--centre/--no-centre",
            help="Learn a centre map that seeds one instance per object (default: as the "
            "model fine-tuned from, else on).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder; default ./NAME. Resumes a checkpoint there."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Train a segmentation model on labelled images; writes NAME.onnx + NAME.json (card) + NAME.pt."""
    from cellscale.errors import InvalidArgumentError
    from cellscale.io import check_output
    from cellscale.train import train_model

    if device not in ("auto", "cpu", "cuda"):
        raise InvalidArgumentError(f"--device must be one of 'auto', 'cpu', 'cuda', got {device!r}")
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise InvalidArgumentError(
            f"--model-name must be a plain name (no '/', not starting with '.'), got {model_name!r}")
    # --out may exist (training resumes its checkpoint) but never overlaps the data.
    out = check_output(out if out is not None else Path(model_name), [*data, *(test_data or [])],
                       kind="dir", resume=True)
    extra: dict = {"max_minutes": max_minutes} if max_minutes is not None else {}
    if steps_per_epoch is not None:
        extra["steps_per_epoch"] = steps_per_epoch
    if test_data:
        extra["test_data"] = [str(p) for p in test_data]
    if centre is not None:
        extra["centre"] = centre
    start = time.perf_counter()
    path = train_model(
        [str(p) for p in data],
        model_name=model_name,
        channels=tuple(channels or ("DNA",)),
        outputs=tuple(outputs or ("nuclei",)),
        from_model=from_model,
        epochs=epochs,
        batch_size=batch_size,
        patch_size=patch_size,
        lr=lr,
        patience=patience,
        seed=seed,
        out_dir=out,
        device=device,  # type: ignore[arg-type]
        progress=sys.stderr.isatty(),
        command="cellscale " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        **extra,
    )
    from cellscale.models._card import ModelCard

    card = ModelCard.read(path.with_suffix(".json"))
    typer.echo(f"Trained {model_name} in {time.perf_counter() - start:.0f} s -> {path}")
    for obj in card.objects():
        scores = card.metrics.get(obj, {})
        typer.echo(
            f"  {obj}: F1@0.5 {scores.get('f1@0.5')}  AP@0.5 {scores.get('ap@0.5')}  "
            f"mean AP {scores.get('mean_ap@0.5:0.95')}  ({card.metrics.get('data', '')})"
        )
