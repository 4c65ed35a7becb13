"""``hesift evaluator``: run the evaluator as a network service (public keys only).

The process forbids private keys before it binds (constructing one raises), so
it can hold nothing but public keys and ciphertexts.  Key owners reach it with
``--evaluator URL`` on ``hesift filter``, ``hesift sift`` and ``hesift gallery add``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hesift.cli import CLIError

DEFAULT_PORT = 8765


def add_client_options(p: argparse.ArgumentParser) -> None:
    """--evaluator URL and --token-file F for a key-owner command."""
    p.add_argument("--evaluator", metavar="URL", default=None,
                   help="run the evaluator step on this 'hesift evaluator' service "
                        "(e.g. http://server:8765); only ciphertexts and the public key travel")
    p.add_argument("--token-file", metavar="F", default=None,
                   help="file holding the evaluator service's bearer token")


def remote_from_args(args: argparse.Namespace) -> Any:
    """A RemoteEvaluator for --evaluator (None when not given), checked with /v1/health."""
    url = getattr(args, "evaluator", None)
    token_file = getattr(args, "token_file", None)
    if url is None:
        if token_file:
            raise CLIError("--token-file needs --evaluator URL")
        return None
    from hesift.remote import RemoteEvaluator, load_token

    try:
        token = load_token(token_file) if token_file else None
        remote = RemoteEvaluator(url, token)
    except ValueError as e:
        raise CLIError(str(e)) from None
    info = remote.health()
    if info.get("service") != "hesift-evaluator":
        raise CLIError(f"{url} is not a hesift evaluator service")
    return remote


def cmd_evaluator(args: argparse.Namespace) -> int:
    from hesift.remote import Limits, LocalExecutor, load_token, serve_evaluator

    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be in 0..65535, got {args.port}")
    try:
        limits = Limits.from_mb(args.max_request_mb, max_jobs=args.max_jobs,
                                min_key_bits=args.min_key_bits, max_key_bits=args.max_key_bits)
        if args.token_file and not Path(args.token_file).exists():
            _write_new_token(Path(args.token_file))
        token = load_token(args.token_file) if args.token_file else None
    except ValueError as e:
        raise CLIError(str(e)) from None
    if args.workers is not None:
        import hepaillier_core as hc

        hc.set_workers(args.workers)
    if args.dask:
        from hesift.remote import DaskExecutor

        try:
            executor = DaskExecutor.connect(args.dask)
        except ValueError as e:
            raise CLIError(str(e), 1) from None
    else:
        executor = LocalExecutor(args.workers)
    try:
        return serve_evaluator(args.host, args.port, token=token, limits=limits,
                               executor=executor,
                               insecure_no_auth=args.insecure_no_auth)
    except ValueError as e:  # the bind rule
        raise CLIError(str(e)) from None


def _write_new_token(path: Path) -> None:
    """A fresh random token in ``path`` (mode 0600), for the key owner to copy."""
    from hepaillier_core.files import atomic_write
    from hesift.remote import new_token

    if not path.resolve().parent.is_dir():
        raise CLIError(f"directory of --token-file {str(path)!r} does not exist")
    data = (new_token() + "\n").encode()
    atomic_write(path, lambda f: f.write(data), 0o600)
    print(f"hesift: wrote a new token to {path} (mode 0600); copy it to the key owner's "
          "machine for --token-file", file=sys.stderr, flush=True)


def register(sub: Any) -> None:
    """Add the ``evaluator`` subcommand."""
    p = sub.add_parser(
        "evaluator",
        help="run the evaluator as an HTTP service (public keys and ciphertexts only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="port (default %(default)s; 0 picks a free one and prints it)")
    p.add_argument("--token-file", metavar="F",
                   help="require 'Authorization: Bearer <token in F>' on every job "
                        "(a missing F is created with a new random token, mode 0600)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow a non-loopback --host without a token (trusted networks only)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="crypto worker threads per job (default: all cores)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the ciphertext work on this Dask cluster (tcp://scheduler:8786; "
                        "its workers get only public keys and ciphertext rows)")
    p.add_argument("--max-request-mb", type=float, default=256.0, metavar="M",
                   help="largest request body in MiB (default %(default)s)")
    p.add_argument("--max-jobs", type=int, default=2, metavar="J",
                   help="jobs at once; more get 503 + Retry-After (default %(default)s)")
    p.add_argument("--min-key-bits", type=int, default=256, help=argparse.SUPPRESS)
    p.add_argument("--max-key-bits", type=int, default=4096,
                   help="largest public key accepted (default %(default)s)")
    p.set_defaults(func=cmd_evaluator)
