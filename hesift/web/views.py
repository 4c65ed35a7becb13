"""Views: search (upload -> top 5), add images, list/remove, thumbnails.

Uploaded bytes are decoded in memory and kept nowhere but the gallery
database (as features and a thumbnail, and only on the add page); while a
large request body arrives, waitress buffers it in an unnamed temporary file.
Errors a user can cause render as a page with a clear message and a 4xx
status; a broken gallery file gives 503.
"""

from __future__ import annotations

import base64
import logging

import cv2
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hesift.gallery import GalleryError, ImageError

from .guard import bounded, require_admin
from .state import get_gallery
from .uploads import human_size, max_upload_bytes

log = logging.getLogger("hesift.web")
TOP_K = 5


def _png_data_uri(img) -> str:
    ok, buf = cv2.imencode(".png", img)
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _too_large_message(request: HttpRequest) -> str | None:
    """Which uploads the handler skipped for size (valid after request.FILES was read)."""
    names = getattr(request, "hesift_too_large", None)
    if not names:
        return None
    return (f"{', '.join(names)}: too large; each image may be at most "
            f"{human_size(max_upload_bytes())}.")


def _error(request, title: str, message: str, status: int) -> HttpResponse:
    return render(request, "hesift_web/error.html", {"title": title, "message": message},
                  status=status)


@require_http_methods(["GET", "POST"])
@bounded
def search(request: HttpRequest) -> HttpResponse:
    ctx: dict = {"max_upload": human_size(max_upload_bytes()), "top_k": TOP_K}
    try:
        gallery = get_gallery()
        ctx["gallery_size"] = len(gallery)
    except GalleryError as e:
        return _error(request, "Gallery unavailable", str(e), 503)
    if request.method == "GET":
        return render(request, "hesift_web/search.html", ctx)
    upload = request.FILES.get("image")  # parses the body: run before _too_large_message
    too_large = _too_large_message(request)
    if too_large or upload is None:
        ctx["error"] = too_large or "Choose an image file to search with."
        return render(request, "hesift_web/search.html", ctx, status=413 if too_large else 400)
    if ctx["gallery_size"] == 0:
        ctx["error"] = "The gallery is empty: add images first."
        return render(request, "hesift_web/search.html", ctx, status=409)
    try:
        query = gallery.features_of(upload.read())
        results = gallery.query(query, k=TOP_K)
        rows = []
        for r in results:
            drawing = gallery.draw_match(query, r) if r.inliers else None
            rows.append({"r": r, "drawing": _png_data_uri(drawing) if drawing is not None else ""})
    except ImageError as e:
        ctx["error"] = f"{upload.name}: {e}"
        return render(request, "hesift_web/search.html", ctx, status=400)
    except GalleryError as e:
        return _error(request, "Gallery unavailable", str(e), 503)
    ctx.update(results=rows, query_name=upload.name, query_features=len(query.descriptors))
    return render(request, "hesift_web/search.html", ctx)


@require_http_methods(["GET", "POST"])
@require_admin
@bounded
def add(request: HttpRequest) -> HttpResponse:
    ctx: dict = {"max_upload": human_size(max_upload_bytes())}
    try:
        gallery = get_gallery()
    except GalleryError as e:  # pragma: no cover - get_gallery does not open files
        return _error(request, "Gallery unavailable", str(e), 503)
    if request.method == "GET":
        return render(request, "hesift_web/add.html", ctx)
    files = request.FILES.getlist("images")
    too_large = _too_large_message(request)
    if not files and not too_large:
        ctx["error"] = "Choose one or more image files to add."
        return render(request, "hesift_web/add.html", ctx, status=400)
    report, errors = [], [too_large] if too_large else []
    for f in files:
        name = (f.name or "").rsplit(".", 1)[0].strip() or None
        try:
            e = gallery.add(f.read(), name=name)
        except ImageError as exc:
            errors.append(f"{f.name}: {exc}")
            continue
        except GalleryError as exc:
            return _error(request, "Gallery unavailable", str(exc), 503)
        report.append(e)
    ctx.update(report=report, errors=errors)
    return render(request, "hesift_web/add.html", ctx, status=200 if report or not errors else 400)


@require_http_methods(["GET"])
def gallery_list(request: HttpRequest) -> HttpResponse:
    try:
        entries = get_gallery().list()
    except GalleryError as e:
        return _error(request, "Gallery unavailable", str(e), 503)
    return render(request, "hesift_web/gallery.html", {"entries": entries})


@require_POST
@require_admin
def remove(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        removed = get_gallery().remove(name)
    except GalleryError as e:
        return _error(request, "Gallery unavailable", str(e), 503)
    if not removed:
        return _error(request, "Not found", f"No image named {name!r} in the gallery.", 404)
    return redirect("gallery")


@require_http_methods(["GET"])
def thumbnail(request: HttpRequest, image_id: int) -> HttpResponse:
    try:
        data = get_gallery().thumbnail_by_id(image_id)
    except KeyError:
        raise Http404("no such image") from None
    except GalleryError as e:
        return _error(request, "Gallery unavailable", str(e), 503)
    resp = HttpResponse(data, content_type="image/png")
    resp["Cache-Control"] = "private, max-age=3600"
    return resp
