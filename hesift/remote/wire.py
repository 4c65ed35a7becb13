"""What travels between the key owner and an evaluator service (wire version 1).

Bodies are the project's byte messages (``hesift.sift.messages``: magic with the
format version, a JSON header, then length-prefixed blobs), never pickle:

- ``POST /v1/sift/octave``: an ``OctaveJob`` message -> an ``OctaveResult`` message.
- ``POST /v1/filter``: a ``hesift.filter_job`` message (header: op name and
  parameters, the ones of ``hesift filter``; one blob per encrypted plane) ->
  a ``hesift.filter_result`` message (the op's output planes, in order).

The public key travels in the ``X-Hesift-Public-Key`` header (n in hex); the
service checks every ciphertext blob against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hesift.sift.messages import MAGIC, message_parts, unpack_message

from .errors import BadRequest, PayloadTooLarge, UnsupportedVersion
from .limits import Limits

WIRE_VERSION = 1
KEY_HEADER = "X-Hesift-Public-Key"
WIRE_HEADER = "X-Hesift-Wire"
FILTER_JOB = "hesift.filter_job"
FILTER_RESULT = "hesift.filter_result"
MAX_PLANES = 4  # grey, RGB (+ one spare); each plane is one request blob
MAX_KERNEL_SIDE = 31
MAX_LEVELS = 16  # Gaussian levels of one octave job
MAX_TAPS = 255  # taps of one level's 1-D kernel

#: Parameters of ``hesift filter`` ops a request may carry (plus ``se`` and
#: ``normalize`` used by the library entry points).
PARAM_NAMES = ("sigma", "size", "shape", "amount", "offset", "alpha", "pivot", "ksize",
               "kernel", "frac_bits", "se", "normalize")


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


# --- framing ---------------------------------------------------------------------------


def check_version(environ: Mapping[str, Any], body_head: bytes) -> None:
    """422 for a wire version this service does not speak (header or message magic)."""
    v = environ.get(_environ_key(WIRE_HEADER))
    if v not in (None, "", str(WIRE_VERSION)):
        raise UnsupportedVersion(f"wire version {str(v)[:20]!r} is not supported; this service "
                                 f"speaks version {WIRE_VERSION}")
    if body_head.startswith(MAGIC[:6]) and not body_head.startswith(MAGIC):
        got = body_head[6 : body_head.find(b"\n", 6)] if b"\n" in body_head[6:16] else b"?"
        raise UnsupportedVersion(f"message format version {got.decode('latin-1')[:10]!r} is "
                                 f"not supported; this service reads {MAGIC[:-1].decode()}")


def refusal(e: Exception, prefix: str = "") -> Exception:
    """A parser's one-line ValueError as 413 (over a size limit) or 400 (malformed)."""
    text = f"{prefix}{e}"
    return PayloadTooLarge(text) if "over the limit" in text else BadRequest(text)


def unpack(data: bytes, kind: str, max_bytes: int | None = None) -> tuple[dict, list[bytes]]:
    """Split a message (400 on anything malformed, 413 over the limits, 422 on another
    format version)."""
    check_version({}, bytes(data[:16]))
    try:
        return unpack_message(data, kind, max_bytes=max_bytes)
    except (ValueError, TypeError) as e:
        raise refusal(e) from None


# --- the public key --------------------------------------------------------------------


def key_header_value(public_key: Any) -> str:
    return format(int(public_key.n), "x")


def parse_key(value: str | None, limits: Limits) -> Any:
    """The PublicKey of an ``X-Hesift-Public-Key`` header, within the key-size limits."""
    import hepaillier_core as hc

    if not value:
        raise BadRequest(f"missing {KEY_HEADER} header (the public key n in hex)")
    value = value.strip()
    if len(value) > limits.max_key_bits // 4 + 2:
        raise PayloadTooLarge(f"public key is over the {limits.max_key_bits}-bit limit")
    try:
        n = int(value, 16)
    except ValueError:
        raise BadRequest(f"{KEY_HEADER} is not a hexadecimal number") from None
    bits = n.bit_length()
    if not limits.min_key_bits <= bits <= limits.max_key_bits:
        raise BadRequest(f"a {bits}-bit key is outside this service's range "
                         f"{limits.min_key_bits}..{limits.max_key_bits} bits")
    try:
        return hc.PublicKey(n)
    except ValueError as e:
        raise BadRequest(f"invalid public key: {e}") from None


def key_from_environ(environ: Mapping[str, Any], limits: Limits) -> Any:
    return parse_key(environ.get(_environ_key(KEY_HEADER)), limits)


def load_plane(blob: bytes, public_key: Any, max_bytes: int | None = None) -> Any:
    """One encrypted plane (EncryptedArray or PackedImage) under ``public_key``: every
    declared size is checked before allocation (hepaillier_core.limits); 400/413 if bad."""
    import hepaillier_core as hc

    try:
        return hc.from_bytes(blob, public_key=public_key, max_bytes=max_bytes)
    except (ValueError, TypeError, OverflowError, KeyError) as e:
        raise refusal(e, "bad encrypted plane: ") from None


# --- filter jobs -----------------------------------------------------------------------


def _json_value(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_json_value(e) for e in v]
    return v


def encode_filter_job(op: str, params: Mapping[str, Any], planes: Sequence[Any]) -> list[bytes]:
    """Client: the request body parts of one filter job."""
    clean = {k: _json_value(v) for k, v in params.items() if k in PARAM_NAMES and v is not None}
    header = {"kind": FILTER_JOB, "wire": WIRE_VERSION, "op": str(op), "params": clean}
    return message_parts(header, [p.to_bytes() for p in planes])


def _finite(name: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadRequest(f"parameter {name!r} must be a finite number")
    if not lo <= v <= hi:
        raise BadRequest(f"parameter {name!r} must be in {lo:g}..{hi:g}, got {v:g}")
    return float(v)


def _int(name: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(f"parameter {name!r} must be an integer in {lo}..{hi}")
    return v


def _matrix(name: str, v: Any, zero_one: bool = False) -> np.ndarray:
    if not isinstance(v, list) or not v or not all(isinstance(r, list) for r in v):
        raise BadRequest(f"parameter {name!r} must be a 2-D list of numbers")
    h, w = len(v), len(v[0])
    if not (1 <= h <= MAX_KERNEL_SIDE and 1 <= w <= MAX_KERNEL_SIDE) or any(len(r) != w for r in v):
        raise BadRequest(f"parameter {name!r} must be rectangular, at most "
                         f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}")
    flat = [e for r in v for e in r]
    if not all(not isinstance(e, bool) and isinstance(e, (int, float)) and math.isfinite(e)
               and abs(e) <= 1 << 30 for e in flat):
        raise BadRequest(f"parameter {name!r} must hold finite numbers of magnitude <= 2**30")
    a = np.array(v, dtype=np.float64 if any(isinstance(e, float) for e in flat) else np.int64)
    if zero_one and not np.isin(a, (0, 1)).all():
        raise BadRequest(f"parameter {name!r} must hold only 0 and 1")
    return a


def clean_params(raw: Any) -> dict[str, Any]:
    """Check a job's parameters (types and ranges) before any work: 400 on the first bad one."""
    if not isinstance(raw, dict):
        raise BadRequest("filter job parameters must be a JSON object")
    unknown = sorted(set(raw) - set(PARAM_NAMES))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}")
    p: dict[str, Any] = {}
    for k, v in raw.items():
        if v is None:
            continue
        if k == "sigma":
            p[k] = _finite(k, v, 1e-3, 20)
        elif k == "size":
            p[k] = _int(k, v, 1, MAX_KERNEL_SIDE)
        elif k == "shape":
            if v not in ("rect", "cross", "ellipse"):
                raise BadRequest("parameter 'shape' must be rect, cross or ellipse")
            p[k] = v
        elif k in ("amount", "pivot"):
            p[k] = _finite(k, v, -1e6, 1e6)
        elif k == "offset":
            p[k] = _finite(k, v, -1e6, 1e6)
        elif k == "alpha":
            p[k] = _finite(k, v, 0, 1000)
        elif k == "ksize":
            if v not in (1, 3) or isinstance(v, bool):
                raise BadRequest("parameter 'ksize' must be 1 or 3")
            p[k] = v
        elif k == "frac_bits":
            p[k] = _int(k, v, 1, 30)
        elif k == "kernel":
            p[k] = _matrix(k, v)
        elif k == "se":
            p[k] = _matrix(k, v, zero_one=True)
        elif k == "normalize":
            if not isinstance(v, bool):
                raise BadRequest("parameter 'normalize' must be true or false")
            p[k] = v
    return p


def decode_filter_job(data: bytes, public_key: Any,
                      max_bytes: int | None = None) -> tuple[str, dict, list[Any]]:
    """Service: (op name, checked parameters, planes) of a filter job message."""
    header, blobs = unpack(data, FILTER_JOB, max_bytes)
    if header.get("wire") != WIRE_VERSION:
        raise UnsupportedVersion(f"filter job wire version {header.get('wire')!r} is not "
                                 f"supported; this service speaks {WIRE_VERSION}")
    op = header.get("op")
    if not isinstance(op, str) or not op:
        raise BadRequest("filter job has no op name")
    if not 1 <= len(blobs) <= MAX_PLANES:
        raise BadRequest(f"a filter job carries 1..{MAX_PLANES} encrypted planes, got {len(blobs)}")
    params = clean_params(header.get("params", {}))
    planes = [load_plane(b, public_key, max_bytes) for b in blobs]
    return op, params, planes


def encode_filter_result(op: str, outputs: Sequence[Any], per_plane: int) -> list[bytes]:
    """Service: the response parts (output planes in order)."""
    header = {"kind": FILTER_RESULT, "wire": WIRE_VERSION, "op": op, "per_plane": int(per_plane)}
    return message_parts(header, [o.to_bytes() for o in outputs])


def decode_filter_result(data: bytes, public_key: Any) -> tuple[list[Any], int]:
    """Client: (output planes, outputs per input plane) of a filter result."""
    import hepaillier_core as hc

    try:
        header, blobs = unpack_message(data, FILTER_RESULT)
        planes = [hc.from_bytes(b, public_key=public_key) for b in blobs]
        per = int(header.get("per_plane", 1))
    except (TypeError, KeyError) as e:
        raise ValueError(f"malformed filter result from the evaluator: {e}") from None
    return planes, per


# --- octave jobs ------------------------------------------------------------------------


def decode_octave_job(data: bytes, public_key: Any, max_bytes: int | None = None) -> Any:
    """Service: an OctaveJob whose taps are within the limits (400/413 otherwise)."""
    from hesift.sift.messages import OctaveJob

    check_version({}, bytes(data[:16]))
    try:
        job = OctaveJob.from_bytes(data, public_key, max_bytes=max_bytes)
    except (ValueError, TypeError, OverflowError, KeyError) as e:
        raise refusal(e, "bad octave job: ") from None
    if not 3 <= len(job.taps) <= MAX_LEVELS:
        raise BadRequest(f"an octave job has 3..{MAX_LEVELS} levels, got {len(job.taps)}")
    for t in job.taps:
        if t.ndim != 1 or not 1 <= len(t) <= MAX_TAPS or len(t) % 2 == 0 or (t < 0).any() \
                or (t > 1 << 30).any():
            raise BadRequest(f"octave job taps must be odd-length (<= {MAX_TAPS}) kernels "
                             "of integers in 0..2**30")
    return job
