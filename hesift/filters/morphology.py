"""Binary morphology split between evaluator (counts) and key owner (threshold).

Erosion and dilation are not linear, but on a 0/1 image they are thresholds
of a linear quantity.  The evaluator correlates the encrypted binary image
with the structuring element (SE), giving for each pixel the encrypted count
of foreground pixels under the SE.  The key owner decrypts the counts and
thresholds them:

- erode:    count == |SE|   (every pixel under the SE is foreground)
- dilate:   count >= 1      (at least one is)
- gradient: dilate - erode  (from the same counts: one evaluator pass)
- open = dilate(erode(x)), close = erode(dilate(x)): two passes; between them
  the key owner thresholds and re-encrypts, then the evaluator counts again.

What each party learns.  The evaluator sees only ciphertexts, the public
key, the image shape and the SE it applies: nothing about pixel values.  The
key owner learns, for every pixel, the count of foreground pixels under the
SE (an integer 0..|SE|), which is more than the one-bit erode/dilate answer,
but it is a function of the key owner's own image and SE, so it reveals
nothing the key owner could not compute itself.  For open/close the
evaluator also learns that a second round happened (not its content).

Conventions match cv2.erode / cv2.dilate: the SE is anchored at its centre
(kh // 2, kw // 2) and applied as a correlation, so asymmetric elements give
the same result as OpenCV with ``borderType=cv2.BORDER_REFLECT_101``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hesift.kernels import structuring_element

from ._common import Encrypted, check_plane, correlate, is_packed, per_channel, resolve_evaluator
from .decrypt import decrypt_counts

MORPH_OPS = ("erode", "dilate", "open", "close", "gradient")


def as_element(se: Any = None) -> np.ndarray:
    """A 0/1 int64 structuring element; default the 3x3 square."""
    if se is None:
        return structuring_element("rect", 3)
    k = np.asarray(se)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"structuring element must be a non-empty 2-D array, got shape {k.shape}")
    if not np.isin(k, (0, 1)).all():
        raise ValueError("structuring element must contain only 0 and 1")
    if not k.any():
        raise ValueError("structuring element must contain at least one 1")
    return k.astype(np.int64)


@per_channel
def neighbourhood_counts(
    x: Encrypted,
    se: Any = None,
    *,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
) -> Encrypted:
    """Evaluator: encrypted count of foreground pixels under the SE at each pixel."""
    check_plane(x)
    if x.scale != 1 or int(x.bound) > 1:
        raise ValueError(
            "morphology needs a binary image (values 0/1, scale 1); the key owner "
            "binarises before encrypting (hesift.filters.binarize)"
        )
    k = as_element(se)
    return correlate(x, k, border=border, progress=progress, workers=workers, op="morphology")


def threshold_counts(counts: np.ndarray, op: str, se: Any = None) -> np.ndarray:
    """Key owner: erode/dilate/gradient (uint8 0/1) from decrypted counts."""
    k = as_element(se)
    full = int(k.sum())
    c = np.asarray(counts)
    if op == "erode":
        out = c >= full
    elif op == "dilate":
        out = c >= 1
    elif op == "gradient":
        out = (c >= 1) & (c < full)
    else:
        raise ValueError(f"threshold_counts: op must be erode, dilate or gradient, got {op!r}")
    return out.astype(np.uint8)


def binarize(img: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Key owner: 0/1 uint8 image, foreground = value > threshold (Otsu if None)."""
    import cv2

    a = np.asarray(img)
    if a.ndim == 3:
        a = cv2.cvtColor(a.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"binarize needs a non-empty 2-D image, got shape {a.shape}")
    if threshold is None:
        if np.isin(a, (0, 1)).all():
            return a.astype(np.uint8)
        threshold, _ = cv2.threshold(a.astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (a > threshold).astype(np.uint8)


def apply_morphology(
    x: Encrypted,
    op: str,
    priv: Any,
    se: Any = None,
    *,
    reencrypt: Callable[[np.ndarray], Encrypted] | None = None,
    progress: Any = None,
    workers: int | None = None,
    evaluator: Any = None,
) -> np.ndarray:
    """Run a whole morphology op with both roles; returns uint8 0/1.

    ``priv`` plays the key owner (decrypt, threshold); only ciphertexts pass
    to the evaluator steps, which run here or, with ``evaluator=`` (a
    ``hesift.remote.RemoteEvaluator`` or its URL), on that service.
    ``open``/``close`` re-encrypt the intermediate binary image with
    ``reencrypt`` (default: the key owner encrypts it in the same layout as
    ``x``, reflect-padded by the SE radius when packed).
    """
    if op not in MORPH_OPS:
        raise ValueError(f"unknown morphology op {op!r}; choose from {MORPH_OPS}")
    k = as_element(se)
    kw = {"progress": progress, "workers": workers, "evaluator": resolve_evaluator(evaluator)}

    def one_pass(enc: Encrypted, which: str) -> np.ndarray:
        counts = neighbourhood_counts(enc, k, **kw)
        return threshold_counts(decrypt_counts(priv, counts), which, k)

    if op in ("erode", "dilate", "gradient"):
        return one_pass(x, op)
    first, second = ("erode", "dilate") if op == "open" else ("dilate", "erode")
    mid = one_pass(x, first)
    if reencrypt is None:
        reencrypt = default_reencrypt(priv, x, k)
    return one_pass(reencrypt(mid), second)


def default_reencrypt(priv: Any, like: Encrypted, se: Any = None) -> Callable[[np.ndarray], Encrypted]:
    """Key owner: encrypt a binary image in the same layout as ``like``."""
    k = as_element(se)
    pad = max(k.shape) // 2

    def enc(b: np.ndarray) -> Encrypted:
        if is_packed(like):
            return priv.encrypt(
                b.astype(np.int64), pack=True, bits_per_slot=like.bits_per_slot,
                bound=1, pad=pad, pad_mode="reflect",
            )
        return priv.encrypt(b.astype(np.int64))

    return enc


def erode(x: Encrypted, priv: Any, se: Any = None, **kw: Any) -> np.ndarray:
    """Both roles: binary erosion (cv2.erode on 0/1)."""
    return apply_morphology(x, "erode", priv, se, **kw)


def dilate(x: Encrypted, priv: Any, se: Any = None, **kw: Any) -> np.ndarray:
    """Both roles: binary dilation (cv2.dilate on 0/1)."""
    return apply_morphology(x, "dilate", priv, se, **kw)


def opening(x: Encrypted, priv: Any, se: Any = None, **kw: Any) -> np.ndarray:
    """Both roles: dilate(erode(x)), one key-owner round in between."""
    return apply_morphology(x, "open", priv, se, **kw)


def closing(x: Encrypted, priv: Any, se: Any = None, **kw: Any) -> np.ndarray:
    """Both roles: erode(dilate(x)), one key-owner round in between."""
    return apply_morphology(x, "close", priv, se, **kw)


def morph_gradient(x: Encrypted, priv: Any, se: Any = None, **kw: Any) -> np.ndarray:
    """Both roles: dilate - erode from one pass of counts."""
    return apply_morphology(x, "gradient", priv, se, **kw)
