"""Key-owner side: turn encrypted planes back into pictures or values."""

from __future__ import annotations

from typing import Any

import numpy as np


def _stack(planes: list[np.ndarray]) -> np.ndarray:
    return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)


def decrypt_image(priv: Any, x: Any, dtype: Any = np.uint8) -> np.ndarray:
    """Decrypt to a picture: uint8 (rounded, clipped 0..255) or float, scale undone.

    ``x`` is one plane or a list of planes (stacked as H x W x C).  Works for
    packed and unpacked planes alike.
    """
    if isinstance(x, (list, tuple)):
        return _stack([decrypt_image(priv, p, dtype) for p in x])
    return np.asarray(priv.decrypt_image(x, dtype=dtype))


def decrypt_values(priv: Any, x: Any) -> np.ndarray:
    """Decrypt to float64 values (plaintext / scale), no rounding or clipping."""
    if isinstance(x, (list, tuple)):
        return _stack([decrypt_values(priv, p) for p in x])
    return np.asarray(priv.decrypt_image(x, dtype=np.float64), dtype=np.float64)


def decrypt_counts(priv: Any, x: Any) -> np.ndarray:
    """Decrypt integer plaintexts exactly (int64), e.g. morphology counts."""
    if isinstance(x, (list, tuple)):
        return _stack([decrypt_counts(priv, p) for p in x])
    if x.scale != 1:
        raise ValueError(f"expected an integer (scale 1) plane, got scale {x.scale}")
    return np.asarray(priv.decrypt(x)).astype(np.int64)


def to_display(values: np.ndarray) -> np.ndarray:
    """Signed or large values to uint8 like cv2.convertScaleAbs: |v| rounded, clipped."""
    return np.clip(np.floor(np.abs(values) + 0.5), 0, 255).astype(np.uint8)
