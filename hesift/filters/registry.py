"""The named operations of the CLI and demo: what each computes, needs and yields.

One table so ``hesift filter OP``, ``hesift demo`` and the key owner's
decryption agree on parameters, padding, slot width and result kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from hesift.kernels import (
    derivative_taps,
    gaussian_radius,
    laplacian_kernel,
    structuring_element,
)

from . import edges, point, sharpen, smoothing
from . import morphology as morph
from ._common import MAX_AUTO_FRAC_BITS, Encrypted, quantise

#: Result kinds: how the key owner turns decrypted planes into a picture.
IMAGE, SIGNED, GRADIENT, COUNTS = "image", "signed", "gradient", "counts"

DEFAULTS: dict[str, Any] = {
    "sigma": 1.0,
    "size": 3,
    "shape": "rect",
    "amount": 1.0,
    "offset": 40.0,
    "alpha": 1.5,
    "pivot": 128.0,
    "ksize": 1,
    "kernel": None,
    "frac_bits": None,
}


@dataclass(frozen=True)
class OpSpec:
    """One named operation."""

    name: str
    kind: str
    help: str
    radius: Callable[[dict], int]
    gain: Callable[[dict], tuple[int, int]]  # (multiplier, additive constant) at scale 1
    run: Callable[..., list[Encrypted]]  # evaluator: one plane -> output planes
    suffixes: tuple[str, ...] = ("",)
    stages: tuple[str, ...] = ()  # morphology: threshold after each evaluator pass


def element_of(p: dict) -> np.ndarray:
    """The structuring element an op's parameters describe (``se`` or shape + size)."""
    if p.get("se") is not None:
        return morph.as_element(p["se"])
    return structuring_element(p["shape"], int(p["size"]))


def _user_kernel(p: dict) -> np.ndarray:
    k = p.get("kernel")
    if k is None:
        raise ValueError("op 'kernel' needs --kernel, e.g. --kernel '1 2 1; 2 4 2; 1 2 1'")
    return np.asarray(k)


def _kernel_gain(p: dict) -> tuple[int, int]:
    k = _user_kernel(p)
    if k.dtype.kind == "f" and not np.all(k == np.round(k)):
        return int(np.abs(k).sum() * (1 << MAX_AUTO_FRAC_BITS)) + k.size, 0
    return int(np.abs(k).sum()), 0


def _amount(p: dict) -> Fraction:
    return Fraction(p["amount"]).limit_denominator(256)


def _gauss_r(p: dict) -> int:
    return gaussian_radius(float(p["sigma"]))


def _deriv_gain(name: str) -> Callable[[dict], tuple[int, int]]:
    d, s = derivative_taps(name)
    return lambda p: (int(np.abs(d).sum() * np.abs(s).sum()), 0)


def _kw(p: dict) -> dict:
    return {"progress": p.get("progress"), "workers": p.get("workers")}


def _contrast_gain(p: dict) -> tuple[int, int]:
    m = quantise(float(p["alpha"]), point.POINT_FRAC_BITS)
    return m, abs(quantise(float(p["pivot"]) * ((1 << point.POINT_FRAC_BITS) - m), 0))


def _brightness_gain(p: dict) -> tuple[int, int]:
    c = float(p["offset"])
    if c.is_integer():
        return 1, int(abs(c))
    return 1 << point.POINT_FRAC_BITS, abs(quantise(c, point.POINT_FRAC_BITS))


OPS: dict[str, OpSpec] = {}


def _add(spec: OpSpec) -> None:
    OPS[spec.name] = spec


_add(OpSpec(
    "gaussian", IMAGE, "Gaussian blur (--sigma)", _gauss_r,
    lambda p: (1 << (2 * MAX_AUTO_FRAC_BITS), 0),
    lambda x, p: [smoothing.gaussian(x, float(p["sigma"]), frac_bits=p["frac_bits"], **_kw(p))],
))
_add(OpSpec(
    "box", IMAGE, "mean over a --size box", lambda p: int(p["size"]) // 2,
    lambda p: (int(p["size"]) ** 2, 0),
    lambda x, p: [smoothing.box(x, int(p["size"]), **_kw(p))],
))
_add(OpSpec(
    "sharpen", IMAGE, "unsharp mask (--sigma, --amount)", _gauss_r,
    lambda p: ((_amount(p).denominator + 2 * _amount(p).numerator) << (2 * MAX_AUTO_FRAC_BITS), 0),
    lambda x, p: [sharpen.unsharp_mask(
        x, float(p["sigma"]), _amount(p), frac_bits=p["frac_bits"], **_kw(p))],
))
for _name in ("sobel", "scharr", "prewitt"):
    _add(OpSpec(
        _name, GRADIENT, f"{_name} x/y derivatives; key owner takes the magnitude",
        lambda p: 1, _deriv_gain(_name),
        (lambda fn: lambda x, p: list(fn(x, **_kw(p))))(getattr(edges, _name)),
        suffixes=(".gx", ".gy"),
    ))
_add(OpSpec(
    "roberts", GRADIENT, "Roberts cross; key owner takes the magnitude", lambda p: 1,
    lambda p: (2, 0), lambda x, p: list(edges.roberts(x, **_kw(p))), suffixes=(".gx", ".gy"),
))
_add(OpSpec(
    "laplacian", SIGNED, "Laplacian (--ksize 1|3); shown as |value|", lambda p: 1,
    lambda p: (int(np.abs(laplacian_kernel(int(p["ksize"]))).sum()), 0),
    lambda x, p: [edges.laplacian(x, int(p["ksize"]), **_kw(p))],
))
for _name in morph.MORPH_OPS:
    _stages = {"open": ("erode", "dilate"), "close": ("dilate", "erode")}.get(_name, (_name,))
    _add(OpSpec(
        _name, COUNTS, f"binary {_name} (--size, --shape); key owner thresholds counts",
        lambda p: max(element_of(p).shape) // 2, lambda p: (int(element_of(p).sum()), 0),
        lambda x, p: [morph.neighbourhood_counts(x, element_of(p), **_kw(p))],
        stages=_stages,
    ))
_add(OpSpec(
    "negate", IMAGE, "255 - x", lambda p: 0, lambda p: (1, 255),
    lambda x, p: [point.negate(x)],
))
_add(OpSpec(
    "brightness", IMAGE, "x + --offset", lambda p: 0, _brightness_gain,
    lambda x, p: [point.brightness(x, float(p["offset"]))],
))
_add(OpSpec(
    "contrast", IMAGE, "--alpha * (x - --pivot) + --pivot", lambda p: 0, _contrast_gain,
    lambda x, p: [point.contrast(x, float(p["alpha"]), float(p["pivot"]))],
))
_add(OpSpec(
    "kernel", IMAGE, "correlate with a user --kernel (normalised by its sum if positive)",
    lambda p: max(_user_kernel(p).shape) // 2, _kernel_gain,
    lambda x, p: [_run_kernel(x, p)],
))


def _run_kernel(x: Encrypted, p: dict) -> Encrypted:
    k = _user_kernel(p)
    integer = not (k.dtype.kind == "f" and not np.all(k == np.round(k)))
    normalize = p.get("normalize")  # the library's filter2d(normalize=...) over the wire
    if normalize is None:
        normalize = integer and int(np.round(k).sum()) > 0
    return smoothing.filter2d(
        x, k.astype(np.int64) if integer else k, normalize=normalize,
        frac_bits=p["frac_bits"], **_kw(p),
    )


def params(**given: Any) -> dict:
    """Defaults overridden by the non-None values given."""
    p = dict(DEFAULTS)
    p.update({k: v for k, v in given.items() if v is not None})
    return p


def get(name: str) -> OpSpec:
    """The spec of a named op, with a helpful error for unknown names."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown operation {name!r}; choose from {', '.join(OPS)}") from None


def slot_bits(spec: OpSpec, p: dict, bound: int = 255) -> int:
    """Slot width (bits, signed) a packed image needs for this op at full precision."""
    mult, add = spec.gain(p)
    return (bound * mult + add).bit_length() + 1


def apply(spec: OpSpec, planes: list[Encrypted], p: dict) -> list[Encrypted]:
    """Evaluator: run the op on every plane; returns the output planes in order."""
    out: list[Encrypted] = []
    for x in planes:
        out.extend(spec.run(x, p))
    return out
