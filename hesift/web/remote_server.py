"""``hesift serve --remote-gallery URL``: the upload page as the key owner, on this machine."""

from __future__ import annotations

import sys
from typing import Any

from hesift.gallery import PrivateClient

from . import remote_views
from .settings import MAX_FILES_PER_REQUEST, configure

__all__ = ["make_remote_server", "serve_remote"]


def make_remote_server(client: PrivateClient, host: str = "127.0.0.1", port: int = 8000, *,
                       threads: int = 4, debug: bool = False,
                       max_upload_bytes: int = 10 * 1024 * 1024) -> Any:
    """A waitress server for the remote-gallery page (port 0 picks a free one)."""
    from waitress.server import create_server

    configure(debug=debug, max_upload_bytes=max_upload_bytes, allowed_hosts=[host])
    from django.core.wsgi import get_wsgi_application

    return create_server(
        remote_views.wsgi_with_client(get_wsgi_application(), client), host=host, port=port, threads=threads, ident="hesift",
        max_request_body_size=max_upload_bytes * MAX_FILES_PER_REQUEST + 1024 * 1024,
        channel_timeout=300,
    )


def serve_remote(client: PrivateClient, host: str = "127.0.0.1", port: int = 8000, *,
                 debug: bool = False, max_upload_mb: float = 10.0, threads: int = 4) -> int:
    """Serve the page until interrupted (this process holds the private key: keep it local)."""
    from .server import _is_loopback

    if not _is_loopback(host):
        print(f"hesift: warning: serving on {host}, not loopback: whoever reaches this page "
              "uses your key to query the gallery", file=sys.stderr)
    print("generating the Paillier key pair ...", file=sys.stderr, flush=True)
    client.keypair()
    p = client.params()
    server = make_remote_server(client, host, port, threads=threads, debug=debug,
                                max_upload_bytes=int(max_upload_mb * 1024 * 1024))
    print(f"private search of {client.url} ({p.N} images) at "
          f"http://{host}:{server.effective_port}/  [Ctrl-C stops]", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
