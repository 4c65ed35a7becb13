"""``hesift bench``: the benchmark runner (same options as ``python -m benchmarks``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command."""
    p = subparsers.add_parser(
        "bench", help="run the benchmarks (core, conv, sift, gallery, scaling)",
        description="Run the benchmark suites and print their tables: medians, ratios vs "
                    "python-paillier / SecretFlow HEU / OpenCV, and pass/fail per target.")
    try:
        from benchmarks.runner import add_arguments
    except ImportError:  # benchmarks package not installed: say so when used
        p.set_defaults(func=_missing)
        return
    add_arguments(p)
    p.set_defaults(func=handler)


def _missing(args: argparse.Namespace) -> int:
    from hesift.cli import CLIError

    raise CLIError("the benchmarks package is not installed (run from a source checkout)")


def handler(args: argparse.Namespace) -> int:
    """Run the suites named in ``args``."""
    from benchmarks.runner import run

    return run(args)
