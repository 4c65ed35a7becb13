"""The private-retrieval index stored in the gallery: restarts skip k-means, damage is refused.

Proofs: k-means (``train_vocabulary``) is replaced by a function that raises,
so a restart that still ran it would fail; scores are compared with
``plain_scores`` of the freshly built index; a damaged blob must be refused
with a message and rebuilt to the very same parameter version (fixed seed), and
a pickled array must never reach ``pickle``.
"""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import pytest

from hesift.gallery import Gallery, PrivateIndex
from hesift.gallery.private import plain_scores
from hesift.gallery.private import server as server_mod
from hesift.gallery.private.persist import StoredIndexError, decode_index, key_of
from hesift.gallery.private.vocabulary import QMAX

try:
    from gallery_helpers import FAST, NAMES, photo
    from pg_helpers import fresh_database, postgres_server, unavailable
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, photo
    from tests.pg_helpers import fresh_database, postgres_server, unavailable

WORDS = 64


def _open(db) -> Gallery:
    return Gallery(db, extractor=FAST, max_side=None)


def _index(g) -> PrivateIndex:
    return PrivateIndex(g, words=WORDS, allowed_bits=(512,), fetch_count=3)


@pytest.fixture
def kmeans(monkeypatch):
    """Counts k-means runs; ``kmeans.forbid()`` makes any further run fail the test."""
    real = server_mod.train_vocabulary
    calls = {"n": 0, "forbidden": False}

    def counted(*a, **kw):
        assert not calls["forbidden"], "k-means ran although the stored index was valid"
        calls["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(server_mod, "train_vocabulary", counted)

    class K:
        @staticmethod
        def count() -> int:
            return calls["n"]

        @staticmethod
        def forbid(flag: bool = True) -> None:
            calls["forbidden"] = flag
    return K


def _query(V: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, QMAX + 1, V)


@pytest.fixture(scope="module")
def gallery_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("persist") / "g.sqlite3"
    g = _open(path)
    for n in NAMES[:5]:
        g.add(photo(n), name=n)
    return path


def _restart_roundtrip(db, kmeans):
    first = _index(_open(db))
    p1, v1 = first.params(), first.state().vectors
    assert kmeans.count() == 1
    kmeans.forbid()
    again = _index(_open(db))  # a new process would open the gallery like this
    p2 = again.params()
    assert p2.version == p1.version and again.params_bytes() == first.params_bytes()
    assert np.array_equal(p2.vocabulary, p1.vocabulary)
    q = _query(p1.V)
    assert np.array_equal(plain_scores(q, again.state().vectors), plain_scores(q, v1))
    assert again.notes == []
    return first, again


def test_restart_loads_the_stored_index_without_kmeans(gallery_file, kmeans):
    _restart_roundtrip(gallery_file, kmeans)


def test_add_and_remove_change_the_version_and_a_restart_follows(tmp_path, kmeans):
    db = tmp_path / "g.sqlite3"
    g = _open(db)
    for n in NAMES[:4]:
        g.add(photo(n), name=n)
    running = _index(g)
    v0 = running.params().version
    kmeans.forbid()  # from here on: within a factor 2, the vocabulary is kept
    g.add(photo(NAMES[4]), name=NAMES[4])  # as `hesift gallery add` would, from anywhere
    fresh = _index(_open(db))
    v1 = fresh.params().version
    assert v1 != v0 and running.params().version == v1
    assert NAMES[4] in fresh.params().names
    g.remove(NAMES[0])
    v2 = _index(_open(db)).params().version
    assert v2 not in (v0, v1) and running.params().version == v2
    assert NAMES[0] not in _index(_open(db)).params().names


def test_growing_past_twice_the_training_size_retrains_once(tmp_path, kmeans):
    db = tmp_path / "g.sqlite3"
    g = _open(db)
    for n in NAMES[:2]:
        g.add(photo(n), name=n)
    _index(g).params()
    for n in NAMES[2:6]:
        g.add(photo(n), name=n)
    v = _index(_open(db)).params().version  # 6 > 2 * 2: retrained and stored
    assert kmeans.count() == 2
    kmeans.forbid()
    assert _index(_open(db)).params().version == v


def _damage(store, data: bytes) -> None:
    store.set_derived(key_of(WORDS, 0), data)


def _npy(a, **kw) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("how", ["garbage", "truncated", "pickled", "tampered", "other-format"])
def test_damaged_or_foreign_index_is_refused_and_rebuilt(gallery_file, kmeans, monkeypatch, how):
    g = _open(gallery_file)
    good_version = _index(g).params().version
    blob = g._store.derived(key_of(WORDS, 0))
    assert blob is not None
    hl = struct.unpack_from("<I", blob, 4)[0]
    if how == "garbage":
        bad = b"\x00" * 100
    elif how == "truncated":
        bad = blob[:-5]
    elif how == "pickled":  # a valid header and an object array in place of the vocabulary
        obj = _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)
        import json
        head = json.loads(blob[8:8 + hl])
        rest = blob[8 + hl + head["sizes"][0]:]
        head["sizes"][0] = len(obj)
        h = json.dumps(head, sort_keys=True).encode()
        bad = b"HSPI" + struct.pack("<I", len(h)) + h + obj + rest

        def no_pickle(*a, **kw):
            raise AssertionError("a stored blob reached pickle")
        monkeypatch.setattr(pickle, "loads", no_pickle)
        monkeypatch.setattr(pickle, "load", no_pickle)
    elif how == "tampered":  # parses fine, but one centre moved: version not reproduced
        arr = bytearray(blob)
        arr[8 + hl + 200] ^= 0x40
        bad = bytes(arr)
    else:
        bad = blob.replace(b"hesift-private-index/1", b"hesift-private-index/9")
    _damage(g._store, bad)
    before = kmeans.count()
    idx = _index(_open(gallery_file))
    assert idx.params().version == good_version  # rebuilt: same gallery, same seed
    assert kmeans.count() == before + 1
    assert len(idx.notes) == 1 and "refused" in idx.notes[0] and "\n" not in idx.notes[0]
    kmeans.forbid()  # and the rebuilt index was stored again
    assert _index(_open(gallery_file)).params().version == good_version


def test_decoder_refuses_trailing_bytes_and_wrong_config(gallery_file):
    g = _open(gallery_file)
    _index(g).params()
    blob = g._store.derived(key_of(WORDS, 0))
    with pytest.raises(StoredIndexError, match="sizes"):
        decode_index(blob + b"\0", WORDS)
    with pytest.raises(StoredIndexError, match="vocabulary"):
        decode_index(blob, 8)  # more words than this configuration allows
    assert g._store.derived(key_of(WORDS + 1, 0)) is None  # other configs live elsewhere


def test_restart_on_postgres(kmeans):
    pytest.importorskip("psycopg")
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as admin:
        if admin is None:
            pytest.skip("the private PostgreSQL server did not start")
        url = fresh_database(admin)
        g = _open(url)
        for n in NAMES[:3]:
            g.add(photo(n), name=n)
        _restart_roundtrip(url, kmeans)
