"""Who may change the gallery, and how many heavy requests run at once.

- ``require_admin``: when the site has an admin token (``hesift serve
  --admin-token-file``), adding and removing images need it — the form field
  ``admin_token`` or ``Authorization: Bearer <token>`` (compared in constant
  time); otherwise 403.  Searching stays open.  ``hesift serve`` refuses to
  listen off loopback without a token (``hesift.remote.auth.check_bind``,
  the evaluator service's rule).
- ``bounded``: at most ``HESIFT_MAX_CONCURRENT`` uploads (queries and adds:
  each runs a feature extraction) are processed at once; one more gets 503 with
  ``Retry-After`` at once instead of queueing (``hesift.remote.limits.JobSlots``).
"""

from __future__ import annotations

import functools
import threading

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hesift.remote.auth import bearer_of, tokens_equal
from hesift.remote.errors import Busy
from hesift.remote.limits import JobSlots, Limits

DEFAULT_MAX_CONCURRENT = 2
_slots: dict[int, JobSlots] = {}
_slots_lock = threading.Lock()


def admin_token() -> str | None:
    return getattr(settings, "HESIFT_ADMIN_TOKEN", None) or None


def _page(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    return render(request, "hesift_web/error.html", {"title": title, "message": message},
                  status=status)


def context(request: HttpRequest) -> dict:
    """Template context: whether the add/remove forms must ask for the admin token."""
    return {"admin_required": admin_token() is not None}


def require_admin(view):
    """POSTs to ``view`` need the admin token when one is configured."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = admin_token()
        if token is not None and request.method == "POST":
            given = request.POST.get("admin_token") or bearer_of(request.META)
            if not given or not tokens_equal(given, token):
                return _page(request, "Admin token required",
                             "Adding and removing images needs this site's admin token.", 403)
        return view(request, *args, **kwargs)

    return wrapped


def slots() -> JobSlots:
    n = int(getattr(settings, "HESIFT_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT))
    with _slots_lock:
        if n not in _slots:
            _slots[n] = JobSlots(Limits(max_jobs=n, retry_after=10))
        return _slots[n]


def bounded(view):
    """At most HESIFT_MAX_CONCURRENT POSTs of all bounded views run at once; else 503."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        try:
            with slots().slot():
                return view(request, *args, **kwargs)
        except Busy as e:
            resp = _page(request, "Busy", f"The server is busy: {e}.", 503)
            resp["Retry-After"] = str(e.retry_after)
            return resp

    return wrapped
