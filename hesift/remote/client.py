"""The key owner's side: :class:`RemoteEvaluator`, an evaluator reached over HTTP.

It stands in for the in-process ``hesift.Evaluator`` and the filters' evaluator
step: it sends the public key and ciphertexts, never a private key or a
plaintext.  Every request is idempotent (a pure function of its body), so a
503 (busy) or a dropped connection is retried with backoff; a server that
cannot be reached gives one clear :class:`RemoteUnavailable` error.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

from hesift.errors import EXIT_SERVICE

from . import wire

TOKEN_ENV = "HESIFT_EVALUATOR_TOKEN"
DEFAULT_TIMEOUT = 3600.0  # a 2048-bit HESIFT octave or a big filter can take minutes
RETRYABLE_ERRORS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                    ConnectionRefusedError, http.client.RemoteDisconnected,
                    http.client.BadStatusLine)


class RemoteError(OSError):
    """The evaluator service answered with an error (``status``, one-line ``reason``)."""

    exit_code = EXIT_SERVICE  # the CLI's "a server is unavailable or failed"

    exit_code = 7  # hesift.errors.EXIT_SERVICE

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteUnavailable(RemoteError, ConnectionError):
    """The evaluator service could not be reached (after the retries)."""


class RemoteEvaluator:
    """An evaluator service at ``url`` (http:// or https://, e.g. behind a TLS proxy).

    ``token`` is sent as ``Authorization: Bearer`` (default: the environment
    variable ``HESIFT_EVALUATOR_TOKEN``, so a bare URL string works too).  ``timeout`` bounds each
    socket operation (the service answers only once a job is computed).  Usable
    as ``hesift.HESIFT(img, keypair, evaluator=RemoteEvaluator(url))``, as
    ``evaluator=`` of the filters, and by the CLI's ``--evaluator URL``.
    ``stats`` counts requests, bytes up/down and seconds waited.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = 5, backoff: float = 0.5) -> None:
        u = urllib.parse.urlsplit(str(url).strip())
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"evaluator URL must look like http://host:port, got {url!r}")
        if u.query or u.fragment:
            raise ValueError(f"evaluator URL takes no query or fragment: {url!r}")
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))
        self._scheme, self._host, self._port = u.scheme, u.hostname, u.port
        self._prefix = u.path.rstrip("/")
        if self._prefix.endswith("/v1"):
            self._prefix = self._prefix[:-3]
        self.token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.stats = {"requests": 0, "bytes_up": 0, "bytes_down": 0, "seconds": 0.0,
                      "retries": 0}
        self.timings: dict[str, float] = {"evaluate": 0.0}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteEvaluator({self.url!r}{', token=...' if self.token else ''})"

    # --- HTTP ----------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout)

    def _once(self, method: str, path: str, parts: Sequence[bytes], headers: dict) -> tuple[int, dict, bytes]:
        conn = self._connection()
        try:
            total = sum(len(p) for p in parts)
            conn.putrequest(method, self._prefix + path, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if method == "POST":
                conn.putheader("Content-Length", str(total))
                conn.putheader("Content-Type", "application/octet-stream")
            conn.endheaders()
            try:
                for p in parts:
                    conn.send(p)
            except (BrokenPipeError, ConnectionResetError):
                # the service may have refused the body (413) and closed: read its answer
                try:
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    raise ConnectionResetError("the server closed the connection during upload") from None
            else:
                resp = conn.getresponse()
            body = resp.read()
            with self._lock:
                self.stats["bytes_up"] += total
                self.stats["bytes_down"] += len(body)
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def request(self, method: str, path: str, parts: Sequence[bytes] = (),
                headers: dict | None = None) -> bytes:
        """One request with retries on 503 and dropped connections; the response body."""
        h = {"Accept": "*/*", "User-Agent": "hesift-remote/1", wire.WIRE_HEADER: str(wire.WIRE_VERSION)}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        delay, attempt = self.backoff, 0
        t0 = time.perf_counter()
        while True:
            try:
                status, rh, body = self._once(method, path, parts, h)
            except RETRYABLE_ERRORS as e:
                # nothing listening: retry briefly (a restart), not the full backoff
                limit = min(self.retries, 2) if isinstance(e, ConnectionRefusedError) else self.retries
                if attempt >= limit:
                    raise RemoteUnavailable(
                        f"cannot reach the evaluator at {self.url}: {_describe(e)} "
                        f"(after {attempt + 1} attempts)") from None
                status, rh, body = None, {}, b""
            except TimeoutError:
                raise RemoteUnavailable(f"the evaluator at {self.url} did not answer within "
                                        f"{self.timeout:g} s") from None
            except OSError as e:  # DNS failure, no route, TLS error: not worth retrying
                raise RemoteUnavailable(f"cannot reach the evaluator at {self.url}: "
                                        f"{_describe(e)}") from None
            if status is not None and status != 503:
                break
            if attempt >= self.retries:
                raise RemoteError(f"the evaluator at {self.url} is busy (503) after "
                                  f"{attempt + 1} attempts: {_reason(body)}", 503)
            wait = delay
            if status == 503:
                try:
                    wait = max(delay, min(float(rh.get("retry-after", delay)), 30.0))
                except ValueError:
                    pass
            attempt += 1
            with self._lock:
                self.stats["retries"] += 1
            time.sleep(wait)
            delay = min(delay * 2, 30.0)
        with self._lock:
            self.stats["requests"] += 1
            self.stats["seconds"] += time.perf_counter() - t0
        if status != 200:
            raise RemoteError(f"evaluator {self.url} answered {status}: {_reason(body)}", status)
        return body

    def _key_headers(self, public_key: Any) -> dict:
        return {wire.KEY_HEADER: wire.key_header_value(public_key)}

    # --- endpoints -----------------------------------------------------------------
    def health(self) -> dict:
        """The service's /v1/health answer (version, wire version, limits, ...)."""
        body = self.request("GET", "/v1/health")
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RemoteError(f"{self.url} is not a hesift evaluator (bad health answer)") from None

    def process(self, job_bytes: bytes, public_key: Any) -> bytes:
        """OctaveJob bytes -> OctaveResult bytes (the byte protocol of ``Evaluator.process``)."""
        t0 = time.perf_counter()
        out = self.request("POST", "/v1/sift/octave", [job_bytes], self._key_headers(public_key))
        self.timings["evaluate"] += time.perf_counter() - t0
        return out

    def evaluate(self, job: Any) -> Any:
        """One HESIFT octave: an OctaveJob in, its OctaveResult out (like ``Evaluator``)."""
        from hesift.sift.messages import OctaveResult

        pub = job.base.public_key
        return OctaveResult.from_bytes(self.process(job.to_bytes(), pub), pub)

    def filter(self, op: str, planes: Any, **params: Any) -> list[Any]:
        """Run one ``hesift filter`` op (same names and parameters) on encrypted planes.

        ``planes`` is one plane or a list; returns the output planes in order
        (two per input plane for the derivative pairs, one otherwise).
        """
        planes = list(planes) if isinstance(planes, (list, tuple)) else [planes]
        if not planes:
            raise ValueError("no planes to filter")
        pub = planes[0].public_key
        if any(p.public_key != pub for p in planes):
            raise ValueError("all planes of one filter job must share a public key")
        out: list[Any] = []
        t0 = time.perf_counter()
        for i in range(0, len(planes), wire.MAX_PLANES):
            body = self.request("POST", "/v1/filter",
                                wire.encode_filter_job(op, params, planes[i : i + wire.MAX_PLANES]),
                                self._key_headers(pub))
            try:
                got, _ = wire.decode_filter_result(body, pub)
            except ValueError as e:
                raise RemoteError(f"evaluator {self.url} sent a bad filter result: {e}") from None
            out.extend(got)
        self.timings["evaluate"] += time.perf_counter() - t0
        return out

    def filter_call(self, name: str, x: Any, arguments: dict) -> Any:
        """A filter entry point's call (``hesift.filters.gaussian(x, ..., evaluator=self)``)."""
        from .calls import remote_call

        return remote_call(self, name, x, arguments)

    def apply_op(self, spec: Any, planes: list[Any], p: dict) -> list[Any]:
        """``registry.apply`` over HTTP: the CLI's evaluator step."""
        from hesift.filters.registry import DEFAULTS

        sent = {k: p.get(k) for k in list(DEFAULTS) + ["se", "normalize"] if p.get(k) is not None}
        return self.filter(spec.name, planes, **sent)


def _reason(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().splitlines()
    return text[0][:300] if text else "(no reason given)"


def _describe(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (is 'hesift evaluator' running there?)"
    if isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError)):
        return "the connection was closed by the server"
    return str(e) or type(e).__name__


def connect(evaluator: Any, token: str | None = None) -> Any:
    """A URL string becomes a RemoteEvaluator; anything else is returned as is."""
    if isinstance(evaluator, str):
        return RemoteEvaluator(evaluator, token)
    return evaluator

