"""Write outputs so that nothing half-written ever looks complete.

Every writer in cellscale writes to a hidden temporary name beside the target and
renames it into place only when the write succeeded. A failed or interrupted
write leaves at most a ``.<name>.partial-*`` entry, never a file or folder under
the final name.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cellscale.errors import OutputExistsError, OutputNotWritableError

__all__ = ["atomic_output", "check_output_path", "remove_path", "rename_into_place"]


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def rename_into_place(source: Path, final: Path, *, aside: Path | None = None) -> None:
    """Rename ``source`` to ``final``, replacing what is there.

    An existing ``final`` is first moved aside (into ``aside``, default its own
    folder, under a hidden unique name) and removed only after the rename, so a
    crash never leaves no output *and* never leaves a mix of old and new.
    """
    if final.exists():
        old = (aside or final.parent) / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(source, final)
        remove_path(old)
    else:
        os.replace(source, final)


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Check that ``path`` can be written, before any work is done.

    Parameters
    ----------
    path : path-like
        The output file or folder.
    overwrite : bool
        Whether an existing output may be replaced.

    Returns
    -------
    pathlib.Path
        The path, made absolute.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OutputNotWritableError
        If the parent folder cannot be created or written.
    """
    path = Path(path).expanduser().absolute()
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output already exists",
                                hint="pass overwrite=True to replace it", option="overwrite")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritableError(
            f"{path}: cannot create the output folder {parent}: {exc.strerror or exc}") from exc
    if not parent.is_dir():
        raise OutputNotWritableError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"{path}: the folder {parent} is not writable")
    return path


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; move it to ``path`` on success.

    The temporary path is in the same folder (so the final rename is atomic on
    one file system) and starts with a dot. If the block raises, the temporary
    output is removed and the error propagates; an existing ``path`` is only
    replaced after the new output is complete.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    final = check_output_path(path, overwrite=overwrite)
    tmp = final.with_name(f".{final.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if not tmp.exists():
            raise OutputNotWritableError(f"{final}: the writer produced no output")
        if final.exists() and not overwrite:
            raise OutputExistsError(f"{final}: output appeared while writing; not replaced")
        rename_into_place(tmp, final)
    except BaseException:
        remove_path(tmp)
        raise
