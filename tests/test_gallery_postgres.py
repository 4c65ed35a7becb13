"""The gallery on PostgreSQL: same behaviour and results as on SQLite.

A private PostgreSQL server is started for this module (see pg_helpers); the
tests are skipped when psycopg or the server binaries are missing.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from hesift.cli import gallery_cmd
from hesift.gallery import Gallery, GalleryError

try:
    from gallery_helpers import FAST, NAMES, CachedReference, photo, png_bytes, rotated
    from pg_helpers import fresh_database, postgres_server, unavailable
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, CachedReference, photo, png_bytes, rotated
    from tests.pg_helpers import fresh_database, postgres_server, unavailable

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def server():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as url:
        if url is None:
            pytest.skip("the private PostgreSQL server did not start (initdb/pg_ctl failed)")
        yield url


@pytest.fixture
def url(server):
    return fresh_database(server)


def make(db, **kw) -> Gallery:
    kw.setdefault("max_side", None)
    return Gallery(db, extractor=FAST, **kw)


def test_same_entries_and_rankings_as_sqlite(url, tmp_path):
    pg, lite = make(url), make(tmp_path / "g.sqlite3")
    assert pg._store.kind == "PostgreSQL" and lite._store.kind == "SQLite"
    for g in (pg, lite):
        for n in NAMES:
            assert g.add(photo(n), name=n).added
        assert not g.add(photo("camera"), name="again").added  # idempotent by content
    assert [(e.name, e.sha256, e.num_features) for e in pg] == \
        [(e.name, e.sha256, e.num_features) for e in lite]
    for n in ("coffee", "rocket"):
        q = rotated(photo(n), 15, 0.8)
        a, b = pg.query(q, k=5), lite.query(q, k=5)
        assert a[0].name == b[0].name == n and a[0].related and b[0].related
        assert len(a) == len(b) == 5  # (FLANN's randomised trees may order the tail differently)
    assert pg.thumbnail("camera") == lite.thumbnail("camera")
    assert len(make(url).keypoints("camera")) == len(lite.keypoints("camera"))  # persisted
    assert pg.remove("coffee") and not pg.remove("coffee")
    assert "coffee" not in [r.name for r in make(url).query(photo("coffee"))]


def test_concurrent_writers_lose_nothing(url):
    make(url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(NAMES))

    def worker(name):
        try:
            g = make(url)
            barrier.wait()
            g.add(photo(name), name=name)
            g.add(photo("moon"), name="moon")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in NAMES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(e.name for e in make(url)) == sorted([*NAMES, "moon"])


def test_foreign_tables_and_bad_servers_are_clear_errors(url, server):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE images (id int)")
    with pytest.raises(GalleryError, match="not a hesift gallery"):
        make(url)
    other = fresh_database(server)
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE unrelated (id int)")  # other tables may share the database
    assert len(make(other)) == 0
    port = server.rsplit(":", 1)[1].split("/")[0]
    bad = f"postgresql://hesift:s3cret@127.0.0.1:{port}/no_such_database"
    with pytest.raises(GalleryError, match="cannot open") as e:
        make(bad)
    assert "s3cret" not in str(e.value) and "***" in str(e.value)


def test_cli_with_a_database_url(url, tmp_path, capsys, monkeypatch):
    import hesift.gallery

    monkeypatch.setattr(hesift.gallery, "ReferenceExtractor", CachedReference)
    d = tmp_path / "imgs"
    d.mkdir()
    for n in ("camera", "coffee", "rocket"):
        (d / f"{n}.png").write_bytes(png_bytes(photo(n)))
    q = tmp_path / "q.png"
    q.write_bytes(png_bytes(rotated(photo("rocket"), 20, 0.85)))
    opts = ["--plaintext", "--max-side", "160"]
    if re.search(r"//[^:/@]+@", url):  # our private server trusts any password: never echoed
        secret = re.sub(r"//([^:/@]+)@", r"//\1:s3cret@", url)
        assert gallery_cmd.main(["gallery", "list", "--db", secret]) == 0
        out = capsys.readouterr().out
        assert "is empty" in out and "s3cret" not in out and ":***@" in out
    assert gallery_cmd.main(["gallery", "add", str(d), "--db", url, *opts]) == 0
    capsys.readouterr()
    assert gallery_cmd.main(["gallery", "query", str(q), "--db", url, "--json", *opts]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res[0]["name"] == "rocket" and len(res) == 3
    assert gallery_cmd.main(["gallery", "remove", "rocket", "--db", url]) == 0
    assert gallery_cmd.main(["gallery", "list", "--db", url, "--json"]) == 0
    assert sorted(e["name"] for e in json.loads(capsys.readouterr().out)) == ["camera", "coffee"]
