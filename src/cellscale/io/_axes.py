"""Naming the axes of an array: from metadata, from the caller, or from its shape.

The rules, in order:

1. Axes given by the caller (``axes="zyx"``) always win. They are checked
   against the array: ``"expected axes 'cyx' (3 dimensions), got array of
   shape (512, 512) (2 dimensions)"``.
2. Otherwise the file's metadata decides: OME-TIFF and ImageJ hyperstacks,
   tifffile's own shaped TIFFs, OME-Zarr (NGFF ``axes``), and zarr arrays with
   ``dimension_names``.
3. Otherwise the shape decides, and only where there is one sensible answer:

   ===============================================  ===========
   shape                                            axes
   ===============================================  ===========
   2-D                                              ``"yx"``
   3-D, last axis 3 or 4, first axis > 8            ``"yxc"`` (RGB/RGBA, stored as ``"cyx"``)
   3-D, first axis <= 8, last axis > 4              ``"cyx"`` (a few channels)
   any other 3-D, 4-D or 5-D                        ambiguous: ``InvalidAxesError``
   ===============================================  ===========

   The error for an ambiguous shape lists the plausible choices, e.g. for a
   ``(40, 512, 512)`` stack: ``'zyx'``, ``'tyx'`` or ``'cyx'``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cellscale.errors import InvalidAxesError, InvalidImageError
from cellscale.io._image import validate_axes

#: Most channels a 3-D array may have along its first axis for ``"cyx"`` to be inferred.
MAX_INFERRED_CHANNELS = 8

#: tifffile's axis codes that map onto cellscale's axes. ``S`` (samples, e.g. RGB) is a channel.
_TIFFFILE_AXES = {"T": "t", "C": "c", "S": "c", "Z": "z", "Y": "y", "X": "x"}


def infer_axes(shape: Sequence[int], *, where: str = "") -> str:
    """Name the axes of an array from its shape alone (rule 3 above).

    Parameters
    ----------
    shape : sequence of int
        The array's shape.
    where : str
        Prefix for messages, usually ``"<path>: "``.

    Returns
    -------
    str
        Axes in the array's own order, e.g. ``"yxc"`` for an RGB image.

    Raises
    ------
    InvalidImageError
        If the array has fewer than 2 dimensions.
    InvalidAxesError
        If the shape does not determine the axes; the message lists choices.

    Examples
    --------
    >>> infer_axes((512, 512)), infer_axes((3, 512, 512)), infer_axes((480, 640, 3))
    ('yx', 'cyx', 'yxc')
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise InvalidImageError(
            f"{where}expected an image with at least 2 dimensions (y, x), got an array of "
            f"shape {shape} ({len(shape)} dimension{'s' if len(shape) != 1 else ''})"
        )
    if len(shape) == 2:
        return "yx"
    if len(shape) == 3:
        first, last = shape[0], shape[-1]
        if last in (3, 4) and first > MAX_INFERRED_CHANNELS:
            return "yxc"
        if first <= MAX_INFERRED_CHANNELS and last > 4:
            return "cyx"
        choices = ["zyx", "tyx", "cyx", "yxc"]
    elif len(shape) == 4:
        choices = ["czyx", "tzyx", "tcyx", "zcyx", "zyxc"]
    elif len(shape) == 5:
        choices = ["tczyx", "tzcyx", "ztcyx"]
    else:
        raise InvalidAxesError(
            f"{where}array of shape {shape} has {len(shape)} dimensions; "
            f"an image has at most 5 (t, c, z, y, x)"
        )
    raise InvalidAxesError(
        f"{where}cannot tell the axes of an array of shape {shape} from its shape",
        hint="pass axes=, e.g. " + ", ".join(repr(c) for c in choices),
        option="axes", choices=choices,
    )


def axes_from_tifffile(code: str, shape: Sequence[int]) -> str | None:
    """Translate a tifffile axes code (``"TCYX"``, ``"YXS"``) to cellscale letters.

    Returns None when the code holds letters with no cellscale meaning (``Q``,
    ``I`` for unknown or generic sequences) or names an axis twice, so that the
    shape rules apply instead.

    Examples
    --------
    >>> axes_from_tifffile("TZCYX", (2, 3, 4, 5, 6)), axes_from_tifffile("QYX", (3, 5, 6))
    ('tzcyx', None)
    """
    if len(code) != len(shape):
        return None
    letters = []
    for letter, size in zip(code.upper(), shape):
        if letter not in _TIFFFILE_AXES:
            return None
        letters.append(_TIFFFILE_AXES[letter])
    axes = "".join(letters)
    if len(set(axes)) != len(axes) or "y" not in axes or "x" not in axes:
        return None
    return axes


def resolve_axes(
    shape: Sequence[int],
    *,
    explicit: str | None,
    from_metadata: str | None,
    where: str = "",
    default: str | None = None,
) -> str:
    """Choose the axes of an array by the rules of this module.

    Parameters
    ----------
    shape : sequence of int
        The array's shape, in file order.
    explicit : str or None
        Axes the caller gave; checked against ``shape``.
    from_metadata : str or None
        Axes the file's metadata gave.
    where : str
        Prefix for messages, usually ``"<path>: "``.
    default : str or None
        Axes that the data's meaning implies (``"tyx"`` for something read as a
        movie), used instead of the shape rules when neither the caller nor the
        metadata names the axes and ``default`` has as many letters as the
        array has dimensions.

    Returns
    -------
    str
        Axes in file order (not necessarily canonical).

    Examples
    --------
    >>> resolve_axes((5, 64, 64), explicit=None, from_metadata=None)
    'cyx'
    >>> resolve_axes((5, 64, 64), explicit=None, from_metadata=None, default="tyx")
    'tyx'
    """
    shape = tuple(int(s) for s in shape)
    if explicit is not None:
        try:
            return validate_axes(explicit, shape)
        except InvalidAxesError as exc:
            raise InvalidAxesError(f"{where}{exc}", hint=exc.hint, option="axes") from exc
    if len(shape) < 2:
        infer_axes(shape, where=where)  # raises the 1-D message
    if from_metadata is not None:
        return validate_axes(from_metadata, shape)
    if default is not None and len(default) == len(shape):
        return validate_axes(default, shape)
    return infer_axes(shape, where=where)
