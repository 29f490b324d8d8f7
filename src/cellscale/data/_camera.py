"""The camera: photo-electrons from expected signal, shot and read noise, gain, offset.

Units as in :mod:`cellscale.data._optics`: the signal is in relative intensity
(1 = a typical nucleus), ``photons`` converts it to expected photo-electrons
per pixel, ``read_noise`` is in electrons (r.m.s.), ``gain`` in camera counts
(ADU) per electron and ``offset`` in ADU.
"""

from __future__ import annotations

import numpy as np

__all__ = ["add_camera_noise", "add_emccd_noise", "expose", "jpeg_roundtrip", "photons_for_snr"]

#: Expected photo-electron count below which shot noise is drawn from the Poisson law.
_POISSON_BELOW = np.float32(5.0)


def photons_for_snr(snr: float, *, background: float = 0.05, read_noise: float = 2.0) -> float:
    """Photo-electrons per unit intensity that give a signal-to-noise ratio ``snr``.

    ``snr`` is the mean signal of a typical nucleus above background (relative
    intensity 1) divided by the noise standard deviation on the background
    (shot noise of the background plus read noise), all in electrons.
    """
    s2 = float(snr) ** 2
    b = float(background)
    return float((s2 * b + np.sqrt(s2 * s2 * b * b + 4.0 * s2 * float(read_noise) ** 2)) / 2.0)


def add_camera_noise(
    rng: np.random.Generator,
    signal: np.ndarray,
    *,
    photons: float = 200.0,
    read_noise: float = 2.0,
    gain: float = 1.0,
    offset: float = 100.0,
    dtype: np.dtype | type = np.uint16,
) -> np.ndarray:
    """Poisson shot noise, Gaussian read noise, gain, offset, rounding and clipping.

    Shot noise is drawn from the Poisson distribution where the expected count
    is below 5 electrons (to float32 precision); above, it is drawn together
    with the read noise as one normal ``N(lam, lam + read_noise**2)``, a close
    approximation there.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the noise.
    signal : numpy.ndarray
        Expected signal in relative intensity (blurred clean + background, after
        illumination), >= 0.
    photons : float
        Expected photo-electrons per unit of relative intensity. Default 200.
    read_noise : float
        Camera read noise, electrons r.m.s. Default 2.
    gain : float
        Camera counts (ADU) per electron. Default 1.
    offset : float
        Camera offset (dark level), ADU. Default 100.
    dtype : numpy dtype
        Output type; integer types are rounded and clipped to their range.

    Returns
    -------
    numpy.ndarray of ``dtype``, same shape as ``signal``
    """
    lam = np.asarray(signal, np.float32) * np.float32(photons)
    np.maximum(lam, np.float32(0.0), out=lam)
    # One normal draw per pixel. Where the mean is high, shot noise is close to
    # N(lam, lam) (well within the read noise), so shot plus read noise is
    # N(lam, lam + read_noise^2); where it is low, Poisson plus read noise.
    noise = _normal(rng, lam.shape)
    read2 = np.float32(max(float(read_noise), 0.0)) ** 2
    low = lam < _POISSON_BELOW
    n_low = int(np.count_nonzero(low))
    if n_low == low.size:  # all counts low (dim images): the same values, fewer passes
        electrons = noise
        electrons *= np.sqrt(read2)
        electrons += _poisson_small(rng, lam.ravel()).reshape(lam.shape)
    else:
        shot = np.where(low, np.float32(0.0), lam)
        electrons = np.sqrt(shot + read2)
        electrons *= noise
        electrons += shot
        if n_low:
            electrons[low] += _poisson_small(rng, lam[low])
    adu = electrons
    adu *= np.float32(gain)
    adu += np.float32(offset)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        np.rint(adu, out=adu)
        np.clip(adu, info.min, info.max, out=adu)
    return adu.astype(dt)


def add_emccd_noise(
    rng: np.random.Generator,
    signal: np.ndarray,
    *,
    photons: float = 20.0,
    em_gain: float = 200.0,
    read_noise: float = 50.0,
    gain: float = 0.05,
    offset: float = 100.0,
    dtype: np.dtype | type = np.uint16,
) -> np.ndarray:
    """An electron-multiplying CCD: shot noise, stochastic EM gain, read noise, offset.

    Photo-electrons (Poisson) pass an electron-multiplying register whose output
    for ``n`` electrons is Gamma(``n``, ``em_gain``) distributed, which doubles
    the variance of the shot noise (excess noise factor sqrt 2); read noise is
    added after the register, so it is small against the multiplied signal.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the noise.
    signal : numpy.ndarray
        Expected signal in relative intensity, >= 0.
    photons : float
        Expected photo-electrons per unit of relative intensity. Default 20.
    em_gain : float
        Mean electron-multiplication gain. Default 200.
    read_noise : float
        Read noise after the register, electrons r.m.s. Default 50.
    gain : float
        Camera counts (ADU) per electron leaving the register. Default 0.05.
    offset : float
        Camera offset, ADU. Default 100.
    dtype : numpy dtype
        Output type; integer types are rounded and clipped to their range.

    Returns
    -------
    numpy.ndarray of ``dtype``, same shape as ``signal``

    Examples
    --------
    >>> import numpy as np
    >>> img = add_emccd_noise(np.random.default_rng(0), np.full((64, 64), 1.0, np.float32))
    >>> bool(abs(img.mean() - (100 + 20 * 200 * 0.05)) < 5)
    True
    """
    lam = np.maximum(np.asarray(signal, np.float32) * np.float32(photons), np.float32(0.0))
    g = np.float32(em_gain)
    low = lam < np.float32(20.0)
    out = np.empty(lam.shape, np.float32)
    # Many electrons: Gamma(Poisson(lam)) is normal with mean lam g, variance 2 lam g^2.
    high = ~low
    if high.any():
        lh = lam[high]
        out[high] = lh * g + np.sqrt(2.0 * lh) * g * _normal(rng, lh.shape)
    if low.any():
        n = _poisson_small(rng, lam[low])
        amp = np.zeros(n.shape, np.float32)
        pos = n > 0
        amp[pos] = rng.standard_gamma(n[pos]).astype(np.float32) * g
        out[low] = amp
    out += np.float32(read_noise) * _normal(rng, lam.shape)
    adu = out * np.float32(gain) + np.float32(offset)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        np.rint(adu, out=adu)
        np.clip(adu, info.min, info.max, out=adu)
    return adu.astype(dt)


def expose(
    rng: np.random.Generator,
    signal: np.ndarray,
    *,
    camera: str,
    photons: float,
    gain: float,
    offset: float,
    read_noise: float,
    dtype: np.dtype | type,
    em_gain: float | None = None,
    saturation: float | None = None,
    jpeg_quality: int | None = None,
) -> np.ndarray:
    """Integer camera counts of an expected ``signal``: noise, clipping, optional JPEG.

    Parameters
    ----------
    rng : numpy.random.Generator
    signal : ndarray of float, shape (y, x)
        Expected relative intensity per pixel.
    camera : {"scmos", "emccd"}
        sCMOS/CCD noise (:func:`add_camera_noise`) or EMCCD (:func:`add_emccd_noise`,
        with ``em_gain``).
    photons, gain, offset, read_noise : float
        As in :func:`add_camera_noise`.
    dtype : numpy dtype
        Integer dtype of the counts; values are clipped to its range.
    saturation : float, optional
        Clip at ``offset + saturation x`` the counts of a unit signal (a
        saturated detector); default: only the dtype's range.
    jpeg_quality : int, optional
        Compress and decompress as JPEG at this quality (8-bit images).

    Returns
    -------
    ndarray of ``dtype``, shape (y, x)
    """
    noise = dict(gain=gain, offset=offset, dtype=np.float32)
    if camera == "emccd":
        adu = add_emccd_noise(rng, signal, photons=photons, em_gain=em_gain,
                              read_noise=read_noise, **noise)
        top = offset + gain * photons * em_gain
    else:
        adu = add_camera_noise(rng, signal, photons=photons, read_noise=read_noise, **noise)
        top = offset + gain * photons
    info = np.iinfo(dtype)
    high = float(info.max)
    if saturation is not None:
        high = min(high, offset + (top - offset) * saturation)
    image = np.clip(np.rint(adu), info.min, high).astype(dtype)
    if jpeg_quality is not None:
        image = jpeg_roundtrip(image, jpeg_quality)
    return image


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """An 8-bit image after JPEG compression at ``quality`` (1-100) and decompression.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 255, (32, 32)).astype(np.uint8)
    >>> out = jpeg_roundtrip(img, 50)
    >>> out.dtype, out.shape, bool((out != img).any())
    (dtype('uint8'), (32, 32), True)
    """
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.asarray(image, np.uint8)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(PILImage.open(buf), np.uint8)


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 numbers by the Box-Muller transform of float32 uniforms.

    About twice as fast as ``Generator.standard_normal`` for float32; the 24-bit
    uniforms cut the tails at 5.8 sigma (probability 1e-8), far below camera noise.
    """
    n = int(np.prod(shape))
    m = (n + 1) // 2
    u = rng.random(2 * m, dtype=np.float32)
    radius, angle = u[:m], u[m:]
    np.subtract(np.float32(1.0), radius, out=radius)  # (0, 1]: log is finite
    np.log(radius, out=radius)
    radius *= np.float32(-2.0)
    np.sqrt(radius, out=radius)
    angle *= np.float32(2 * np.pi)
    out = np.empty(2 * m, np.float32)
    np.cos(angle, out=out[:m])
    np.sin(angle, out=out[m:])
    out[:m] *= radius
    out[m:] *= radius
    return out[:n].reshape(shape)


def _poisson_small(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """Poisson counts (float32) for small means ``lam`` (1-D, float32), by inversion.

    One float32 uniform per count, compared with the Poisson CDF summed in
    float32: the probabilities are those of the Poisson distribution to float32
    precision (about 1e-7), which no image can tell apart, and it is 1.5-2 times
    as fast as ``Generator.poisson`` at means of a few units. The first four
    terms are summed for all counts at once; the few counts still undecided go
    on alone.
    """
    u = rng.random(lam.size, dtype=np.float32)
    lam = np.asarray(lam, np.float32)
    p = np.exp(-lam)
    cdf = p.copy()
    k = (u > cdf).astype(np.float32)
    for j in range(1, 4):
        p *= lam
        p *= np.float32(1.0 / j)
        cdf += p
        k += u > cdf
    idx = np.flatnonzero(u > cdf)
    u, lam, p, cdf = u[idx], lam[idx], p[idx], cdf[idx]
    j = 3
    while idx.size and j < 200:
        j += 1
        p *= lam
        p *= np.float32(1.0 / j)
        nxt = cdf + p
        # Stop where the CDF no longer grows in float32 (far in the tail).
        go = (u > nxt) & (nxt > cdf)
        idx, u, lam, p, cdf = idx[go], u[go], lam[go], p[go], nxt[go]
        k[idx] += 1
    return k
