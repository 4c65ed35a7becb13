"""HTTP errors a service raises on bad input: a status, a one-line reason, extra headers.

Handlers raise these; the WSGI wrapper (:func:`hesift.remote.http.wsgi_app`) or a
Django view turns one into a response with :meth:`HTTPError.response`.  Reasons
are a single line of plain text and never echo request bytes back.
"""

from __future__ import annotations

from http import HTTPStatus


class HTTPError(Exception):
    """An answer other than 200: ``status``, a one-line ``reason``, extra ``headers``."""

    status = 500

    def __init__(self, reason: str, *, headers: dict[str, str] | None = None) -> None:
        reason = " ".join(str(reason).split())[:300] or HTTPStatus(self.status).phrase
        super().__init__(reason)
        self.reason = reason
        self.headers = dict(headers or {})

    @property
    def status_line(self) -> str:
        """``"413 Content Too Large"``: the WSGI status string."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"

    def body(self) -> bytes:
        return (self.reason + "\n").encode()

    def response(self) -> tuple[str, list[tuple[str, str]], bytes]:
        """(status line, headers, body) ready for a WSGI ``start_response``."""
        body = self.body()
        headers = [("Content-Type", "text/plain; charset=utf-8"),
                   ("Content-Length", str(len(body))), *self.headers.items()]
        return self.status_line, headers, body


class BadRequest(HTTPError):
    """400: malformed or inconsistent input (truncated body, wrong message kind, bad shape)."""

    status = 400


class Unauthorized(HTTPError):
    """401: no credentials were sent."""

    status = 401

    def __init__(self, reason: str = "missing bearer token (Authorization: Bearer ...)") -> None:
        super().__init__(reason, headers={"WWW-Authenticate": 'Bearer realm="hesift"'})


class Forbidden(HTTPError):
    """403: credentials were sent but are wrong."""

    status = 403


class NotFound(HTTPError):
    status = 404


class MethodNotAllowed(HTTPError):
    status = 405

    def __init__(self, allowed: str) -> None:
        super().__init__(f"method not allowed here; use {allowed}", headers={"Allow": allowed})


class LengthRequired(HTTPError):
    status = 411


class PayloadTooLarge(HTTPError):
    """413: the body (or what its header declares) is over the service's limit."""

    status = 413


class UnsupportedVersion(HTTPError):
    """422: a wire-format version this service does not speak."""

    status = 422


class Busy(HTTPError):
    """503: all job slots are taken; the client should retry after ``retry_after`` s."""

    status = 503

    def __init__(self, reason: str = "the service is busy", *, retry_after: int = 2) -> None:
        super().__init__(f"{reason}; retry after {int(retry_after)} s",
                         headers={"Retry-After": str(int(retry_after))})
        self.retry_after = int(retry_after)
