"""Byte messages between the key owner and the evaluator.

Format: b"HESIFT1\\n", a 4-byte big-endian header length, a JSON header, then
the blobs (core ``to_bytes`` of packed ciphertext images) whose lengths the
header lists.  No pickle: a message from the other party is untrusted data,
so every declared size is checked against the body and a cap before anything
is allocated (``hepaillier_core.limits``; services pass their own
``max_bytes``), and every malformed message is a one-line ``ValueError``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

from hepaillier_core.limits import check_declared, parse_json

MAGIC = b"HESIFT1\n"
MAX_HEADER = 1 << 20
MAX_BLOBS = 256
MAX_TAPS = 4097  # per Gaussian level; sigma up to ~680 at 3 sigma per side


def message_parts(header: dict, blobs: list[bytes]) -> list[bytes]:
    """The message as parts (magic + header, then each blob): a service streams them
    without first joining a copy."""
    h = dict(header, blob_sizes=[len(b) for b in blobs])
    hb = json.dumps(h, separators=(",", ":")).encode()
    return [MAGIC + struct.pack(">I", len(hb)) + hb, *blobs]


def pack_message(header: dict, blobs: list[bytes]) -> bytes:
    return b"".join(message_parts(header, blobs))


def unpack_message(data: bytes, kind: str, *,
                   max_bytes: int | None = None) -> tuple[dict, list[bytes]]:
    """Split and check a message; raises ValueError on anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    check_declared(len(data), None, what="HESIFT message", max_bytes=max_bytes)
    data = bytes(data)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ValueError("not a HESIFT message")
    (n,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if n > MAX_HEADER or start + n > len(data):
        raise ValueError("HESIFT message header is truncated or too large")
    header = parse_json(data[start : start + n], what="HESIFT message header")
    if not isinstance(header, dict) or header.get("kind") != kind:
        raise ValueError(f"expected a {kind!r} message, got {header.get('kind') if isinstance(header, dict) else None!r}"[:200])
    sizes = header.get("blob_sizes")
    if (not isinstance(sizes, list) or len(sizes) > MAX_BLOBS
            or not all(type(s) is int and s >= 0 for s in sizes)):
        raise ValueError("HESIFT message header has no valid blob sizes")
    pos = start + n
    check_declared(sum(sizes), len(data) - pos, what="HESIFT message", max_bytes=max_bytes)
    if pos + sum(sizes) != len(data):
        raise ValueError("HESIFT message is truncated or has trailing bytes")
    blobs = []
    for s in sizes:
        blobs.append(data[pos : pos + s])
        pos += s
    return header, blobs


@dataclass
class OctaveJob:
    """Owner -> evaluator: one octave's encrypted, padded base and the blur taps of each level."""

    octave: int
    taps: list[np.ndarray]  # one int64 1-D symmetric kernel per Gaussian level
    base: object = field(repr=False)  # hepaillier_core.PackedImage

    KIND = "hesift.octave_job"

    def to_bytes(self) -> bytes:
        header = {"kind": self.KIND, "octave": int(self.octave),
                  "taps": [[int(v) for v in t] for t in self.taps]}
        return pack_message(header, [self.base.to_bytes()])

    @classmethod
    def from_bytes(cls, data: bytes, public_key, *, max_bytes: int | None = None) -> OctaveJob:
        import hepaillier_core as hc

        header, blobs = unpack_message(data, cls.KIND, max_bytes=max_bytes)
        if len(blobs) != 1:
            raise ValueError("an octave job carries exactly one encrypted base")
        taps = header.get("taps")
        if (not isinstance(taps, list) or not 0 < len(taps) <= MAX_BLOBS
                or not all(isinstance(t, list) and len(t) <= MAX_TAPS for t in taps)):
            raise ValueError("octave job has no valid taps")
        try:
            taps = [np.array([int(v) for v in t], dtype=np.int64) for t in taps]
            octave = int(header["octave"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise ValueError("octave job has malformed taps or octave") from None
        base = hc.from_bytes(blobs[0], public_key=public_key, max_bytes=max_bytes)
        if not isinstance(base, hc.PackedImage):
            raise ValueError("octave job base is not a packed encrypted image")
        return cls(octave, taps, base)


@dataclass
class OctaveResult:
    """Evaluator -> owner: the encrypted DoG levels of one octave."""

    octave: int
    dogs: list = field(repr=False)  # hepaillier_core.PackedImage per DoG level

    KIND = "hesift.octave_result"

    def to_bytes(self) -> bytes:
        return pack_message({"kind": self.KIND, "octave": int(self.octave)},
                            [d.to_bytes() for d in self.dogs])

    @classmethod
    def from_bytes(cls, data: bytes, public_key, *,
                   max_bytes: int | None = None) -> OctaveResult:
        import hepaillier_core as hc

        header, blobs = unpack_message(data, cls.KIND, max_bytes=max_bytes)
        dogs = [hc.from_bytes(b, public_key=public_key, max_bytes=max_bytes) for b in blobs]
        if not all(isinstance(d, hc.PackedImage) for d in dogs):
            raise ValueError("octave result holds something other than packed encrypted images")
        try:
            octave = int(header["octave"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("octave result has no valid octave") from None
        return cls(octave, dogs)
