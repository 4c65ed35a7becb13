"""The two parties on two machines: an evaluator service and its key-owner client.

- :class:`RemoteEvaluator` (client): ``hesift.HESIFT(img, keypair,
  evaluator=RemoteEvaluator(url))``, ``hesift.filters.gaussian(x, 1.0,
  evaluator=...)``, ``hesift filter|sift|gallery add --evaluator URL``.
- :class:`EvaluatorService` (WSGI app) and :func:`serve_evaluator` (what
  ``hesift evaluator`` runs: private keys forbidden in the process).
- Reusable pieces for any service facing untrusted bodies: :class:`Limits`,
  :func:`read_body`, :class:`JobSlots`, :func:`check_bearer`, :func:`load_token`,
  :func:`check_bind` and the :class:`HTTPError` family (one-line reasons).

See docs/deployment.md.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "RemoteEvaluator": "client",
    "RemoteError": "client",
    "RemoteUnavailable": "client",
    "connect": "client",
    "EvaluatorService": "service",
    "serve_evaluator": "server",
    "make_server": "server",
    "LocalExecutor": "executor",
    "DaskExecutor": "executor",
    "dask_client": "executor",
    "Limits": "limits",
    "JobSlots": "limits",
    "declared_length": "limits",
    "read_body": "limits",
    "check_bearer": "auth",
    "check_bind": "auth",
    "is_loopback": "auth",
    "load_token": "auth",
    "new_token": "auth",
    "tokens_equal": "auth",
    "HTTPError": "errors",
    "BadRequest": "errors",
    "Unauthorized": "errors",
    "Forbidden": "errors",
    "PayloadTooLarge": "errors",
    "UnsupportedVersion": "errors",
    "Busy": "errors",
    "wsgi_app": "wsgi",
    "WIRE_VERSION": "wire",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hesift.remote' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
