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
from hesift.remote.errors import BadRequest, HTTPError
from hesift.remote.limits import JobSlots, Limits, declared_length, read_body

from .state import get_gallery

__all__ = ["MAX_CONCURRENT", "features", "get_index", "params", "query", "set_index", "warm_up"]

MAX_CONCURRENT = 2
MAX_FEATURES_REQUEST = 64 * 1024
_slots = JobSlots(Limits(max_jobs=MAX_CONCURRENT, retry_after=5))
_index: dict[str, PrivateIndex | None] = {"index": None}
_index_lock = threading.Lock()


class _Conflict(HTTPError):
    status = 409


class _Unavailable(HTTPError):
    status = 503


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


def warm_up() -> None:
    """Build the served gallery's private-retrieval parameters now (prints what it does)."""
    import sys

    if len(get_gallery()) == 0:
        return
    print("building the private-retrieval vocabulary ...", file=sys.stderr, flush=True)
    try:
        get_index().params()
    except (EmptyGallery, GalleryError) as e:
        print(f"hesift: private retrieval unavailable for now: {e}", file=sys.stderr)


def _response(e: HTTPError) -> HttpResponse:
    status, headers, body = e.response()
    resp = HttpResponse(body, status=e.status)
    for k, v in headers:
        if k.lower() != "content-length":
            resp[k] = v
    return resp


def _binary(data: bytes) -> HttpResponse:
    resp = HttpResponse(data, content_type="application/octet-stream")
    resp["Cache-Control"] = "no-store"
    return resp


def _body(request: HttpRequest, limit: int) -> bytes:
    """Exactly the declared body, its size refused (411/400/413) before a byte is read."""
    env = {"CONTENT_LENGTH": request.META.get("CONTENT_LENGTH"), "wsgi.input": request}
    return read_body(env, Limits(max_request_bytes=max(1024, limit)))


def _guarded(handler):
    def view(request: HttpRequest) -> HttpResponse:
        try:
            return handler(request)
        except HTTPError as e:
            return _response(e)
        except WireError as e:
            return _response(BadRequest(str(e)))
        except (StaleParams, EmptyGallery) as e:
            return _response(_Conflict(str(e)))
        except GalleryError as e:
            return _response(_Unavailable(f"gallery unavailable: {e}"))
        except ValueError as e:
            return _response(BadRequest(str(e)))
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
    limit = idx.max_query_bytes()  # the largest valid query: anything longer is refused unread
    declared_length(request.META, Limits(max_request_bytes=max(1024, limit)))
    with _slots.slot():
        return _binary(idx.answer(_body(request, limit)))


@csrf_exempt
@require_POST
@_guarded
def features(request: HttpRequest) -> HttpResponse:
    try:
        body = json.loads(_body(request, MAX_FEATURES_REQUEST))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("features: body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("version"), str):
        raise BadRequest("features: expected {\"version\": ..., \"ids\": [...]}")
    return _binary(get_index().features(body["version"], body.get("ids")))
