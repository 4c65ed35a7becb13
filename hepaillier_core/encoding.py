"""Plaintext policy: integer validation, fixed-point scales, residues mod n.

Encrypted arithmetic is exact integer arithmetic mod n.  This module turns
user input into integers (refusing NaN, inf and silent truncation), computes
static bounds on |value| and converts between integers and limb residues.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core

INT64_MAX = (1 << 63) - 1


def check_scale(scale) -> int:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or int(scale) < 1:
        raise ValueError(f"scale must be a positive integer (e.g. 2**16), got {scale!r}")
    return int(scale)


def to_int_array(values, scale: int = 1, what: str = "values") -> np.ndarray:
    """Exact integers of ``values * scale`` as int64, or object ints when too big.

    Integers pass through; floats need ``scale`` and are rounded half away
    from zero after scaling; NaN/inf and non-numeric input are refused.
    """
    scale = check_scale(scale)
    if isinstance(values, np.ndarray):
        arr = values
    else:
        try:
            arr = np.asarray(values)
        except (ValueError, OverflowError) as e:
            raise ValueError(f"{what}: cannot make an array ({e})") from None
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.int64)
        kind = "i"
    if kind in "iu":
        if kind == "u" and arr.dtype.itemsize >= 8 and arr.size and int(arr.max()) > INT64_MAX:
            out = np.empty(arr.shape, dtype=object)
            out.ravel()[:] = [int(v) * scale for v in arr.ravel()]
            return out
        arr = arr.astype(np.int64, copy=False)
        if scale == 1:
            return arr
        lim = INT64_MAX // scale
        if arr.size == 0 or int(np.abs(arr).max()) <= lim:
            return arr * scale
        return _object_ints(arr, scale)
    if kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contain NaN or infinity")
        scaled = arr.astype(np.float64) * scale
        if scale == 1 and not np.all(scaled == np.round(scaled)):
            raise ValueError(
                f"{what} are not integers; pass scale= (e.g. scale=2**16) to encode floats "
                "in fixed point")
        rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
        if rounded.size and np.abs(rounded).max() >= 2.0**62:
            out = np.empty(arr.shape, dtype=object)
            out.ravel()[:] = [int(v) for v in rounded.ravel()]
            return out
        return rounded.astype(np.int64)
    if kind == "O":
        out = np.empty(arr.shape, dtype=object)
        flat = out.ravel()
        for i, v in enumerate(arr.ravel()):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                if isinstance(v, numbers.Real):
                    fv = float(v)
                    if fv != fv or fv in (float("inf"), float("-inf")):
                        raise ValueError(f"{what} contain NaN or infinity")
                    if scale == 1 and fv != int(fv):
                        raise ValueError(f"{what} are not integers; pass scale= to encode floats")
                    flat[i] = int(round(fv * scale))
                    continue
                raise TypeError(f"{what} must be numbers, found {type(v).__name__}")
            flat[i] = int(v) * scale
        return _shrink(out)
    raise TypeError(f"{what} must be numeric, got dtype {arr.dtype}")


def _object_ints(arr: np.ndarray, scale: int) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    out.ravel()[:] = [int(v) * scale for v in arr.ravel()]
    return out


def _shrink(obj: np.ndarray) -> np.ndarray:
    """Object ints -> int64 when they all fit."""
    if obj.size == 0:
        return obj.astype(np.int64)
    if all(-INT64_MAX - 1 <= v <= INT64_MAX for v in obj.ravel()):
        return obj.astype(np.int64)
    return obj


def max_abs(ints: np.ndarray) -> int:
    if ints.size == 0:
        return 0
    if ints.dtype == object:
        return max(abs(int(v)) for v in ints.ravel())
    return max(abs(int(ints.max())), abs(int(ints.min())))


def residues(ints: np.ndarray, n: int) -> np.ndarray:
    """Integers (|v| < n/2) -> (K, Ln) limb residues mod n."""
    flat = ints.reshape(-1)
    if ints.dtype != object:
        return _core.res_from_i64(flat, n)
    Ln = _core.nlimbs(n)
    out = np.empty((flat.shape[0], Ln), dtype=np.uint64)
    for i, v in enumerate(flat):
        out[i] = _core.limbs_of(int(v) % n, Ln)
    return out


def from_residues(res: np.ndarray, n: int) -> np.ndarray:
    """(K, Ln) residues -> centred integers, int64 when all fit, else object."""
    vals, overflow = _core.res_to_i64(res, n)
    if not overflow:
        return vals
    half = n // 2
    out = np.empty(res.shape[0], dtype=object)
    for i in range(res.shape[0]):
        v = _core.int_of(res[i])
        out[i] = v - n if v > half else v
    return out


def apply_scale(ints: np.ndarray, scale: int) -> np.ndarray:
    """Decode fixed point: float64 value / scale (exact ints when scale == 1)."""
    if scale == 1:
        return ints
    if ints.dtype == object:
        return np.array([int(v) / scale for v in ints.ravel()], dtype=np.float64).reshape(ints.shape)
    return ints.astype(np.float64) / scale


def int_scalar(k, what: str = "multiplier") -> int:
    """A Python int from an integral scalar; refuses floats and bools."""
    if isinstance(k, bool):
        raise TypeError(f"{what} must be an integer, got bool")
    if isinstance(k, numbers.Integral):
        return int(k)
    if isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
        return int(k)
    raise TypeError(f"{what} must be an integer, got {type(k).__name__}; "
                    "encode fractions with mul_scaled(k, scale)")


def as_int_weights(k, what: str = "weights") -> np.ndarray:
    """Integer array (int64 or object) from user weights; floats must be integral."""
    arr = np.asarray(k)
    if arr.dtype.kind == "b":
        raise TypeError(f"{what} must be integers, got booleans")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TypeError(f"{what} must be integers; quantise real weights first "
                            "(e.g. hesift.kernels.gaussian_taps)")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuO":
        raise TypeError(f"{what} must be integers, got dtype {arr.dtype}")
    return to_int_array(arr, 1, what)
