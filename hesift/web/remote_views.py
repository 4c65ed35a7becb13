"""The upload page on the user's own machine, querying a remote gallery privately.

``hesift serve --remote-gallery URL`` runs the same site as the gallery page,
but its search view is backed by a :class:`~hesift.gallery.PrivateClient`:
this process holds the Paillier key, computes SIFT of the upload locally,
sends only the encrypted query, decrypts the scores, fetches the fixed number
of candidates and shows the top 5 with thumbnails and match drawings.
The remote server's WSGI wrapper puts its client in the request environment
(``hesift.remote_client``); :class:`RemoteModeMiddleware` then switches that
request to ``hesift.web.remote_urls``.  Requests to a gallery server in the
same process are untouched.
"""

from __future__ import annotations

import base64
import threading

import cv2
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from hesift.gallery import GalleryError, ImageError, PrivateClient

from .uploads import human_size, max_upload_bytes

__all__ = ["ENVIRON_KEY", "RemoteModeMiddleware", "get_client", "search", "unavailable",
           "wsgi_with_client"]

TOP_K = 5
ENVIRON_KEY = "hesift.remote_client"
_query_lock = threading.Lock()  # one private query at a time: the client keeps its last fetch


def wsgi_with_client(app, client: PrivateClient):
    """``app`` with every request tagged as a remote-gallery request served by ``client``."""

    def tagged(environ, start_response):
        environ[ENVIRON_KEY] = client
        return app(environ, start_response)

    return tagged


def get_client(request: HttpRequest) -> PrivateClient | None:
    client = request.META.get(ENVIRON_KEY)
    return client if isinstance(client, PrivateClient) else None


class RemoteModeMiddleware:
    """Route requests of the remote-gallery server to its own pages."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if get_client(request) is not None:
            request.urlconf = "hesift.web.remote_urls"
        return self.get_response(request)


def _data_uri(png: bytes | None) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode() if png else ""


def _drawing(img) -> str:
    if img is None:
        return ""
    ok, buf = cv2.imencode(".png", img)
    return _data_uri(buf.tobytes()) if ok else ""


def _too_large(request: HttpRequest) -> str | None:
    names = getattr(request, "hesift_too_large", None)
    if not names:
        return None
    return (f"{', '.join(names)}: too large; each image may be at most "
            f"{human_size(max_upload_bytes())}.")


@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    client = get_client(request)
    ctx: dict = {"max_upload": human_size(max_upload_bytes()), "top_k": TOP_K,
                 "server": client.url if client else "", "key_bits": 0}
    if client is None:  # pragma: no cover - the middleware routes here only with a client
        return unavailable(request)
    try:
        params = client.params()
        ctx.update(gallery_size=params.N, fetch_count=params.fetch_count, words=params.V,
                   key_bits=client.keypair()[0].bits)
    except GalleryError as e:
        ctx["error"] = str(e)
        return render(request, "hesift_web/remote_search.html", ctx, status=503)
    if request.method == "GET":
        return render(request, "hesift_web/remote_search.html", ctx)
    upload = request.FILES.get("image")
    too_large = _too_large(request)
    if too_large or upload is None:
        ctx["error"] = too_large or "Choose an image file to search with."
        return render(request, "hesift_web/remote_search.html", ctx, status=413 if too_large else 400)
    if params.N == 0:
        ctx["error"] = "The remote gallery is empty."
        return render(request, "hesift_web/remote_search.html", ctx, status=409)
    try:
        with _query_lock:
            results = client.query(upload.read(), k=TOP_K)
            query = client.last_query
            rows = [{"r": r, "thumb": _data_uri(client.thumbnail(r.id)),
                     "drawing": _drawing(client.draw_match(query, r))} for r in results]
            sent = dict(client.sent)
    except ImageError as e:
        ctx["error"] = f"{upload.name}: {e}"
        return render(request, "hesift_web/remote_search.html", ctx, status=400)
    except GalleryError as e:
        ctx["error"] = str(e)
        return render(request, "hesift_web/remote_search.html", ctx, status=503)
    ctx.update(results=rows, query_name=upload.name, query_features=len(query.descriptors),
               sent=sent)
    return render(request, "hesift_web/remote_search.html", ctx)


@require_GET
def unavailable(request: HttpRequest) -> HttpResponse:
    return render(request, "hesift_web/error.html", {
        "title": "Not here",
        "message": "This page queries a remote gallery privately; images are added and "
                   "listed on the gallery's own server."}, status=404)
