"""The reusable service pieces: limits before reading, job slots, tokens, bind rule, errors."""

from __future__ import annotations

import io
import threading
import time

import pytest

from hesift.remote import auth, errors, limits
from hesift.remote.wsgi import wsgi_app


def environ(body: bytes = b"", length: str | None = None, **headers: str) -> dict:
    env = {"wsgi.input": io.BytesIO(body), "REQUEST_METHOD": "POST", "PATH_INFO": "/x",
           "CONTENT_LENGTH": str(len(body)) if length is None else length}
    env.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    return env


class Unreadable(io.RawIOBase):
    def read(self, n=-1):  # pragma: no cover - must never be called
        raise AssertionError("the body was read although its length is over the limit")


def test_declared_length_is_checked_before_reading():
    lim = limits.Limits(max_request_bytes=4096)
    env = environ(length=str(10 << 40))  # ten terabytes declared
    env["wsgi.input"] = Unreadable()
    with pytest.raises(errors.PayloadTooLarge) as e:
        limits.read_body(env, lim)
    assert e.value.status == 413 and "limit of 4096" in e.value.reason
    for bad, cls in (("", errors.LengthRequired), ("12x", errors.BadRequest),
                     ("-1", errors.BadRequest)):
        with pytest.raises(cls):
            limits.declared_length(environ(length=bad), lim)


def test_read_body_exact_and_truncated():
    lim = limits.Limits(max_request_bytes=4096)
    assert limits.read_body(environ(b"abc"), lim) == b"abc"
    with pytest.raises(errors.BadRequest, match="truncated: 3 of 10"):
        limits.read_body(environ(b"abc", length="10"), lim)


def test_job_slots_refuse_the_extra_job_with_retry_after():
    slots = limits.JobSlots(limits.Limits(max_jobs=2, retry_after=3))
    with slots.slot(), slots.slot():
        with pytest.raises(errors.Busy) as e:
            with slots.slot():
                pass
        assert e.value.status == 503 and e.value.headers["Retry-After"] == "3"
    with slots.slot():  # freed again
        assert slots.running == 1
    assert slots.rejected == 1


def test_bearer_tokens(tmp_path):
    tok = auth.new_token()
    auth.check_bearer(environ(Authorization=f"Bearer {tok}"), tok)
    auth.check_bearer(environ(), None)  # no token configured: open
    with pytest.raises(errors.Unauthorized) as e:
        auth.check_bearer(environ(), tok)
    assert e.value.status == 401 and "WWW-Authenticate" in e.value.headers
    for wrong in ("Bearer nope", f"Basic {tok}", "Bearer", f"Bearer {tok}x"):
        with pytest.raises(errors.Forbidden):
            auth.check_bearer(environ(Authorization=wrong), tok)
    f = tmp_path / "tok"
    f.write_text(tok + "\n")
    assert auth.load_token(f) == tok
    f.write_text("short")
    with pytest.raises(ValueError, match="at least 16"):
        auth.load_token(f)
    with pytest.raises(ValueError, match="does not exist"):
        auth.load_token(tmp_path / "none")


def test_bind_rule():
    for host in ("127.0.0.1", "::1", "localhost", "127.3.2.1"):
        auth.check_bind(host, None)
    with pytest.raises(ValueError, match="without a token"):
        auth.check_bind("0.0.0.0", None)
    auth.check_bind("0.0.0.0", "x" * 20)
    auth.check_bind("0.0.0.0", None, insecure_no_auth=True)


def test_wsgi_app_answers_one_line_and_survives_bugs():
    def handler(env):
        if env["PATH_INFO"] == "/bad":
            raise errors.BadRequest("bad\nthing   here")
        raise KeyError("bug")

    app = wsgi_app(handler)
    seen = {}

    def start(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(dict(environ(), PATH_INFO="/bad"), start))
    assert seen["status"] == "400 Bad Request" and body == b"bad thing here\n"
    body = b"".join(app(environ(), start))
    assert seen["status"].startswith("500") and body.count(b"\n") == 1


def test_slots_under_threads():
    slots = limits.JobSlots(limits.Limits(max_jobs=3))
    gate, results = threading.Event(), []

    def job():
        try:
            with slots.slot():
                gate.wait(5)
                results.append("ok")
        except errors.Busy:
            results.append("busy")

    threads = [threading.Thread(target=job) for _ in range(6)]
    for t in threads:
        t.start()
    while slots.running + slots.rejected < 6 and any(t.is_alive() for t in threads):
        if slots.running == 3 and slots.rejected == 3:
            break
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 3 + ["ok"] * 3


FORBID = """
import hepaillier_core as hc
from hepaillier_core import _core
pub, priv = hc.generate_keypair(256, insecure=True)
priv.save(KEY)
assert not hc.private_keys_forbidden()
hc.forbid_private_keys()
assert hc.private_keys_forbidden()
attempts = [lambda: hc.generate_keypair(256, insecure=True),
            lambda: hc.PrivateKey(pub, priv.p, priv.q),
            lambda: hc.PrivateKey.load(KEY),
            lambda: hc.PrivateKey.from_phe(priv.to_phe()),
            lambda: _core.OwnerKey(priv.p, priv.q)]
for i, f in enumerate(attempts):
    try:
        f()
    except RuntimeError as e:
        assert "forbidden" in str(e)
    else:
        raise SystemExit(f"attempt {i} built private-key state")
x = pub.encrypt([1, 2, 3])
assert (x + x).shape == (3,)  # public-key work still runs
print("ok")
"""


def test_forbid_private_keys_is_process_wide(tmp_path):
    import subprocess
    import sys

    code = f"KEY = {str(tmp_path / 'k.json')!r}\n" + FORBID
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
