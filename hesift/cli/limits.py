"""--max-time / --max-memory / --max-side: the estimate printed before encrypted work,
the refusal above the limits, and the estimate beside the actual time at the end."""

from __future__ import annotations

import argparse
import sys

from hesift import estimate as E


def _duration(text: str) -> float:
    try:
        return E.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _side(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of pixels: {text!r}") from None
    if v < 16:
        raise argparse.ArgumentTypeError(f"--max-side must be >= 16, got {v}")
    return v


def add_limit_options(p: argparse.ArgumentParser, *, side: bool = True,
                      side_help: str | None = None) -> None:
    """--max-time (and --max-side) for a command that encrypts images."""
    p.add_argument("--max-time", type=_duration, default=E.DEFAULT_MAX_TIME, metavar="DURATION",
                   help="refuse work estimated above this (e.g. 90s, 20m, 2h; default 1h)")
    if side:
        p.add_argument("--max-side", type=_side, default=None, metavar="N",
                       help=side_help or "downscale the image first so its longer side is at "
                                         "most N pixels (default: full size)")


def announce(est: E.Estimate, args: argparse.Namespace, *, can_downscale: bool = True) -> None:
    """Print the estimate on stderr, then refuse it if it is over a limit."""
    print(f"hesift: {est.describe()}", file=sys.stderr, flush=True)
    E.check(est, max_time=getattr(args, "max_time", E.DEFAULT_MAX_TIME),
            max_memory=getattr(args, "max_memory", None), can_downscale=can_downscale)


def downscale(img, args: argparse.Namespace, what: str):
    """``img`` shrunk to --max-side (said on stderr when it happens)."""
    side = getattr(args, "max_side", None)
    out, scale = E.resize_to_max_side(img, side)
    if scale != 1.0:
        print(f"hesift: {what}: downscaled {img.shape[1]}x{img.shape[0]} -> "
              f"{out.shape[1]}x{out.shape[0]} first (--max-side {side})", file=sys.stderr)
    return out
