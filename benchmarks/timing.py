"""Timing helpers: medians over repeats, interleaved so every contender sees the same noise."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


def time_once(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


@dataclass
class Medians:
    """Median seconds per item of each case, by wall clock and by process CPU time.

    On a shared machine, CPU time is the robust figure for single-threaded
    work (other processes do not inflate it); wall time is the only honest
    one for multi-worker runs.
    """

    wall: dict[str, float]
    cpu: dict[str, float]

    def one_core(self, name: str) -> float | None:
        return self.cpu.get(name)

    def many(self, name: str) -> float | None:
        return self.wall.get(name)


def interleaved(cases: Mapping[str, tuple[Callable[[], object], int]], repeats: int,
                warmup: bool = True) -> Medians:
    """Median seconds *per item* for each case (wall and CPU).

    ``cases`` maps a name to ``(fn, items)``; each round runs every case once
    in turn, so slow drifts of a shared machine hit all cases alike.
    """
    if warmup:
        for fn, _ in cases.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(max(1, repeats)):
        for name, (fn, items) in cases.items():
            w, c = time_once(fn)
            wall[name].append(w / max(1, items))
            cpu[name].append(c / max(1, items))
    return Medians({n: statistics.median(v) for n, v in wall.items()},
                   {n: statistics.median(v) for n, v in cpu.items()})


def median_time(fn: Callable[[], object], repeats: int, warmup: bool = False) -> float:
    """Median process-CPU seconds of a single-threaded ``fn`` over ``repeats`` calls."""
    return interleaved({"x": (fn, 1)}, repeats, warmup).cpu["x"]


def fmt_time(s: float | None) -> str:
    """Seconds as a short human string (ns/µs/ms/s)."""
    if s is None or s != s:
        return "n/a"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_rate(s: float | None) -> str:
    """Seconds per item as items per second."""
    if not s:
        return "n/a"
    r = 1.0 / s
    return f"{r:,.0f}" if r >= 100 else f"{r:.3g}"


def fmt_ratio(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.3g}×"
