"""The gallery the web views serve (one per process, set by the launcher or a test)."""

from __future__ import annotations

from hesift.gallery import Gallery

_gallery: Gallery | None = None


def set_gallery(gallery: Gallery | None) -> None:
    global _gallery
    _gallery = gallery


def get_gallery() -> Gallery:
    if _gallery is None:
        raise RuntimeError("no gallery configured: call hesift.web.state.set_gallery() first")
    return _gallery
