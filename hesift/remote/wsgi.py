"""A tiny WSGI layer: handlers return (status, headers, chunks) or raise HTTPError.

:func:`wsgi_app` turns a handler into a WSGI application that never lets an
exception escape: HTTPError becomes its status and one-line reason, anything
else a logged 500.  :func:`stream` yields large byte blobs in bounded chunks.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .errors import HTTPError

log = logging.getLogger("hesift.remote")

Headers = list[tuple[str, str]]
Reply = tuple[str, Headers, Iterable[bytes]]
Handler = Callable[[Mapping[str, Any]], Reply]
CHUNK = 1 << 20


def json_reply(obj: Any, status: str = "200 OK") -> Reply:
    body = json.dumps(obj, sort_keys=True).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], [body]


def stream(parts: Iterable[bytes], chunk: int = CHUNK) -> Iterator[bytes]:
    """Each part cut into slices of at most ``chunk`` bytes (no joined copy)."""
    for part in parts:
        view = memoryview(part)
        for i in range(0, len(view), chunk):
            yield bytes(view[i : i + chunk])


def binary_reply(parts: list[bytes], content_type: str = "application/octet-stream") -> Reply:
    total = sum(len(p) for p in parts)
    return "200 OK", [("Content-Type", content_type), ("Content-Length", str(total))], stream(parts)


def wsgi_app(handler: Handler) -> Callable:
    """A WSGI application around ``handler``: errors become one-line answers, never crashes."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            status, headers, body = handler(environ)
        except HTTPError as e:
            status, headers, raw = e.response()
            body = [raw]
            if e.status >= 500 and e.status != 503:
                log.error("%s %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), e)
        except MemoryError:
            status, headers, raw = HTTPError("out of memory for this request").response()
            body = [raw]
        except Exception as e:  # a bug: log it, answer 500, keep serving
            log.exception("internal error on %s", environ.get("PATH_INFO"))
            print(f"hesift: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            status, headers, raw = HTTPError(f"internal error ({type(e).__name__})").response()
            body = [raw]
        start_response(status, headers)
        return body

    return app
