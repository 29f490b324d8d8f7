"""Active-learning routes of the labelling server: uncertain tiles, background fine-tuning.

Routes (JSON)::

    GET  /api/images/{id}/uncertain     the tiles where the model is least sure, most unsure
                                        first (?n=8&tile=256&frame=0): [{y0, x0, y1, x1, score,
                                        disagreement, low_confidence, objects, reason}]
    POST /api/finetune                  {images?: [ids], minutes?: 3} -> {job, status, ...}:
                                        fine-tunes the proposing model on the corrected labels
                                        (saved or edited frames) of those images (default: all)
    GET  /api/finetune/{job}            {job, status: running|done|failed, elapsed_s, log_tail,
                                         card, error, images, tiles, objects, switched}

When a job is done, images without saved labels get their proposals from the
new model (their frames without edits are proposed again on next use; frames
with unsaved edits keep them); images with saved labels keep them. One job
runs at a time (409 for a second one).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["add_learn_routes"]


def add_learn_routes(app: Any, workspace: Any, *, out_dir: str | Path | None = None,
                     train_options: dict[str, Any] | None = None) -> None:
    """Add the active-learning routes to a labelling app made by ``make_app``.

    Parameters
    ----------
    app : fastapi.FastAPI
        The labelling app.
    workspace : Workspace
        Its images (:class:`cellscale.label._workspace.Workspace`).
    out_dir : path-like, optional
        Folder of the fine-tuning jobs (each in ``<job>/``: data, log, model);
        default ``cellscale-finetune/`` beside the first image.
    train_options : dict, optional
        Extra ``cellscale train`` options for every job (tests use a tiny
        ``epochs``/``steps_per_epoch``); kept as ``app.state.finetune_options``
        and read when a job starts.
    """
    from fastapi import Body, HTTPException

    from cellscale.errors import InvalidArgumentError
    from cellscale.label._active import uncertain_tiles
    from cellscale.label._finetune import finetune

    if not workspace.images:
        return
    root = Path(out_dir) if out_dir is not None else (
        workspace.images[0].path.parent / "cellscale-finetune")
    jobs: dict[str, dict[str, Any]] = {}
    app.state.finetune_jobs = jobs
    app.state.finetune_options = dict(train_options or {})

    def _image(image_id: str) -> Any:
        try:
            return workspace.get(image_id)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None

    @app.get("/api/images/{image_id}/uncertain")
    def uncertain(image_id: str, n: int = 8, tile: int = 256, frame: int = 0) -> list[dict[str, Any]]:
        image = _image(image_id)
        with image.lock:
            image.open()
            plane = image._frame_image(image._check_frame(frame))
        proposer = image.proposer
        segmenter = _segmenter(proposer)
        with proposer._lock:  # one Segmenter, one plane at a time
            return uncertain_tiles(plane, segmenter, tile=tile, n=n)

    @app.post("/api/finetune")
    def start(body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        body = body or {}
        if any(j["job"].status == "running" for j in jobs.values()):
            raise HTTPException(409, "a fine-tuning job is already running; wait for it to finish "
                                     "(GET /api/finetune/{job}) before starting another")
        ids = body.get("images")
        ids = [str(i) for i in ids] if ids is not None else [
            str(i) for i in range(len(workspace.images))]
        minutes = body.get("minutes", 3)
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or minutes <= 0:
            raise InvalidArgumentError(f"minutes must be a positive number, got {minutes!r}")
        images = [_image(i) for i in ids]
        proposer = images[0].proposer if images else workspace.images[0].proposer
        segmenter = _segmenter(proposer)
        if segmenter.model is None:
            raise InvalidArgumentError(
                f"the proposals come from {segmenter.name!r}, which has no network to fine-tune; "
                "serve the images with a network model (nuclei, cells or a card)")
        items = _corrected(images, segmenter)
        job_id = f"{len(jobs) + 1}-{time.strftime('%Y%m%dT%H%M%S')}"
        job = finetune(items, base=str(segmenter.model.path), out_dir=root / job_id,
                       minutes=float(minutes), model_name=f"{segmenter.name}-finetuned",
                       channels=list(segmenter.inputs),
                       train_options=app.state.finetune_options)
        entry = {"job": job, "switched": None, "proposer": proposer, "lock": threading.Lock()}
        jobs[job_id] = entry
        threading.Thread(target=_apply_when_done, args=(entry, workspace), daemon=True,
                         name=f"finetune-{job_id}").start()
        return {"job": job_id, **job.to_json(), "switched": None}

    @app.get("/api/finetune/{job_id}")
    def status(job_id: str) -> dict[str, Any]:
        entry = jobs.get(job_id)
        if entry is None:
            raise HTTPException(404, f"no fine-tuning job {job_id!r}; jobs: {', '.join(jobs) or 'none'}")
        out = entry["job"].to_json()
        if out["status"] == "done" and entry["switched"] is None:
            _apply(entry, workspace)
        return {"job": job_id, **out, "switched": entry["switched"]}


def _segmenter(proposer: Any) -> Any:
    """The proposer's Segmenter, loaded on first use as the proposer itself does."""
    from cellscale.segment import Segmenter

    with proposer._lock:
        if proposer._segmenter is None:
            proposer._segmenter = (proposer.model if isinstance(proposer.model, Segmenter)
                                   else Segmenter(proposer.model, channels=proposer.channels))
        return proposer._segmenter


def _corrected(images: list[Any], segmenter: Any) -> list[tuple[str, Any, Any]]:
    """``(name, model input, labels)`` of every saved or edited frame of ``images``."""
    from cellscale.label._active import model_input

    items = []
    for image in images:
        with image.lock:
            image.open()
            for t in range(image.n_frames):
                edited = t in image.frames and image.frames[t].session.edits
                if image.saved is None and not edited:
                    continue
                labels = (image.frames[t].session.labels if t in image.frames
                          else image.saved[t]).copy()
                stem = image.path.name.split(".")[0]
                name = stem if image.n_frames == 1 else f"{stem}_t{t}"
                items.append((name, model_input(image._frame_image(t), segmenter), labels))
    return items


def _apply_when_done(entry: dict[str, Any], workspace: Any) -> None:
    if entry["job"].wait() == "done" and entry["switched"] is None:
        _apply(entry, workspace)


def _apply(entry: dict[str, Any], workspace: Any) -> None:
    """Propose with the new model on images without saved labels (frames without edits)."""
    from cellscale.label import labels_path
    from cellscale.label._frame import Proposer
    from cellscale.segment import Segmenter

    with entry["lock"]:
        if entry["switched"] is not None:
            return  # the other caller applied it
        old = entry["proposer"]
        channels = old.model.channels if isinstance(old.model, Segmenter) else old.channels
        new = Proposer(str(entry["job"].card), channels)
        switched = []
        for i, image in enumerate(workspace.images):
            with image.lock:
                if image.saved is not None or labels_path(image.path).exists():
                    continue
                image.proposer = new
                image.frames = {t: f for t, f in image.frames.items() if f.session.edits}
                switched.append(str(i))
        entry["switched"] = switched
