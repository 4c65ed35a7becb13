"""Image loading, hashing, resizing and PNG encoding for the gallery.

Every entry point accepts a path, raw file bytes or an array, and turns
anything that is not a decodable image into ``ImageError`` with a message a
user can act on (never an OpenCV assertion).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from hesift.errors import EXIT_MISSING, EXIT_REFUSED, UnreadableInputError
from hesift.imagehead import ImageHeaderError, check_image

__all__ = [
    "MAX_PIXELS",
    "ImageError",
    "content_hash",
    "decode_png",
    "encode_png",
    "load_image",
    "resize_max_side",
    "to_gray",
]

#: Refuse images above this many pixels before decoding them (decompression bombs).
MAX_PIXELS = 64_000_000


class ImageError(UnreadableInputError):
    """The input is not an image we can read (exit code 4 in the CLI)."""


class ImageMissingError(ImageError):
    """The image file does not exist (exit code 3)."""

    exit_code = EXIT_MISSING


class ImageTooLargeError(ImageError):
    """The image has more pixels than we decode (exit code 6)."""

    exit_code = EXIT_REFUSED


_UNREADABLE = "is not a readable image (PNG, JPEG, TIFF, BMP, WebP ...)"


def _check_pixels(data: bytes, what: str) -> None:
    """Size, depth and channels from the header, refused before any decoding."""
    try:
        check_image(data, max_pixels=MAX_PIXELS)
    except ImageHeaderError as e:
        if str(e).startswith("image is too large"):
            raise ImageTooLargeError(str(e)) from None
        msg = f"{what} {_UNREADABLE}" if str(e).startswith("not an image") else str(e)
        raise ImageError(msg) from None


def _decode(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise ImageError(f"{what} is empty")
    _check_pixels(data, what)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # e.g. OpenCV's own pixel cap (OPENCV_IO_MAX_IMAGE_PIXELS)
        img = None
    if img is None or img.size == 0:
        raise ImageError(f"{what} {_UNREADABLE}")
    return _normalise(img)


def _normalise(img: np.ndarray) -> np.ndarray:
    """uint8 gray (H, W) or BGR (H, W, 3); alpha dropped, other dtypes rescaled."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ImageError(f"expected a 2-D gray or 3-channel image, got shape {img.shape}")
    if min(img.shape[:2]) < 1:
        raise ImageError("image has no pixels")
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype.kind == "f":
        if not np.all(np.isfinite(img)):
            raise ImageError("image contains NaN or infinite values")
        scale = 255.0 if img.max(initial=0) <= 1.0 else 1.0
        img = np.clip(np.rint(img * scale), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img)


def load_image(image: str | os.PathLike | bytes | np.ndarray) -> np.ndarray:
    """Read a path, encoded bytes or an array into uint8 gray or BGR."""
    if isinstance(image, np.ndarray):
        return _normalise(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(bytes(image), "uploaded data")
    if isinstance(image, (str, os.PathLike)):
        p = Path(image)
        if not p.is_file():
            raise ImageMissingError(f"{p}: no such file")
        return _decode(p.read_bytes(), str(p))
    raise ImageError(f"cannot read an image from {type(image).__name__}")


def content_hash(img: np.ndarray) -> str:
    """SHA-256 of the decoded pixels (shape-tagged), so re-encodings of one image collide."""
    h = hashlib.sha256()
    h.update(f"{img.shape}|{img.dtype}|".encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()


def to_gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def resize_max_side(img: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Downscale (never upscale) so max(H, W) <= max_side; returns (image, scale)."""
    h, w = img.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return img, 1.0
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), s


def encode_png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - uint8 gray/BGR always encodes
        raise ImageError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    return _decode(data, "stored thumbnail")
