"""From clean fluorescence to camera counts: blur, background, vignetting, noise.

The smooth fields (background, illumination) are evaluated analytically at
full-image pixel coordinates, so any window of a huge image gets exactly the
values the whole image would have. Only the shot and read noise (the camera,
:mod:`cellscale.data._camera`) are drawn from a generator, which chunked
renderers seed per chunk.

Units: the clean signal is in *relative intensity* (1 = a typical nucleus);
``photons`` converts it to expected photo-electrons per pixel; ``read_noise`` is
in electrons (r.m.s.); ``gain`` in camera counts (ADU) per electron; ``offset``
in ADU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from cellscale.data._camera import add_camera_noise, photons_for_snr

__all__ = [
    "acquire",
    "add_camera_noise",
    "background_field",
    "blur",
    "blur_halo",
    "field_at",
    "photons_for_snr",
    "smooth_field_at",
    "smooth_random_field",
    "vignetting_field",
]


def _coords(shape: Sequence[int], offset: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(int(offset[0]), int(offset[0]) + int(shape[0]), dtype=np.float64)[:, None]
    x = np.arange(int(offset[1]), int(offset[1]) + int(shape[1]), dtype=np.float64)[None, :]
    return y, x


def _waves(seed: int, scale: float, n_waves: int):
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5EED])
    wavelength = float(scale) * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n_waves))
    direction = rng.uniform(0, 2 * np.pi, n_waves)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amp = rng.uniform(0.5, 1.0, n_waves)
    amp = amp / np.sqrt(0.5 * np.sum(amp**2))
    ky = 2 * np.pi * np.sin(direction) / wavelength
    kx = 2 * np.pi * np.cos(direction) / wavelength
    return ky, kx, phase, amp


def field_at(
    y: np.ndarray, x: np.ndarray, *, seed: int = 0, scale: float = 500.0, n_waves: int = 12
) -> np.ndarray:
    """:func:`smooth_random_field` evaluated exactly at arbitrary points ``(y, x)``."""
    ky, kx, phase, amp = _waves(seed, scale, n_waves)
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    out = np.zeros(np.broadcast(y, x).shape)
    for k in range(n_waves):
        out += amp[k] * np.cos(ky[k] * y + kx[k] * x + phase[k])
    return out


def _node_step(scale: float) -> int:
    return int(max(1, min(16, float(scale) // 16)))


def _grid_field(
    ny0: int, ny1: int, nx0: int, nx1: int, step: int, seed: int, scale: float, n_waves: int
) -> np.ndarray:
    """The field on nodes ``(i * step, j * step)``, evaluated separably."""
    ky, kx, phase, amp = _waves(seed, scale, n_waves)
    gy = np.arange(ny0, ny1 + 1, dtype=float)[:, None] * step
    gx = np.arange(nx0, nx1 + 1, dtype=float)[None, :] * step
    out = np.zeros((gy.size, gx.size))
    for k in range(n_waves):
        a, b = ky[k] * gy + phase[k], kx[k] * gx
        out += amp[k] * (np.cos(a) * np.cos(b) - np.sin(a) * np.sin(b))
    return out


def smooth_field_at(
    y: np.ndarray, x: np.ndarray, *, seed: int = 0, scale: float = 500.0, n_waves: int = 12
) -> np.ndarray:
    """:func:`smooth_random_field` at arbitrary points, interpolated exactly as it is.

    The field is evaluated on the global node grid (every ``scale / 16`` pixels,
    at most 16) around the points and interpolated bilinearly, so at integer
    pixel positions the values equal those of :func:`smooth_random_field`, and a
    point gets the same value whatever other points are asked for. Much cheaper
    than :func:`field_at` for many points.
    """
    from scipy.ndimage import map_coordinates

    y = np.asarray(y, float)
    x = np.asarray(x, float)
    if y.size == 0:
        return np.zeros(np.broadcast(y, x).shape)
    y, x = np.broadcast_arrays(y, x)
    step = _node_step(scale)
    ny0, nx0 = int(np.floor(y.min() / step)), int(np.floor(x.min() / step))
    ny1, nx1 = int(np.floor(y.max() / step)) + 2, int(np.floor(x.max() / step)) + 2
    nodes = _grid_field(ny0, ny1, nx0, nx1, step, seed, scale, n_waves)
    coords = np.stack([y.ravel() / step - ny0, x.ravel() / step - nx0])
    out = map_coordinates(nodes, coords, order=1, mode="nearest")
    return out.reshape(y.shape)


def smooth_random_field(
    shape: Sequence[int],
    *,
    offset: Sequence[int] = (0, 0),
    seed: int = 0,
    scale: float = 500.0,
    n_waves: int = 12,
) -> np.ndarray:
    """A smooth random field with zero mean and unit variance, defined everywhere.

    A sum of ``n_waves`` plane cosine waves with random directions, phases and
    wavelengths between 0.5 and 2 times ``scale`` (pixels). It is evaluated
    exactly on a global grid of nodes every ``scale / 16`` pixels (at most 16)
    and interpolated bilinearly in between, so any window of the plane gets
    the same values the whole plane would have.

    Returns
    -------
    numpy.ndarray of float32, shape ``shape``
    """
    step = _node_step(scale)
    h, w = int(shape[0]), int(shape[1])
    oy, ox = int(offset[0]), int(offset[1])
    ny0, ny1 = oy // step, (oy + h - 1) // step + 1
    nx0, nx1 = ox // step, (ox + w - 1) // step + 1
    nodes = _grid_field(ny0, ny1, nx0, nx1, step, seed, scale, n_waves)
    wy = _linear_weights(np.arange(oy, oy + h), ny0, ny1 - ny0 + 1, step)
    wx = _linear_weights(np.arange(ox, ox + w), nx0, nx1 - nx0 + 1, step)
    return (wy @ nodes @ wx.T).astype(np.float32)


def _linear_weights(pos: np.ndarray, n0: int, n: int, step: int) -> np.ndarray:
    """(len(pos), n) matrix of linear-interpolation weights onto nodes n0 .. n0+n-1."""
    t = pos / step - n0
    i = np.clip(np.floor(t).astype(np.int64), 0, n - 2)
    f = t - i
    out = np.zeros((pos.size, n))
    rows = np.arange(pos.size)
    out[rows, i] = 1.0 - f
    out[rows, i + 1] = f
    return out


def background_field(
    shape: Sequence[int],
    *,
    offset: Sequence[int] = (0, 0),
    full_shape: Sequence[int] | None = None,
    seed: int = 0,
    level: float = 0.05,
    variation: float = 0.3,
    scale: float | None = None,
) -> np.ndarray:
    """Uneven background (autofluorescence, out-of-focus light) of a window.

    Parameters
    ----------
    shape : (int, int)
        Window size, pixels.
    offset : (int, int)
        Full-image coordinates of the window's top-left pixel.
    full_shape : (int, int), optional
        Size of the whole image; sets the default ``scale``. Defaults to ``shape``.
    seed : int
        Seed of the field's random waves.
    level : float
        Mean background in relative intensity (1 = a typical nucleus). Default 0.05.
    variation : float
        Relative standard deviation of the background across the image. Default 0.3.
    scale : float, optional
        Typical wavelength of the variation in pixels. Default: half the larger
        side of ``full_shape``, at most 2048 (one microscope field of view).

    Returns
    -------
    numpy.ndarray of float32, shape ``shape``
        Non-negative background, relative intensity.
    """
    full = tuple(full_shape) if full_shape is not None else tuple(shape)
    if scale is None:
        scale = min(max(full) / 2.0, 2048.0)
    f = smooth_random_field(shape, offset=offset, seed=seed, scale=max(float(scale), 8.0))
    out = float(level) * np.clip(1.0 + float(variation) * f, 0.05, None)
    return out.astype(np.float32)


def vignetting_field(
    shape: Sequence[int],
    *,
    offset: Sequence[int] = (0, 0),
    full_shape: Sequence[int] | None = None,
    strength: float = 0.2,
    tile: int | None = None,
) -> np.ndarray:
    """Relative illumination (1 in the centre, ``1 - strength`` in the corners).

    Parameters
    ----------
    shape, offset, full_shape
        As in :func:`background_field`.
    strength : float
        Fractional loss of illumination in the corners of the field of view
        (quadratic fall-off). Default 0.2.
    tile : int, optional
        Side of one camera field of view in pixels. When given, the image is a
        mosaic of tiles each with its own vignetting (as in stitched slide
        scans); when None the whole image is one field of view.

    Returns
    -------
    numpy.ndarray of float32, shape ``shape``
    """
    full = tuple(full_shape) if full_shape is not None else tuple(shape)
    y, x = _coords(shape, offset)
    if tile:
        t = float(tile)
        ry = (np.mod(y, t) - (t - 1) / 2) / (t / 2)
        rx = (np.mod(x, t) - (t - 1) / 2) / (t / 2)
    else:
        ry = (y - (full[0] - 1) / 2) / max(full[0] / 2, 1)
        rx = (x - (full[1] - 1) / 2) / max(full[1] / 2, 1)
    r2 = (ry**2 + rx**2) / 2.0
    return (1.0 - float(strength) * r2).astype(np.float32)


def blur(
    clean: np.ndarray, *, psf_sigma: float = 1.5, haze: float = 0.0, haze_sigma: float = 12.0
) -> np.ndarray:
    """Optical blur of a clean image: in-focus PSF plus out-of-focus haze.

    Parameters
    ----------
    clean : numpy.ndarray, shape (..., y, x)
        Clean signal; leading axes (channels) are blurred independently.
    psf_sigma : float
        Standard deviation of the Gaussian PSF, pixels. Default 1.5.
    haze : float
        Fraction of the signal added back as a wide blur (light from out of
        focus planes). Default 0.
    haze_sigma : float
        Standard deviation of the haze blur, pixels. Default 12.

    Returns
    -------
    numpy.ndarray of float32, same shape
        Zero is assumed outside the array (render a halo of
        :func:`blur_halo` pixels around a window to get the full-image values).
    """
    clean = np.asarray(clean, np.float32)
    sig = [0.0] * (clean.ndim - 2)
    out = (
        ndi.gaussian_filter(clean, sig + [psf_sigma] * 2, mode="constant", truncate=4.0)
        if psf_sigma > 0
        else clean.copy()
    )
    if haze > 0:
        out += np.float32(haze) * ndi.gaussian_filter(
            clean, sig + [haze_sigma] * 2, mode="constant", truncate=3.0
        )
    return out


def blur_halo(*, psf_sigma: float = 1.5, haze: float = 0.0, haze_sigma: float = 12.0) -> int:
    """Pixels of context :func:`blur` needs around a window to be exact."""
    h = int(np.ceil(4.0 * psf_sigma)) + 1
    if haze > 0:
        h = max(h, int(np.ceil(3.0 * haze_sigma)) + 1)
    return h


def acquire(
    rng: np.random.Generator,
    clean: np.ndarray,
    *,
    psf_sigma: float = 1.5,
    haze: float = 0.0,
    haze_sigma: float = 12.0,
    background: float | np.ndarray = 0.05,
    vignetting: float | np.ndarray = 0.0,
    photons: float = 200.0,
    read_noise: float = 2.0,
    gain: float = 1.0,
    offset: float = 100.0,
    dtype: np.dtype | type = np.uint16,
    margin: int = 0,
) -> np.ndarray:
    """Image a clean fluorescence signal with a simulated microscope and camera.

    Steps: Gaussian PSF blur and optional out-of-focus haze (:func:`blur`);
    add the background; multiply by the illumination (vignetting); Poisson
    shot noise at ``photons`` electrons per unit intensity; Gaussian read
    noise; gain and offset; rounding and clipping to ``dtype``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the noise.
    clean : numpy.ndarray of float, shape (..., y, x)
        Clean signal in relative intensity (1 = a typical nucleus).
    psf_sigma, haze, haze_sigma
        See :func:`blur` (pixels; defaults 1.5, 0, 12).
    background : float or numpy.ndarray
        Additive background in relative intensity, a number or an array that
        broadcasts to the cropped window (e.g. :func:`background_field`). Default 0.05.
    vignetting : float or numpy.ndarray
        Illumination: a number is the corner fall-off ``strength`` of
        :func:`vignetting_field` over this array; an array is used as is.
        Default 0 (even illumination).
    photons, read_noise, gain, offset, dtype
        See :func:`add_camera_noise` (defaults 200 e-/unit, 2 e-, 1 ADU/e-,
        100 ADU, uint16).
    margin : int
        Pixels cropped from each side of ``y`` and ``x`` after blurring (the
        halo a chunked renderer drew around its window). Default 0.

    Returns
    -------
    numpy.ndarray of ``dtype``, shape of ``clean`` less ``2 * margin`` in y and x

    Examples
    --------
    >>> import numpy as np
    >>> clean = np.zeros((32, 32), np.float32); clean[12:20, 12:20] = 1.0
    >>> img = acquire(np.random.default_rng(0), clean, photons=500, offset=100)
    >>> img.dtype, int(img[16, 16]) > int(img[0, 0])
    (dtype('uint16'), True)
    """
    out = blur(clean, psf_sigma=psf_sigma, haze=haze, haze_sigma=haze_sigma)
    m = int(margin)
    if m:
        out = out[..., m:-m, m:-m]
    out = out + np.asarray(background, np.float32)
    if np.ndim(vignetting) == 0:
        if float(vignetting) != 0:
            out = out * vignetting_field(out.shape[-2:], strength=float(vignetting))
    else:
        out = out * np.asarray(vignetting, np.float32)
    return add_camera_noise(
        rng, out, photons=photons, read_noise=read_noise, gain=gain, offset=offset, dtype=dtype
    )
