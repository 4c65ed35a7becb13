"""Pictures of HESIFT, as the original project showed them: what the evaluator sees
(ciphertext bytes), the decrypted DoG scale space, and the keypoints found."""

from __future__ import annotations

import cv2
import numpy as np


def ciphertext_view(packed) -> np.ndarray:
    """uint8 H x W picture of an encrypted packed image: its ciphertext bytes as grey.

    Row y shows the bytes of the ciphertexts holding logical row y, sampled
    to the image width: uniform noise, which is the point.
    """
    lay = packed.layout
    rows = packed.data[lay.y0 : lay.y0 + lay.height]
    raw = np.ascontiguousarray(rows).view(np.uint8).reshape(lay.height, -1)
    cols = np.linspace(0, raw.shape[1] - 1, lay.width).astype(np.int64)
    return np.ascontiguousarray(raw[:, cols])


def ciphertext_mosaic(levels: list) -> np.ndarray:
    """The ciphertext views of several encrypted levels side by side."""
    views = [ciphertext_view(p) for p in levels]
    gap = np.full((views[0].shape[0], 4), 255, np.uint8)
    return np.hstack([x for v in views for x in (v, gap)][:-1])


def dog_mosaic(dogs_per_octave: list[np.ndarray]) -> np.ndarray:
    """uint8 mosaic of decrypted DoG levels: one row per octave, mid-grey = 0.

    Each octave is stretched by its own 99.5th percentile of |DoG| so that
    every octave's structure is visible.
    """
    if not dogs_per_octave:
        raise ValueError("no DoG levels to draw")
    rows = []
    for dogs in dogs_per_octave:
        s = float(np.percentile(np.abs(dogs), 99.5)) or 1.0
        imgs = [np.clip(128 + 127 * d / s, 0, 255).astype(np.uint8) for d in dogs]
        gap = np.full((imgs[0].shape[0], 4), 255, np.uint8)
        rows.append(np.hstack([x for im in imgs for x in (im, gap)][:-1]))
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1])), constant_values=255) for r in rows]
    return np.vstack(padded)[:-4]


def draw_keypoints(grey: np.ndarray, keypoints: list[cv2.KeyPoint]) -> np.ndarray:
    """RGB uint8 picture with every keypoint's circle (size) and orientation drawn."""
    bgr = cv2.drawKeypoints(grey, keypoints, None, color=(0, 200, 255),
                            flags=cv2.DRAW_MATCHES_FLAGS_DRAW_RICH_KEYPOINTS)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
