"""HTTP endpoints of private retrieval (served by ``hesift serve`` beside the page).

- ``GET  /api/private/params``   the vocabulary, idf and image list (binary, see wire.py)
- ``POST /api/private/query``    one encrypted query -> packed encrypted scores
- ``POST /api/private/features`` JSON ``{"version", "ids": [exactly fetch_count ids]}``
  -> those candidates' keypoints, descriptors and thumbnails

Error rules (as the evaluator service): sizes are checked against the
declared Content-Length before anything is read or allocated; a body that is
too large gets 413, a malformed one 400, parameters that changed or an empty
gallery 409, a broken gallery or a full queue 503; every error is one line of
text/plain.  At most ``MAX_CONCURRENT`` queries are scored at once (memory stays
bounded: a query holds its power table, ~V*15 ciphertexts, and one chunk of images).
"""

from __future__ import annotations

import json
import threading

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from hesift.gallery import GalleryError
from hesift.gallery.private import EmptyGallery, PrivateIndex, StaleParams, WireError

from .state import get_gallery

__all__ = ["MAX_CONCURRENT", "features", "get_index", "params", "query", "set_index"]

MAX_CONCURRENT = 2
MAX_FEATURES_REQUEST = 64 * 1024
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)
_index: dict[str, PrivateIndex | None] = {"index": None}
_index_lock = threading.Lock()


def set_index(index: PrivateIndex | None) -> None:
    """Use this PrivateIndex (None: build one from the served gallery on first use)."""
    _index["index"] = index


def get_index() -> PrivateIndex:
    gallery = get_gallery()
    with _index_lock:
        idx = _index["index"]
        if idx is None or idx.gallery is not gallery:
            idx = PrivateIndex(gallery)
            _index["index"] = idx
        return idx


def _fail(status: int, message: str) -> HttpResponse:
    resp = HttpResponse(message.splitlines()[0] + "\n", status=status,
                        content_type="text/plain; charset=utf-8")
    if status == 503:
        resp["Retry-After"] = "5"
    return resp


def _binary(data: bytes) -> HttpResponse:
    resp = HttpResponse(data, content_type="application/octet-stream")
    resp["Cache-Control"] = "no-store"
    return resp


def _length(request: HttpRequest) -> int | None:
    try:
        n = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return n if n >= 0 else None


def _read(request: HttpRequest, n: int) -> bytes:
    """Exactly the declared body (the size was checked first); raw stream, no form parsing."""
    data = request.read(n)
    if len(data) != n:
        raise WireError(f"body ended after {len(data)} of {n} bytes")
    return data


def _guarded(handler):
    def view(request: HttpRequest) -> HttpResponse:
        try:
            return handler(request)
        except WireError as e:
            return _fail(400, str(e))
        except (StaleParams, EmptyGallery) as e:
            return _fail(409, str(e))
        except GalleryError as e:
            return _fail(503, f"gallery unavailable: {e}")
        except ValueError as e:
            return _fail(400, str(e))
    return view


@require_GET
@_guarded
def params(request: HttpRequest) -> HttpResponse:
    return _binary(get_index().params_bytes())


@csrf_exempt
@require_POST
@_guarded
def query(request: HttpRequest) -> HttpResponse:
    idx = get_index()
    n = _length(request)
    if n is None:
        return _fail(411, "Content-Length required")
    limit = idx.max_query_bytes()
    if n > limit:
        return _fail(413, f"query of {n} bytes; the largest valid query is {limit} bytes")
    if not _slots.acquire(blocking=False):
        return _fail(503, "busy: too many private queries at once; retry shortly")
    try:
        return _binary(idx.answer(_read(request, n)))
    finally:
        _slots.release()


@csrf_exempt
@require_POST
@_guarded
def features(request: HttpRequest) -> HttpResponse:
    n = _length(request)
    if n is None:
        return _fail(411, "Content-Length required")
    if n > MAX_FEATURES_REQUEST:
        return _fail(413, f"request of {n} bytes; at most {MAX_FEATURES_REQUEST}")
    try:
        body = json.loads(_read(request, n))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _fail(400, "features: body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("version"), str):
        return _fail(400, "features: expected {\"version\": ..., \"ids\": [...]}")
    return _binary(get_index().features(body["version"], body.get("ids")))
