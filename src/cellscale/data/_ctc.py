"""Cell Tracking Challenge (CTC) files: write ground truth and results, read either.

The CTC layout (celltrackingchallenge.net, "Naming and file content conventions"):

* ground truth ``<folder>/TRA/man_track.txt`` + ``<folder>/TRA/man_trackTTT.tif``
  (one marker image per frame) and ``<folder>/SEG/man_segTTT.tif`` (segmentation
  masks);
* results ``<folder>/res_track.txt`` + ``<folder>/maskTTT.tif``.

``TTT`` is the zero-based frame number with three digits, four when the movie has
1000 frames or more. Images are ``uint16`` label images (0 = background), 2D
(``y, x``) or 3D (``z, y, x``) per frame. Each line of the text file is a track
``L B E P``: label, first frame, last frame (inclusive), parent label (0 = none).

A track occupies **every** frame from ``B`` to ``E``. A cell missing for some
frames (a gap) is stored as two tracks, the second one's parent being the first;
a parent with two children is a division. :func:`split_track_gaps` turns labels
whose tracks have gaps into that form. This is what the CTC evaluation software
(and ``py-ctcmetrics``) expect: results with a label missing inside its
``B..E`` range are rejected as invalid.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cellscale.errors import FileFormatError, InputNotFoundError, InvalidImageError
from cellscale.io import atomic_output

__all__ = [
    "LINEAGE_COLUMNS",
    "check_lineage",
    "lineage_from_labels",
    "read_ctc",
    "split_track_gaps",
    "write_ctc_ground_truth",
    "write_ctc_result",
]

#: Columns of a lineage table, in the order of a CTC track file.
LINEAGE_COLUMNS = ("label", "begin", "end", "parent")

_MAX_UINT16 = np.iinfo(np.uint16).max


# -- consistency --------------------------------------------------------------------
def _frames_present(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Map each label id > 0 to the sorted frames it occupies."""
    present: dict[int, list[int]] = {}
    for t in range(labels.shape[0]):
        counts = np.bincount(labels[t].ravel())
        for lab in np.flatnonzero(counts[1:]) + 1:
            present.setdefault(int(lab), []).append(t)
    return {k: np.asarray(v) for k, v in present.items()}


def _as_lineage(lineage: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(lineage, np.ndarray):
        lineage = pd.DataFrame(np.asarray(lineage).reshape(-1, 4), columns=list(LINEAGE_COLUMNS))
    missing = [c for c in LINEAGE_COLUMNS if c not in lineage.columns]
    if missing:
        raise InvalidImageError(
            f"lineage table needs columns {list(LINEAGE_COLUMNS)}; missing {missing}"
        )
    out = lineage.loc[:, list(LINEAGE_COLUMNS)].astype(np.int64).reset_index(drop=True)
    return out.sort_values("label", kind="stable").reset_index(drop=True)


def check_lineage(
    labels: np.ndarray,
    lineage: pd.DataFrame,
    *,
    allow_gaps: bool = False,
    source: str | None = None,
    error: type[Exception] = InvalidImageError,
) -> None:
    """Check that a label movie and its lineage table agree, CTC-style.

    Parameters
    ----------
    labels : numpy.ndarray, shape (t, y, x) or (t, z, y, x), integer
        Track label images, 0 = background.
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent`` (frames zero-based, ``end``
        inclusive, ``parent`` 0 for none).
    allow_gaps : bool, default False
        Accept a label missing from some frames strictly inside ``begin..end``
        (it must still be present at ``begin`` and at ``end``).
    source : str, optional
        File or folder named in error messages.
    error : exception class, default InvalidImageError
        What to raise (readers raise :class:`~cellscale.errors.FileFormatError`).

    Raises
    ------
    InvalidImageError or `error`
        On the first inconsistency found, with the label and frames named:
        duplicate or non-positive labels, ``begin > end``, frames outside the
        movie, a label present outside ``begin..end`` or absent inside it, a
        label in the images but not in the table, an unknown parent, or a
        parent that does not end before its child begins.
    """
    where = f"{source}: " if source else ""
    lab = np.asarray(lineage["label"])
    if np.any(lab <= 0):
        raise error(f"{where}track labels must be > 0; got {sorted(set(lab[lab <= 0].tolist()))}")
    uniq, counts = np.unique(lab, return_counts=True)
    if np.any(counts > 1):
        raise error(f"{where}track label(s) listed more than once: {uniq[counts > 1].tolist()}")
    n_t = labels.shape[0]
    present = _frames_present(labels)
    ends = dict(zip(lineage["label"].tolist(), lineage["end"].tolist()))
    extra = sorted(set(present) - set(ends))
    if extra:
        raise error(f"{where}label(s) {extra[:10]} appear in the images but not in the track table")
    for row in lineage.itertuples(index=False):
        name = f"{where}track {row.label} (frames {row.begin}..{row.end})"
        if not 0 <= row.begin <= row.end < n_t:
            raise error(f"{name}: frames must satisfy 0 <= begin <= end < {n_t} (the movie's length)")
        frames = present.get(int(row.label), np.zeros(0, int))
        outside = frames[(frames < row.begin) | (frames > row.end)]
        if outside.size:
            raise error(f"{name}: label also present in frame(s) {outside[:10].tolist()}")
        expected = np.arange(row.begin, row.end + 1)
        absent = np.setdiff1d(expected, frames)
        if allow_gaps:
            absent = absent[(absent == row.begin) | (absent == row.end)]
        if absent.size:
            raise error(f"{name}: label absent from frame(s) {absent[:10].tolist()}")
        if row.parent != 0:
            if row.parent not in ends:
                raise error(f"{name}: parent {row.parent} is not a track")
            if row.parent == row.label:
                raise error(f"{name}: a track cannot be its own parent")
            if ends[row.parent] >= row.begin:
                raise error(
                    f"{name}: parent {row.parent} ends at frame {ends[row.parent]}, "
                    f"not before its child begins"
                )


def lineage_from_labels(labels: np.ndarray, parents: dict[int, int] | None = None) -> pd.DataFrame:
    """Build a lineage table from where each label occurs.

    Parameters
    ----------
    labels : numpy.ndarray, shape (t, y, x) or (t, z, y, x), integer
        Track label images.
    parents : dict of int to int, optional
        Child label to parent label; labels not in it get parent 0.

    Returns
    -------
    pandas.DataFrame
        Columns ``label, begin, end, parent``, one row per label, sorted by label.
    """
    parents = parents or {}
    rows = [
        (lab, int(fr[0]), int(fr[-1]), int(parents.get(lab, 0)))
        for lab, fr in sorted(_frames_present(np.asarray(labels)).items())
    ]
    return pd.DataFrame(rows, columns=list(LINEAGE_COLUMNS), dtype=np.int64)


def split_track_gaps(
    labels: np.ndarray, lineage: pd.DataFrame, *, max_gap: int | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Give each unbroken stretch of a track its own label, linked by ``parent``.

    A label absent from some frames inside its ``begin..end`` range is split at
    every gap: the first stretch keeps the label, later stretches get new labels
    (counting up from the largest label) whose parent is the stretch before. The
    children of the original track become children of its last stretch.

    Parameters
    ----------
    labels : numpy.ndarray, shape (t, y, x) or (t, z, y, x), integer
        Track label images, possibly with gaps.
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent``.
    max_gap : int, optional
        Longest gap, in frames, bridged by a parent link. A longer absence (a
        cell that left the field and came back much later) starts an unrelated
        track (parent 0). Default None: every gap is bridged.

    Returns
    -------
    labels : numpy.ndarray
        A relabelled copy (same dtype), or ``labels`` itself when nothing changed.
    lineage : pandas.DataFrame
        The lineage of the returned labels, sorted by label.
    """
    lineage = _as_lineage(lineage)
    present = _frames_present(labels)
    next_label = int(max([0, *present, *lineage["label"].tolist()])) + 1
    last_piece: dict[int, tuple[int, int]] = {}  # original label -> (last label, its end)
    rows: list[list[int]] = []  # label, begin, end, parent (-original parent: unresolved)
    relabel: list[tuple[int, int, int, int]] = []  # (t0, t1, old, new)
    for row in lineage.itertuples(index=False):
        frames = present.get(int(row.label))
        if frames is None:
            continue  # never visible: drop the track; its children become roots
        breaks = np.flatnonzero(np.diff(frames) > 1)
        starts = np.concatenate(([0], breaks + 1))
        stops = np.concatenate((breaks, [frames.size - 1]))
        prev, prev_end = 0, 0
        for k, (a, b) in enumerate(zip(starts, stops)):
            begin, end = int(frames[a]), int(frames[b])
            if k == 0:
                new, parent = int(row.label), -int(row.parent)
            else:
                new, next_label = next_label, next_label + 1
                bridged = max_gap is None or begin - prev_end - 1 <= max_gap
                parent = prev if bridged else 0
                relabel.append((begin, end, int(row.label), new))
            rows.append([new, begin, end, parent])
            prev, prev_end = new, end
        last_piece[int(row.label)] = (prev, prev_end)
    for r in rows:
        if r[3] < 0:
            parent, parent_end = last_piece.get(-r[3], (0, 0))
            bridged = max_gap is None or r[1] - parent_end - 1 <= max_gap
            r[3] = parent if bridged else 0
    if relabel:
        if next_label - 1 > np.iinfo(labels.dtype).max:
            raise InvalidImageError(
                f"splitting gaps needs labels up to {next_label - 1}, too many for {labels.dtype}"
            )
        labels = labels.copy()
        for t0, t1, old, new in relabel:
            block = labels[t0 : t1 + 1]
            block[block == old] = new
    out = pd.DataFrame(rows, columns=list(LINEAGE_COLUMNS), dtype=np.int64)
    return labels, out.sort_values("label", kind="stable").reset_index(drop=True)


# -- writing ------------------------------------------------------------------------
def _digits(n_frames: int) -> int:
    return 3 if n_frames < 1000 else 4


def _check_for_writing(labels: np.ndarray, lineage: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    labels = np.asarray(labels)
    if labels.ndim not in (3, 4):
        raise InvalidImageError(
            f"expected track labels with axes 'tyx' or 'tzyx', got array of shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidImageError(f"track labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > _MAX_UINT16):
        raise InvalidImageError(
            f"CTC label images are uint16: labels must lie in 0..{_MAX_UINT16}, "
            f"got {labels.min()}..{labels.max()}"
        )
    lineage = _as_lineage(lineage)
    if (lineage["label"] > _MAX_UINT16).any():
        raise InvalidImageError(f"CTC track labels must be <= {_MAX_UINT16}")
    check_lineage(labels, lineage)
    return labels, lineage


def _write_track_file(path: Path, lineage: pd.DataFrame) -> None:
    lines = [f"{r.label} {r.begin} {r.end} {r.parent}\n" for r in lineage.itertuples(index=False)]
    path.write_text("".join(lines), encoding="ascii")


def _write_frames(folder: Path, stem: str, labels: np.ndarray) -> None:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    digits = _digits(labels.shape[0])
    for t in range(labels.shape[0]):
        tifffile.imwrite(folder / f"{stem}{t:0{digits}d}.tif", labels[t].astype(np.uint16))


def write_ctc_ground_truth(
    labels: np.ndarray,
    lineage: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    seg_frames: list[int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a CTC ground-truth folder (``TRA/`` and ``SEG/``).

    Parameters
    ----------
    labels : numpy.ndarray, shape (t, y, x) or (t, z, y, x), integer
        Track label images (the same label through a track), 0 = background,
        labels <= 65535.
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent``; every track must occupy every
        frame of ``begin..end`` (see :func:`split_track_gaps`).
    folder : path-like
        The sequence's ground-truth folder, e.g. ``.../01_GT``. Written
        atomically: it appears only once complete.
    seg_frames : list of int, optional
        Frames written to ``SEG/man_segTTT.tif``. Default: every frame (a
        simulator knows every mask; real CTC data annotate only some).
    overwrite : bool, default False
        Replace an existing folder.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    InvalidImageError
        If the labels and lineage disagree (see :func:`check_lineage`) or labels
        do not fit ``uint16``.
    """
    labels, lineage = _check_for_writing(labels, lineage)
    frames = range(labels.shape[0]) if seg_frames is None else sorted(set(seg_frames))
    digits = _digits(labels.shape[0])
    with atomic_output(folder, overwrite=overwrite) as tmp:
        _write_frames(tmp / "TRA", "man_track", labels)
        _write_track_file(tmp / "TRA" / "man_track.txt", lineage)
        import tifffile

        (tmp / "SEG").mkdir()
        for t in frames:
            if not 0 <= t < labels.shape[0]:
                raise InvalidImageError(f"seg frame {t} outside the movie (0..{labels.shape[0] - 1})")
            tifffile.imwrite(tmp / "SEG" / f"man_seg{t:0{digits}d}.tif", labels[t].astype(np.uint16))
    return Path(folder).expanduser().absolute()


def write_ctc_result(
    labels: np.ndarray,
    lineage: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a CTC result folder (``maskTTT.tif`` + ``res_track.txt``).

    Parameters are as for :func:`write_ctc_ground_truth` (without ``seg_frames``);
    ``folder`` is e.g. ``.../01_RES``.
    """
    labels, lineage = _check_for_writing(labels, lineage)
    with atomic_output(folder, overwrite=overwrite) as tmp:
        _write_frames(tmp, "mask", labels)
        _write_track_file(tmp / "res_track.txt", lineage)
    return Path(folder).expanduser().absolute()


# -- reading ------------------------------------------------------------------------
def _read_track_file(path: Path) -> pd.DataFrame:
    rows = []
    for i, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise FileFormatError(f"{path}: line {i} is not 'L B E P' (four integers): {line!r}")
        rows.append([int(p) for p in parts])
    return pd.DataFrame(rows, columns=list(LINEAGE_COLUMNS), dtype=np.int64)


def _read_frames(folder: Path, stem: str) -> np.ndarray:
    import tifffile

    pattern = re.compile(rf"{stem}(\d{{3,4}})\.tif{{1,2}}$")
    found = {}
    for p in folder.iterdir():
        m = pattern.fullmatch(p.name)
        if m:
            found[int(m.group(1))] = p
    if not found:
        raise FileFormatError(f"{folder}: no {stem}TTT.tif frames found")
    n = max(found) + 1
    missing = sorted(set(range(n)) - set(found))
    if missing:
        raise FileFormatError(f"{folder}: frame file(s) missing for frame(s) {missing[:10]}")
    frames = []
    for t in range(n):
        arr = tifffile.imread(found[t])
        if not np.issubdtype(arr.dtype, np.integer):
            raise FileFormatError(f"{found[t]}: label image must hold integers, got {arr.dtype}")
        if frames and arr.shape != frames[0].shape:
            raise FileFormatError(f"{found[t]}: shape {arr.shape} differs from frame 0's {frames[0].shape}")
        frames.append(arr)
    return np.stack(frames).astype(np.uint32)


def read_ctc(folder: str | os.PathLike[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a CTC ground-truth (``TRA/man_track*``) or result (``mask*``) folder.

    Parameters
    ----------
    folder : path-like
        A folder holding ``TRA/man_track.txt`` (ground truth, e.g. ``01_GT``) or
        ``res_track.txt`` (a result, e.g. ``01_RES``).

    Returns
    -------
    labels : numpy.ndarray, shape (t, y, x) or (t, z, y, x), uint32
        The tracking markers / masks, frame by frame.
    lineage : pandas.DataFrame
        Columns ``label, begin, end, parent`` (int64), sorted by label.

    Raises
    ------
    InputNotFoundError
        If the folder does not exist.
    FileFormatError
        If neither track file is there, a line is not ``L B E P``, frame files
        are missing or differ in shape, or the track file disagrees with the
        images (ground truth may have gaps inside a track; results may not).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such folder")
    if (folder / "TRA" / "man_track.txt").is_file():
        txt, frames_dir, stem, gaps = folder / "TRA" / "man_track.txt", folder / "TRA", "man_track", True
    elif (folder / "res_track.txt").is_file():
        txt, frames_dir, stem, gaps = folder / "res_track.txt", folder, "mask", False
    else:
        raise FileFormatError(
            f"{folder}: not a CTC folder: expected TRA/man_track.txt (ground truth) "
            f"or res_track.txt (result)"
        )
    lineage = _read_track_file(txt)
    labels = _read_frames(frames_dir, stem)
    check_lineage(labels, lineage, allow_gaps=gaps, source=str(txt), error=FileFormatError)
    return labels, lineage.sort_values("label", kind="stable").reset_index(drop=True)
