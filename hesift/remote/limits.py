"""Service limits: body size checked before reading, bounded concurrent jobs.

:class:`Limits` holds the numbers; :func:`declared_length` checks a request's
``Content-Length`` against them before a byte is read; :func:`read_body` then
reads exactly that many bytes; :class:`JobSlots` admits at most ``max_jobs``
jobs at a time and answers the rest 503 with Retry-After (it never queues, so
memory stays bounded by ``max_jobs`` x the largest body).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .errors import BadRequest, Busy, LengthRequired, PayloadTooLarge

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What a service accepts.  ``max_request_bytes`` bounds one body; ``max_jobs``
    the jobs running at once; key sizes bound the modulus a request may carry."""

    max_request_bytes: int = 256 * MiB
    max_jobs: int = 2
    min_key_bits: int = 256
    max_key_bits: int = 4096
    retry_after: int = 1

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1024:
            raise ValueError("max_request_bytes must be at least 1024")
        if self.max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        if not 128 <= self.min_key_bits <= self.max_key_bits <= 16384:
            raise ValueError("key bits must satisfy 128 <= min <= max <= 16384")

    @classmethod
    def from_mb(cls, max_request_mb: float, **kw: Any) -> Limits:
        return cls(max_request_bytes=int(max_request_mb * MiB), **kw)

    def to_json(self) -> dict:
        return asdict(self)


def declared_length(environ: Mapping[str, Any], limits: Limits) -> int:
    """The request's Content-Length, refused (411/400/413) before any byte is read."""
    raw = environ.get("CONTENT_LENGTH")
    if raw in (None, ""):
        raise LengthRequired("a Content-Length header is required")
    try:
        n = int(str(raw).strip())
    except ValueError:
        raise BadRequest("Content-Length is not a number") from None
    if n < 0:
        raise BadRequest("Content-Length is negative")
    if n > limits.max_request_bytes:
        raise PayloadTooLarge(f"request body of {n} bytes is over this service's limit of "
                              f"{limits.max_request_bytes} bytes")
    return n


def read_body(environ: Mapping[str, Any], limits: Limits) -> bytes:
    """Exactly Content-Length bytes of ``wsgi.input`` (400 if the body is shorter)."""
    n = declared_length(environ, limits)
    stream = environ["wsgi.input"]
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(min(n - got, 4 * MiB))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got != n:
        raise BadRequest(f"request body is truncated: {got} of {n} declared bytes")
    return b"".join(chunks)


def check_count(what: str, n: int, limit: int) -> int:
    """``n`` if 0 <= n <= limit, else 413 naming ``what`` (for sizes a header declares)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise BadRequest(f"{what} must be a non-negative integer")
    if n > limit:
        raise PayloadTooLarge(f"{what} of {n} is over the limit of {limit}")
    return n


class JobSlots:
    """At most ``limits.max_jobs`` concurrent jobs; one more is answered 503 at once."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._sem = threading.BoundedSemaphore(limits.max_jobs)
        self._lock = threading.Lock()
        self.running = 0
        self.rejected = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._sem.acquire(blocking=False):
            with self._lock:
                self.rejected += 1
            raise Busy(f"all {self.limits.max_jobs} job slots are in use",
                       retry_after=self.limits.retry_after)
        with self._lock:
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
            self._sem.release()
