"""Fine-tune a model on corrected labels, in the background: ``cellscale train --from BASE``.

:func:`finetune` writes the corrected images (or tiles of them) as an
``images/ + masks/`` training folder, starts ``python -m cellscale train
--from BASE`` on it in a subprocess with a wall-time budget and returns a
:class:`FinetuneJob` to watch. When training succeeds, the new model card's
``training.data`` is completed with what the model saw (image names, tiles,
object counts): ``cellscale train`` has no option for that text, so it is
added to the card afterwards (the card's checksum covers the network file,
not the card).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscale.errors import InvalidArgumentError

__all__ = ["BUDGET_OPTIONS", "FinetuneJob", "finetune"]

Box = tuple[int, int, int, int]

#: ``cellscale train`` options of a fine-tuning job, so that the time budget decides when it
#: stops: training checks the budget between epochs, so epochs are short (8 batches, a few
#: seconds on 2 CPU cores) and neither the epoch count nor early stopping ends it first (the
#: weights of the lowest validation loss are kept).
BUDGET_OPTIONS = {"epochs": 10000, "steps_per_epoch": 8, "patience": 10000}


class FinetuneJob:
    """A fine-tuning run in a background process: its status, log and, when done, its card.

    Built by :func:`finetune`; not meant to be made directly.
    """

    def __init__(self, process: subprocess.Popen, *, out_dir: Path, model_name: str,
                 log: Path, seen: dict[str, Any], base: str) -> None:
        self.process, self.out_dir, self.model_name = process, out_dir, model_name
        self.log, self.seen, self.base = log, seen, base
        self.started = time.time()
        self.finished: float | None = None
        self.error: str | None = None
        self._state = "running"
        self._lock = threading.Lock()

    @property
    def card(self) -> Path | None:
        """The new model card (``NAME.json``) once the job is done, else None."""
        return self.out_dir / f"{self.model_name}.json" if self.status == "done" else None

    @property
    def status(self) -> str:
        """``"running"``, ``"done"`` or ``"failed"`` (see :attr:`error`)."""
        with self._lock:
            if self._state == "running" and self.process.poll() is not None:
                self._finish()
            return self._state

    @property
    def elapsed(self) -> float:
        """Seconds since the start, until the end once finished."""
        return (self.finished or time.time()) - self.started

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the training log (stdout and stderr)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, timeout: float | None = None) -> str:
        """Wait for the end (or ``timeout`` seconds) and return the status."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.status

    def cancel(self) -> None:
        """Stop a running job (it ends as failed, "cancelled")."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def to_json(self) -> dict[str, Any]:
        """Status, elapsed seconds, log tail, the card's path and the error, for the web API."""
        status = self.status
        return {"status": status, "elapsed_s": round(self.elapsed, 1), "base": self.base,
                "card": str(self.card) if status == "done" else None, "error": self.error,
                "log_tail": self.log_tail(), "images": self.seen["images"],
                "tiles": len(self.seen["tiles"]), "objects": self.seen["n_objects"]}

    def _finish(self) -> None:
        self.finished = time.time()
        code = self.process.returncode
        card = self.out_dir / f"{self.model_name}.json"
        if code != 0 or not card.exists():
            why = ("was cancelled" if code is not None and code < 0
                   else f"ended with exit code {code}" if code != 0 else f"wrote no card {card}")
            self.error = (f"fine-tuning {self.base!r} on {len(self.seen['tiles'])} corrected "
                          f"tile(s) {why}; the end of its log {self.log}:\n{self.log_tail(8)}")
            self._state = "failed"
            return
        try:
            _record_data(card, self.seen)
        except (OSError, ValueError) as exc:
            self.error = f"the model was trained but its card {card} could not be completed: {exc}"
            self._state = "failed"
            return
        self._state = "done"


def finetune(
    images_and_labels: Sequence[tuple[str, Any, Any]],
    *,
    base: str | os.PathLike[str] = "nuclei",
    out_dir: str | os.PathLike[str],
    minutes: float = 3.0,
    threads: int = 2,
    tiles: Mapping[str, Sequence[Box | Mapping[str, int]]] | None = None,
    model_name: str = "finetuned",
    channels: Sequence[str] = ("DNA",),
    device: str = "cpu",
    train_options: Mapping[str, Any] | None = None,
    description: str = "corrected labels from cellscale label",
) -> FinetuneJob:
    """Start fine-tuning ``base`` on corrected labels in a background process.

    Parameters
    ----------
    images_and_labels : sequence of (name, image, labels)
        ``name`` a plain file stem, ``image`` an array of shape (y, x) or (c, y, x)
        holding the model's input channels in its order, ``labels`` the corrected
        label image, shape (y, x), 0 background.
    base : str or path-like
        The model to start from: a shipped name (``"nuclei"``, ``"cells"``), its
        ``.pt`` weights, or a card (``.json``/``.onnx``) with ``.pt`` beside it.
    out_dir : path-like
        Folder for the training data (``data/``), the log (``train.log``) and
        the new model (``model/NAME.onnx/.json/.pt``); created, must not hold a
        model of the same name (training would resume it).
    minutes : float
        Wall-time budget of the training loop (``--max-minutes``); exporting,
        quantising and tuning thresholds add a few seconds after it.
    threads : int
        ``OMP_NUM_THREADS`` of the training process. ``cellscale train`` sets
        torch's threads itself (2, its default: it has no option for it).
    tiles : mapping of name to boxes, optional
        Train on these ``(y0, x0, y1, x1)`` boxes (or dicts with those keys, as
        :func:`~cellscale.label._active.uncertain_tiles` returns) of the named
        images instead of the whole images; images not named are used whole.
        Tiles without a labelled object are left out. One tile alone is
        written as two halves (``cellscale train`` holds one image out for
        validation).
    model_name : str
        Name of the new model and its files.
    channels : sequence of str
        The channel names of the images (``--channels``), the base model's inputs.
    device : {"cpu", "auto", "cuda"}
        Where to train.
    train_options : mapping, optional
        More ``cellscale train`` options by name, over :data:`BUDGET_OPTIONS`,
        e.g. ``{"epochs": 1, "steps_per_epoch": 2, "patch_size": 128}``.
    description : str
        Where the labels came from, the start of the card's data description.

    Returns
    -------
    FinetuneJob

    Raises
    ------
    InvalidArgumentError
        When no image has a labelled object (in its tiles), for a bad tile, a
        base without ``.pt`` weights or a non-positive budget.
    """
    import tifffile

    if not minutes > 0:
        raise InvalidArgumentError(f"minutes must be a positive time budget, got {minutes!r}")
    out = Path(out_dir)
    if (out / "model" / f"{model_name}.json").exists():
        raise InvalidArgumentError(
            f"{out} already holds a model {model_name!r}; give another out_dir or model_name")
    base_arg = _base_weights(base)
    data = out / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "masks").mkdir(parents=True, exist_ok=True)
    seen: dict[str, Any] = {"images": [], "tiles": [], "n_objects": 0, "source": description}
    crops = []
    for name, image, labels in images_and_labels:
        pixels, lab = np.asarray(image), np.asarray(labels)
        if lab.ndim != 2 or pixels.shape[-2:] != lab.shape:
            raise InvalidArgumentError(
                f"{name}: labels of shape {lab.shape} do not match image of shape {pixels.shape}")
        whole = tiles is None or name not in tiles
        boxes = [(0, 0, *lab.shape)] if whole else [_box(b, lab.shape, name) for b in tiles[name]]
        crops += [(name, pixels, lab, box, whole) for box in boxes
                  if (lab[box[0]:box[2], box[1]:box[3]] > 0).any()]
    if len(crops) == 1:  # cellscale train holds one image out for validation: give it two halves
        name, pixels, lab, (y0, x0, y1, x1), _ = crops[0]
        if y1 - y0 >= x1 - x0:
            half = [(y0, x0, (y0 + y1) // 2, x1), ((y0 + y1) // 2, x0, y1, x1)]
        else:
            half = [(y0, x0, y1, (x0 + x1) // 2), (y0, (x0 + x1) // 2, y1, x1)]
        crops = [(name, pixels, lab, box, False) for box in half]
    for name, pixels, lab, (y0, x0, y1, x1), whole in crops:
        crop = lab[y0:y1, x0:x1]
        count = len(np.unique(crop[crop > 0]))
        stem = name if whole else f"{name}_y{y0}_x{x0}"
        tifffile.imwrite(data / "images" / f"{stem}.tif", pixels[..., y0:y1, x0:x1])
        tifffile.imwrite(data / "masks" / f"{stem}.tif", crop.astype(np.uint32))
        seen["tiles"].append({"image": name, "y0": y0, "x0": x0, "y1": y1, "x1": x1,
                              "objects": count})
        seen["n_objects"] += count
        if name not in seen["images"]:
            seen["images"].append(name)
    if not seen["tiles"]:
        raise InvalidArgumentError(
            "no corrected labels to fine-tune on: none of the given images"
            + (" (in the given tiles)" if tiles else "") + " has a labelled object; correct and "
            "save some labels first")
    command = [sys.executable, "-m", "cellscale", "train", "--from", base_arg, "--data", str(data),
               "--model-name", model_name, "--max-minutes", f"{minutes:g}", "--out", str(out / "model"),
               "--device", device]  # cellscale train checks the device and the base's name
    for c in channels:
        command += ["--channels", str(c)]
    for key, value in {**BUDGET_OPTIONS, **(train_options or {})}.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, OMP_NUM_THREADS=str(int(threads)), MKL_NUM_THREADS=str(int(threads)))
    log = out / "train.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL, cwd=out)
    return FinetuneJob(process, out_dir=out / "model", model_name=model_name, log=log, seen=seen,
                       base=str(base))


def _base_weights(base: str | os.PathLike[str]) -> str:
    """The ``--from`` argument for a shipped name, a ``.pt`` file or a card with ``.pt`` beside it."""
    text = str(base)
    if not any(text.endswith(s) for s in (".json", ".onnx", ".pt")):
        return text  # a shipped name; cellscale train says so if it is not one
    weights = Path(text).with_suffix(".pt")
    if not weights.exists():
        raise InvalidArgumentError(
            f"cannot fine-tune {text}: its weights {weights} are missing (fine-tuning needs the "
            "torch weights NAME.pt beside the card, which cellscale train writes)")
    return str(weights.resolve())


def _box(box: Box | Mapping[str, int], shape: tuple[int, int], name: str) -> Box:
    y0, x0, y1, x1 = ((box["y0"], box["x0"], box["y1"], box["x1"]) if isinstance(box, Mapping)
                      else box)
    y0, x0, y1, x1 = (int(v) for v in (y0, x0, y1, x1))
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        raise InvalidArgumentError(
            f"{name}: tile (y0, x0, y1, x1) = {(y0, x0, y1, x1)} is not inside the image of "
            f"shape {shape}")
    return y0, x0, y1, x1


def _record_data(card_path: Path, seen: dict[str, Any]) -> None:
    """Write what the model saw into its card's ``training.data``."""
    from cellscale.models._card import ModelCard

    card = ModelCard.read(card_path)
    data = dict(card.training.get("data", {}))
    data["description"] = (
        f"{seen['source']}: {len(seen['tiles'])} tile(s) of "
        f"{len(seen['images'])} image(s) ({', '.join(seen['images'])}), "
        f"{seen['n_objects']} labelled objects")
    data["labelled"] = {"images": list(seen["images"]), "tiles": list(seen["tiles"]),
                        "n_objects": int(seen["n_objects"])}
    training = dict(card.training, data=data)
    card.model_copy(update={"training": training}).write(card_path)
    json.loads(card_path.read_text())  # the card must still parse
