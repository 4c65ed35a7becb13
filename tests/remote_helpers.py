"""Start ``hesift evaluator`` as a separate OS process on 127.0.0.1 for the remote tests."""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hesift.remote import new_token


@dataclass
class Service:
    url: str
    token: str | None
    token_file: Path | None
    proc: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_peak_kb(self) -> int:
        """VmHWM of the service process (peak resident memory)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def raw(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
            *, auth: bool = True) -> tuple[int, dict, bytes]:
        """One request with exactly these bytes (no client-side checks, no retries)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = {"Content-Length": str(len(body))} if method == "POST" else {}
        if auth and self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


def _read_url(proc: subprocess.Popen, timeout: float, log: Path) -> str:
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    text = line.decode()
    if "listening on http://" not in text:
        err = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the evaluator did not start: {text!r} {err}")
    return text.split("listening on ", 1)[1].split()[0].removesuffix("/v1/")


@contextlib.contextmanager
def evaluator_process(tmp: Path, *extra: str, token: bool | str = True,
                      timeout: float = 60.0) -> Iterator[Service]:
    """``python -m hesift evaluator --host 127.0.0.1 --port 0 ...``; stopped at the end.

    ``token="auto"`` lets the service create its token file (read back once it runs).
    """
    tok, tok_file = None, None
    if token:
        tok_file = tmp / "evaluator.token"
    if token is True:
        tok = new_token()
        tok_file.write_text(tok + "\n")
        tok_file.chmod(0o600)
    cmd = [sys.executable, "-m", "hesift", "evaluator", "--host", "127.0.0.1", "--port", "0",
           *(["--token-file", str(tok_file)] if tok_file else []), *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = tmp / "evaluator.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    try:
        url = _read_url(proc, timeout, log)
        if token == "auto":
            tok = tok_file.read_text().strip()
        yield Service(url, tok, tok_file, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        proc.stdout.close()


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
