"""Encrypted point operations: negate, brightness, contrast, blend.

Each is an affine map with integer weights, so it needs the public key only.
Non-integer factors are fixed point: a weight ``a`` becomes round(a * 2**f)
and the output scale records the 2**f.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._common import Encrypted, check_gain, check_plane, per_channel, quantise

POINT_FRAC_BITS = 12


def add_plain(x: Encrypted, plain: int) -> Encrypted:
    """Add an exact integer to the *plaintext* (value += plain / scale)."""
    return (x.with_scale(1) + int(plain)).with_scale(x.scale)


@per_channel
def negate(x: Encrypted, maximum: int = 255) -> Encrypted:
    """maximum - x (the photographic negative, 255 - x for 8-bit images)."""
    check_plane(x)
    check_gain(x, 1, "negate", extra=int(maximum) * x.scale)
    return add_plain(-x, int(maximum) * x.scale)


def _shift(x: Encrypted, offset: float, frac_bits: int) -> Encrypted:
    """x + offset, rescaling first when offset * scale is not an integer."""
    if not -1e6 <= offset <= 1e6:
        raise ValueError(f"offset must be within +-1e6, got {offset}")
    c = offset * x.scale
    if float(c).is_integer():
        check_gain(x, 1, "brightness", extra=int(c))
        return add_plain(x, int(c))
    c = quantise(c, frac_bits)
    check_gain(x, 1 << frac_bits, "brightness", extra=c)
    y = (x * (1 << frac_bits)).with_scale(x.scale << frac_bits)
    return add_plain(y, c)


@per_channel
def brightness(x: Encrypted, offset: float = 40, *, frac_bits: int = POINT_FRAC_BITS) -> Encrypted:
    """x + offset grey levels (decrypt_image clips to 0..255 like cv2.add)."""
    check_plane(x)
    return _shift(x, offset, frac_bits)


@per_channel
def contrast(
    x: Encrypted, alpha: float = 1.5, pivot: float = 128, *, frac_bits: int = POINT_FRAC_BITS
) -> Encrypted:
    """alpha * (x - pivot) + pivot, alpha in fixed point with ``frac_bits`` bits.

    pivot=0 gives plain scaling (cv2.convertScaleAbs without the abs).
    """
    check_plane(x)
    if not 0 <= alpha <= 1000:
        raise ValueError(f"alpha must be in 0..1000, got {alpha}")
    m = quantise(alpha, frac_bits)
    one = 1 << frac_bits
    # pivot * (1 - alpha) in the output's fixed point: pivot * (2**f - m) * scale
    c = quantise(pivot * (one - m) * x.scale, 0)
    check_gain(x, m, "contrast", extra=c)
    y = (x * m).with_scale(x.scale << frac_bits)
    return add_plain(y, c)


def blend(
    x: Encrypted | Sequence[Encrypted],
    y: Encrypted | Sequence[Encrypted],
    alpha: float = 0.5,
    *,
    frac_bits: int = POINT_FRAC_BITS,
) -> Any:
    """alpha * x + (1 - alpha) * y of two encrypted images (cv2.addWeighted).

    Both must share a layout (same key, shape, packing); scales are aligned by
    the core.  alpha is quantised to a multiple of 2**-frac_bits.
    """
    if isinstance(x, (list, tuple)) or isinstance(y, (list, tuple)):
        if not isinstance(x, (list, tuple)) or not isinstance(y, (list, tuple)) or len(x) != len(y):
            raise ValueError("blend: both images need the same number of planes")
        return [blend(a, b, alpha, frac_bits=frac_bits) for a, b in zip(x, y, strict=True)]
    check_plane(x, "first image")
    check_plane(y, "second image")
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"blend: shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in 0..1, got {alpha}")
    m = quantise(alpha, frac_bits)
    one = 1 << frac_bits
    check_gain(x, one, "blend")
    check_gain(y, one, "blend")
    z = x * m + y * (one - m)
    return z.with_scale(z.scale << frac_bits)
