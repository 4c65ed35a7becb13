"""Run the site with waitress (a production-grade pure-Python WSGI server).

``serve()`` blocks; ``make_server()`` returns a started-but-not-running server
for tests (``server.run()`` in a thread, ``server.close()`` to stop).
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from hesift.gallery import Gallery

from . import state
from .settings import MAX_FILES_PER_REQUEST, configure


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def application(
    gallery: Gallery, *, debug: bool = False, max_upload_bytes: int | None = None,
    allowed_hosts: list[str] | None = None, admin_token: str | None = None,
    max_concurrent: int | None = None,
):
    """The WSGI application serving ``gallery`` (configures Django on first call).

    ``admin_token``: adding and removing images need it (``hesift.web.guard``);
    ``max_concurrent``: uploads processed at once (more get 503 + Retry-After).
    """
    kw: dict[str, Any] = {"debug": debug, "allowed_hosts": allowed_hosts}
    if max_upload_bytes is not None:
        kw["max_upload_bytes"] = max_upload_bytes
    configure(**kw)
    from django.conf import settings

    # set even when Django was configured earlier in this process: never silently open
    settings.HESIFT_ADMIN_TOKEN = admin_token
    if max_concurrent is not None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        settings.HESIFT_MAX_CONCURRENT = int(max_concurrent)
    state.set_gallery(gallery)
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def make_server(
    gallery: Gallery, host: str = "127.0.0.1", port: int = 8000, *, threads: int = 4,
    debug: bool = False, max_upload_bytes: int = 10 * 1024 * 1024,
    admin_token: str | None = None, max_concurrent: int | None = None,
    insecure_no_auth: bool = False,
):
    """A waitress server bound to host:port (port 0 picks a free one).

    Off loopback it needs ``admin_token`` (else ValueError), unless
    ``insecure_no_auth``: anyone who can reach it could change the gallery.
    """
    from hesift.remote.auth import check_bind

    check_bind(host, admin_token, insecure_no_auth)
    try:
        from waitress.server import create_server
    except ImportError:  # pragma: no cover
        raise RuntimeError("the web page needs waitress: pip install waitress") from None
    app = application(gallery, debug=debug, max_upload_bytes=max_upload_bytes,
                      allowed_hosts=[host] if host not in ("0.0.0.0", "::") else ["*"],
                      admin_token=admin_token, max_concurrent=max_concurrent)
    return create_server(
        app, host=host, port=port, threads=threads, ident="hesift",
        max_request_body_size=max_upload_bytes * MAX_FILES_PER_REQUEST + 1024 * 1024,
        channel_timeout=300,  # encrypted feature extraction can take minutes
    )


def serve(
    gallery: Gallery, host: str = "127.0.0.1", port: int = 8000, *, debug: bool = False,
    max_upload_mb: float = 10.0, threads: int = 4, admin_token: str | None = None,
    max_concurrent: int | None = None, insecure_no_auth: bool = False,
) -> int:
    """Serve until interrupted; returns an exit code."""
    from hesift.remote.auth import check_bind

    check_bind(host, admin_token, insecure_no_auth)  # before any key generation
    if not _is_loopback(host):
        print(f"hesift: warning: serving on {host}, not loopback: anyone who can reach it can "
              "query" + (" and add/remove images (no admin token)" if admin_token is None
                         else "; adding/removing images needs the admin token"),
              file=sys.stderr)
    keypair = getattr(gallery.extractor, "keypair", None)
    if callable(keypair):  # generate the server's Paillier key now, not on the first upload
        print("generating the Paillier key pair ...", file=sys.stderr, flush=True)
        keypair()
    server = make_server(gallery, host, port, threads=threads, debug=debug,
                         max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         admin_token=admin_token, max_concurrent=max_concurrent,
                         insecure_no_auth=insecure_no_auth)
    from .private_api import warm_up

    warm_up()  # the private-retrieval vocabulary now, not on the first encrypted query
    mode = "DEVELOPMENT (DEBUG on)" if debug else "production"
    print(f"hesift gallery {gallery.path} ({len(gallery)} images) at "
          f"http://{host}:{server.effective_port}/  [{mode}; Ctrl-C stops]", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


class BackgroundServer:
    """Run a waitress server in a thread and stop it cleanly (tests, embedding)."""

    def __init__(self, server) -> None:
        import threading

        self.server = server
        self.url = f"http://{server.effective_host}:{server.effective_port}"
        self._thread = threading.Thread(target=server.run, name="hesift-web", daemon=True)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Close every socket from inside the server's own loop, so it exits without errors."""
        from waitress import wasyncore

        srv = self.server

        def shutdown() -> None:
            srv.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
            wasyncore.close_all(srv._map)

        if self._thread.is_alive():
            srv.trigger.pull_trigger(shutdown)
            self._thread.join(timeout)
