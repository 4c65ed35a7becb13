"""Encrypted sharpening with integer weights: unsharp mask and high-boost."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from hesift.kernels import gaussian_taps

from ._common import Encrypted, auto_frac_bits, check_gain, correlate, per_channel, separable


def _as_fraction(amount: float | int | Fraction) -> Fraction:
    a = Fraction(amount).limit_denominator(256) if isinstance(amount, float) else Fraction(amount)
    if a < 0 or a > 1000:
        raise ValueError(f"amount must be in 0..1000, got {amount}")
    return a


@per_channel
def unsharp_mask(
    x: Encrypted,
    sigma: float = 1.0,
    amount: float | int | Fraction = 1,
    *,
    frac_bits: int | None = None,
    blurred: Encrypted | None = None,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """x + amount * (x - gaussian(x)), all with integer weights.

    ``amount`` = p/q (floats become the nearest fraction with q <= 256); the
    evaluator computes (q + p) * 2**2f * x - p * G(x) with Gaussian taps summing
    to 2**f, and the scale records q * 2**2f.  Equals
    ``cv2.addWeighted(img, 1 + a, cv2.GaussianBlur(img, (0, 0), sigma), -a, 0)``
    up to the tap quantisation.  ``blurred`` reuses a ``gaussian(x, sigma,
    frac_bits=f)`` the evaluator already computed (same sigma and f).
    """
    a = _as_fraction(amount)
    p, q = a.numerator, a.denominator
    f = auto_frac_bits(x, lambda b: (q + 2 * p) << (2 * b), frac_bits)
    check_gain(x, (q + 2 * p) << (2 * f), "sharpen")
    taps = gaussian_taps(sigma, f)
    kw = {"border": border, "progress": progress, "workers": workers, "op": "sharpen"}
    centre = (q + p) << (2 * f)
    if blurred is not None:
        if int(blurred.scale) != int(x.scale) << (2 * f):
            raise ValueError("blurred must be gaussian(x, sigma, frac_bits=f) with the same f")
        g = blurred.with_scale(x.scale)
    elif p:
        g = separable(x, taps, taps, **kw)
    y = x * centre - g * p if p else x * centre
    return y.with_scale(x.scale * q << (2 * f))


def high_boost_kernel(boost: int = 1) -> np.ndarray:
    """boost * delta - Laplacian: [[0,-1,0],[-1,boost+4,-1],[0,-1,0]]."""
    if int(boost) != boost or not 0 <= boost <= 1000:
        raise ValueError(f"boost must be an integer in 0..1000, got {boost}")
    k = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.int64)
    k[1, 1] += int(boost)
    return k


@per_channel
def high_boost(
    x: Encrypted,
    boost: int = 1,
    *,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """High-boost sharpening boost * x - Laplacian(x) in one 3x3 integer kernel (scale kept)."""
    k = high_boost_kernel(boost)
    return correlate(x, k, border=border, progress=progress, workers=workers, op="high_boost")
