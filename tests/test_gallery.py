"""hesift.gallery: persistence, idempotency, removal, ranking, bad files, concurrency."""

from __future__ import annotations

import sqlite3
import threading

import cv2
import numpy as np
import pytest

from hesift.gallery import Gallery, GalleryError, ImageError
from hesift.matching import MIN_INLIERS

try:
    from gallery_helpers import FAST, NAMES, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, photo, png_bytes, rotated


def make(path, **kw) -> Gallery:
    kw.setdefault("max_side", None)
    return Gallery(path, extractor=FAST, **kw)


@pytest.fixture
def full(tmp_path):
    g = make(tmp_path / "g.sqlite3")
    for n in NAMES:
        g.add(photo(n), name=n)
    return g


def test_add_list_len_and_persistence(tmp_path):
    db = tmp_path / "g.sqlite3"
    g = make(db)
    assert len(g) == 0 and g.list() == []
    e = g.add(photo("camera"), name="camera")
    assert e.added and e.name == "camera" and e.num_features > 50
    assert (e.width, e.height) == photo("camera").shape[1::-1]
    g2 = make(db)  # reopen
    assert len(g2) == 1 and [x.name for x in g2] == ["camera"] and "camera" in g2
    png = g2.thumbnail("camera")
    assert png.startswith(b"\x89PNG")
    assert len(g2.keypoints("camera")) == e.num_features


def test_add_is_idempotent_by_content(tmp_path):
    g = make(tmp_path / "g.sqlite3")
    f = tmp_path / "cam.png"
    f.write_bytes(png_bytes(photo("camera")))
    first = g.add(f)
    assert first.added and first.name == "cam"
    again = g.add(photo("camera"), name="other-name")  # same pixels as an array
    assert not again.added and again.name == "cam"
    assert not g.add(f.read_bytes()).added
    assert len(g) == 1


def test_name_clash_gets_suffix_and_remove(tmp_path):
    g = make(tmp_path / "g.sqlite3")
    g.add(photo("camera"), name="pic")
    e = g.add(photo("coffee"), name="pic")
    assert e.name == "pic-2"
    assert g.remove("pic") is True
    assert g.remove("pic") is False
    assert [x.name for x in g] == ["pic-2"]
    with pytest.raises(KeyError):
        g.thumbnail("pic")


def test_query_ranks_true_image_first(full):
    for n in NAMES:
        q = rotated(photo(n), 15, 0.8)
        res = full.query(q, k=5)
        assert len(res) == 5
        assert [r.rank for r in res] == [1, 2, 3, 4, 5]
        assert res[0].name == n, (n, [r.to_dict() for r in res])
        assert res[0].related and res[0].score >= MIN_INLIERS
        assert all(r.score < res[0].score / 3 for r in res[1:])
        assert len({r.name for r in res}) == 5


def test_unrelated_query_scores_low(full):
    res = full.query(photo("moon"), k=3)
    assert len(res) == 3
    assert all(not r.related for r in res)
    assert res[0].score < MIN_INLIERS


def test_query_k_larger_than_gallery_and_bad_k(tmp_path):
    g = make(tmp_path / "g.sqlite3")
    g.add(photo("camera"), name="camera")
    g.add(photo("coffee"), name="coffee")
    res = g.query(photo("camera"), k=5)
    assert [r.name for r in res] == ["camera", "coffee"]
    with pytest.raises(ValueError):
        g.query(photo("camera"), k=0)


def test_empty_gallery_query_returns_empty(tmp_path):
    assert make(tmp_path / "g.sqlite3").query(photo("camera")) == []


def test_index_follows_changes_from_other_instances(tmp_path):
    db = tmp_path / "g.sqlite3"
    a, b = make(db), make(db)
    a.add(photo("camera"), name="camera")
    a.add(photo("coffee"), name="coffee")
    assert b.query(photo("camera"))[0].name == "camera"
    a.add(photo("rocket"), name="rocket")  # b's cached index is now stale
    assert b.query(photo("rocket"))[0].name == "rocket"
    a.remove("rocket")
    assert "rocket" not in [r.name for r in b.query(photo("rocket"))]


def test_draw_match(full):
    q = full.features_of(rotated(photo("coins"), 10, 0.9))
    top = full.query(q, k=1)[0]
    img = full.draw_match(q, top)
    assert img.ndim == 3 and img.shape[1] > img.shape[0]


@pytest.mark.parametrize("junk", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n broken"])
def test_non_image_input_raises_image_error(tmp_path, junk):
    g = make(tmp_path / "g.sqlite3")
    with pytest.raises(ImageError):
        g.add(junk)
    with pytest.raises(ImageError):
        g.add(tmp_path / "missing.png")
    assert len(g) == 0


def test_corrupted_database_file_gives_clear_error(tmp_path):
    db = tmp_path / "g.sqlite3"
    db.write_bytes(b"garbage" * 1000)
    with pytest.raises(GalleryError, match="corrupted or not a hesift gallery"):
        make(db)


def test_damaged_pages_give_clear_error(tmp_path):
    db = tmp_path / "g.sqlite3"
    g = make(db)
    for n in NAMES[:3]:
        g.add(photo(n), name=n)
    with sqlite3.connect(db) as c:  # fold the WAL back so the main file holds everything
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    raw[4096:] = bytes(len(raw) - 4096)  # zero every page after the first
    db.write_bytes(bytes(raw))
    with pytest.raises(GalleryError):
        g2 = make(db)
        g2.query(photo("camera"))


def test_other_sqlite_file_is_refused(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(GalleryError, match="not a hesift gallery"):
        make(db)


def test_features_from_another_configuration_are_refused(tmp_path):
    db = tmp_path / "g.sqlite3"
    make(db).add(photo("camera"), name="camera")
    auto = Gallery(db, extractor=FAST)  # max_side="auto": the gallery's own setting
    assert auto.max_side is None and auto.query(photo("camera"))[0].name == "camera"
    assert Gallery(tmp_path / "new.sqlite3", extractor=FAST).max_side == 480
    other = make(db, max_side=100)
    assert len(other) == 1  # listing still works
    with pytest.raises(GalleryError, match="cannot be compared"):
        other.add(photo("coffee"))
    with pytest.raises(GalleryError, match="cannot be compared"):
        other.query(photo("camera"))


def test_concurrent_adds_lose_nothing(tmp_path):
    db = tmp_path / "g.sqlite3"
    make(db)  # create the schema once
    for n in (*NAMES, "moon"):  # warm the feature cache so the threads really overlap in SQLite
        FAST(cv2.cvtColor(photo(n), cv2.COLOR_BGR2GRAY) if photo(n).ndim == 3 else photo(n))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(NAMES) + 1)

    def worker(name):
        try:
            g = make(db)  # separate instance: separate connections, like two requests
            barrier.wait()
            g.add(photo(name), name=name)
            g.add(photo("moon"), name="moon")  # everyone also adds one shared image
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in NAMES]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join(60)
    assert not errors, errors
    names = [e.name for e in make(db)]
    assert sorted(names) == sorted([*NAMES, "moon"])  # the shared image once, by content


def test_constructor_validation(tmp_path):
    with pytest.raises(TypeError):
        Gallery(tmp_path / "g.db", extractor="sift")
    with pytest.raises(GalleryError, match="directory"):
        Gallery(tmp_path, extractor=FAST)
    with pytest.raises(ValueError, match="not secure"):
        Gallery(tmp_path / "g.db", key_bits=512)
    with pytest.raises(ValueError, match="store_encrypted"):
        Gallery(tmp_path / "g.db", extractor=FAST, store_encrypted=True)


def test_hesift_default_extractor_end_to_end(tmp_path):
    """The product path: encrypted scale space, small insecure key, tiny images."""
    import hepaillier_core as hc

    with pytest.raises(ValueError, match="a key you keep"):  # its key would be lost
        Gallery(tmp_path / "x.sqlite3", key_bits=512, insecure=True, store_encrypted=True)
    from hesift.gallery.features import HESIFTExtractor

    ext = HESIFTExtractor(512, keypair=hc.generate_keypair(512, insecure=True), insecure=True)
    g = Gallery(tmp_path / "g.sqlite3", extractor=ext, max_side=96, store_encrypted=True)
    for n in ("camera", "coffee"):
        g.add(photo(n, 96), name=n)
    res = g.query(rotated(photo("camera", 96), 10, 0.95), k=2)
    assert res[0].name == "camera" and res[0].score > res[1].score
    # same features as the plaintext twin: HESIFT is bit-identical to sift_reference
    ref = Gallery(tmp_path / "r.sqlite3", extractor=FAST, max_side=96)
    assert ref.feature_id == g.feature_id
    e = ref.add(photo("camera", 96), name="camera")
    assert e.num_features == g.get("camera").num_features
    blob = g.encrypted_image("camera")
    enc = hc.from_bytes(blob)
    _, priv = g.extractor.keypair()
    gray = cv2.cvtColor(photo("camera", 96), cv2.COLOR_BGR2GRAY) if photo("camera", 96).ndim == 3 \
        else photo("camera", 96)
    assert np.array_equal(priv.decrypt(enc), gray)
