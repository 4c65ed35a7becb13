"""The benchmark runner behind ``python -m benchmarks`` and ``hesift bench``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

SUITES = ("core", "conv", "sift", "gallery", "scaling", "private", "remote")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``python -m benchmarks`` and ``hesift bench``."""
    p.add_argument("suites", nargs="*", metavar="SUITE",
                   help=f"suites to run: {', '.join(SUITES)} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and few repeats (all suites < 5 min on 2 cores)")
    p.add_argument("--json", metavar="PATH", help="also write all results as JSON")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write the scaling/conv PNG plots into DIR (e.g. docs/img to refresh "
                        "the README's figures); default: no plots")
    p.add_argument("--no-plots", action="store_true", help=argparse.SUPPRESS)  # the old default
    p.add_argument("--markdown", metavar="PATH",
                   help="write the tables into PATH between its generated-block markers "
                        "(e.g. docs/benchmarks.md; hand-written text is kept)")
    p.add_argument("--bits", type=int, default=2048, help="key size for core/conv (default 2048)")
    p.add_argument("--dask", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="scaling suite: Dask vs threads instead (a local cluster of 1 and 2 "
                        "single-threaded workers, or the scheduler at tcp://ADDRESS)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks",
                                description="hesift / hepaillier_core benchmark runner")
    add_arguments(p)
    return p


def _plot_dir(args: argparse.Namespace) -> Path | None:
    if args.no_plots or not args.plots:
        return None
    return Path(args.plots)


def _run_suite(name: str, quick: bool, bits: int, dask: str | None = None) -> tuple[dict, str]:
    if name == "scaling" and dask:
        from . import suite_dask

        res = suite_dask.run(quick=quick, bits=bits, address=None if dask == "local" else dask)
        return res, suite_dask.table(res)
    if name == "core":
        from . import suite_core as mod
    elif name == "conv":
        from . import suite_conv as mod
    elif name == "scaling":
        from . import suite_scaling as mod
    elif name == "private":
        from . import suite_private as mod
    elif name == "remote":
        from . import suite_remote as mod
    else:
        from . import suite_external

        res = suite_external.run(name, quick)
        return res, suite_external.table(res)
    res = mod.run(quick=quick, bits=bits)
    return res, mod.table(res)


def _plots(name: str, res: dict, out: Path | None) -> list[str]:
    if out is None or name not in ("conv", "scaling") or res.get("suite") == "scaling-dask":
        return []
    from . import plots

    try:
        if name == "scaling":
            return [str(p) for p in plots.scaling_plots(res, out)]
        return [str(plots.conv_plot(res, out))]
    except ImportError as e:
        print(f"(plots skipped: {e})", file=sys.stderr)
        return []


def run(args: argparse.Namespace) -> int:
    """Run the requested suites, print their tables, write JSON/plots; exit code."""
    from .machine import header_text, machine_info

    suites = list(args.suites) or list(SUITES)
    bad = [s for s in suites if s not in SUITES]
    if bad:
        print(f"unknown suite(s): {', '.join(bad)}; choose from {', '.join(SUITES)}",
              file=sys.stderr)
        return 2
    info = machine_info()
    print("# hesift benchmarks\n")
    print(header_text(info, args.bits, args.quick) + "\n", flush=True)
    results: dict = {"machine": info, "quick": args.quick, "bits": args.bits, "suites": {}}
    plot_dir = _plot_dir(args)
    t_all = time.perf_counter()
    for name in suites:
        t0 = time.perf_counter()
        res, text = _run_suite(name, args.quick, args.bits, getattr(args, "dask", None))
        res["wall_seconds"] = time.perf_counter() - t0
        res["loadavg_after"] = os.getloadavg()
        res["plots"] = _plots(name, res, plot_dir)
        res["text"] = text
        results["suites"][name] = res
        print(text)
        extra = f"; plots: {', '.join(res['plots'])}" if res["plots"] else ""
        print(f"_suite {name}: {res['wall_seconds']:.0f} s wall, load average after "
              f"{res['loadavg_after'][0]:.2f}{extra}_\n", flush=True)
    results["wall_seconds"] = time.perf_counter() - t_all
    print(f"_all suites: {results['wall_seconds']:.0f} s wall_")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=_jsonable))
        print(f"_results written to {args.json}_")
    if args.markdown:
        from .report import write_markdown

        write_markdown(args.markdown, results)
        print(f"_tables written to {args.markdown}_")
    return 0


def _jsonable(o: object) -> object:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, tuple):
        return list(o)
    return repr(o)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    return run(build_parser().parse_args(argv))
