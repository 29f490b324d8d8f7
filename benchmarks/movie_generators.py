"""A second, independently built movie generator, for evaluating the tracker only.

Not used to tune anything: :func:`agent_movie` exists so that tracking is also
scored on movies that :func:`cellscale.data.simulate_movie` did not make. It is
built differently on purpose:

* **agents**: overdamped nuclei (no velocity persistence) pushed by a soft
  harmonic repulsion between neighbours and by Brownian kicks, integrated in
  several sub-steps per frame; no stage drift; cells wander in and out of the
  field across its borders;
* **shapes**: ellipses whose outline is perturbed by a few low Fourier modes
  (``r(θ) = r_e(θ) (1 + Σ c_k cos(k θ + φ_k))``), rasterised by a polar test;
  later-drawn cells hide earlier ones where they touch;
* **growth and cycle**: area grows linearly in time; a cell divides when its
  area passes a per-cell threshold (a sizer), not at a random hazard;
* **optics**: a two-Gaussian PSF (core + wide halo), a linear background
  gradient, a speckle texture, Poisson shot noise and Gaussian read noise,
  12-bit saturation;
* **divisions** follow a *division model* (see :data:`DIVISION_MODELS`):
  daughter area relative to the mother's interphase area, mitotic rounding or
  elongation (or neither), brightening, frames missed between the mother's
  last frame and the daughters' first, and sister spacing. A model's entries
  are ranges; every division draws its own values within them.

Ground truth is in Cell Tracking Challenge form: a uint32 label movie (track
ids) and a ``label, begin, end, parent`` table (``man_track.txt``); a daughter
seen first ``k`` frames after her mother's last frame still has her as parent.
``write_ctc(...)`` writes the ``TRA`` folder (``man_trackTTT.tif`` +
``man_track.txt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

__all__ = ["DIVISION_MODELS", "agent_movie", "write_ctc"]

#: Named division models (ranges are drawn per division, uniformly).
#: ``area``: the daughters' mean area / the mother's interphase area;
#: ``asymmetry``: ``|ln(A₁ / A₂)|`` between sisters;
#: ``mitosis``: shape of the mother in her last ``mitosis_frames`` frames
#: ("none", "round": shrinks into a disk, "elongate": stretched along the
#: division axis, or a list to choose from per division); ``brighten``: the
#: mitotic mother's and new daughters' brightness factor; ``late``:
#: probability that the daughters are first seen one frame late (a frame with
#: neither); ``spacing``: distance between sisters / the sum of their radii
#: (1: touching).
DIVISION_MODELS: dict[str, dict[str, Any]] = {
    "half-adjacent": {"area": (0.45, 0.55), "asymmetry": (0.0, 0.15), "mitosis": "none",
                      "brighten": (1.0, 1.0), "late": 0.0, "spacing": (1.0, 1.1)},
    "round-bright": {"area": (0.4, 0.6), "asymmetry": (0.0, 0.2), "mitosis": "round",
                     "brighten": (1.6, 2.4), "late": 0.0, "spacing": (1.0, 1.3)},
    "elongated-large": {"area": (0.75, 1.0), "asymmetry": (0.0, 0.2), "mitosis": "elongate",
                        "brighten": (1.0, 1.3), "late": 0.0, "spacing": (1.2, 1.8)},
    "late-apart": {"area": (0.45, 0.8), "asymmetry": (0.0, 0.2), "mitosis": "round",
                   "brighten": (1.0, 1.8), "late": 1.0, "spacing": (1.4, 1.9)},
    "mixed": {"area": (0.4, 1.0), "asymmetry": (0.0, 0.4), "mitosis": ["none", "round", "elongate"],
              "brighten": (1.0, 2.5), "late": 0.5, "spacing": (1.0, 1.9)},
}


class _Agent:
    __slots__ = (
        "a_over_b",
        "angle",
        "area",
        "bright",
        "coef",
        "div_at",
        "id",
        "left",
        "mit",
        "parent",
        "pending",
        "phase",
        "plan",
        "x",
        "y",
    )


def _draw(rng: np.random.Generator, value: Any) -> Any:
    if isinstance(value, tuple):
        return float(rng.uniform(*value))
    if isinstance(value, list):
        return value[int(rng.integers(len(value)))]
    return value


def _new(rng: np.random.Generator, cid: int, parent: int, y: float, x: float, area: float,
         area0: float) -> _Agent:
    c = _Agent()
    c.id, c.parent, c.y, c.x, c.area = cid, parent, y, x, area
    c.a_over_b = float(1.0 + rng.gamma(2.5, 0.1))
    c.angle = float(rng.uniform(0, np.pi))
    c.coef = [(int(k), float(rng.normal(0, 0.035)), float(rng.uniform(0, 2 * np.pi))) for k in (2, 3, 4)]
    c.bright = float(rng.lognormal(0, 0.25))
    c.div_at = float(area0 * rng.uniform(1.6, 2.1))
    c.left, c.mit, c.pending, c.phase, c.plan = 0, "", 0, "interphase", {}
    return c


def _outline(c: _Agent, scale: float, ratio: float, angle: float, brightness: float) -> dict[str, Any]:
    return {"id": c.id, "y": c.y, "x": c.x, "area": c.area * scale, "ratio": ratio, "angle": angle,
            "coef": c.coef, "bright": c.bright * brightness}


def _look(c: _Agent, frames: int) -> dict[str, Any] | None:
    """Render parameters, or None while the cell is invisible (between a mother and late daughters)."""
    if c.phase == "hidden":
        return None
    if c.phase == "mitosis":
        k = frames - c.left + 1  # 1 .. frames
        f = k / frames
        plan = c.plan
        if c.mit == "round":
            return _outline(c, 1.0 - 0.35 * f, 1.0 + (c.a_over_b - 1.0) * (1 - f), c.angle,
                            1.0 + (plan["brighten"] - 1.0) * f)
        if c.mit == "elongate":
            return _outline(c, 1.0, c.a_over_b + 1.6 * f, plan["axis"], 1.0 + (plan["brighten"] - 1.0) * f)
        return _outline(c, 1.0, c.a_over_b, c.angle, 1.0 + (plan["brighten"] - 1.0) * f)
    boost = c.plan.get("brighten", 1.0) if c.phase == "newborn" else 1.0
    return _outline(c, 1.0, c.a_over_b, c.angle, boost)


def _raster(shape: tuple[int, int], looks: list[dict[str, Any]], rng: np.random.Generator,
            texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    labels = np.zeros(shape, np.uint32)
    signal = np.zeros(shape, np.float32)
    for lk in looks:
        r_mean = np.sqrt(lk["area"] / np.pi)
        a, b = r_mean * np.sqrt(lk["ratio"]), r_mean / np.sqrt(lk["ratio"])
        ext = int(np.ceil(1.3 * a)) + 2
        y0, y1 = max(int(lk["y"]) - ext, 0), min(int(lk["y"]) + ext + 1, h)
        x0, x1 = max(int(lk["x"]) - ext, 0), min(int(lk["x"]) + ext + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - lk["y"], xx - lk["x"]
        rho = np.hypot(dy, dx)
        theta = np.arctan2(dy, dx) - lk["angle"]
        r_e = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
        bump = 1.0 + sum(c * np.cos(k * theta + p) for k, c, p in lk["coef"])
        u = rho / (r_e * bump)
        inside = u <= 1.0
        labels[y0:y1, x0:x1][inside] = lk["id"]
        prof = np.clip(1.0 - u**6, 0.0, 1.0) * (0.75 + 0.25 * texture[y0:y1, x0:x1])
        signal[y0:y1, x0:x1] = np.where(inside, lk["bright"] * prof, signal[y0:y1, x0:x1])
    return labels, signal


def agent_movie(
    *,
    shape: tuple[int, int] = (320, 320),
    n_frames: int = 40,
    seed: int = 0,
    division_model: str | dict[str, Any] = "mixed",
    density: float = 0.18,
    radius: float = 9.0,
    speed: float = 1.6,
    growth: float = 0.02,
    mitosis_frames: int = 2,
    snr: float = 12.0,
    min_area: int = 10,
) -> dict[str, Any]:
    """Simulate a nuclei movie with agents; ground truth in CTC form.

    Parameters
    ----------
    shape : (int, int)
        Field of view, pixels.
    n_frames : int
    seed : int
    division_model : str or dict
        A key of :data:`DIVISION_MODELS`, or a dict of the same form.
    density : float
        Fraction of the world covered by nuclei at the start.
    radius : float
        Typical radius of a newborn-to-grown nucleus at the start, pixels.
    speed : float
        R.m.s. Brownian displacement per frame and axis, pixels.
    growth : float
        Area growth per frame, relative to the starting typical area.
    mitosis_frames : int
        Frames of mitotic shape change before a division.
    snr : float
        Peak signal over noise of a typical nucleus.
    min_area : int
        Cells showing fewer pixels (slivers at the border) are left out of the labels.

    Returns
    -------
    dict
        ``image`` (t, y, x) uint16; ``labels`` (t, y, x) uint32 track ids;
        ``lineage`` (``label, begin, end, parent``); ``params`` (including the
        division model); ``divisions`` (one row per division: mother,
        daughters, frame, drawn values).
    """
    model = DIVISION_MODELS[division_model] if isinstance(division_model, str) else dict(division_model)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919]))
    h, w = shape
    margin = 4 * radius
    lo, hi = np.array([-margin, -margin]), np.array([h + margin, w + margin])
    area0 = np.pi * radius**2
    n0 = int(density * np.prod(hi - lo) / area0)
    cells: list[_Agent] = []
    pts = rng.uniform(lo, hi, (n0, 2))
    next_id = 1
    for y, x in pts:
        c = _new(rng, next_id, 0, y, x, area0 * rng.uniform(0.7, 1.5), area0)
        cells.append(c)
        next_id += 1
    texture = ndi.gaussian_filter(rng.normal(0, 1, shape), 1.2)
    texture = (texture - texture.mean()) / (texture.std() + 1e-9)
    labels = np.zeros((n_frames, h, w), np.uint32)
    clean = np.zeros((n_frames, h, w), np.float32)
    parent: dict[int, int] = {}
    div_rows: list[dict[str, Any]] = []
    for t in range(n_frames):
        looks = [lk for c in cells if (lk := _look(c, mitosis_frames)) is not None]
        order = rng.permutation(len(looks))
        labels[t], clean[t] = _raster((h, w), [looks[i] for i in order], rng, texture)
        cells, next_id = _step(rng, cells, next_id, t, model, parent, div_rows, area0=area0, speed=speed,
                               growth=growth, mitosis_frames=mitosis_frames, lo=lo, hi=hi)
    # Drop slivers, then the CTC bookkeeping: a track per id, split where it vanishes and comes back.
    for t in range(n_frames):
        counts = np.bincount(labels[t].ravel())
        small = np.flatnonzero((counts > 0) & (counts < min_area))
        small = small[small > 0]
        if small.size:
            labels[t][np.isin(labels[t], small)] = 0
    labels, lineage = _ctc_lineage(labels, parent)
    image = _optics(rng, clean, snr=snr)
    params = {"generator": "agent_movie", "shape": list(shape), "n_frames": n_frames, "seed": seed,
              "division_model": division_model if isinstance(division_model, str) else "custom",
              "division_ranges": {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.items()},
              "density": density, "radius": radius, "speed": speed, "growth": growth,
              "mitosis_frames": mitosis_frames, "snr": snr}
    return {"image": image, "labels": labels, "lineage": lineage, "params": params,
            "divisions": pd.DataFrame(div_rows)}


def _step(rng: np.random.Generator, cells: list[_Agent], next_id: int, t: int, model: dict[str, Any],
          parent: dict[int, int], div_rows: list[dict[str, Any]], *, area0: float, speed: float,
          growth: float, mitosis_frames: int, lo: np.ndarray, hi: np.ndarray) -> tuple[list[_Agent], int]:
    out: list[_Agent] = []
    for c in cells:
        if c.phase == "hidden":
            c.pending -= 1
            if c.pending <= 0:
                kids, next_id = _divide(rng, c, next_id, t, parent, div_rows)
                out += kids
            else:
                out.append(c)
            continue
        if c.phase == "mitosis":
            c.left -= 1
            if c.left == 0:
                if c.plan["late"]:
                    c.phase, c.pending = "hidden", 1
                    out.append(c)
                else:
                    kids, next_id = _divide(rng, c, next_id, t, parent, div_rows)
                    out += kids
                continue
            out.append(c)
            continue
        if c.phase == "newborn":
            c.phase = "interphase"
        c.area += growth * area0
        c.angle += float(rng.normal(0, 0.05))
        if c.area >= c.div_at:
            c.phase, c.left, c.mit = "mitosis", mitosis_frames, _draw(rng, model["mitosis"])
            mean, asym = _draw(rng, model["area"]), _draw(rng, model.get("asymmetry", 0.0)) * rng.choice([-1, 1])
            c.plan = {"area": [mean * float(np.exp(asym / 2)), mean * float(np.exp(-asym / 2))],
                      "brighten": _draw(rng, model["brighten"]), "late": bool(rng.random() < model["late"]),
                      "spacing": _draw(rng, model["spacing"]), "axis": float(rng.uniform(0, np.pi)),
                      "interphase_area": c.area, "mitosis": c.mit}
        out.append(c)
    # Overdamped motion: Brownian kicks + soft repulsion, in sub-steps.
    live = [c for c in out if c.phase != "hidden"]
    if live:
        p = np.array([[c.y, c.x] for c in live])
        r = np.sqrt(np.array([c.area for c in live]) / np.pi)
        sub = 4
        for _ in range(sub):
            p += rng.normal(0, speed / np.sqrt(sub), p.shape)
            pairs = cKDTree(p).query_pairs(2.2 * r.max(), output_type="ndarray")
            if pairs.size:
                i, j = pairs.T
                v = p[i] - p[j]
                d = np.maximum(np.hypot(*v.T), 1e-6)
                push = np.clip(0.9 * (r[i] + r[j]) - d, 0, None) * 0.3
                f = (push / d)[:, None] * v
                np.add.at(p, i, f)
                np.add.at(p, j, -f)
        for c, (y, x) in zip(live, p):
            c.y, c.x = float(y), float(x)
    out = [c for c in out if lo[0] <= c.y <= hi[0] and lo[1] <= c.x <= hi[1]]
    return out, next_id


def _divide(rng: np.random.Generator, c: _Agent, next_id: int, t: int, parent: dict[int, int],
            div_rows: list[dict[str, Any]]) -> tuple[list[_Agent], int]:
    plan = c.plan
    areas = [f * plan["interphase_area"] for f in plan["area"]]
    radii = [np.sqrt(a / np.pi) for a in areas]
    sep = plan["spacing"] * sum(radii)
    d = np.array([np.sin(plan["axis"]), np.cos(plan["axis"])])
    kids = []
    for k, sign in enumerate((1.0, -1.0)):
        off = sign * d * sep * radii[k] / sum(radii)  # sisters ``sep`` apart, about the mother's centre
        kid = _new(rng, next_id, c.id, c.y + off[0], c.x + off[1], areas[k], plan["interphase_area"] / 1.8)
        kid.div_at = max(kid.div_at, 1.6 * areas[k])
        kid.bright = c.bright * float(rng.lognormal(0, 0.05))
        kid.phase, kid.plan = "newborn", {"brighten": plan["brighten"]}
        parent[kid.id] = c.id
        kids.append(kid)
        next_id += 1
    div_rows.append({"t_last_mother": t - (1 if plan["late"] else 0), "mother": c.id, "daughter1": kids[0].id,
                     "daughter2": kids[1].id, "area1": plan["area"][0], "area2": plan["area"][1],
                     "mitosis": plan["mitosis"], "brighten": plan["brighten"], "late": plan["late"],
                     "spacing": plan["spacing"]})
    return kids, next_id


def _ctc_lineage(labels: np.ndarray, parent: dict[int, int]) -> tuple[np.ndarray, pd.DataFrame]:
    """Track ids per visible stretch (a cell gone from the field and back gets a new, unrelated id)."""
    n_t = labels.shape[0]
    present: dict[int, list[int]] = {}
    for t in range(n_t):
        for i in np.unique(labels[t]):
            if i:
                present.setdefault(int(i), []).append(t)
    out = np.zeros_like(labels)
    rows = []
    first_piece: dict[int, int] = {}
    last_piece: dict[int, int] = {}
    new_id = 0
    for cid in sorted(present):
        ts = present[cid]
        pieces = np.split(np.array(ts), np.flatnonzero(np.diff(ts) > 1) + 1)
        for k, piece in enumerate(pieces):
            new_id += 1
            for t in piece:
                out[t][labels[t] == cid] = new_id
            rows.append([new_id, int(piece[0]), int(piece[-1]), 0, cid, k])
            if k == 0:
                first_piece[cid] = new_id
            last_piece[cid] = new_id
    lineage = pd.DataFrame(rows, columns=["label", "begin", "end", "parent", "cell", "piece"])
    for i, row in lineage.iterrows():
        if row.piece == 0 and row.cell in parent and parent[row.cell] in last_piece:
            mum = last_piece[parent[row.cell]]
            if int(lineage.loc[lineage.label == mum, "end"].iloc[0]) < row.begin:
                lineage.loc[i, "parent"] = mum
    return out, lineage[["label", "begin", "end", "parent"]].astype(np.int64).reset_index(drop=True)


def _optics(rng: np.random.Generator, clean: np.ndarray, *, snr: float) -> np.ndarray:
    _, h, w = clean.shape
    psf = 0.85 * ndi.gaussian_filter(clean, (0, 1.1, 1.1)) + 0.15 * ndi.gaussian_filter(clean, (0, 5.0, 5.0))
    gy, gx = np.mgrid[0:h, 0:w] / max(h, w)
    bg = 0.05 + 0.04 * (float(rng.uniform(-1, 1)) * gy + float(rng.uniform(-1, 1)) * gx)
    photons = snr**2  # peak signal of a typical nucleus, photons (shot-noise limited)
    expected = photons * (psf + bg[None])
    counts = rng.poisson(np.clip(expected, 0, None)).astype(np.float64) + rng.normal(0, 3.0, expected.shape)
    return np.clip(counts * (3000.0 / (photons * 2.5)) + 100.0, 0, 4095).astype(np.uint16)


def write_ctc(folder: str | Path, labels: np.ndarray, lineage: pd.DataFrame) -> Path:
    """Write ground truth as a CTC ``TRA`` folder (``man_trackTTT.tif`` + ``man_track.txt``)."""
    import tifffile

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(labels.shape[0] - 1)))
    for t in range(labels.shape[0]):
        tifffile.imwrite(out / f"man_track{t:0{digits}d}.tif", labels[t].astype(np.uint16))
    lineage[["label", "begin", "end", "parent"]].to_csv(out / "man_track.txt", sep=" ", header=False, index=False)
    return out
