"""Encrypted edge filters; magnitude and orientation belong to the key owner.

The evaluator computes the x and y derivatives as two encrypted planes (both
linear).  ``sqrt(gx**2 + gy**2)`` and ``atan2`` are not linear, so the key
owner computes them after decryption with :func:`gradient_magnitude` and
:func:`gradient_orientation`.  Values equal ``cv2.Sobel`` / ``cv2.Scharr`` /
``cv2.filter2D`` / ``cv2.Laplacian`` exactly (integer taps, scale unchanged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hesift.kernels import derivative_taps, laplacian_kernel, roberts_kernels

from ._common import Encrypted, correlate, per_channel, separable


def _derivative(name: str, x: Encrypted, dx: int, dy: int, **kw: Any):
    d, s = derivative_taps(name)
    if (dx, dy) == (1, 0):
        return separable(x, d, s, op=name, **kw)
    if (dx, dy) == (0, 1):
        return separable(x, s, d, op=name, **kw)
    raise ValueError(f"{name}: (dx, dy) must be (1, 0) or (0, 1), got ({dx}, {dy})")


def _pair(name: str, x: Encrypted, **kw: Any) -> tuple[Encrypted, Encrypted]:
    return _derivative(name, x, 1, 0, **kw), _derivative(name, x, 0, 1, **kw)


@per_channel
def sobel(
    x: Encrypted, *, border: str = "reflect", progress: Any = None, workers: int | None = None
) -> tuple[Encrypted, Encrypted]:
    """(gx, gy) encrypted, equal to cv2.Sobel(img, CV_64F, 1, 0) and (0, 1), ksize 3."""
    return _pair("sobel", x, border=border, progress=progress, workers=workers)


@per_channel
def scharr(
    x: Encrypted, *, border: str = "reflect", progress: Any = None, workers: int | None = None
) -> tuple[Encrypted, Encrypted]:
    """(gx, gy) encrypted, equal to cv2.Scharr(img, CV_64F, 1, 0) and (0, 1)."""
    return _pair("scharr", x, border=border, progress=progress, workers=workers)


@per_channel
def prewitt(
    x: Encrypted, *, border: str = "reflect", progress: Any = None, workers: int | None = None
) -> tuple[Encrypted, Encrypted]:
    """(gx, gy) encrypted with the Prewitt kernels [-1 0 1] x [1 1 1]."""
    return _pair("prewitt", x, border=border, progress=progress, workers=workers)


@per_channel
def roberts(
    x: Encrypted, *, border: str = "reflect", progress: Any = None, workers: int | None = None
) -> tuple[Encrypted, Encrypted]:
    """Roberts cross (g1, g2): 2x2 kernels [[1,0],[0,-1]] and [[0,1],[-1,0]], anchor [1,1]."""
    k1, k2 = roberts_kernels()
    kw = {"border": border, "progress": progress, "workers": workers, "op": "roberts"}
    return correlate(x, k1, **kw), correlate(x, k2, **kw)


@per_channel
def laplacian(
    x: Encrypted,
    ksize: int = 1,
    *,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """Signed Laplacian, equal to cv2.Laplacian(img, CV_64F, ksize=1 or 3)."""
    k = laplacian_kernel(ksize)
    return correlate(x, k, border=border, progress=progress, workers=workers, op="laplacian")


def _decrypt_pair(priv: Any, gx: Any, gy: Any) -> tuple[np.ndarray, np.ndarray]:
    from .decrypt import decrypt_values

    return decrypt_values(priv, gx), decrypt_values(priv, gy)


def gradient_magnitude(priv: Any, gx: Any, gy: Any) -> np.ndarray:
    """Key owner: sqrt(gx**2 + gy**2) as float64 (cv2.magnitude), per channel if lists."""
    a, b = _decrypt_pair(priv, gx, gy)
    return np.hypot(a, b)


def gradient_orientation(priv: Any, gx: Any, gy: Any, *, degrees: bool = True) -> np.ndarray:
    """Key owner: atan2(gy, gx) in [0, 360) degrees or [0, 2 pi) radians (cv2.phase)."""
    a, b = _decrypt_pair(priv, gx, gy)
    theta = np.mod(np.arctan2(b, a), 2 * np.pi)
    return np.degrees(theta) if degrees else theta
