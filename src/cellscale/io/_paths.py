"""Where an output may go: never onto, around or inside an input.

Every command that writes calls :func:`check_output` once, before it reads or
computes anything, so a mistake in ``-o`` costs nothing and destroys nothing.
The rules, whatever ``overwrite`` says:

- an output that **is** an input (the same path, a symlink or a hard link to
  it), that **contains** an input (an input lies under it) or that **lies
  inside** an input folder or store is refused;
- a file output (``kind="file"``) that is an existing folder, or a folder
  output (``kind="dir"``) that is an existing file, is refused;
- a folder output that is the file-system root, the home folder, or the
  current folder or one above it is never replaced.

Then :func:`~cellscale.io.check_output_path` checks that the output does not
exist (unless ``overwrite`` or ``resume``) and that its parent can be written.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from cellscale.errors import InvalidArgumentError, OutputExistsError, OutputNotWritableError
from cellscale.io._atomic import check_output_path

__all__ = ["check_output"]

PathLike = str | os.PathLike[str]


def _input_paths(inputs: Iterable[PathLike | None]) -> list[tuple[str, Path]]:
    """``(as given, resolved path)`` for each input; a glob pattern gives the files it matches."""
    found: list[tuple[str, Path]] = []
    for item in inputs:
        if item is None:
            continue
        text = os.fspath(item)
        if isinstance(item, str) and set("*?[") & set(text) and not Path(text).expanduser().exists():
            matches = sorted(glob.glob(os.path.expanduser(text)))
            found.extend((m, Path(m).resolve()) for m in matches)
            continue
        found.append((text, Path(text).expanduser().resolve()))
    return found


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _relation(output: Path, source: Path) -> str | None:
    """How ``output`` overlaps ``source`` (both resolved), or None when they do not."""
    if _same(output, source):
        return "is the input"
    if output in source.parents:
        return "contains the input"
    if source in output.parents:
        return "lies inside the input"
    return None


def _protected(path: Path) -> str | None:
    """Why a folder must never be replaced wholesale, or None."""
    real = path.resolve()
    if real == Path(real.anchor):
        return "the root of the file system"
    try:
        if real == Path.home().resolve():
            return "your home folder"
    except RuntimeError:  # no home folder known
        pass
    cwd = Path.cwd().resolve()
    if real == cwd:
        return "the current folder"
    if real in cwd.parents:
        return "a folder above the current one"
    return None


def check_output(
    output: PathLike,
    inputs: Iterable[PathLike | None] = (),
    *,
    kind: Literal["file", "dir"] = "file",
    overwrite: bool = False,
    resume: bool = False,
) -> Path:
    """Check that ``output`` may be written, given the ``inputs`` of the same command.

    Call it before reading or computing anything. The rules are in this
    module's docstring; none of them can be lifted by ``overwrite``.

    Parameters
    ----------
    output : path-like
        The file or folder to write.
    inputs : iterable of path-like
        Everything the command reads (files, folders, stores, glob patterns);
        None entries are skipped.
    kind : {"file", "dir"}
        Whether the output is one file (TIFF, PNG, JSON) or a folder (an
        OME-Zarr store, a folder of results).
    overwrite : bool
        Whether an existing output may be replaced.
    resume : bool
        Whether an existing output is kept and added to (a results store that a
        run resumes); it must still be of the right kind.

    Returns
    -------
    pathlib.Path
        The output path, made absolute.

    Raises
    ------
    OutputExistsError
        If the output overlaps an input, is an existing folder where a file is
        written (or a file where a folder is), is a protected folder, or exists
        and neither ``overwrite`` nor ``resume`` is set.
    OutputNotWritableError
        If the output's parent folder cannot be created or written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "raw.tif").write_bytes(b"II*\\x00")
    >>> check_output(d / "labels.tif", [d / "raw.tif"]).name
    'labels.tif'
    >>> check_output(d / "raw.tif", [d / "raw.tif"], overwrite=True)
    Traceback (most recent call last):
    ...
    cellscale.errors.OutputExistsError: ...raw.tif: the output is the input ...
    """
    if kind not in ("file", "dir"):
        raise InvalidArgumentError(f"kind must be 'file' or 'dir', got {kind!r}")
    out = Path(output).expanduser().absolute()
    real = out.resolve()
    never = "an input is never replaced, even when overwriting is asked for"
    for given, source in _input_paths(inputs):
        relation = _relation(real, source)
        if relation is not None:
            raise OutputExistsError(
                f"{out}: the output {relation} {given}; {never}",
                hint="choose another output path", option="output")
    if kind == "file" and out.is_dir():
        raise OutputExistsError(
            f"{out}: is an existing folder, but the output is a file; a folder is never "
            "replaced by a file, even when overwriting is asked for",
            hint="choose another output path (a file name such as labels.tif)", option="output")
    if kind == "dir" and out.exists() and not out.is_dir():
        raise OutputExistsError(
            f"{out}: is an existing file, but the output is a folder; a file is never "
            "replaced by a folder, even when overwriting is asked for",
            hint="choose another output path", option="output")
    if kind == "dir" and out.exists() and (overwrite or resume):
        why = _protected(out)
        if why is not None:
            raise OutputExistsError(
                f"{out}: is {why}; it is never used as an output folder (it would be "
                "replaced or filled with results)",
                hint="choose a new folder for the output", option="output")
    if resume and out.exists():
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputNotWritableError(f"{out}: the folder is not writable")
        return out
    return check_output_path(out, overwrite=overwrite)
