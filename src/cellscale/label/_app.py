"""The labelling server's web app: REST routes over a :class:`Workspace`, and the page.

FastAPI is imported inside :func:`make_app`, so ``import cellscale`` (and
``cellscale.label``) stays free of it.

Routes (JSON unless said; ``{id}`` is the image's position on the command line)::

    GET  /                                   the labelling page
    GET  /static/...                         its script and style sheet
    GET  /api/images                         [{id, name, shape, channels, frames, version,
                                               has_saved_labels, error}]
    GET  /api/images/{id}/plane.png          8-bit PNG of one plane (?channel=&frame=&lo=&hi=;
                                             a region: &y0=&x0=&h=&w=, every step-th pixel:
                                             &step=; headers X-Lo/X-Hi: the contrast used;
                                             &channels=0,1[,2]: an RGB composite instead)
    GET  /api/images/{id}/labels             {version, y0, x0, h, w, shape, data (base64 uint32
                                              LE, h x w), objects, unsaved, max_label, messages}
                                             (?frame=; a region: &y0=&x0=&h=&w=)
    GET  /api/images/{id}/status             {objects, version, unsaved, max_label, seq, messages}
                                             (?frame=; seq counts the changes to the labels)
    POST /api/images/{id}/edit               {op, frame?, ...args} -> the Patch's JSON + status
    POST /api/images/{id}/undo, .../redo     {frame?} -> Patch JSON + status, or null
    POST /api/images/{id}/save               {base_version, author?, force?} -> {version}
                                             (every client of a server edits one session:
                                             only a save from elsewhere is a conflict)
    GET  /api/images/{id}/history            [{version, author, time, edits}]
    POST /api/images/{id}/export-ctc         a movie's labels tracked and written as a Cell
                                             Tracking Challenge result, <stem>_RES/ beside it
                                             -> {folder, frames, tracks, divisions}

Errors come back as ``{"detail": message}``: 404 for an unknown image, 409 when
another tab or user saved since ``base_version`` (nothing written; ``force``
keeps their version as a conflict copy and writes ours), 422 for bad input
(an image or labels file that cannot be used, an invalid edit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cellscale.errors import CellscaleError

__all__ = ["STATIC", "make_app"]

#: The page's files, served as they are (no build step, nothing from the network).
STATIC = Path(__file__).parent / "static"


def make_app(images: list[Path], *, model: Any = "nuclei", channels: list[str | int] | None = None,
             author: str | None = None, axes: str | None = None) -> Any:
    """A FastAPI app that serves the labelling page and its REST API for ``images``.

    Parameters
    ----------
    images : list of Path
        Image files; each is read, and its labels loaded or proposed, when the
        page (or a client) first asks for it.
    model : str or Segmenter
        Model proposing labels for images without saved labels: ``"nuclei"``,
        ``"cells"``, a model card's path (loaded on first use), or a loaded
        :class:`cellscale.segment.Segmenter` (see :func:`cellscale.label.propose`).
    channels : list of str or int, optional
        The image channels fed to the model, in its order.
    author : str, optional
        Author recorded in the edit history when a save names none.
    axes : str, optional
        Axes of the files as stored, when their metadata does not say (e.g.
        ``"tyx"``: a plain multi-page TIFF is a movie, not channels).

    Returns
    -------
    fastapi.FastAPI
        Run it with uvicorn (``cellscale label`` does), or test it with
        ``fastapi.testclient.TestClient``.
    """
    from fastapi import Body, FastAPI, HTTPException, Query, Request
    from fastapi.middleware.gzip import GZipMiddleware
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    from cellscale.label._plane import as_int, user_message
    from cellscale.label._workspace import Workspace

    space = Workspace(images, model=model, channels=channels, author=author, axes=axes)
    app = FastAPI(title="cellscale label", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.workspace = space
    # Level 1: the labels of a 3072² window (50 MB of base64 JSON) shrink to 0.4 MB in 0.08 s;
    # level 9, the default, to 0.1 MB in 0.46 s (simulated nuclei).
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=1)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(CellscaleError)
    async def _cellscale_error(request: Request, exc: CellscaleError) -> JSONResponse:
        from cellscale.label import LabelConflictError

        if isinstance(exc, LabelConflictError):  # advice in the API's words, not Python's
            return JSONResponse({"detail": f"{exc.message}; save again with \"force\": true "
                                           "(the page's Keep mine) to keep theirs as a conflict "
                                           "copy beside the labels and write yours, or reload to "
                                           "see theirs"}, status_code=409)
        return JSONResponse({"detail": user_message(exc)}, status_code=422)

    def _image(image_id: str) -> Any:
        try:
            return space.get(image_id)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/images")
    def list_images() -> list[dict[str, Any]]:
        return space.list()

    @app.get("/api/images/{image_id}/plane.png")
    def plane(image_id: str, channel: int = 0, frame: int = 0, lo: float | None = Query(None),
              hi: float | None = Query(None), y0: int = 0, x0: int = 0, h: int | None = None,
              w: int | None = None, step: int = 1, channels: str | None = None) -> Response:
        import numpy as np

        from cellscale.errors import InvalidArgumentError
        from cellscale.label._plane import clip_region, render_composite, render_plane

        if not 1 <= step <= 1024:
            raise InvalidArgumentError(f"step must be 1 .. 1024 (every step-th pixel), got {step}")
        try:
            chosen = [int(c) for c in channels.split(",")] if channels else [channel]
        except ValueError:
            raise InvalidArgumentError(
                f"channels is a list of channel indices such as 0,1, got {channels!r}") from None
        image = _image(image_id)
        with image.lock:
            stack = np.stack([image.plane(frame, c) for c in chosen])
        top, left, bottom, right = clip_region(stack.shape, y0, x0, h, w)
        stack = stack[:, top:bottom:step, left:right:step]
        pixels = stack[0]
        if len(chosen) > 1:  # per-channel contrast from percentiles; lo and hi are the first's
            png, (used_lo, used_hi) = render_composite(stack), (float(pixels.min()),
                                                                float(pixels.max()))
        else:
            png, used_lo, used_hi = render_plane(pixels, lo=lo, hi=hi)
        return Response(png, media_type="image/png", headers={
            "X-Lo": f"{used_lo:g}", "X-Hi": f"{used_hi:g}", "Cache-Control": "no-store",
            "X-Min": f"{float(pixels.min()):g}", "X-Max": f"{float(pixels.max()):g}"})

    @app.get("/api/images/{image_id}/labels")
    def labels(image_id: str, frame: int = 0, y0: int = 0, x0: int = 0, h: int | None = None,
               w: int | None = None) -> dict[str, Any]:
        image = _image(image_id)
        with image.lock:
            return image.labels_json(frame, (y0, x0, h, w))

    @app.get("/api/images/{image_id}/status")
    def status(image_id: str, frame: int = 0) -> dict[str, Any]:
        image = _image(image_id)
        with image.lock:
            return image.status(frame)

    @app.post("/api/images/{image_id}/edit")
    def edit(image_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        image = _image(image_id)
        with image.lock:
            return image.edit(body)

    @app.post("/api/images/{image_id}/undo")
    def undo(image_id: str, body: dict[str, Any] | None = Body(None)) -> dict[str, Any] | None:
        image = _image(image_id)
        with image.lock:
            return image.undo(as_int((body or {}).get("frame", 0) or 0, "frame"))

    @app.post("/api/images/{image_id}/redo")
    def redo(image_id: str, body: dict[str, Any] | None = Body(None)) -> dict[str, Any] | None:
        image = _image(image_id)
        with image.lock:
            return image.redo(as_int((body or {}).get("frame", 0) or 0, "frame"))

    @app.post("/api/images/{image_id}/save")
    def save(image_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        image = _image(image_id)
        if "base_version" not in body:
            raise HTTPException(422, "save needs the version the edits started from: "
                                     '{"base_version": N} (the "version" of GET .../labels)')
        with image.lock:
            return image.save(base_version=as_int(body["base_version"], "base_version"),
                              author=body.get("author") or space.author,
                              force=bool(body.get("force", False)))

    @app.get("/api/images/{image_id}/history")
    def history(image_id: str) -> list[dict[str, Any]]:
        image = _image(image_id)
        with image.lock:
            return image.history()

    @app.post("/api/images/{image_id}/export-ctc")
    def export_ctc(image_id: str) -> dict[str, Any]:
        image = _image(image_id)
        with image.lock:
            return image.export_ctc()

    from cellscale.label._learn_routes import add_learn_routes

    add_learn_routes(app, space)  # uncertain tiles, background fine-tuning
    return app
