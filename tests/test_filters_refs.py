"""Integer references for hesift.filters, in NumPy only (no hesift code).

Every encrypted op must decrypt to exactly these values (DESIGN §6).  The
border is OpenCV's BORDER_REFLECT_101 (numpy's "reflect"), which is what an
unpacked plane uses by default and what a packed plane reflect-padded by at
least the kernel radius reproduces.
"""

from __future__ import annotations

import math

import numpy as np


def correlate(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """out[i, j] = sum k[u, v] * a[i + u - kh//2, j + v - kw//2], reflect-101 border."""
    a = np.asarray(a, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    kh, kw = k.shape
    r, c = kh // 2, kw // 2
    p = np.pad(a, ((r, kh - 1 - r), (c, kw - 1 - c)), mode="reflect")
    out = np.zeros(a.shape, dtype=np.int64)
    for u in range(kh):
        for v in range(kw):
            if k[u, v]:
                out += k[u, v] * p[u:u + a.shape[0], v:v + a.shape[1]]
    return out


def sep(a: np.ndarray, kx, ky) -> np.ndarray:
    """Separable correlation: kx along columns, ky along rows."""
    return correlate(a, np.outer(np.asarray(ky, np.int64), np.asarray(kx, np.int64)))


def gaussian_taps(sigma: float, f: int) -> np.ndarray:
    """OpenCV's own float Gaussian, quantised as DESIGN §6 says (sum exactly 2**f).

    Independent of hesift's code: the kernel is what ``cv2.GaussianBlur`` applies
    to a float64 impulse with ``ksize=0`` (OpenCV picks the size from sigma and
    computes the weights), read back from the blurred impulse; each tap is then
    rounded half up at 2**f and the centre takes the residue.
    """
    import cv2

    n = 2 * int(8 * sigma + 8) + 1
    impulse = np.zeros((1, n), np.float64)
    impulse[0, n // 2] = 1.0
    k = cv2.GaussianBlur(impulse, (0, 1), sigmaX=sigma, sigmaY=0,
                         borderType=cv2.BORDER_CONSTANT)[0]
    nz = np.flatnonzero(k)
    k = k[nz[0]:nz[-1] + 1]
    q = np.array([math.floor(v * (1 << f) + 0.5) for v in k], dtype=np.int64)
    q[len(k) // 2] += (1 << f) - int(q.sum())
    return q


def gaussian(a, sigma, f):
    t = gaussian_taps(sigma, f)
    return sep(a, t, t)


def box(a, size):
    return sep(a, np.ones(size, np.int64), np.ones(size, np.int64))


SOBEL = ((-1, 0, 1), (1, 2, 1))
SCHARR = ((-1, 0, 1), (3, 10, 3))
PREWITT = ((-1, 0, 1), (1, 1, 1))


def deriv(a, taps):
    d, s = taps
    return sep(a, d, s), sep(a, s, d)


def roberts(a):
    return correlate(a, [[1, 0], [0, -1]]), correlate(a, [[0, 1], [-1, 0]])


def laplacian(a, ksize=1):
    k = [[0, 1, 0], [1, -4, 1], [0, 1, 0]] if ksize == 1 else [[2, 0, 2], [0, -8, 0], [2, 0, 2]]
    return correlate(a, k)


def unsharp(a, sigma, p, q, f):
    """Plaintext at scale q * 2**2f of x + (p/q)(x - G x)."""
    return ((q + p) << (2 * f)) * np.asarray(a, np.int64) - p * gaussian(a, sigma, f)


def high_boost(a, boost):
    return correlate(a, [[0, -1, 0], [-1, 4 + boost, -1], [0, -1, 0]])


def round_half_up(v: float) -> int:
    return math.floor(v + 0.5)


def counts(b, se):
    return correlate(b, se)


def erode(b, se):
    return (counts(b, se) >= np.asarray(se).sum()).astype(np.uint8)


def dilate(b, se):
    return (counts(b, se) >= 1).astype(np.uint8)


def to_uint8(plain: np.ndarray, scale: int) -> np.ndarray:
    """round-half-up(plain / scale) clipped to 0..255, exactly in integers."""
    v = np.floor_divide(2 * np.asarray(plain, np.int64) + scale, 2 * scale)
    return np.clip(v, 0, 255).astype(np.uint8)
