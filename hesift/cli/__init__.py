"""The ``hesift`` command line.

``main`` builds one argparse parser whose subcommands come from the modules
in :data:`COMMAND_MODULES`; each module has ``register(subparsers)`` and sets
``func=handler`` (``handler(args) -> int``) on its parsers.  Expected user
errors become a single ``hesift: error: ...`` line and the exit code of their
kind, the same in every command (:mod:`hesift.errors`, docs/cli.md): 2 usage,
3 missing input, 4 unreadable input, 5 wrong key, 6 refused size, 7 service
error, 130 interrupted, 1 anything else.  A bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

from hesift.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    exit_code_of,
)

COMMAND_MODULES = ("keys_cmd", "filters_cmd", "demo_cmd", "sift_cmd", "gallery_cmd", "bench_cmd",
                   "evaluator_cmd")

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "CLIError", "main", "run"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [CLIError, OverflowError, ValueError, zipfile.BadZipFile]
    try:
        from hesift.gallery import GalleryError

        errors.append(GalleryError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def add_runtime_options(p: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    """--workers, --progress/--no-progress and (optionally) --json for a subcommand."""
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker threads/processes for the crypto (default: all cores)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show progress bars (default: when stderr is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    if json_output:
        p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def apply_runtime_options(args: argparse.Namespace) -> bool:
    """Set the worker count; return whether to show progress bars."""
    workers = getattr(args, "workers", None)
    if workers is not None:
        if workers < 1:
            raise CLIError(f"--workers must be >= 1, got {workers}")
        import hepaillier_core as hc

        hc.set_workers(workers)
    progress = getattr(args, "progress", None)
    if progress is None:
        progress = sys.stderr.isatty()
    return bool(progress)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every available command module registered."""
    from hesift import __version__

    parser = argparse.ArgumentParser(
        prog="hesift",
        description="Image processing and SIFT on Paillier-encrypted images.",
    )
    parser.add_argument("--version", action="version", version=f"hesift {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"{__name__}.{name}"
        if importlib.util.find_spec(modname) is None:
            continue  # written by another part of the project, not installed yet
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hesift`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("hesift: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _user_errors() as e:
        if args.debug:
            raise
        code = exit_code_of(e)
        return _report(e, EXIT_USAGE if code == EXIT_FAILURE else code)
    except OSError as e:
        if args.debug:
            raise
        return _report(e, exit_code_of(e))


def console_main() -> None:
    """The ``hesift`` console script: ``main()``, then exit.

    After Ctrl-C the queued work is cancelled and the process ends at once
    (``os._exit`` after flushing), instead of waiting at interpreter exit for
    worker threads to finish the chunk they are computing; partial outputs
    were already removed while the interrupt unwound.
    """
    code = main()
    if code == EXIT_INTERRUPTED:
        from hepaillier_core.parallel import cancel_all

        cancel_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _report(e: BaseException, code: int) -> int:
    text = str(e)
    if isinstance(e, OSError) and e.filename and e.strerror:
        text = f"{e.filename}: {e.strerror}"
    text = " ".join(text.split()) or type(e).__name__
    print(f"hesift: error: {text}", file=sys.stderr)
    return code


def run(*argv: Any) -> int:
    """Convenience for tests and notebooks: ``run("filter", "gaussian", ...)``."""
    return main([str(a) for a in argv])
