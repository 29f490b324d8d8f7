"""The training loop: split, sample, optimise, validate, stop early, checkpoint, export.

Files written into ``out_dir``::

    config.json        the TrainConfig used
    checkpoint.pt      last epoch's state (model, optimiser, schedule, counters): resumes a run
    best.pt            weights with the lowest validation loss so far
    history.csv        epoch, train loss, validation loss, learning rate, seconds
    NAME.onnx/.json/.pt   the exported model, its card and its weights
"""

from __future__ import annotations

import csv
import logging
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cellscale.errors import InputNotFoundError, InvalidArgumentError
from cellscale.models._card import REQUIRED_MAPS
from cellscale.train._augment import AugmentOptions
from cellscale.train._config import TrainConfig
from cellscale.train._dataset import Item, PatchSampler, gather_pairs, load_items
from cellscale.train._export import load_weights, save_weights
from cellscale.train._finish import finish
from cellscale.train._unet import UNet

__all__ = ["WEIGHTS_DIR", "resolve_from_model", "run_training"]

log = logging.getLogger("cellscale.train")

#: Where the shipped models live.
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"
#: Validation patches per validation image (at most 64 in all).
VAL_PATCHES = 4
#: Distance-loss weight on background pixels, relative to object pixels.
BACKGROUND_DISTANCE_WEIGHT = 0.1


# -- data -------------------------------------------------------------------------------------
def split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of training and validation images (whole images; at least one each if n >= 2)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(round(n * fraction), 1 if fraction > 0 and n >= 2 else 0), n - 1)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def map_kinds(centre: bool) -> tuple[str, ...]:
    """The maps a network learns per object kind."""
    return (*REQUIRED_MAPS, "centre") if centre else REQUIRED_MAPS


def _learns_centre(config: TrainConfig) -> bool:
    """``config.centre``, else whether the model fine-tuned from has centre maps, else True."""
    if config.centre is not None:
        return config.centre
    if config.from_model:
        saved = load_weights(resolve_from_model(config.from_model))
        return "centre" in saved.get("maps", REQUIRED_MAPS)
    return True


# -- weights ----------------------------------------------------------------------------------
def resolve_from_model(name: str) -> Path:
    """The ``.pt`` file of a shipped model name, a ``.pt`` path, or a folder/ONNX path beside one."""
    path = Path(name).expanduser()
    candidates = [WEIGHTS_DIR / f"{name}.pt"] if path.name == name and not path.suffix else []
    if path.suffix == ".pt":
        candidates.append(path)
    elif path.suffix in (".onnx", ".json"):
        candidates.append(path.with_suffix(".pt"))
    elif path.is_dir():
        candidates += sorted(path.glob("*.pt"))[:1]
    for c in candidates:
        if c.is_file():
            return c
    shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
    raise InputNotFoundError(
        f"no torch weights for from_model={name!r}: give a shipped model name "
        f"({', '.join(shipped) or 'none shipped'}) or a .pt file written by cellscale train"
    )


def _init_from(model: UNet, path: Path) -> dict[str, Any]:
    """Copy every tensor of matching name and shape; report what was not copied."""
    saved = load_weights(path)
    arch = saved.get("arch", {})
    if tuple(arch.get("widths", ())) != model.widths or arch.get("factor") != model.factor:
        raise InvalidArgumentError(
            f"{path}: network widths {arch.get('widths')} / factor {arch.get('factor')} do not "
            f"match the configured {list(model.widths)} / {model.factor}"
        )
    own = model.state_dict()
    copied = {k: v for k, v in saved["state_dict"].items() if k in own and own[k].shape == v.shape}
    own.update(copied)
    model.load_state_dict(own)
    skipped = sorted(set(own) - set(copied))
    if skipped:
        log.info("fine-tuning from %s: re-initialised %s", path, ", ".join(skipped))
    return {"from": str(path), "reinitialised": skipped}


# -- schedule -------------------------------------------------------------------------------
def learning_rate(peak: float, done: float, *, warmup: float = 0.05) -> float:
    """Linear warm-up over the first ``warmup`` of training, then cosine decay to peak/100.

    ``done`` is the fraction of training done: of all steps or, with a time
    budget, of the budget, whichever is larger.
    """
    done = min(max(done, 0.0), 1.0)
    if done < warmup:
        return peak * (0.1 + 0.9 * done / warmup)
    t = (done - warmup) / (1.0 - warmup)
    return peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))


# -- loss -------------------------------------------------------------------------------------
def loss_fn(
    logits: torch.Tensor,
    target: torch.Tensor,
    distance_weight: float,
    *,
    n_maps: int = 2,
    centre_weight: float = 1.0,
) -> torch.Tensor:
    """BCE on foreground + weighted BCE on the distance and centre maps (soft targets).

    Channels are ``n_maps`` per object kind: foreground, distance and, when
    ``n_maps == 3``, centre. The soft maps' BCE counts background pixels
    :data:`BACKGROUND_DISTANCE_WEIGHT` times as much as object pixels.
    """
    fg_t = target[:, 0::n_maps]
    loss = F.binary_cross_entropy_with_logits(logits[:, 0::n_maps], fg_t)
    weight = fg_t + BACKGROUND_DISTANCE_WEIGHT * (1.0 - fg_t)
    norm = weight.sum().clamp(min=1.0)
    for k, w in ((1, distance_weight), (2, centre_weight))[: n_maps - 1]:
        soft = F.binary_cross_entropy_with_logits(
            logits[:, k::n_maps], target[:, k::n_maps], weight=weight, reduction="sum"
        )
        loss = loss + w * soft / norm
    return loss


# -- progress ---------------------------------------------------------------------------------
def _progress_bar(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


# -- the run ----------------------------------------------------------------------------------
def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError(
            "device='cuda' asked for but no CUDA GPU is available; use 'cpu' or 'auto'"
        )
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _validation_set(items: list[Item], config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    sampler = PatchSampler(items, config.patch_size, AugmentOptions(enabled=False))
    n = min(64, max(VAL_PATCHES * len(items), config.batch_size))
    x, y = sampler.batch(np.random.default_rng([config.seed, 7]), n)
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def _val_loss(
    model: UNet, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, device: torch.device
) -> float:
    model.eval()
    total = 0.0
    for i in range(0, len(x), config.batch_size):
        xb, yb = x[i : i + config.batch_size].to(device), y[i : i + config.batch_size].to(device)
        total += float(_loss(model, xb, yb, config)) * len(xb)
    return total / len(x)


def _loss(model: UNet, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    n_maps = model.out_channels // len(config.outputs)
    return loss_fn(model.logits(x), y, config.distance_weight, n_maps=n_maps,
                   centre_weight=config.centre_weight)


def run_training(
    config: TrainConfig, out_dir: Path, *, progress: bool = True, command: str | None = None
) -> Path:
    """Train, export and score a model as ``config`` says; returns the ONNX file's path."""
    started = time.perf_counter()
    # Check the data before anything is written, so a mistake leaves no output behind.
    pairs = gather_pairs(config.data, config.outputs)
    if len(pairs) < 2 and config.val_fraction > 0:
        raise InputNotFoundError(
            f"training needs at least 2 images to hold one out for validation; found {len(pairs)} "
            f"in {', '.join(config.data)}"
        )
    torch.set_num_threads(config.threads)
    device = _device(config.device)
    train_idx, val_idx = split(len(pairs), config.val_fraction, config.seed)
    log.info("reading %d training and %d validation images", len(train_idx), len(val_idx))
    kinds = map_kinds(_learns_centre(config))
    items = load_items(pairs, config.channels, centre="centre" in kinds)
    # Only now, with every image and label image read and checked, is anything written.
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    train_items = [items[i] for i in train_idx]
    val_items = [items[i] for i in val_idx] or train_items
    sampler = PatchSampler(train_items, config.patch_size, config.augment)
    val_x, val_y = _validation_set(val_items, config)

    torch.manual_seed(config.seed)
    model = UNet(len(config.channels), len(kinds) * len(config.outputs), widths=config.widths)
    model = model.to(device)
    finetune = (
        _init_from(model, resolve_from_model(config.from_model)) if config.from_model else None
    )

    pixels = sum(it.image.shape[1] * it.image.shape[2] for it in train_items)
    steps = config.steps_per_epoch or int(
        np.clip(math.ceil(pixels / (config.batch_size * config.patch_size**2)), 20, 400)
    )
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    state = {"epoch": 0, "best": math.inf, "bad": 0, "history": [], "elapsed": 0.0}
    ckpt = out_dir / "checkpoint.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, map_location=device, weights_only=False)
        if saved["config"] == config.model_dump(mode="json"):
            model.load_state_dict(saved["model"])
            optimiser.load_state_dict(saved["optimiser"])
            state = saved["state"]
            log.info("resuming from %s at epoch %d", ckpt, state["epoch"])
        else:
            log.warning("ignoring %s: it was written with another configuration", ckpt)

    stop_reason = "epochs"
    with _progress_bar(progress) as bar:
        task = (
            bar.add_task(
                f"Training {config.model_name}",
                total=config.epochs * steps,
                completed=state["epoch"] * steps,
                info="",
            )
            if bar
            else None
        )
        while state["epoch"] < config.epochs:
            if state["bad"] >= config.patience:
                stop_reason = f"early stop: no better validation loss in {config.patience} epochs"
                break
            if config.max_minutes and state["elapsed"] > 60 * config.max_minutes:
                stop_reason = f"time budget of {config.max_minutes} min reached"
                break
            epoch = state["epoch"]
            rng = np.random.default_rng([config.seed, epoch, 1])
            model.train()
            t0, total = time.perf_counter(), 0.0
            for step in range(steps):
                done = (epoch * steps + step) / (config.epochs * steps)
                if config.max_minutes:
                    spent = state["elapsed"] + time.perf_counter() - t0
                    done = max(done, spent / (60 * config.max_minutes))
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate(config.lr, done)
                x, y = sampler.batch(rng, config.batch_size)
                x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
                loss = _loss(model, x, y, config)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
                if bar:
                    bar.update(
                        task, advance=1, info=f"epoch {epoch + 1} loss {total / (step + 1):.4f}"
                    )
            val = _val_loss(model, val_x, val_y, config, device)
            row = {
                "epoch": epoch + 1,
                "train_loss": total / steps,
                "val_loss": val,
                "lr": optimiser.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0,
            }
            state["elapsed"] += row["seconds"]
            state["history"].append(row)
            log.info(
                "epoch %(epoch)d train %(train_loss).4f val %(val_loss).4f (%(seconds).0f s)", row
            )
            if bar:
                bar.console.log(f"epoch {epoch + 1}: train {row['train_loss']:.4f}  val {val:.4f}")
            if val < state["best"]:
                state["best"], state["bad"] = val, 0
                save_weights(
                    model, out_dir / "best.pt", channels=config.channels, outputs=config.outputs,
                    maps=kinds,
                )
            else:
                state["bad"] += 1
            state["epoch"] = epoch + 1
            torch.save(
                {
                    "config": config.model_dump(mode="json"),
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "state": state,
                },
                ckpt,
            )
            _write_history(out_dir / "history.csv", state["history"])

    model.load_state_dict(load_weights(out_dir / "best.pt")["state_dict"])
    model = model.cpu().eval()
    return finish(
        model,
        config,
        out_dir,
        items,
        train_idx,
        val_idx,
        pairs,
        state,
        stop_reason=stop_reason,
        started=started,
        device=device,
        steps=steps,
        finetune=finetune,
        command=command,
        maps=kinds,
    )


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
