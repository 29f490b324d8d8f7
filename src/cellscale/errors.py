"""One exception hierarchy for cellscale.

Every error a user can cause derives from :class:`CellscaleError` *and* from the
builtin exception that fits it, so ``except ValueError`` keeps working for callers
who do not know about cellscale. Messages name the file (when there is one), say
what was expected and what came, and list valid choices where there are some.
"""

from __future__ import annotations

__all__ = [
    "CellscaleError",
    "FileFormatError",
    "ImageTooLargeError",
    "InputNotFoundError",
    "InvalidArgumentError",
    "InvalidAxesError",
    "InvalidImageError",
    "MissingDependencyError",
    "OutputExistsError",
    "OutputNotWritableError",
    "UnsupportedFormatError",
]


def _rebuild(cls: type, message: str, hint: str | None, option: str | None,
             choices: tuple[str, ...]) -> CellscaleError:
    """Re-create an error from its parts (pickling, e.g. across Dask workers)."""
    return cls(message, hint=hint, option=option, choices=choices)


class CellscaleError(Exception):
    """Base class of every error cellscale raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong, naming the file when there is one.
    hint : str, optional
        Advice in Python terms (``"pass axes=, e.g. 'zyx'"``), appended to the
        message after a semicolon.
    option : str, optional
        The keyword argument (or operation) the advice is about, e.g. ``"axes"``.
        Front doors (the CLI, the service) use it with ``choices`` to give the
        advice in their own words instead of ``hint``.
    choices : sequence of str
        Example values for ``option``, most likely first.

    Examples
    --------
    >>> err = InvalidAxesError("x.tif: cannot tell the axes", hint="pass axes=, e.g. 'zyx'",
    ...                        option="axes", choices=("zyx",))
    >>> str(err), err.message, err.option, err.choices
    ("x.tif: cannot tell the axes; pass axes=, e.g. 'zyx'", 'x.tif: cannot tell the axes', 'axes', ('zyx',))
    """

    def __init__(self, message: object = "", *, hint: str | None = None,
                 option: str | None = None, choices: tuple[str, ...] | list[str] = ()) -> None:
        self.message = str(message)
        self.hint = hint
        self.option = option
        self.choices = tuple(str(c) for c in choices)
        super().__init__(f"{self.message}; {hint}" if hint else self.message)

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), self.message, self.hint, self.option, self.choices))


class InvalidArgumentError(CellscaleError, ValueError):
    """An option has a value outside its valid set."""


class InvalidImageError(CellscaleError, ValueError):
    """An array cannot be used as an image (wrong shape, size, dtype or content)."""


class InvalidAxesError(InvalidImageError):
    """Axes are missing, ambiguous, or do not match the array's shape."""


class FileFormatError(CellscaleError, ValueError):
    """A file exists but is not a readable file of the format its name claims."""


class UnsupportedFormatError(FileFormatError):
    """A file's extension is not one cellscale reads or writes."""


class ImageTooLargeError(CellscaleError, ValueError):
    """An image declares more pixels than can be sensible or than is allowed."""


class InputNotFoundError(CellscaleError, FileNotFoundError):
    """An input path does not exist, or is a folder where a file was expected."""


class MissingDependencyError(CellscaleError, ImportError):
    """An optional package that a function needs is not installed (the message says how)."""


class OutputExistsError(CellscaleError, FileExistsError):
    """An output already exists and overwriting was not asked for."""


class OutputNotWritableError(CellscaleError, PermissionError):
    """An output location cannot be written."""
