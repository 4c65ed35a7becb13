"""Issue 15.8: 1024-bit keys need insecure=True, durable atomic writes, the web page's
admin token, the bind rule and the bound on concurrent uploads."""

from __future__ import annotations

import os
import stat

import pytest

import hepaillier_core as hc
from hepaillier_core.files import atomic_write
from hesift.gallery import Gallery
from hesift.io import atomic_path
from hesift.web import guard, state
from hesift.web.settings import configure

try:
    from gallery_helpers import FAST, finish_job, photo, png_bytes
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, finish_job, photo, png_bytes

configure()
from django.test import Client, override_settings  # noqa: E402

TOKEN = "t0ken-for-the-admin-of-this-site"


def test_1024_bit_keys_need_insecure(tmp_path):
    with pytest.raises(ValueError, match="insecure=True"):
        hc.generate_keypair(1024)
    from hesift.cli import run

    assert run("keygen", "--bits", "1024", "-o", tmp_path / "k.json") != 0
    assert not (tmp_path / "k.json").exists()


@pytest.mark.parametrize("writer", ["core", "io"])
def test_atomic_writes_fsync_file_then_rename_then_folder(tmp_path, monkeypatch, writer):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(a, b):
        events.append("rename")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "out.bin"
    if writer == "core":
        atomic_write(target, lambda f: f.write(b"data"))
    else:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert events == ["fsync-file", "rename", "fsync-dir"]


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "w.sqlite3", extractor=FAST, max_side=None)
    g.add(photo("camera"), name="camera")
    state.set_gallery(g)
    yield g
    state.set_gallery(None)


def _upload(name="coffee"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(f"{name}.png", png_bytes(photo(name)), content_type="image/png")


@override_settings(HESIFT_ADMIN_TOKEN=TOKEN)
def test_admin_token_guards_add_and_remove(gallery):
    c = Client()
    assert b'name="admin_token"' in c.get("/add/").content
    r = c.post("/add/", {"images": _upload()})
    assert r.status_code == 403 and b"admin token" in r.content
    r = c.post("/add/", {"images": _upload(), "admin_token": "wrong-token-wrong-token"})
    assert r.status_code == 403 and len(gallery) == 1
    r = c.post("/remove/", {"name": "camera"})
    assert r.status_code == 403 and len(gallery) == 1
    r = finish_job(c, c.post("/add/", {"images": _upload(), "admin_token": TOKEN}))
    assert r.status_code == 200 and len(gallery) == 2
    r = c.post("/remove/", {"name": "coffee"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 302 and len(gallery) == 1
    r = finish_job(c, c.post("/", {"image": _upload("camera")}))  # searching stays open
    assert r.status_code == 200


def test_no_token_configured_keeps_the_page_open(gallery):
    c = Client()
    assert b'name="admin_token"' not in c.get("/add/").content
    assert finish_job(c, c.post("/add/", {"images": _upload()})).status_code == 200


def test_off_loopback_needs_a_token(gallery, tmp_path):
    from hesift.web.server import make_server

    with pytest.raises(ValueError, match="without a token"):
        make_server(gallery, host="0.0.0.0", port=0)
    from hesift.cli import run

    assert run("serve", "--db", str(tmp_path / "w.sqlite3"), "--plaintext", "--host",
               "0.0.0.0", "--port", "0") != 0


@override_settings(HESIFT_MAX_CONCURRENT=1)
def test_concurrent_uploads_beyond_the_bound_get_503(gallery):
    c = Client()
    with guard.slots().slot():  # one upload is being processed
        r = c.post("/", {"image": _upload("camera")})
        assert r.status_code == 503 and int(r["Retry-After"]) > 0
        r = c.post("/add/", {"images": _upload()})
        assert r.status_code == 503
        assert c.get("/").status_code == 200  # pages still load
    assert finish_job(c, c.post("/", {"image": _upload("camera")})).status_code == 200
