"""Encrypted smoothing: Gaussian, box (mean) and arbitrary integer kernels.

All three are linear, so the evaluator computes them on ciphertexts with the
public key alone.  Taps are integers; the output's fixed-point ``scale`` is
multiplied by the taps' sum, so ``decrypt_image`` returns grey levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hesift.kernels import as_int_kernel, box_taps, gaussian_taps

from ._common import (
    Encrypted,
    auto_frac_bits,
    correlate,
    per_channel,
    quantise,
    separable,
)


@per_channel
def gaussian(
    x: Encrypted,
    sigma: float = 1.0,
    *,
    frac_bits: int | None = None,
    radius: int | None = None,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """Gaussian blur with 1-D taps summing to exactly 2**frac_bits (DESIGN §6).

    ``frac_bits=None`` picks the finest taps (<= 12 bits) that fit the layout;
    the radius defaults to OpenCV's for float images (ksize = 8 sigma + 1).
    Output scale = input scale * 2**(2 * frac_bits).
    """
    f = auto_frac_bits(x, lambda b: 1 << (2 * b), frac_bits)
    taps = gaussian_taps(sigma, f, radius)
    y = separable(x, taps, taps, border=border, progress=progress, workers=workers, op="gaussian")
    return y.with_scale(x.scale << (2 * f))


@per_channel
def box(
    x: Encrypted,
    size: int | tuple[int, int] = 3,
    *,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """Mean over a ``size`` box (like cv2.blur); output scale = input scale * h * w."""
    h, w = (size, size) if isinstance(size, int) else size
    y = separable(
        x, box_taps(w), box_taps(h), border=border, progress=progress, workers=workers, op="box"
    )
    return y.with_scale(x.scale * int(h) * int(w))


@per_channel
def filter2d(
    x: Encrypted,
    kernel: Any,
    *,
    normalize: bool = False,
    frac_bits: int | None = None,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """Correlate with a user kernel (cv2.filter2D convention, anchor at the centre).

    Integer kernels are used as given (scale unchanged, or divided by the taps'
    sum with ``normalize=True``).  Float kernels are quantised to multiples of
    2**-frac_bits and the scale records it, so the decrypted value is the float
    filter up to that quantisation.
    """
    k = np.asarray(kernel)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"kernel must be a non-empty 2-D array, got shape {k.shape}")
    scale = x.scale
    if k.dtype.kind == "f" and not np.all(k == np.round(k)):
        if not np.all(np.isfinite(k)):
            raise ValueError("kernel taps must be finite")
        gain = float(np.abs(k).sum())
        f = auto_frac_bits(x, lambda b: int(gain * (1 << b)) + k.size, frac_bits)
        ik = np.vectorize(lambda v: quantise(v, f), otypes=[np.int64])(k)
        scale = scale << f
        if normalize:
            raise ValueError("normalize=True needs an integer kernel")
    else:
        ik = as_int_kernel(k)
        if normalize:
            s = int(ik.sum())
            if s <= 0:
                raise ValueError(f"normalize=True needs taps with a positive sum, got {s}")
            scale = scale * s
    y = correlate(x, ik, border=border, progress=progress, workers=workers, op="filter2d")
    return y.with_scale(scale)
