"""Dominant orientations (OpenCV's calcOrientationHist plus peak selection), vectorised:
keypoints are grouped by window radius and each group is one NumPy computation."""

from __future__ import annotations

import numpy as np

from hesift.sift.gradients import chunks, gradient_samples, orientation_deg
from hesift.sift.params import (
    SIFT_ORI_HIST_BINS,
    SIFT_ORI_PEAK_RATIO,
    SIFT_ORI_RADIUS,
    SIFT_ORI_SIG_FCTR,
)

_FLT_EPSILON = float(np.finfo(np.float32).eps)


def orientation_histograms(
    img: np.ndarray, r: np.ndarray, c: np.ndarray, radius: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """Smoothed 36-bin gradient histograms, one row per keypoint."""
    n = SIFT_ORI_HIST_BINS
    k = len(r)
    hist = np.zeros((k, n))
    for rad in np.unique(radius):
        sel = np.flatnonzero(radius == rad)
        off = np.arange(-rad, rad + 1)
        oi, oj = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
        d2 = (oi * oi + oj * oj).astype(np.float64)
        for part in chunks(len(sel), len(oi)):
            idx = sel[part]
            ys = r[idx, None] + oi[None, :]
            xs = c[idx, None] + oj[None, :]
            dx, dy, valid = gradient_samples(img, ys, xs)
            w = np.exp(d2[None, :] * (-1.0 / (2.0 * sigma[idx, None] ** 2)))
            mag = np.sqrt(dx * dx + dy * dy)
            b = np.rint(orientation_deg(dx, dy) * (n / 360.0)).astype(np.int64)
            b = np.where(b >= n, b - n, b)
            b = np.where(b < 0, b + n, b)
            flat = (np.arange(len(idx))[:, None] * n + b).ravel()
            raw = np.bincount(flat, weights=(w * mag * valid).ravel(), minlength=len(idx) * n)
            hist[idx] = raw.reshape(len(idx), n)
    # circular [1 4 6 4 1] / 16 smoothing
    return (
        (np.roll(hist, 2, axis=1) + np.roll(hist, -2, axis=1)) * (1.0 / 16.0)
        + (np.roll(hist, 1, axis=1) + np.roll(hist, -1, axis=1)) * (4.0 / 16.0)
        + hist * (6.0 / 16.0)
    )


def dominant_angles(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keypoint index, angle in degrees) for every peak >= 0.8 max, parabolically refined.

    Angles follow OpenCV's convention: 360 - bin * 10, with 360 mapped to 0.
    """
    n = hist.shape[1]
    left = np.roll(hist, 1, axis=1)
    right = np.roll(hist, -1, axis=1)
    thr = hist.max(axis=1, keepdims=True) * SIFT_ORI_PEAK_RATIO
    kk, jj = np.nonzero((hist > left) & (hist > right) & (hist >= thr))
    hl, hj, hr = left[kk, jj], hist[kk, jj], right[kk, jj]
    b = jj + 0.5 * (hl - hr) / (hl - 2 * hj + hr)
    b = np.where(b < 0, n + b, np.where(b >= n, b - n, b))
    angle = (360.0 - (360.0 / n) * b).astype(np.float32)
    angle[np.abs(angle - 360.0) < _FLT_EPSILON] = 0.0
    return kk, angle


def orientations(
    img: np.ndarray, r: np.ndarray, c: np.ndarray, scl_octv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint index and angle of each oriented copy of the keypoints (r, c) in ``img``."""
    if len(r) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    radius = np.rint(SIFT_ORI_RADIUS * scl_octv).astype(np.int64)
    sigma = SIFT_ORI_SIG_FCTR * scl_octv.astype(np.float64)
    hist = orientation_histograms(img, r, c, radius, sigma)
    return dominant_angles(hist)
