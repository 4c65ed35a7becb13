"""The filters' public entry points as ``/v1/filter`` jobs (client side).

``hesift.filters.gaussian(x, 1.5, evaluator=remote)`` arrives here as
(``"gaussian"``, its bound arguments) and becomes the ``hesift filter`` op of
the same name and parameters.  Arguments with no wire form (a custom radius or
border, a pre-blurred image) raise ValueError instead of silently changing
the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _need(a: dict, name: str, default: Any, fn: str) -> None:
    v = a.get(name, default)
    same = v is default or v == default if not isinstance(v, np.ndarray) else False
    if not same:
        raise ValueError(f"{fn}({name}={v!r}) is not available through a remote evaluator")


def _gaussian(a: dict) -> tuple[str, dict]:
    _need(a, "radius", None, "gaussian")
    return "gaussian", {"sigma": float(a["sigma"]), "frac_bits": a.get("frac_bits")}


def _box(a: dict) -> tuple[str, dict]:
    size = a["size"]
    if not isinstance(size, int):
        h, w = size
        if h != w:
            raise ValueError("box((h, w)) with h != w is not available through a remote evaluator")
        size = h
    return "box", {"size": int(size)}


def _filter2d(a: dict) -> tuple[str, dict]:
    k = np.asarray(a["kernel"])
    return "kernel", {"kernel": k.tolist(), "normalize": bool(a.get("normalize", False)),
                      "frac_bits": a.get("frac_bits")}


def _unsharp(a: dict) -> tuple[str, dict]:
    from hesift.filters.sharpen import _as_fraction

    _need(a, "blurred", None, "unsharp_mask")
    amount = _as_fraction(a["amount"])
    if amount.denominator > 256:
        raise ValueError("unsharp_mask: the wire carries amounts with denominators <= 256")
    return "sharpen", {"sigma": float(a["sigma"]), "amount": float(amount),
                       "frac_bits": a.get("frac_bits")}


def _plain(op: str) -> Callable[[dict], tuple[str, dict]]:
    return lambda a: (op, {})


def _laplacian(a: dict) -> tuple[str, dict]:
    return "laplacian", {"ksize": int(a["ksize"])}


def _negate(a: dict) -> tuple[str, dict]:
    _need(a, "maximum", 255, "negate")
    return "negate", {}


def _brightness(a: dict) -> tuple[str, dict]:
    _need(a, "frac_bits", 12, "brightness")
    return "brightness", {"offset": float(a["offset"])}


def _contrast(a: dict) -> tuple[str, dict]:
    _need(a, "frac_bits", 12, "contrast")
    return "contrast", {"alpha": float(a["alpha"]), "pivot": float(a["pivot"])}


def _counts(a: dict) -> tuple[str, dict]:
    from hesift.filters.morphology import as_element

    return "erode", {"se": as_element(a.get("se")).tolist()}  # every counts op is one pass


CALLS: dict[str, Callable[[dict], tuple[str, dict]]] = {
    "gaussian": _gaussian,
    "box": _box,
    "filter2d": _filter2d,
    "unsharp_mask": _unsharp,
    "sobel": _plain("sobel"),
    "scharr": _plain("scharr"),
    "prewitt": _plain("prewitt"),
    "roberts": _plain("roberts"),
    "laplacian": _laplacian,
    "negate": _negate,
    "brightness": _brightness,
    "contrast": _contrast,
    "neighbourhood_counts": _counts,
}
PAIRS = ("sobel", "scharr", "prewitt", "roberts")


def remote_call(remote: Any, name: str, x: Any, arguments: dict) -> Any:
    """Run filter entry point ``name`` on plane ``x`` with its other ``arguments`` remotely."""
    if name not in CALLS:
        raise ValueError(f"{name} is not available through a remote evaluator")
    _need(arguments, "border", "reflect", name)
    op, params = CALLS[name](arguments)
    out = remote.filter(op, [x], **params)
    return tuple(out) if name in PAIRS else out[0]
