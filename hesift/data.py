"""Bundled sample photographs (scikit-image's data set, available offline).

Used by ``hesift demo``, the docs and the tests so that everyone works on
real photographs, not synthetic patterns.
"""

from __future__ import annotations

import numpy as np

#: name -> (scikit-image loader, colour?)
PHOTOS: dict[str, tuple[str, bool]] = {
    "camera": ("camera", False),
    "astronaut": ("astronaut", True),
    "coffee": ("coffee", True),
    "chelsea": ("chelsea", True),
    "brick": ("brick", False),
    "coins": ("coins", False),
    "moon": ("moon", False),
    "rocket": ("rocket", True),
}


def names() -> list[str]:
    """Names accepted by :func:`photo`."""
    return sorted(PHOTOS)


def photo(name: str = "camera", size: int | None = 256, *, grey: bool = False) -> np.ndarray:
    """A bundled photograph as uint8: centre-cropped to a square and resized to ``size``.

    ``size=None`` returns the original.  Colour photos are H x W x 3 RGB unless
    ``grey``.
    """
    import cv2
    import skimage.data

    if name not in PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; choose from {', '.join(names())}")
    loader, colour = PHOTOS[name]
    a = np.asarray(getattr(skimage.data, loader)())
    if a.dtype != np.uint8:
        a = (a > 0).astype(np.uint8) * 255 if a.dtype == bool else a.astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if grey and a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    if size is not None:
        if size < 8:
            raise ValueError(f"size must be >= 8, got {size}")
        h, w = a.shape[:2]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        a = a[y0:y0 + s, x0:x0 + s]
        a = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(a)
