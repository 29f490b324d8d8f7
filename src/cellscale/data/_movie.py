"""Live-cell time-lapse movies of nuclei with tracking ground truth.

Cells live in a *world* larger than the camera's field of view; the stage
drifts over the world, so cells enter and leave the field across its borders.
Each cell moves as a persistent random walk (an Ornstein-Uhlenbeck velocity),
is pushed away from its neighbours, grows, turns and deforms slowly while
keeping its shape seed (so it looks like itself from frame to frame), and may

* divide: over ``mitosis_frames`` frames it changes as the movie's *division
  model* says (``division_model``: drawn at random per movie by default, so
  that a tracker cannot rely on one geometry): it condenses and stretches
  along the division axis (prophase, metaphase, anaphase), or rounds up, or
  keeps its shape, and it may brighten; the mother's track ends there and two
  daughters appear on either side, each 0.4-1.0 times the mother's interphase
  area, touching or apart, the next frame or (a frame with neither) the one
  after, with new track labels and ``parent`` = the mother;
* die: apoptosis over ``apoptosis_frames`` frames (shrinks, brightens, then
  breaks into fragments), after which its track ends.

Imaging artefacts: stage drift (systematic + jitter), slow photobleaching,
whole frames out of focus (``defocus_rate``: the frame is blurred and dimmed;
the ground truth keeps every cell, as the cells are still there), and single
cells out of focus for one frame (``dropout_rate``: the cell is drawn faint and
blurred and is *absent* from that frame's labels).

The ground truth follows the Cell Tracking Challenge convention: a track
occupies every frame from ``begin`` to ``end``; a cell absent for at most
``max_gap`` frames (a dropout, a flicker at the border) continues as a new
track whose ``parent`` is the track before the gap (a parent with one child);
a longer absence starts an unrelated track. A parent with two children is a
division. See :mod:`cellscale.data._ctc`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from cellscale.data._ctc import lineage_from_labels, split_track_gaps
from cellscale.data._optics import acquire, background_field, photons_for_snr
from cellscale.data._render import render_nuclei
from cellscale.data._sample import Sample
from cellscale.errors import InvalidArgumentError
from cellscale.io import Image

__all__ = ["simulate_movie"]

_MITOTIC = ("prophase", "metaphase", "anaphase")


class _Cell:
    """State of one simulated cell (world coordinates, pixels)."""

    __slots__ = (
        "age",
        "angle",
        "axis",
        "brightness",
        "division",
        "elong_mean",
        "elongation",
        "id",
        "irregularity",
        "left",
        "parent",
        "radius",
        "radius_max",
        "shape_seed",
        "state",
        "vx",
        "vy",
        "x",
        "y",
    )

    def __init__(self, **kw: Any) -> None:
        self.state, self.left, self.axis, self.vy, self.vx = "interphase", 0, 0.0, 0.0, 0.0
        self.division: dict[str, Any] = {}
        for k, v in kw.items():
            setattr(self, k, v)

    def appearance(self, mitosis_frames: int, apoptosis_frames: int) -> dict[str, Any] | None:
        """Render parameters of the cell in its current state (None: not seen this frame)."""
        r, e, a, irr, b, kind = self.radius, self.elongation, self.angle, self.irregularity, 1.0, "interphase"
        if self.state == "hidden":  # between a mother's last frame and her late daughters' first
            return None
        if self.state == "mitosis":
            # ``left`` counts the mitotic frames down to 1, the last before division.
            style = self.division.get("mitosis", "anaphase")
            b = 1.0 + (self.division.get("brighten", 1.0) - 1.0) * (mitosis_frames - self.left + 1) / mitosis_frames
            if style == "anaphase":
                kind = "anaphase" if self.left == 1 else "metaphase" if self.left == 2 else "prophase"
                if kind == "prophase":
                    r, e, irr = 0.92 * r, 1.0 + 0.5 * (e - 1.0), 0.5 * irr
                elif kind == "metaphase":
                    r, e, a, irr = 0.72 * r, 1.9, self.axis + np.pi / 2, 0.05
                else:
                    r, e, a, irr = 0.8 * r, 2.6, self.axis, 0.05
            elif style == "round":
                kind, r, e, irr = "prophase", r * (1.0 - 0.2 / self.left), 1.0 + (e - 1.0) * 0.3, 0.03
        elif self.state == "apoptosis":
            k = apoptosis_frames - self.left + 1
            r, b, e, irr = r * 0.82**k, 1.3**k, 1.0 + 0.3 * (e - 1.0), 0.04
            kind = "apoptotic" if self.left == 1 else "interphase"
        elif self.age == 0 and self.parent:
            b = self.division.get("brighten", 1.0)
            if self.division.get("mitosis", "anaphase") == "anaphase":
                kind, r, e = "prophase", 0.85 * r, 1.25  # telophase daughter: compact, bright
        return {"label": self.id, "y": self.y, "x": self.x, "radius": r, "elongation": e, "angle": a,
                "irregularity": irr, "brightness": self.brightness * b, "kind": kind,
                "shape_seed": self.shape_seed, "state": self.state}


def simulate_movie(
    *,
    shape: tuple[int, int] = (256, 256),
    n_frames: int = 30,
    seed: int = 0,
    n_cells: int | None = None,
    density: float = 0.15,
    diameter: float = 20.0,
    division_rate: float = 0.02,
    death_rate: float = 0.002,
    mitosis_frames: int = 3,
    apoptosis_frames: int = 3,
    motility: float = 1.5,
    persistence: float = 0.8,
    drift: float = 0.6,
    drift_jitter: float = 0.3,
    defocus_rate: float = 0.03,
    dropout_rate: float = 0.004,
    max_gap: int = 3,
    bleaching: float = 0.01,
    snr: float = 10.0,
    background: float = 0.08,
    psf_sigma: float = 1.5,
    haze: float = 0.1,
    vignetting: float = 0.15,
    read_noise: float = 2.0,
    min_area: int = 12,
    division_model: str | dict[str, Any] = "random",
    pixel_size: float | None = None,
    time_interval: float = 600.0,
) -> Sample:
    """Simulate a live-cell time-lapse of fluorescent nuclei with tracks and lineage.

    Parameters
    ----------
    shape : (int, int), default (256, 256)
        Field of view ``(rows, columns)``, pixels.
    n_frames : int, default 30
        Number of frames.
    seed : int, default 0
        Seed; the same arguments give the same movie.
    n_cells : int, optional
        Expected number of cells in the field at the first frame. Default: from
        ``density``.
    density : float, default 0.15
        Fraction of the field covered by nuclei at the start (used when
        ``n_cells`` is None).
    diameter : float, default 20.0
        Mean nucleus diameter, pixels (cell-to-cell spread about 12 %).
    division_rate : float, default 0.02
        Probability per cell and frame that an interphase cell (at least
        ``2 * mitosis_frames + 3`` frames old) enters mitosis. (The CTC
        Fluo-N2DL-HeLa movie grows by about 2.5 % per frame.)
    death_rate : float, default 0.002
        Probability per cell and frame that an interphase cell starts apoptosis.
    mitosis_frames, apoptosis_frames : int, default 3, 3
        Frames a cell spends in mitosis before dividing / in apoptosis before
        vanishing.
    motility : float, default 1.5
        Root-mean-square speed of a cell along each axis, pixels per frame.
    persistence : float, default 0.8
        Correlation of a cell's velocity from one frame to the next (0: a
        plain random walk, towards 1: straight runs).
    drift : float, default 0.6
        Speed of the systematic stage drift, pixels per frame (random direction).
    drift_jitter : float, default 0.3
        Standard deviation of the random stage jitter per frame, pixels.
    defocus_rate : float, default 0.03
        Probability that a frame is out of focus (blurred, dimmed; labels kept).
        Frame 0 is always in focus.
    dropout_rate : float, default 0.004
        Probability per cell and frame that the cell alone is out of focus
        (faint and blurred; absent from that frame's labels: a gap).
    max_gap : int, default 3
        Longest absence, in frames, bridged by a parent link in the lineage.
    bleaching : float, default 0.01
        Fraction of the fluorescence lost per frame.
    snr : float, default 10.0
        Signal-to-noise ratio of a typical nucleus in the first frame (see
        :func:`~cellscale.data._optics.photons_for_snr`).
    background : float, default 0.08
        Mean background, relative to a typical nucleus (1).
    psf_sigma : float, default 1.5
        Gaussian PSF sigma, pixels.
    haze : float, default 0.1
        Fraction of the signal seen as out-of-focus haze.
    vignetting : float, default 0.15
        Illumination loss in the corners of the field.
    read_noise : float, default 2.0
        Camera read noise, electrons r.m.s.
    min_area : int, default 12
        A cell showing fewer pixels than this in a frame (a sliver at the
        border) is left out of that frame's labels.
    division_model : str or dict, default "random"
        How divisions look. ``"random"``: drawn per movie from the seed, widely
        (each daughter 0.4-1.0 times the mother's interphase area; mitosis
        ``"anaphase"`` (condense, then stretch along the division axis),
        ``"round"`` (round up and shrink) or ``"none"`` (keep the shape);
        mother and newborn daughters brightened 1-2.2 times; daughters first
        seen a frame late (a frame with neither) with probability 0-1; sisters
        1.0-1.8 times the sum of their radii apart), then jittered per
        division. ``"anaphase"``: the fixed division of earlier versions.
        A dict sets ``daughter_area``, ``mitosis``, ``brighten``, ``late``,
        ``spacing`` (the rest as ``"anaphase"``). The model used is in
        ``params["division_model"]``.
    pixel_size : float, optional
        Micrometres per pixel (metadata). Default ``11 / diameter`` (a typical
        nucleus is about 11 µm across), as in :func:`simulate_nuclei`.
    time_interval : float, default 600.0
        Seconds between frames (metadata).

    Returns
    -------
    Sample
        ``kind="movie"``; ``image`` axes ``"tyx"`` (uint16, channel ``"DNA"``);
        ``labels["nuclei"]`` (t, y, x) uint32 with track labels; ``lineage``
        (``label, begin, end, parent``, CTC); ``cells`` one row per visible
        cell and frame (``t, label, y, x, diameter, kind, state, brightness,
        shape_seed``; image coordinates, pixels); ``tables["events"]`` (``t,
        event, label, daughter1, daughter2``: ``division`` at the mother's last
        frame, ``death`` at the last frame, ``dropout`` (label = the track
        before the gap), ``defocus`` (label 0); final labels, 0 = never in
        view) and ``tables["drift"]`` (``t, dy, dx``: stage position, pixels).

    Examples
    --------
    >>> s = simulate_movie(shape=(96, 96), n_frames=5, seed=1)
    >>> s.image.axes, s.labels["nuclei"].shape
    ('tyx', (5, 96, 96))
    """
    params = {k: v for k, v in locals().items()}
    params["shape"] = [int(s) for s in shape]
    if n_frames < 1 or len(shape) != 2 or min(shape) < 16:
        raise InvalidArgumentError(f"need n_frames >= 1 and a 2D shape >= 16 px; got {n_frames}, {shape}")
    if diameter <= 2 or mitosis_frames < 1 or apoptosis_frames < 1 or not 0 <= persistence < 1:
        raise InvalidArgumentError(
            "need diameter > 2, mitosis_frames >= 1, apoptosis_frames >= 1, 0 <= persistence < 1"
        )
    ss = np.random.SeedSequence(int(seed))
    rng_drift, rng_place, rng_dyn, rng_noise, rng_frames = (np.random.default_rng(s) for s in ss.spawn(5))
    render_seed = int(ss.generate_state(1)[0])
    rng_div = np.random.default_rng(ss.spawn(1)[0])  # a stream of its own: other draws stay as they were
    model = _division_model(division_model, rng_div)
    params["division_model"] = dict(model)
    h, w = int(shape[0]), int(shape[1])

    # Stage path: where the field's top-left corner is in the world, per frame.
    direction = rng_drift.uniform(0, 2 * np.pi)
    steps = drift * np.array([np.sin(direction), np.cos(direction)])
    steps = steps + rng_drift.normal(0, drift_jitter, (n_frames, 2))
    steps[0] = 0.0
    stage = np.cumsum(steps, axis=0)
    margin = 2.5 * diameter
    lo = stage.min(0) - margin
    hi = stage.max(0) + np.array([h, w]) + margin

    r0 = diameter / 2.0
    if n_cells is None:
        n_cells = density * h * w / (np.pi * r0**2)
    world_area = float(np.prod(hi - lo))
    cells = _place(rng_place, int(rng_place.poisson(n_cells * world_area / (h * w))), lo, hi, r0)
    next_id = len(cells) + 1
    defocus = rng_frames.random(n_frames) < defocus_rate
    defocus[0] = False

    rows: list[dict[str, Any]] = []
    events: list[tuple[int, str, int, int, int]] = [
        (int(t), "defocus", 0, 0, 0) for t in np.flatnonzero(defocus)
    ]
    clean = np.zeros((n_frames, h, w), np.float32)
    labels = np.zeros((n_frames, h, w), np.uint32)
    for t in range(n_frames):
        oy, ox = stage[t]
        frame = [a for c in cells if (a := c.appearance(mitosis_frames, apoptosis_frames)) is not None]
        table = pd.DataFrame(frame) if frame else pd.DataFrame(columns=["label", "y", "x"])
        if len(table):
            table["y"] -= oy
            table["x"] -= ox
            out = rng_dyn.random(len(table)) < dropout_rate
            intensity, lab = render_nuclei((h, w), table[~out], seed=render_seed)
            if out.any():
                faint, _ = render_nuclei((h, w), table[out], seed=render_seed)
                intensity += 0.3 * ndi.gaussian_filter(faint, 3.0)
                events += [(t, "dropout", int(i), 0, 0) for i in table.loc[out, "label"]]
            labels[t] = _drop_small(lab, min_area)
            clean[t] = intensity * np.float32((1.0 - bleaching) ** t)
            if defocus[t]:
                clean[t] = 0.7 * ndi.gaussian_filter(clean[t], 3.5)
            table["t"] = t
            rows.append(table)
        cells, next_id = _advance(
            rng_dyn, cells, t, next_id, events, rng_div=rng_div, division_model=model,
            division_rate=division_rate, death_rate=death_rate,
            mitosis_frames=mitosis_frames, apoptosis_frames=apoptosis_frames, motility=motility,
            persistence=persistence, lo=lo, hi=hi,
        )

    parents = {int(e[k]): int(e[2]) for e in events if e[1] == "division" for k in (3, 4)}
    new_labels, lineage = split_track_gaps(labels, lineage_from_labels(labels, parents), max_gap=max_gap)
    cells_df, rename = _cell_table(rows, labels, new_labels)

    bg = background_field((h, w), seed=render_seed, level=background, variation=0.25)
    photons = photons_for_snr(snr, background=background, read_noise=read_noise)
    data = acquire(rng_noise, clean, psf_sigma=psf_sigma, haze=haze, background=bg, vignetting=vignetting,
                   photons=photons, read_noise=read_noise, offset=100.0, dtype=np.uint16)
    if pixel_size is None:
        pixel_size = round(11.0 / diameter, 4)
    image = Image(data, axes="tyx", channel_names=("DNA",), pixel_size={"y": pixel_size, "x": pixel_size},
                  time_interval=float(time_interval))
    events = [(t, e, rename(a, t), rename(b, t + 1), rename(c, t + 1)) for t, e, a, b, c in events]
    events = [e for e in events if e[2] > 0 or e[1] == "defocus"]  # drop what was never in view
    ev = pd.DataFrame(sorted(events), columns=["t", "event", "label", "daughter1", "daughter2"])
    drift_df = pd.DataFrame({"t": np.arange(n_frames), "dy": stage[:, 0], "dx": stage[:, 1]})
    params.update(function="simulate_movie", photons=photons)
    return Sample(kind="movie", image=image, labels={"nuclei": new_labels}, cells=cells_df,
                  lineage=lineage, tables={"events": ev, "drift": drift_df}, params=params)


#: The division of earlier versions: two daughters of 0.53 times the mother's
#: interphase area, touching (sisters 1.03 times the sum of their radii apart),
#: after an anaphase stretch.
_LEGACY_AREA = (0.8 / 1.1) ** 2
_LEGACY_SPACING = 1.5 / (2 * 0.8 / 1.1)
_STYLES = ("anaphase", "round", "none")
_MODEL_KEYS = {"daughter_area", "mitosis", "brighten", "late", "spacing"}


def _division_model(spec: str | dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """The movie's division model: ``"random"`` draws one, ``"anaphase"`` is the legacy one."""
    if isinstance(spec, dict):
        bad = sorted(set(spec) - _MODEL_KEYS)
        if bad or spec.get("mitosis", "anaphase") not in _STYLES:
            raise InvalidArgumentError(
                f"division_model: unknown key(s) {bad} or mitosis style {spec.get('mitosis')!r}; keys are "
                f"{', '.join(sorted(_MODEL_KEYS))}, mitosis one of {', '.join(_STYLES)}"
            )
        return {"daughter_area": _LEGACY_AREA, "mitosis": "anaphase", "brighten": 1.0, "late": 0.0,
                "spacing": _LEGACY_SPACING, **spec}
    if spec == "anaphase":
        return _division_model({}, rng)
    if spec != "random":
        raise InvalidArgumentError(f"division_model must be 'random', 'anaphase' or a dict, got {spec!r}")
    return {"daughter_area": round(float(rng.uniform(0.4, 1.0)), 3),
            "mitosis": _STYLES[int(rng.integers(3))],
            "brighten": round(float(rng.choice([1.0, rng.uniform(1.2, 2.2)])), 3),
            "late": round(float(rng.choice([0.0, rng.uniform(0.2, 1.0)])), 3),
            "spacing": round(float(rng.uniform(1.0, 1.8)), 3)}


def _plan_division(rng: np.random.Generator, model: dict[str, Any]) -> dict[str, Any]:
    """One division's values: the movie's model, each daughter's area and the spacing jittered a little."""
    if model == _division_model({}, rng) and model["late"] == 0.0:
        return {}  # the legacy division, drawn as before
    area = model["daughter_area"]
    return {"areas": tuple(float(np.clip(area * np.exp(rng.normal(0, 0.08)), 0.3, 1.1)) for _ in range(2)),
            "spacing": float(max(model["spacing"] + rng.normal(0, 0.08), 0.9)),
            "late": bool(rng.random() < model["late"]), "mitosis": model["mitosis"], "brighten": model["brighten"]}


def _place(rng: np.random.Generator, n: int, lo: np.ndarray, hi: np.ndarray, r0: float) -> list[_Cell]:
    """Scatter ``n`` interphase cells over the world box, nuclei not overlapping."""
    cells: list[_Cell] = []
    pos = np.zeros((0, 2))
    rad = np.zeros(0)
    for _ in range(n):
        r = r0 * float(np.exp(rng.normal(0, 0.12)))
        for _try in range(20):
            p = rng.uniform(lo, hi)
            if pos.shape[0] == 0 or np.all(np.hypot(*(pos - p).T) > 1.05 * (rad + r)):
                break
        else:
            continue
        pos, rad = np.vstack([pos, p]), np.append(rad, r)
        cells.append(_new_cell(rng, len(cells) + 1, 0, p, r, age=int(rng.integers(0, 60))))
    return cells


def _new_cell(rng: np.random.Generator, cid: int, parent: int, p: np.ndarray, r: float, *, age: int) -> _Cell:
    e = 1.0 + float(rng.gamma(2.0, 0.12))
    return _Cell(id=cid, parent=parent, y=float(p[0]), x=float(p[1]), radius=r, radius_max=1.3 * r,
                 elong_mean=e, elongation=e, angle=float(rng.uniform(0, np.pi)),
                 irregularity=float(rng.uniform(0.04, 0.18)), brightness=float(np.exp(rng.normal(0, 0.22))),
                 shape_seed=int(rng.integers(1, 2**40)), age=age)


def _advance(rng: np.random.Generator, cells: list[_Cell], t: int, next_id: int, events: list, *,
             rng_div: np.random.Generator, division_model: dict[str, Any], division_rate: float,
             death_rate: float, mitosis_frames: int, apoptosis_frames: int,
             motility: float, persistence: float, lo: np.ndarray, hi: np.ndarray) -> tuple[list[_Cell], int]:
    """Move the population from frame ``t`` to ``t + 1``; log divisions and deaths at ``t``."""
    out: list[_Cell] = []
    kick = np.sqrt(1.0 - persistence**2) * motility
    for c in cells:
        late = c.state == "mitosis" and c.left == 1 and c.division.get("late", False)
        if late:  # seen neither as mother nor as daughters next frame
            c.state = "hidden"
            out.append(c)
            continue
        if c.state == "hidden" or (c.state == "mitosis" and c.left == 1):
            plan = c.division
            d = np.array([np.sin(c.axis), np.cos(c.axis)])
            radii = [c.radius * float(np.sqrt(f)) for f in plan.get("areas", (_LEGACY_AREA, _LEGACY_AREA))]
            sep = plan.get("spacing", _LEGACY_SPACING) * sum(radii)
            kids = []
            for k, sign in enumerate((1.0, -1.0)):
                p = np.array([c.y, c.x]) + sign * sep * radii[1 - k] / sum(radii) * d
                kid = _new_cell(rng, next_id, c.id, p, radii[k], age=0)
                kid.brightness = c.brightness * float(np.exp(rng.normal(0, 0.05)))
                kid.vy, kid.vx = sign * 1.2 * d
                kid.division = {"mitosis": plan.get("mitosis", "anaphase"), "brighten": plan.get("brighten", 1.0)}
                kids.append(kid)
                next_id += 1
            t_last = t - 1 if c.state == "hidden" else t
            events.append((t_last, "division", c.id, kids[0].id, kids[1].id))
            out += kids
            continue
        if c.state == "apoptosis" and c.left == 1:
            events.append((t, "death", c.id, 0, 0))
            continue
        c.age += 1
        if c.state == "interphase":
            u = rng.random()
            if u < death_rate:
                c.state, c.left = "apoptosis", apoptosis_frames + 1
            elif u < death_rate + division_rate and c.age >= 2 * mitosis_frames + 3:
                c.state, c.left, c.axis = "mitosis", mitosis_frames + 1, c.angle
                c.division = _plan_division(rng_div, division_model)
        if c.state != "interphase":
            c.left -= 1
        damp = 0.3 if c.state != "interphase" else 1.0
        c.vy = damp * (persistence * c.vy + kick * rng.normal())
        c.vx = damp * (persistence * c.vx + kick * rng.normal())
        c.y += c.vy
        c.x += c.vx
        c.radius = min(c.radius * 1.004, c.radius_max)
        c.elongation = max(1.0, c.elong_mean + 0.85 * (c.elongation - c.elong_mean) + rng.normal(0, 0.03))
        c.angle += rng.normal(0, 0.06)
        out.append(c)
    _repel(out)
    inside = [c for c in out if lo[0] <= c.y <= hi[0] and lo[1] <= c.x <= hi[1]]
    return inside, next_id


def _repel(cells: list[_Cell], iterations: int = 2) -> None:
    """Push overlapping nuclei apart (they sit in a monolayer, they do not stack)."""
    if len(cells) < 2:
        return
    p = np.array([[c.y, c.x] for c in cells])
    r = np.array([c.radius for c in cells])
    for _ in range(iterations):
        pairs = cKDTree(p).query_pairs(2.0 * r.max(), output_type="ndarray")
        if pairs.size == 0:
            break
        i, j = pairs.T
        v = p[i] - p[j]
        d = np.maximum(np.hypot(*v.T), 1e-6)
        overlap = (r[i] + r[j]) - d
        keep = overlap > 0
        if not keep.any():
            break
        push = (0.25 * overlap[keep] / d[keep])[:, None] * v[keep]
        np.add.at(p, i[keep], push)
        np.add.at(p, j[keep], -push)
    for c, (y, x) in zip(cells, p):
        c.y, c.x = float(y), float(x)


def _drop_small(lab: np.ndarray, min_area: int) -> np.ndarray:
    counts = np.bincount(lab.ravel())
    small = np.flatnonzero((counts > 0) & (counts < min_area))
    small = small[small > 0]
    if small.size:
        lab[np.isin(lab, small)] = 0
    return lab


def _cell_table(rows: list[pd.DataFrame], old: np.ndarray, new: np.ndarray) -> tuple[pd.DataFrame, Any]:
    """Per-frame table of the labelled cells with their final (gap-split) labels.

    Also returns ``rename(sim_id, t)``: the final label of a simulated cell at
    frame ``t`` (the stretch that began last at or before ``t``, else its first
    stretch; 0 if it was never labelled).
    """
    pieces: dict[int, list[tuple[int, int]]] = {}
    mapping: dict[tuple[int, int], int] = {}
    base = np.int64(max(int(old.max()), int(new.max())) + 1)
    for t in range(old.shape[0]):
        m = old[t] > 0
        keys = np.unique(old[t][m].astype(np.int64) * base + new[t][m])
        for a, b in zip((keys // base).tolist(), (keys % base).tolist()):
            mapping[(t, a)] = b
            got = pieces.setdefault(int(a), [])
            if not got or got[-1][1] != b:
                got.append((t, b))

    def rename(sim_id: int, t: int) -> int:
        got = pieces.get(int(sim_id))
        if not got:
            return 0
        before = [lab for t0, lab in got if t0 <= t]
        return before[-1] if before else got[0][1]

    cols = ["t", "label", "y", "x", "diameter", "kind", "state", "brightness", "shape_seed"]
    if not rows:
        return pd.DataFrame(columns=cols), rename
    df = pd.concat(rows, ignore_index=True)
    df["label"] = [mapping.get(k, 0) for k in zip(df["t"].astype(int), df["label"].astype(int))]
    df = df[df["label"] > 0].copy()
    df["diameter"] = 2.0 * df["radius"]
    return df[cols].sort_values(["t", "label"]).reset_index(drop=True), rename
