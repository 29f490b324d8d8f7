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
    "OutputExistsError",
    "OutputNotWritableError",
    "UnsupportedFormatError",
]


class CellscaleError(Exception):
    """Base class of every error cellscale raises on purpose."""


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


class OutputExistsError(CellscaleError, FileExistsError):
    """An output already exists and overwriting was not asked for."""


class OutputNotWritableError(CellscaleError, PermissionError):
    """An output location cannot be written."""
