"""Exact integer operations of the scale space, run in plaintext.

These are the very operations the evaluator performs on ciphertexts (one
separable correlation of the reflect-padded base per level, then differences),
so the plaintext reference and the decrypted encrypted run agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

#: float64 represents every integer below this exactly; sums stay exact under it.
_EXACT = 1 << 52


def reflect101_index(n: int, pad: int) -> np.ndarray:
    """Source index of each padded position, as OpenCV's borderInterpolate(BORDER_REFLECT_101)."""
    p = np.arange(-pad, n + pad)
    if n == 1:
        return np.zeros_like(p)
    period = 2 * n - 2
    p = np.mod(p, period)
    return np.where(p < n, p, period - p)


def pad_reflect101(a: np.ndarray, pad: int) -> np.ndarray:
    """Pad a 2-D array by ``pad`` on every side with BORDER_REFLECT_101 (any pad size)."""
    if pad == 0:
        return a
    iy = reflect101_index(a.shape[0], pad)
    ix = reflect101_index(a.shape[1], pad)
    return a[np.ix_(iy, ix)]


def sepfilter_padded(padded: np.ndarray, taps: np.ndarray, pad: int) -> np.ndarray:
    """Correlate the padded base with ``taps`` along x then y; return the unpadded interior.

    Exact: inputs and every partial sum are integers below 2**52, so float64
    arithmetic loses nothing.  Zeros beyond the canvas, as the core's packed
    canvases do (the padding makes them irrelevant for radius <= pad).
    """
    r = len(taps) // 2
    if r > pad:
        raise ValueError(f"filter radius {r} exceeds the padding {pad}")
    t = np.asarray(taps, dtype=np.int64)
    bound = int(np.abs(padded).max(initial=0)) * int(np.abs(t).sum()) ** 2
    if bound >= _EXACT:
        raise OverflowError(f"exact float64 convolution needs values < 2**52, bound is {bound}")
    h, w = padded.shape[0] - 2 * pad, padded.shape[1] - 2 * pad
    x = padded[:, pad - r : pad + w + r].astype(np.float64)
    x = correlate1d(x, t.astype(np.float64), axis=1, mode="constant", cval=0.0)[:, r : r + w]
    x = x[pad - r : pad + h + r]
    x = correlate1d(x, t.astype(np.float64), axis=0, mode="constant", cval=0.0)[r : r + h]
    return np.rint(x).astype(np.int64)


def gaussian_levels(base: np.ndarray, taps: tuple, pad: int, frac_bits: int) -> list[np.ndarray]:
    """Every Gaussian level of an octave from its integer base, each by one filter."""
    padded = pad_reflect101(base, pad)
    out = []
    for t in taps:
        if t is None:
            out.append(base.astype(np.int64) << (2 * frac_bits))
        else:
            out.append(sepfilter_padded(padded, t, pad))
    return out


def dog_levels(levels: list[np.ndarray]) -> np.ndarray:
    """DoG_i = G_{i+1} - G_i, stacked (n_levels - 1, H, W) int64."""
    return np.stack([b - a for a, b in zip(levels[:-1], levels[1:])])


def rebuild_levels(g0: np.ndarray, dogs: np.ndarray) -> list[np.ndarray]:
    """G_i = G_0 + sum of the first i DoG levels (exact inverse of dog_levels)."""
    out = [g0]
    for d in dogs:
        out.append(out[-1] + d)
    return out


def next_base(level: np.ndarray, level_scale: int, base_scale: int) -> np.ndarray:
    """Next octave's base: even rows/cols of ``level``, rounded to ``base_scale`` (half up).

    Both scales are powers of two and the level is non-negative, so this is
    an exact integer shift with rounding: (v + 2**(s-1)) >> s.
    """
    if level_scale % base_scale or (level_scale // base_scale) & (level_scale // base_scale - 1):
        raise ValueError("scales must be powers of two with level_scale >= base_scale")
    s = (level_scale // base_scale).bit_length() - 1
    h, w = level.shape[0] // 2, level.shape[1] // 2
    sub = level[: 2 * h : 2, : 2 * w : 2]
    if s == 0:
        return sub.copy()
    return (sub + (1 << (s - 1))) >> s
