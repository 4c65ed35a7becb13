"""Upload limits: files stay in memory, capped per file and per request.

``LimitedMemoryUploadHandler`` keeps each file in memory (Django writes no
temporary upload file; waitress itself buffers a request body over 512 KB in an
unnamed, already-deleted temporary file while receiving it); a file over the cap is
skipped (its bytes discarded as they arrive) and its name recorded on the
request so the view can say why.  ``RequestSizeLimitMiddleware`` refuses a
request whose declared body is larger than any acceptable form, before
anything is read.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def max_upload_bytes() -> int:
    return int(settings.HESIFT_MAX_UPLOAD_BYTES)


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


class LimitedMemoryUploadHandler(FileUploadHandler):
    """Collect each uploaded file in memory; skip any file above the size cap."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.limit = max_upload_bytes()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.limit:
            too_large = getattr(self.request, "hesift_too_large", [])
            too_large.append(self.file_name)
            self.request.hesift_too_large = too_large
            self.buffer = io.BytesIO()
            raise SkipFile()
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            self.buffer, self.field_name, self.file_name, self.content_type,
            file_size, self.charset, self.content_type_extra,
        )


class RequestSizeLimitMiddleware:
    """413 with a readable page when the request body cannot be a valid upload."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        cap = max_upload_bytes() * settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1024 * 1024
        if length > cap:
            html = render_to_string("hesift_web/error.html", {
                "title": "Upload too large",
                "message": f"The upload is {human_size(length)}; each image may be at most "
                           f"{human_size(max_upload_bytes())}.",
            })
            return HttpResponse(html, status=413)
        return self.get_response(request)
