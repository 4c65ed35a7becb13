"""The private-retrieval index as stored in the gallery (so a server start-up skips k-means).

What is stored, under one key per (words, seed) configuration in the store's
``derived`` table: the visual vocabulary, the number of images it was trained
on, and each image's bag of visual words (a histogram: word indices and
counts, with the image's id and sha256), plus the parameter version they gave.
Everything else (idf, quantised vectors, norms, slot layout) is recomputed from
these in milliseconds, deterministically, so the same stored index and the same
gallery give the same parameter version.

Format: ``b"HSPI" | header length u32 | JSON header | .npy arrays``; every array
is parsed by :func:`hepaillier_core.limits.read_npy` (sizes checked against the
bytes, dtypes whitelisted, never unpickled).  Any defect raises
:class:`StoredIndexError`; the caller rebuilds.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import numpy as np

from hepaillier_core.limits import read_npy

from ..features import npy_bytes

__all__ = ["FORMAT", "StoredIndex", "StoredIndexError", "decode_index", "encode_index", "key_of"]

FORMAT = "hesift-private-index/1"
_MAGIC = b"HSPI"
_J = struct.Struct("<4sI")
_MAX_HEADER = 64 * 1024
_NAMES = ("vocabulary", "ids", "shas", "indptr", "cols", "counts")
_DTYPES = {"vocabulary": "<f4", "ids": "<i8", "shas": "|u1", "indptr": "<i8", "cols": "<i4",
           "counts": "<i4"}


class StoredIndexError(ValueError):
    """The stored index is corrupted, truncated or not one this hesift wrote."""


def key_of(words: int, seed: int) -> str:
    """The ``derived`` key of one index configuration."""
    return f"private-index|words={int(words)}|seed={int(seed)}"


@dataclass
class StoredIndex:
    """The expensive part of a :class:`~hesift.gallery.private.PrivateIndex`."""

    feature_id: str
    version: str  # the parameter version this index gave for exactly these images
    trained_on: int  # gallery size the vocabulary was trained on (the factor-2 rule)
    vocabulary: np.ndarray  # (V, 128) float32
    hist: dict[int, tuple[str, np.ndarray, np.ndarray]]  # id -> (sha256, word idx, counts)


def encode_index(s: StoredIndex) -> bytes:
    ids = sorted(s.hist)
    cols = [s.hist[i][1] for i in ids]
    indptr = np.zeros(len(ids) + 1, np.int64)
    np.cumsum([len(c) for c in cols], out=indptr[1:])
    arrays = {
        "vocabulary": np.ascontiguousarray(s.vocabulary, "<f4"),
        "ids": np.array(ids, "<i8"),
        "shas": np.array([np.frombuffer(bytes.fromhex(s.hist[i][0]), np.uint8) for i in ids],
                         np.uint8).reshape(len(ids), 32),
        "indptr": indptr.astype("<i8"),
        "cols": np.concatenate(cols or [np.zeros(0)]).astype("<i4"),
        "counts": np.concatenate([s.hist[i][2] for i in ids] or [np.zeros(0)]).astype("<i4"),
    }
    blobs = [npy_bytes(arrays[k]) for k in _NAMES]
    header = json.dumps({"format": FORMAT, "feature_id": s.feature_id, "version": s.version,
                         "trained_on": int(s.trained_on),
                         "sizes": [len(b) for b in blobs]}, sort_keys=True).encode()
    return b"".join([_J.pack(_MAGIC, len(header)), header, *blobs])


def _bad(why: str) -> StoredIndexError:
    return StoredIndexError(f"stored private-retrieval index refused: {why}")


def decode_index(data: bytes, max_words: int) -> StoredIndex:
    """Parse and check a stored index (StoredIndexError on any defect; nothing unpickled)."""
    mv = memoryview(data)
    if len(mv) < _J.size:
        raise _bad("truncated")
    magic, hl = _J.unpack_from(mv)
    if magic != _MAGIC:
        raise _bad("not a hesift private-retrieval index (bad magic)")
    if hl > _MAX_HEADER or _J.size + hl > len(mv):
        raise _bad(f"header length {hl} does not fit")
    try:
        head = json.loads(bytes(mv[_J.size:_J.size + hl]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad("header is not JSON") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise _bad(f"format {head.get('format') if isinstance(head, dict) else None!r}, "
                   f"expected {FORMAT!r}")
    sizes, version, fid, trained = (head.get("sizes"), head.get("version"),
                                    head.get("feature_id"), head.get("trained_on"))
    if (not isinstance(sizes, list) or len(sizes) != len(_NAMES)
            or not all(isinstance(x, int) and x >= 0 for x in sizes)
            or _J.size + hl + sum(sizes) != len(mv)):
        raise _bad("array sizes do not match the stored bytes")
    if not (isinstance(version, str) and isinstance(fid, str) and isinstance(trained, int)
            and not isinstance(trained, bool) and trained > 0):
        raise _bad("bad header fields")
    arrays, pos = {}, _J.size + hl
    for name, size in zip(_NAMES, sizes):
        chunk = bytes(mv[pos:pos + size])
        pos += size
        try:
            arrays[name] = read_npy(io.BytesIO(chunk), size, what=f"stored {name}",
                                    dtypes=(_DTYPES[name],))
        except ValueError as e:
            raise _bad(str(e)) from None
    voc, ids, shas = arrays["vocabulary"], arrays["ids"], arrays["shas"]
    indptr, cols, counts = arrays["indptr"], arrays["cols"], arrays["counts"]
    V = voc.shape[0] if voc.ndim == 2 else 0
    N = len(ids) if ids.ndim == 1 else -1
    if not (voc.ndim == 2 and voc.shape[1] == 128 and 1 <= V <= max_words
            and np.isfinite(voc).all()):
        raise _bad("vocabulary shape or values")
    if N < 0 or shas.shape != (N, 32) or indptr.shape != (N + 1,) or len(np.unique(ids)) != N:
        raise _bad("image list shape")
    if (cols.ndim != 1 or counts.shape != cols.shape or indptr[0] != 0
            or indptr[-1] != len(cols) or (np.diff(indptr) < 0).any()):
        raise _bad("histogram layout")
    if len(cols) and (cols.min() < 0 or cols.max() >= V or counts.min() < 1):
        raise _bad("histogram values")
    hist = {int(i): (shas[k].tobytes().hex(), cols[indptr[k]:indptr[k + 1]].astype(np.int64),
                     counts[indptr[k]:indptr[k + 1]].astype(np.int64)) for k, i in enumerate(ids)}
    return StoredIndex(fid, version, trained, np.ascontiguousarray(voc, np.float32), hist)
