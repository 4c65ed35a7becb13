"""Saving encrypted arrays: .npz holding the limb array plus JSON metadata.

The file carries n itself (public), so an evaluator can load it with no
key file; when a key is given its fingerprint must match.  Limb count,
shape, range of every ciphertext and the layout are all checked on load, and
saving goes through a temporary file so a failure leaves no partial output.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .array import EncryptedArray
from .files import atomic_write
from .keys import PublicKey
from .limits import parse_json, read_npz
from .packed import Layout, PackedImage

FORMAT = "hesift-encrypted"
VERSION = 1


def _meta(x) -> dict:
    meta = {"format": FORMAT, "version": VERSION, "n": format(x.public_key.n, "x"),
            "fingerprint": x.public_key.fingerprint, "limbs": x.public_key.L,
            "scale": str(x.scale), "bound": str(x.bound)}
    if isinstance(x, PackedImage):
        meta["kind"] = "packed"
        meta["layout"] = x.layout.to_json()
        meta["interval"] = [str(x.lo), str(x.hi)]
    else:
        meta["kind"] = "array"
        meta["shape"] = list(x.shape)
    return meta


def _write(x, f) -> None:
    if not isinstance(x, (EncryptedArray, PackedImage)):
        raise TypeError(f"cannot save {type(x).__name__}")
    meta = np.frombuffer(json.dumps(_meta(x)).encode(), dtype=np.uint8)
    np.savez(f, meta=meta, data=x.data)


def to_bytes(x) -> bytes:
    buf = io.BytesIO()
    _write(x, buf)
    return buf.getvalue()


def save(x, path) -> None:
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"encrypted arrays are saved as .npz files, got {path.name!r}")
    atomic_write(path, lambda f: _write(x, f))


def _read(src, public_key: PublicKey | None, name: str, max_bytes: int | None):
    arrays = read_npz(src, what=name, max_bytes=max_bytes)
    if set(arrays) != {"meta", "data"} or arrays["meta"].dtype != np.uint8:
        raise ValueError(f"{name}: not a hesift encrypted file (expected meta and data)")
    meta = parse_json(arrays["meta"].tobytes(), what=f"{name} metadata")
    data = arrays["data"]
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{name}: not a hesift encrypted file")
    if meta.get("version") != VERSION:
        raise ValueError(f"{name}: unsupported file version {meta.get('version')!r}")
    try:
        n = int(meta["n"], 16)
        scale, bound, limbs = int(meta["scale"]), int(meta["bound"]), int(meta["limbs"])
        pub = PublicKey(n)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: corrupted metadata") from None
    if meta.get("fingerprint") != pub.fingerprint:
        raise ValueError(f"{name}: corrupted metadata (fingerprint does not match n)")
    if public_key is not None and public_key.n != n:
        raise ValueError(f"{name} was encrypted under key {pub.fingerprint}, not the given key "
                         f"{public_key.fingerprint}")
    pub = public_key or pub
    if limbs != pub.L or data.dtype != np.uint64 or data.ndim < 1 or data.shape[-1] != pub.L:
        raise ValueError(f"{name}: limb count does not match the key ({pub.L} expected)")
    if scale < 1 or not 0 <= bound <= pub.max_plain:
        raise ValueError(f"{name}: corrupted metadata (scale/bound)")
    data = np.ascontiguousarray(data)
    if meta.get("kind") == "packed":
        lay = Layout.from_json(meta.get("layout", {}))
        if data.ndim != 3 or data.shape[1] != lay.M:
            raise ValueError(f"{name}: data does not match its packed layout")
        try:
            interval = tuple(int(v) for v in meta.get("interval", (-bound, bound)))
            if len(interval) != 2 or max(-interval[0], interval[1]) != bound:
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"{name}: corrupted metadata (interval)") from None
        return _checked(name, PackedImage, pub, data, lay, scale, interval=interval)
    if meta.get("kind") != "array":
        raise ValueError(f"{name}: unknown kind {meta.get('kind')!r}")
    if meta.get("shape") != list(data.shape[:-1]):
        raise ValueError(f"{name}: data shape does not match its metadata")
    return _checked(name, EncryptedArray, pub, data, scale, bound)


def _checked(name: str, cls, *args, **kwargs):
    """Construct with every check (range, gcd with n, layout, bound), naming the source."""
    try:
        return cls(*args, **kwargs)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def load(path, public_key: PublicKey | None = None, *, max_bytes: int | None = None):
    """Load an EncryptedArray or PackedImage saved with ``save``.

    Untrusted input: sizes are checked before allocation (cap ``max_bytes``,
    see ``hepaillier_core.limits``); any malformed file is a ``ValueError``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return _read(str(path), public_key, str(path), max_bytes)


def from_bytes(data: bytes, public_key: PublicKey | None = None, *,
               max_bytes: int | None = None):
    """The inverse of ``to_bytes``, for untrusted bytes (checked as ``load`` does)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return _read(data, public_key, "message", max_bytes)


def _rebuild_array(n, data, scale, bound):
    return EncryptedArray(PublicKey(n), data, scale, bound)


def _rebuild_packed(n, data, layout, scale, bound, interval=None):
    return PackedImage(PublicKey(n), data, Layout.from_json(layout), scale, bound,
                       interval=interval)
