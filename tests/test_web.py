"""The Django site through Django's test client and a real waitress server."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.request
import uuid

import pytest

from hesift.gallery import Gallery
from hesift.web import state
from hesift.web.settings import build_settings, configure

try:
    from gallery_helpers import FAST, NAMES, finish_job, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, finish_job, photo, png_bytes, rotated

configure()
from django.test import Client, override_settings  # noqa: E402


def make_gallery(path, names=NAMES) -> Gallery:
    g = Gallery(path, extractor=FAST, max_side=None)
    for n in names:
        g.add(photo(n), name=n)
    return g


@pytest.fixture
def gallery(tmp_path):
    g = make_gallery(tmp_path / "web.sqlite3")
    state.set_gallery(g)
    yield g
    state.set_gallery(None)


finish = finish_job


def upload(name: str, data: bytes, content_type="image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_secure_defaults():
    from django.conf import settings

    assert settings.DEBUG is False
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert settings.FILE_UPLOAD_HANDLERS == ["hesift.web.uploads.LimitedMemoryUploadHandler"]
    assert "*" not in settings.ALLOWED_HOSTS
    assert build_settings(debug=True)["DEBUG"] is True
    assert build_settings()["SECRET_KEY"] != build_settings()["SECRET_KEY"]


def test_search_page_and_top5(gallery):
    c = Client()
    r = c.get("/")
    assert r.status_code == 200 and b"csrfmiddlewaretoken" in r.content
    assert f"{len(NAMES)} images in the gallery".encode() in r.content
    q = png_bytes(rotated(photo("rocket"), 20, 0.85))
    r = c.post("/", {"image": upload("q.png", q)})
    assert r.status_code == 302 and r["Location"].startswith("/jobs/")  # a background job
    r = finish(c, r)
    assert r.status_code == 200
    html = r.content.decode()
    names = re.findall(r'data-name="([^"]+)"', html)
    ranks = re.findall(r'data-rank="(\d)"', html)
    assert names[0] == "rocket" and len(names) == 5 and ranks == list("12345")
    assert "data:image/png;base64," in html  # the match drawing
    thumb = re.search(r'src="(/thumb/\d+\.png)"', html).group(1)
    t = c.get(thumb)
    assert t.status_code == 200 and t["Content-Type"] == "image/png"
    assert t.content.startswith(b"\x89PNG")
    assert c.get("/thumb/99999.png").status_code == 404


def test_csrf_is_enforced(gallery):
    c = Client(enforce_csrf_checks=True)
    r = c.post("/", {"image": upload("q.png", png_bytes(photo("camera")))})
    assert r.status_code == 403
    r = c.post("/add/", {"images": upload("q.png", png_bytes(photo("moon")))})
    assert r.status_code == 403 and len(gallery) == len(NAMES)
    page = c.get("/add/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    r = finish(c, c.post("/add/", {"images": upload("moon.png", png_bytes(photo("moon"))),
                                   "csrfmiddlewaretoken": token}))
    assert r.status_code == 200 and "moon" in gallery


def test_non_image_upload_gets_clear_message(gallery):
    c = Client()
    r = c.post("/", {"image": upload("evil.png", b"#!/bin/sh\necho hi\n")})
    assert r.status_code == 400
    assert b"evil.png: uploaded data is not a readable image" in r.content
    r = c.post("/add/", {"images": upload("notes.txt", b"hello", "text/plain")})
    assert r.status_code == 400 and b"not a readable image" in r.content
    assert len(gallery) == len(NAMES)
    assert c.post("/", {}).status_code == 400


def test_oversized_upload_is_refused(gallery):
    c = Client()
    big = png_bytes(photo("camera"))
    with override_settings(HESIFT_MAX_UPLOAD_BYTES=len(big) // 2):
        r = c.post("/", {"image": upload("big.png", big)})
        assert r.status_code == 413
        assert b"big.png: too large; each image may be at most" in r.content
        r = c.post("/add/", {"images": [upload("big.png", big)]})
        assert r.status_code == 413 and b"too large" in r.content
        # a declared body far above any valid form is refused before it is read
        r = c.generic("POST", "/", b"x" * 10, CONTENT_LENGTH=str(10**10),
                      content_type="multipart/form-data; boundary=zzz")
        assert r.status_code == 413 and b"Upload too large" in r.content
    assert len(gallery) == len(NAMES)


def test_add_page_idempotent(gallery):
    c = Client()
    files = [upload("moon.png", png_bytes(photo("moon"))),
             upload("cam.png", png_bytes(photo("camera")))]
    r = finish(c, c.post("/add/", {"images": files}))
    html = r.content.decode()
    assert r.status_code == 200
    assert "added <strong>moon</strong>" in html
    assert "already in the gallery as <strong>camera</strong>" in html
    assert len(gallery) == len(NAMES) + 1
    r = c.get("/gallery/")
    assert r.status_code == 200 and r.content.count(b"/thumb/") == len(NAMES) + 1
    assert c.post("/remove/", {"name": "moon"}).status_code == 302
    assert "moon" not in gallery
    assert c.post("/remove/", {"name": "moon"}).status_code == 404


def test_empty_gallery_message(tmp_path):
    state.set_gallery(Gallery(tmp_path / "empty.sqlite3", extractor=FAST))
    try:
        c = Client()
        assert b"0 images in the gallery" in c.get("/").content
        r = c.post("/", {"image": upload("q.png", png_bytes(photo("camera")))})
        assert r.status_code == 409 and b"The gallery is empty" in r.content
    finally:
        state.set_gallery(None)


def test_corrupted_gallery_gives_503(tmp_path):
    db = tmp_path / "g.sqlite3"
    g = Gallery(db, extractor=FAST)
    db.write_bytes(b"garbage" * 2000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"g.sqlite3{suffix}").unlink(missing_ok=True)
    state.set_gallery(g)
    try:
        r = Client().get("/")
        assert r.status_code == 503 and b"corrupted" in r.content
    finally:
        state.set_gallery(None)


def test_two_uploads_at_once_on_the_real_server(tmp_path):
    """Two simultaneous add requests through waitress: both land, nothing lost."""
    from hesift.web.server import BackgroundServer, make_server

    g = make_gallery(tmp_path / "srv.sqlite3", NAMES[:2])
    with BackgroundServer(make_server(g, "127.0.0.1", 0, threads=4)) as srv:
        base = srv.url
        def post(name: str, data: bytes, out: list):
            jar = http.cookiejar.CookieJar()
            op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = op.open(base + "/add/", timeout=60).read().decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            b = uuid.uuid4().hex
            body = (f"--{b}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n"
                    f"{token}\r\n--{b}\r\nContent-Disposition: form-data; name=\"images\"; "
                    f"filename=\"{name}.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
            body += data + f"\r\n--{b}--\r\n".encode()
            req = urllib.request.Request(base + "/add/", data=body, headers={
                "Content-Type": f"multipart/form-data; boundary={b}", "Referer": base + "/add/"})
            out.append(op.open(req, timeout=120).status)

        statuses: list = []
        threads = [threading.Thread(target=post, args=(n, png_bytes(photo(n)), statuses))
                   for n in ("moon", "coins")]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert statuses == [200, 200]  # each followed its redirect to the job page
        import time

        t0 = time.time()
        while len(g) < 4 and time.time() - t0 < 60:
            time.sleep(0.1)
        assert {"moon", "coins"} <= {e.name for e in g}
        assert len(g) == 4
