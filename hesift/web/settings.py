"""Django settings built in code: ``configure()`` is called once per process.

Security defaults: DEBUG off (``debug=True`` only for development), CSRF
middleware on, uploads handed to the views in memory (Django's handler never
writes them to a file; waitress, the server, buffers a request body over 512 KB
in an unnamed, already-deleted temporary file while it arrives) and capped
at ``max_upload_bytes`` per file, host checking restricted to loopback names
plus the bound host, no sessions, no database of Django's own.
"""

from __future__ import annotations

import secrets
from typing import Any

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_REQUEST = 50


def build_settings(
    *,
    debug: bool = False,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    allowed_hosts: list[str] | None = None,
    secret_key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings dictionary (exposed separately so it can be inspected and tested)."""
    hosts = ["127.0.0.1", "localhost", "[::1]", "testserver"] + list(allowed_hosts or [])
    s: dict[str, Any] = {
        "DEBUG": bool(debug),
        # a fresh random key per process: CSRF tokens need one, nothing persists
        "SECRET_KEY": secret_key or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": hosts,
        "ROOT_URLCONF": "hesift.web.urls",
        "INSTALLED_APPS": ["hesift.web"],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "hesift.web.uploads.RequestSizeLimitMiddleware",
            "django.middleware.common.CommonMiddleware",
            "hesift.web.remote_views.RemoteModeMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "TEMPLATES": [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                               "hesift.web.guard.context"]},
        }],
        "DATABASES": {},  # the gallery has its own SQLite file; Django stores nothing
        "FILE_UPLOAD_HANDLERS": ["hesift.web.uploads.LimitedMemoryUploadHandler"],
        "DATA_UPLOAD_MAX_MEMORY_SIZE": 1024 * 1024,  # non-file form fields
        "DATA_UPLOAD_MAX_NUMBER_FILES": MAX_FILES_PER_REQUEST,
        "HESIFT_MAX_UPLOAD_BYTES": int(max_upload_bytes),
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Strict",
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    }
    s.update(extra or {})
    return s


def configure(**kwargs: Any) -> None:
    """Configure Django for this process (once; later calls must not change it)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(**build_settings(**kwargs))
    django.setup()
