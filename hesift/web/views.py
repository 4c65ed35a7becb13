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
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hesift.estimate import EstimateRefused, format_seconds
from hesift.gallery import GalleryError, ImageError

from . import webjobs
from .guard import bounded, require_admin
from .jobs import Job, JobFailed, QueueFull
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
    """GET: the form.  POST: check the upload at once, then run it as a background job."""
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
    name = upload.name or "query"
    try:
        img = webjobs.check_image(upload.read())
        est = webjobs.estimate(gallery, [img.shape[:2]], "this search")
    except (ImageError, EstimateRefused) as e:
        ctx["error"] = f"{name}: {e}"
        return render(request, "hesift_web/search.html", ctx, status=webjobs.status_of(e))

    def run(job: Job) -> dict:
        try:
            job.stage("features")
            query = gallery.features_of(img)
            job.stage("matching")
            results = gallery.query(query, k=TOP_K)
            job.stage("drawing")
            rows = []
            for r in results:
                drawing = gallery.draw_match(query, r) if r.inliers else None
                rows.append({"r": r,
                             "drawing": _png_data_uri(drawing) if drawing is not None else ""})
        except ImageError as e:
            raise JobFailed("Not a usable image", f"{name}: {e}", 400) from None
        except GalleryError as e:
            raise JobFailed("Gallery unavailable", str(e), 503) from None
        return {"results": rows, "query_name": name, "query_features": len(query.descriptors)}

    return _submit(request, "query", run, webjobs.QUERY_STAGES, webjobs.QUERY_WEIGHTS, est)


@require_http_methods(["GET", "POST"])
@require_admin
@bounded
def add(request: HttpRequest) -> HttpResponse:
    """GET: the form.  POST: check every file at once, then add the good ones in a job."""
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
    good, errors, status = [], [too_large] if too_large else [], 413 if too_large else 400
    for f in files:
        try:
            good.append(((f.name or "").rsplit(".", 1)[0].strip() or None, f.name,
                         webjobs.check_image(f.read())))
        except ImageError as exc:
            errors.append(f"{f.name}: {exc}")
            status = webjobs.status_of(exc)
    if not good:
        ctx["errors"] = errors
        return render(request, "hesift_web/add.html", ctx, status=status)
    try:
        est = webjobs.estimate(gallery, [img.shape[:2] for _, _, img in good], "adding these")
    except EstimateRefused as e:
        ctx["error"] = str(e)
        return render(request, "hesift_web/add.html", ctx, status=413)

    def run(job: Job) -> dict:
        report, errs = [], list(errors)
        for i, (stem, fname, img) in enumerate(good):
            job.stage(f"add-{i}")
            try:
                report.append(gallery.add(img, name=stem))
            except ImageError as exc:
                errs.append(f"{fname}: {exc}")
            except GalleryError as exc:
                raise JobFailed("Gallery unavailable", str(exc), 503) from None
        return {"report": report, "errors": errs}

    stages = [(f"add-{i}", f"adding {fname} ({i + 1} of {len(good)})")
              for i, (_, fname, _) in enumerate(good)]
    return _submit(request, "add", run, stages, None, est)


def _submit(request: HttpRequest, kind: str, run, stages, weights, est) -> HttpResponse:
    try:
        job = webjobs.get_queue().submit(
            kind, run, stages, weights, estimate=est.seconds if est is not None else None,
            estimate_text=est.describe() if est is not None else "")
    except QueueFull as e:
        resp = _error(request, "The server is busy",
                      f"Too many uploads are waiting ({e}); please try again in a minute.", 503)
        resp["Retry-After"] = "60"
        return resp
    return redirect("job", job_id=job.id)


@require_http_methods(["GET"])
def job_page(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job's page: its stages, progress and ETA while it runs, then its result."""
    job = webjobs.get_queue().get(job_id)
    if job is None:
        return _error(request, "No such job", "This job does not exist, or finished more than "
                      "an hour ago.", 404)
    info = {"job": job, "status": job.status(), "took": format_seconds(job.elapsed()),
            "estimated": format_seconds(job.estimate) if job.estimate else ""}
    if job.state == "failed":
        err = job.error
        return _error(request, err.title, err.message, err.status)
    if job.state == "done":
        if job.kind == "query":
            ctx = {"max_upload": human_size(max_upload_bytes()), "top_k": TOP_K,
                   "gallery_size": len(get_gallery()), **job.result, **info}
            return render(request, "hesift_web/search.html", ctx)
        ctx = {"max_upload": human_size(max_upload_bytes()), **job.result, **info}
        return render(request, "hesift_web/add.html", ctx)
    return render(request, "hesift_web/job.html", info)


@require_http_methods(["GET"])
def job_status(request: HttpRequest, job_id: str) -> HttpResponse:
    """The small JSON the job page polls."""
    job = webjobs.get_queue().get(job_id)
    if job is None:
        return JsonResponse({"error": "no such job"}, status=404)
    resp = JsonResponse(job.status())
    resp["Cache-Control"] = "no-store"
    return resp


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
