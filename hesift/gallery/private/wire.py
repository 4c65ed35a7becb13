"""Byte formats of private retrieval: parameters, the encrypted query, the reply, features.

Every parser checks each declared size against the bytes it was given (and
against fixed limits) before it allocates, and raises :class:`WireError`
with one line.  Nothing is pickled.  Integers are little-endian; ``n`` is
big-endian; ciphertexts are the core's little-endian uint64 limbs.

Query (client -> server), fixed size for a key size and vocabulary size::

    b"HSQ1" | key_bits u32 | V u32 | 0 u32 | params version (32 bytes) | n (key_bits/8)
    | V ciphertexts of 2*key_bits/8 bytes

Reply (server -> client)::

    b"HSR1" | w u32 | P u32 | N u32 | C u32 | 0 u32 | params version (32) | C ciphertexts

Parameters and fetched features: ``magic | json length u32 | JSON | arrays``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "KEY_BITS",
    "Candidate",
    "Params",
    "QueryMessage",
    "ReplyMessage",
    "WireError",
    "decode_features",
    "decode_params",
    "decode_query",
    "decode_reply",
    "encode_features",
    "encode_params",
    "encode_query",
    "encode_reply",
    "query_size",
]

#: Key sizes a server accepts by default (smaller ones only when it allows insecure keys).
KEY_BITS = (2048, 3072, 4096)
MAX_WORDS = 4096
MAX_JSON = 8 << 20
MAX_IMAGES = 1_000_000
MAX_FEATURES = 100_000  # keypoints of one fetched candidate
_Q = struct.Struct("<4sIII32s")
_R = struct.Struct("<4sIIIII32s")
_J = struct.Struct("<4sI")


class WireError(ValueError):
    """A message is malformed, truncated, oversized or from another version."""


def _limbs(key_bits: int) -> int:
    return (2 * key_bits + 63) // 64


def query_size(key_bits: int, V: int) -> int:
    """Exact byte size of an encrypted query: it depends on nothing else."""
    return _Q.size + (key_bits + 7) // 8 + V * _limbs(key_bits) * 8


# -- parameters ------------------------------------------------------------------
@dataclass
class Params:
    """What a client needs to describe a photo the way the gallery does, and read a reply."""

    vocabulary: np.ndarray  # (V, 128) float32
    idf: np.ndarray  # (V,) float32
    ids: np.ndarray  # (N,) int64 gallery image ids, in slot order
    names: list[str]
    norms: np.ndarray  # (N,) float64 L2 norms of the quantised gallery vectors
    qmax: int
    kmax: int
    w: int
    P: int
    key_bits_for_layout: int
    feature_id: str
    max_side: int | None
    fetch_count: int
    sift_params: dict = field(default_factory=dict)
    version: str = ""

    @property
    def V(self) -> int:
        return int(self.vocabulary.shape[0])

    @property
    def N(self) -> int:
        return len(self.ids)

    def meta(self) -> dict:
        return {"V": self.V, "N": self.N, "names": list(self.names), "qmax": self.qmax,
                "kmax": self.kmax, "w": self.w, "P": self.P,
                "key_bits_for_layout": self.key_bits_for_layout, "feature_id": self.feature_id,
                "max_side": self.max_side, "fetch_count": self.fetch_count,
                "sift_params": self.sift_params}

    def arrays(self) -> list[np.ndarray]:
        return [np.ascontiguousarray(self.vocabulary, "<f4"), np.ascontiguousarray(self.idf, "<f4"),
                np.ascontiguousarray(self.ids, "<i8"), np.ascontiguousarray(self.norms, "<f8")]

    def compute_version(self) -> str:
        h = hashlib.sha256(json.dumps(self.meta(), sort_keys=True).encode())
        for a in self.arrays():
            h.update(a.tobytes())
        return h.hexdigest()


def _framed(magic: bytes, meta: dict, blobs: list[bytes]) -> bytes:
    j = json.dumps(meta, sort_keys=True).encode()
    return b"".join([_J.pack(magic, len(j)), j, *blobs])


def _unframe(data: bytes, magic: bytes, what: str) -> tuple[dict, memoryview]:
    mv = memoryview(data)
    if len(mv) < _J.size:
        raise WireError(f"{what}: truncated ({len(mv)} bytes)")
    m, jl = _J.unpack_from(mv)
    if m != magic:
        raise WireError(f"{what}: not a hesift {what} message (bad magic)")
    if jl > MAX_JSON or _J.size + jl > len(mv):
        raise WireError(f"{what}: header length {jl} does not fit the message")
    try:
        meta = json.loads(bytes(mv[_J.size:_J.size + jl]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError(f"{what}: header is not JSON") from None
    if not isinstance(meta, dict):
        raise WireError(f"{what}: header is not a JSON object")
    return meta, mv[_J.size + jl:]


def _take(mv: memoryview, pos: int, nbytes: int, what: str) -> bytes:
    if nbytes < 0 or pos + nbytes > len(mv):
        raise WireError(f"{what}: truncated")
    return bytes(mv[pos:pos + nbytes])


def encode_params(p: Params) -> bytes:
    meta = p.meta() | {"version": p.version}
    return _framed(b"HSP1", meta, [a.tobytes() for a in p.arrays()])


def _int(meta: dict, key: str, lo: int, hi: int, what: str) -> int:
    v = meta.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise WireError(f"{what}: field {key!r} missing or outside {lo}..{hi}")
    return v


def decode_params(data: bytes) -> Params:
    what = "params"
    meta, body = _unframe(data, b"HSP1", what)
    V = _int(meta, "V", 1, MAX_WORDS, what)
    N = _int(meta, "N", 0, MAX_IMAGES, what)
    sizes = [V * 128 * 4, V * 4, N * 8, N * 8]
    if sum(sizes) != len(body):
        raise WireError(f"{what}: {len(body)} bytes of arrays, {sum(sizes)} expected")
    pos, arrs = 0, []
    for nbytes, dt in zip(sizes, ("<f4", "<f4", "<i8", "<f8"), strict=True):
        arrs.append(np.frombuffer(_take(body, pos, nbytes, what), dt))
        pos += nbytes
    names = meta.get("names")
    if not isinstance(names, list) or len(names) != N or not all(isinstance(s, str) for s in names):
        raise WireError(f"{what}: names do not match the image count")
    ms = meta.get("max_side")
    if ms is not None and (not isinstance(ms, int) or ms < 32):
        raise WireError(f"{what}: bad max_side")
    sp = meta.get("sift_params", {})
    if not isinstance(sp, dict) or not isinstance(meta.get("feature_id"), str):
        raise WireError(f"{what}: bad feature description")
    p = Params(
        vocabulary=arrs[0].reshape(V, 128), idf=arrs[1], ids=arrs[2], names=names, norms=arrs[3],
        qmax=_int(meta, "qmax", 1, 1 << 20, what), kmax=_int(meta, "kmax", 1, 255, what),
        w=_int(meta, "w", 2, 62, what), P=_int(meta, "P", 1, 4096, what),
        key_bits_for_layout=_int(meta, "key_bits_for_layout", 128, 8192, what),
        feature_id=meta["feature_id"], max_side=ms,
        fetch_count=_int(meta, "fetch_count", 0, 1000, what), sift_params=sp,
    )
    p.version = p.compute_version()
    if meta.get("version") != p.version:
        raise WireError(f"{what}: version does not match the content (corrupted)")
    return p


# -- the encrypted query -----------------------------------------------------------
@dataclass
class QueryMessage:
    key_bits: int
    n: int
    version: str
    ciphertexts: np.ndarray  # (V, L) uint64


def encode_query(n: int, key_bits: int, version: str, ct: np.ndarray) -> bytes:
    ct = np.ascontiguousarray(ct, "<u8")
    V = ct.shape[0]
    if ct.ndim != 2 or ct.shape[1] != _limbs(key_bits) or n.bit_length() != key_bits:
        raise ValueError("ciphertexts do not match the key size")
    head = _Q.pack(b"HSQ1", key_bits, V, 0, bytes.fromhex(version))
    return head + n.to_bytes((key_bits + 7) // 8, "big") + ct.tobytes()


def decode_query(data: bytes, *, V: int, allowed_bits: tuple[int, ...] = KEY_BITS) -> QueryMessage:
    """Parse and check a query for a vocabulary of V words (ciphertext range is the caller's)."""
    if len(data) < _Q.size:
        raise WireError(f"query: truncated ({len(data)} bytes)")
    magic, bits, v, zero, ver = _Q.unpack_from(data)
    if magic != b"HSQ1":
        raise WireError("query: not a hesift private query (bad magic)")
    if bits not in allowed_bits:
        raise WireError(f"query: {bits}-bit keys are not accepted (allowed: {list(allowed_bits)})")
    if v != V or zero != 0:
        raise WireError(f"query: {v} coordinates, the vocabulary has {V} words")
    if len(data) != query_size(bits, V):
        raise WireError(f"query: {len(data)} bytes, a {bits}-bit query is {query_size(bits, V)}")
    kb = (bits + 7) // 8
    n = int.from_bytes(data[_Q.size:_Q.size + kb], "big")
    if n.bit_length() != bits or n % 2 == 0:
        raise WireError(f"query: the public key is not an odd {bits}-bit modulus")
    ct = np.frombuffer(data, "<u8", offset=_Q.size + kb).reshape(V, _limbs(bits))
    return QueryMessage(bits, n, ver.hex(), np.ascontiguousarray(ct, np.uint64))


# -- the reply ---------------------------------------------------------------------------
@dataclass
class ReplyMessage:
    w: int
    P: int
    N: int
    version: str
    ciphertexts: np.ndarray  # (C, L)


def encode_reply(w: int, P: int, N: int, version: str, ct: np.ndarray) -> bytes:
    ct = np.ascontiguousarray(ct, "<u8")
    return _R.pack(b"HSR1", w, P, N, ct.shape[0], 0, bytes.fromhex(version)) + ct.tobytes()


def decode_reply(data: bytes, *, L: int) -> ReplyMessage:
    if len(data) < _R.size:
        raise WireError(f"reply: truncated ({len(data)} bytes)")
    magic, w, P, N, C, _zero, ver = _R.unpack_from(data)
    if magic != b"HSR1":
        raise WireError("reply: not a hesift private reply (bad magic)")
    if not (2 <= w <= 62 and P >= 1 and N <= MAX_IMAGES and C == -(-N // P)):
        raise WireError("reply: inconsistent layout")
    if len(data) != _R.size + C * L * 8:
        raise WireError(f"reply: {len(data)} bytes, {_R.size + C * L * 8} expected")
    ct = np.frombuffer(data, "<u8", offset=_R.size).reshape(C, L)
    return ReplyMessage(w, P, N, ver.hex(), np.ascontiguousarray(ct, np.uint64))


# -- fetched candidates ---------------------------------------------------------------------
@dataclass
class Candidate:
    """A fetched gallery image: enough to verify geometry and draw the match."""

    id: int
    name: str
    thumbnail: bytes  # PNG
    thumb_scale: float  # thumbnail pixels per feature-image pixel
    keypoints: np.ndarray  # (K, 7) float32
    descriptors: np.ndarray  # (K, 128) float32


def encode_features(items: list[Candidate]) -> bytes:
    meta = {"items": [{"id": int(c.id), "name": c.name, "thumb": len(c.thumbnail),
                       "scale": float(c.thumb_scale), "k": int(len(c.keypoints))} for c in items]}
    blobs = []
    for c in items:
        blobs += [c.thumbnail, np.ascontiguousarray(c.keypoints, "<f4").tobytes(),
                  np.ascontiguousarray(c.descriptors, "<f4").tobytes()]
    return _framed(b"HSF1", meta, blobs)


def decode_features(data: bytes, expected: int) -> list[Candidate]:
    what = "features"
    meta, body = _unframe(data, b"HSF1", what)
    items = meta.get("items")
    if not isinstance(items, list) or len(items) != expected:
        raise WireError(f"{what}: {expected} candidates expected")
    out, pos = [], 0
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("name"), str):
            raise WireError(f"{what}: bad item")
        k = _int(it, "k", 0, MAX_FEATURES, what)
        tl = _int(it, "thumb", 0, 64 << 20, what)
        scale = it.get("scale")
        if not isinstance(scale, (int, float)) or not 0 < scale < 1e6:
            raise WireError(f"{what}: bad thumbnail scale")
        thumb = _take(body, pos, tl, what)
        pos += tl
        kp = np.frombuffer(_take(body, pos, k * 28, what), "<f4").reshape(k, 7)
        pos += k * 28
        de = np.frombuffer(_take(body, pos, k * 512, what), "<f4").reshape(k, 128)
        pos += k * 512
        out.append(Candidate(_int(it, "id", -(1 << 62), 1 << 62, what), it["name"], thumb,
                             float(scale), kp.astype(np.float32), de.astype(np.float32)))
    if pos != len(body):
        raise WireError(f"{what}: {len(body) - pos} trailing bytes")
    return out
