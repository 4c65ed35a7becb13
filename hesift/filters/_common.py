"""Shared plumbing for encrypted filters: layout dispatch, scale and bound checks.

Every filter in this package runs with the public key only.  It accepts an
unpacked ``hc.EncryptedArray`` (2-D) or a packed ``hc.PackedImage`` through
the same call, or a list/tuple of such planes (colour images are processed
one channel at a time).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, Union

import numpy as np

import hepaillier_core as hc

#: An encrypted 2-D plane, packed or not.
Encrypted = Union["hc.EncryptedArray", "hc.PackedImage"]
#: One plane or several (e.g. R, G, B).
EncryptedPlanes = Union[Encrypted, Sequence[Encrypted]]  # noqa: UP007 (string forward refs)

#: Most fractional bits a filter picks by itself (finer taps gain nothing
#: visible: the quantisation error is already far below half a grey level).
MAX_AUTO_FRAC_BITS = 12

F = TypeVar("F", bound=Callable[..., Any])


def is_packed(x: Any) -> bool:
    """True for a packed image (P pixels per ciphertext)."""
    return isinstance(x, hc.PackedImage)


def check_plane(x: Any, what: str = "input") -> None:
    """Refuse anything that is not a 2-D encrypted plane, naming what it got."""
    if is_packed(x):
        return
    if isinstance(x, hc.EncryptedArray):
        if x.ndim != 2:
            raise ValueError(f"{what} must be a 2-D encrypted image, got shape {x.shape}")
        return
    if isinstance(x, np.ndarray):
        raise TypeError(f"{what} is a plaintext array; encrypt it first (priv.encrypt)")
    raise TypeError(f"{what} must be hc.EncryptedArray or hc.PackedImage, got {type(x).__name__}")


def resolve_evaluator(evaluator: Any) -> Any:
    """None (run here), or a remote evaluator: an object with ``filter_call`` or its URL."""
    if evaluator is None:
        return None
    if isinstance(evaluator, str):
        from hesift.remote.client import RemoteEvaluator

        return RemoteEvaluator(evaluator)
    if not callable(getattr(evaluator, "filter_call", None)):
        raise TypeError("evaluator must be None, an evaluator URL or a "
                        f"hesift.remote.RemoteEvaluator, got {type(evaluator).__name__}")
    return evaluator


def per_channel(fn: F) -> F:
    """Let a single-plane op take a list/tuple of planes (colour) and map over it.

    Also checks that each plane really is an encrypted 2-D plane, and adds the
    keywords ``evaluator=``: a ``hesift.remote.RemoteEvaluator`` (or its URL) runs
    the op on that service instead of in this process (same result, bit for bit),
    and ``executor=`` ('thread', 'process' or a ``dask.distributed.Client``;
    default: ``hc.set_executor``'s) that runs the op's ciphertext work there.
    """
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(x, *args, evaluator: Any = None, executor: Any = None, **kwargs):
        remote = resolve_evaluator(evaluator)
        if isinstance(x, (list, tuple)):
            if not x:
                raise ValueError("empty list of planes")
            return [wrapper(p, *args, evaluator=remote, executor=executor, **kwargs)
                    for p in x]
        check_plane(x)
        if remote is not None:
            bound = sig.bind(x, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(sig.parameters)))
            return remote.filter_call(fn.__name__, x, arguments)
        with hc.using(executor):
            return fn(x, *args, **kwargs)

    params = list(sig.parameters.values())
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
             for name in ("evaluator", "executor") if name not in sig.parameters]
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    wrapper.__signature__ = sig.replace(parameters=params[:at] + extra + params[at:])  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def capacity(x: Encrypted) -> int:
    """Largest |plaintext| (exclusive) the layout can hold without wrapping."""
    if is_packed(x):
        return 1 << (int(x.bits_per_slot) - 1)
    return int(x.public_key.n) // 2


def check_gain(x: Encrypted, gain: int, op: str, extra: int = 0) -> None:
    """Refuse, before any ciphertext work, an op whose bound would overflow.

    ``gain`` is the factor by which the op can multiply |plaintext| (the sum
    of absolute taps, for a filter); ``extra`` is a constant added on top.
    The core checks again; this gives the user a message naming the operation.
    """
    need = int(x.bound) * int(gain) + abs(int(extra))
    cap = capacity(x)
    if need >= cap:
        bits = need.bit_length() + 1
        where = (
            f"a {x.bits_per_slot}-bit slot; encrypt with bits_per_slot>={bits}"
            if is_packed(x)
            else "half the key modulus"
        )
        raise OverflowError(
            f"{op}: values could reach {need} (input bound {x.bound}, gain {gain}), "
            f"which does not fit {where}"
        )


def auto_frac_bits(x: Encrypted, gain_of: Callable[[int], int], frac_bits: int | None) -> int:
    """``frac_bits`` if given, else the most precision (<= 12 bits) that fits x's layout."""
    if frac_bits is not None:
        if not 1 <= int(frac_bits) <= 30:
            raise ValueError(f"frac_bits must be in 1..30, got {frac_bits}")
        return int(frac_bits)
    cap = capacity(x)
    for f in range(MAX_AUTO_FRAC_BITS, 0, -1):
        if int(x.bound) * gain_of(f) < cap:
            return f
    return 1  # check_gain will explain why even this does not fit


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _extra(fn: Callable, progress: Any, workers: int | None) -> dict:
    """Pass progress/workers only to core calls that take them."""
    kw: dict[str, Any] = {}
    if progress and _accepts(fn, "progress"):
        kw["progress"] = progress
    if workers is not None and _accepts(fn, "workers"):
        kw["workers"] = workers
    return kw


def correlate(
    x: Encrypted,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
    op: str = "filter",
) -> Encrypted:
    """2-D correlation with an integer kernel; scale unchanged (caller sets it).

    Unpacked planes use ``border`` (default reflect = OpenCV BORDER_REFLECT_101);
    packed planes use the canvas the key owner padded at encryption time.
    """
    check_plane(x)
    k = np.asarray(kernel, dtype=np.int64)
    check_gain(x, int(np.abs(k).sum()), op)
    kw = _extra(hc.convolve2d, progress, workers)
    if is_packed(x):
        return hc.convolve2d(x, k, mode="same", **kw)
    return hc.convolve2d(x, k, border=border, mode="same", **kw)


def separable(
    x: Encrypted,
    kx: np.ndarray,
    ky: np.ndarray,
    *,
    border: str = "reflect",
    progress: Any = None,
    workers: int | None = None,
    op: str = "filter",
) -> Encrypted:
    """Separable correlation: ``kx`` along columns (x), ``ky`` along rows (y)."""
    check_plane(x)
    kx = np.asarray(kx, dtype=np.int64)
    ky = np.asarray(ky, dtype=np.int64)
    check_gain(x, int(np.abs(kx).sum()) * int(np.abs(ky).sum()), op)
    kw = _extra(hc.sepfilter2d, progress, workers)
    if is_packed(x):
        return hc.sepfilter2d(x, kx, ky, mode="same", **kw)
    return hc.sepfilter2d(x, kx, ky, border=border, mode="same", **kw)


def quantise(value: float, frac_bits: int) -> int:
    """round(value * 2**frac_bits) as an int, refusing non-finite input."""
    if not np.isfinite(value):
        raise ValueError(f"weight must be finite, got {value!r}")
    return int(np.floor(float(value) * (1 << frac_bits) + 0.5))
