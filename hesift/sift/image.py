"""Input checking, colour-to-grey and the exact integer x2 up-sampling of the key owner."""

from __future__ import annotations

import cv2
import numpy as np

from hesift.sift.params import SiftParams, octave0_frac_bits


def to_grey(image: object) -> np.ndarray:
    """A uint8 2-D grey image, converted as OpenCV's SIFT does (BGR/BGRA -> COLOR_BGR2GRAY).

    Like cv2.SIFT, colour input is taken as BGR(A); convert RGB images
    (e.g. scikit-image's) with ``image[..., ::-1]`` first.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise ValueError("image is empty")
    if image.dtype != np.uint8:
        raise TypeError(
            f"image must have dtype uint8 (as cv2.SIFT requires), got {image.dtype}; "
            "convert e.g. with skimage.util.img_as_ubyte"
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        grey = image
    elif image.ndim == 3 and image.shape[2] == 3:
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2GRAY)
    else:
        raise ValueError(
            f"image must be H x W, H x W x 3 or H x W x 4, got shape {image.shape}"
        )
    if min(grey.shape) < 2:
        raise ValueError(f"image is too small for SIFT: {grey.shape}")
    return np.ascontiguousarray(grey)


def upsample2_int(grey: np.ndarray) -> np.ndarray:
    """x2 bilinear up-sampling (cv2.resize INTER_LINEAR, edges clamped) in exact integers.

    Output pixel 2i takes 1/4 of i-1 and 3/4 of i, pixel 2i+1 3/4 of i and
    1/4 of i+1, along each axis; the result is returned times 16 (int64), so
    no rounding happens.
    """
    g = grey.astype(np.int64)

    def along(a: np.ndarray, axis: int) -> np.ndarray:
        n = a.shape[axis]
        idx = np.arange(n)
        prev = np.take(a, np.maximum(idx - 1, 0), axis=axis)
        nxt = np.take(a, np.minimum(idx + 1, n - 1), axis=axis)
        even = prev + 3 * a
        odd = 3 * a + nxt
        out = np.stack([even, odd], axis=axis + 1)
        shape = list(a.shape)
        shape[axis] = 2 * n
        return out.reshape(shape)

    return np.ascontiguousarray(along(along(g, 0), 1))


def octave0_base(grey: np.ndarray, params: SiftParams) -> np.ndarray:
    """Integer base of octave 0: the grey image (scale 1) or its x2 up-sampling kept
    with ``params.upsample_frac_bits`` fractional bits (scale 2**bits; 4 is exact,
    fewer round half up).  Base bits are cheap to drop: the rounding noise a DoG
    sees is far below what one fewer bit of Gaussian taps costs (docs/sift.md)."""
    bits = octave0_frac_bits(params)
    if not params.enable_upsample:
        return grey.astype(np.int64)
    up = upsample2_int(grey)
    drop = 4 - bits
    return up if not drop else (up + (1 << (drop - 1))) >> drop
