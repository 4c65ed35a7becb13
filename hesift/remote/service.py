"""The evaluator service: a WSGI app that holds public keys and ciphertexts only.

Endpoints (wire version 1, see :mod:`hesift.remote.wire`):

- ``GET  /v1/health``       version, wire version, key sizes, limits, executor.
- ``POST /v1/filter``       one op of ``hesift filter`` on 1..4 encrypted planes.
- ``POST /v1/sift/octave``  one HESIFT octave: OctaveJob -> OctaveResult.

Morphology's second round (open/close) is a second ``/v1/filter`` call on the
key owner's re-encrypted threshold, so it needs no endpoint of its own.

Every request is checked in this order, each before any work: path and
method, bearer token (401/403), wire version (422), public key (400/413),
Content-Length against the limit (413), a free job slot (503 + Retry-After),
then the body is read and every declared size checked against it (400).
The service is stateless: nothing outlives a request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from . import wire
from .auth import check_bearer
from .errors import BadRequest, MethodNotAllowed, NotFound
from .executor import Executor, LocalExecutor
from .limits import JobSlots, Limits, declared_length, read_body
from .wsgi import Reply, binary_reply, json_reply, wsgi_app

ENDPOINTS = ("/v1/health", "/v1/filter", "/v1/sift/octave")


class EvaluatorService:
    """The service's state: limits, token, job slots, executor, a few counters."""

    def __init__(self, limits: Limits | None = None, token: str | None = None,
                 executor: Executor | None = None) -> None:
        self.limits = limits or Limits()
        self.token = token
        self.executor = executor or LocalExecutor()
        self.slots = JobSlots(self.limits)
        self.started = time.time()
        self.counts = {"ok": 0, "rejected": 0}
        self._keys: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.app = wsgi_app(self.handle)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.app(environ, start_response)

    # --- routing -------------------------------------------------------------------
    def handle(self, environ: Mapping[str, Any]) -> Reply:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/v1/health":
                if method not in ("GET", "HEAD"):
                    raise MethodNotAllowed("GET")
                return json_reply(self.health())
            handler = {"/v1/filter": self.filter, "/v1/sift/octave": self.octave}.get(path)
            if handler is None:
                raise NotFound(f"no such endpoint {path[:80]!r}; see /v1/health")
            if method != "POST":
                raise MethodNotAllowed("POST")
            check_bearer(environ, self.token)
            wire.check_version(environ, b"")
            pub = self._key(environ)
            declared_length(environ, self.limits)
            with self.slots.slot():
                body = read_body(environ, self.limits)
                reply = handler(body, pub)
        except Exception:
            with self._lock:
                self.counts["rejected"] += 1
            raise
        with self._lock:
            self.counts["ok"] += 1
        return reply

    def _key(self, environ: Mapping[str, Any]) -> Any:
        """The request's public key (a few recent ones cached: their tables are reusable)."""
        pub = wire.key_from_environ(environ, self.limits)
        with self._lock:
            cached = self._keys.get(pub.n)
            if cached is not None:
                self._keys.move_to_end(pub.n)
                return cached
            self._keys[pub.n] = pub
            while len(self._keys) > 8:
                self._keys.popitem(last=False)
        return pub

    # --- endpoints -----------------------------------------------------------------
    def health(self) -> dict:
        import hepaillier_core as hc
        from hesift import __version__

        return {
            "service": "hesift-evaluator",
            "version": __version__,
            "wire": wire.WIRE_VERSION,
            "endpoints": list(ENDPOINTS),
            "key_bits": {"min": self.limits.min_key_bits, "max": self.limits.max_key_bits},
            "limits": self.limits.to_json(),
            "auth": "bearer" if self.token is not None else "none",
            "private_keys": "forbidden" if hc.private_keys_forbidden() else "allowed",
            "executor": self.executor.describe(),
            "jobs": {"running": self.slots.running, "rejected_busy": self.slots.rejected},
            "requests": dict(self.counts),
            "uptime_s": round(time.time() - self.started, 1),
        }

    def filter(self, body: bytes, pub: Any) -> Reply:
        from hesift.filters import registry

        op, params, planes = wire.decode_filter_job(body, pub, self.limits.max_request_bytes)
        try:
            spec = registry.get(op)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        p = registry.params(**params)
        p["workers"] = self.executor.workers
        del body
        try:
            outputs = self.executor.run(registry.apply, spec, planes, p)
        except (ValueError, OverflowError, TypeError) as e:
            raise BadRequest(f"{op}: {e}") from None
        return binary_reply(wire.encode_filter_result(op, outputs, len(spec.suffixes)))

    def octave(self, body: bytes, pub: Any) -> Reply:
        from hesift.sift.protocol import Evaluator

        job = wire.decode_octave_job(body, pub, self.limits.max_request_bytes)
        del body
        evaluator = Evaluator(pub, workers=self.executor.workers)
        try:
            result = self.executor.run(evaluator.evaluate, job)
        except (ValueError, OverflowError, TypeError) as e:
            raise BadRequest(f"octave job: {e}") from None
        header = {"kind": result.KIND, "octave": int(result.octave)}
        return binary_reply(wire.message_parts(header, [d.to_bytes() for d in result.dogs]))
