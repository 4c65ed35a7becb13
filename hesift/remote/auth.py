"""Bearer tokens and the bind rule: who may call a service, and where it may listen.

- :func:`load_token` reads a token file (one line, at least 16 characters).
- :func:`check_bearer` compares ``Authorization: Bearer <token>`` in constant time
  (401 when missing, 403 when wrong).
- :func:`check_bind` refuses a non-loopback address without a token unless the
  operator explicitly opts out.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import Forbidden, Unauthorized

MIN_TOKEN_CHARS = 16


def load_token(path: str | os.PathLike) -> str:
    """The token in ``path`` (surrounding whitespace stripped); ValueError if unusable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"token file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read token file {str(p)!r}: {e}") from None
    token = text.strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ValueError(f"token file {str(p)!r} must hold one token of at least "
                         f"{MIN_TOKEN_CHARS} characters and no spaces")
    return token


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe) for a token file."""
    import secrets

    return secrets.token_urlsafe(32)


def _digest(s: str) -> bytes:
    return hashlib.sha256(s.encode("utf-8", "surrogateescape")).digest()


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison (hashes first, so the length does not leak either)."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def bearer_of(environ: Mapping[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (WSGI environ or Django META)."""
    value = environ.get("HTTP_AUTHORIZATION")
    if not value:
        return None
    scheme, _, token = str(value).strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


def check_bearer(environ: Mapping[str, Any], token: str | None) -> None:
    """Raise Unauthorized (no token sent) or Forbidden (wrong one); no-op when token is None."""
    if token is None:
        return
    given = bearer_of(environ)
    if given is None:
        raise Unauthorized()
    if not tokens_equal(given, token):
        raise Forbidden("wrong bearer token")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, insecure_no_auth: bool = False) -> None:
    """ValueError when binding ``host`` without a token would expose the service."""
    if token is None and not insecure_no_auth and not is_loopback(host):
        raise ValueError(f"refusing to listen on {host} without a token: anyone who can reach "
                         "it could use the service; give --token-file FILE (or "
                         "--insecure-no-auth on a trusted network)")
