"""Serve an :class:`EvaluatorService` with waitress (the project's WSGI server).

:func:`serve_evaluator` is what ``hesift evaluator`` runs: it forbids private
keys in this process first, checks the bind rule, binds, prints one line
``hesift evaluator listening on http://HOST:PORT/v1/`` (tests read the port
from it when they ask for port 0) and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from .auth import check_bind
from .executor import Executor
from .limits import Limits
from .service import EvaluatorService


def make_server(service: EvaluatorService, host: str = "127.0.0.1", port: int = 0, *,
                threads: int | None = None) -> Any:
    """A bound (not yet running) waitress server; port 0 picks a free port."""
    from waitress.server import create_server

    lim = service.limits
    return create_server(
        service, host=host, port=port, ident="hesift-evaluator",
        # job threads + spare ones so health, 401/413/503 answers never wait behind jobs
        threads=threads or lim.max_jobs + 2,
        # waitress buffers bodies over 1 MiB in a temporary file, not in memory; anything
        # over the limit (+ slack so the app can answer with its own reason) is cut off
        max_request_body_size=lim.max_request_bytes + (1 << 20),
        max_request_header_size=64 * 1024,
        # idle connections (e.g. a stalled upload) close after 2 minutes; a connection
        # whose request is being computed is never idle-closed, however long the job
        channel_timeout=120,
        connection_limit=64,
        expose_tracebacks=False,
    )


def serve_evaluator(host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
                    limits: Limits | None = None, executor: Executor | None = None,
                    insecure_no_auth: bool = False) -> int:
    """Run the evaluator service until interrupted; returns an exit code."""
    import hepaillier_core as hc

    hc.forbid_private_keys()  # this process can never hold a private key
    check_bind(host, token, insecure_no_auth)
    service = EvaluatorService(limits, token, executor)
    server = make_server(service, host, port)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    url = f"http://{server.effective_host}:{server.effective_port}/v1/"
    auth = "bearer token required" if token else "NO authentication"
    print(f"hesift evaluator listening on {url} ({auth}; max {service.limits.max_jobs} jobs, "
          f"{service.limits.max_request_bytes >> 20} MiB per request; private keys forbidden; "
          "Ctrl-C stops)", flush=True)
    if token is None and insecure_no_auth:
        print("hesift: warning: no token: anyone who can reach this port can use the service",
              file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
