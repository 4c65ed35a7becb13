"""Gathering gradient samples around many keypoints at once (shared by orientation and
descriptor code): one (K, S) block per call, chunked by the caller to bound memory."""

from __future__ import annotations

import numpy as np


def gradient_samples(
    img: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dy (float64, OpenCV's signs: dy points up) and validity at integer positions.

    Valid positions are those with 0 < y < rows-1 and 0 < x < cols-1, as
    OpenCV requires; invalid ones get zero gradients.
    """
    rows, cols = img.shape
    valid = (ys > 0) & (ys < rows - 1) & (xs > 0) & (xs < cols - 1)
    y = np.clip(ys, 1, rows - 2)
    x = np.clip(xs, 1, cols - 2)
    dx = (img[y, x + 1] - img[y, x - 1]).astype(np.float64)
    dy = (img[y - 1, x] - img[y + 1, x]).astype(np.float64)
    dx[~valid] = 0.0
    dy[~valid] = 0.0
    return dx, dy, valid


def orientation_deg(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """atan2(dy, dx) in degrees in [0, 360), like cv::fastAtan2 (but exact)."""
    a = np.degrees(np.arctan2(dy, dx))
    a = np.where(a < 0, a + 360.0, a)
    return np.where(a >= 360.0, 0.0, a)


def chunks(n_items: int, per_item: int, budget: int = 1 << 21):
    """Slices over items so that each chunk holds about ``budget`` samples."""
    step = max(1, budget // max(per_item, 1))
    for s in range(0, n_items, step):
        yield slice(s, min(s + step, n_items))
