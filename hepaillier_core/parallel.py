"""Splitting batch kernels across CPU workers.

The C kernels release the GIL, so threads give real parallelism with no
copies; a process pool is offered for callers that want isolation.  Work is
always split into contiguous chunks along the first axis and concatenated
back in order, so results never depend on the worker count or executor.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

_state = {"workers": max(1, os.cpu_count() or 1), "executor": "thread"}
_pools: dict[tuple[str, int], Executor] = {}
_pool_lock = threading.Lock()


def set_workers(n: int | None) -> None:
    """Set the default number of workers (None: one per CPU core)."""
    if n is None:
        n = os.cpu_count() or 1
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"workers must be a positive integer, got {n!r}")
    _state["workers"] = n


def get_workers() -> int:
    return int(_state["workers"])


def set_executor(kind: str) -> None:
    """'thread' (default) or 'process' for public-key (evaluator) work."""
    if kind not in ("thread", "process"):
        raise ValueError("executor must be 'thread' or 'process'")
    _state["executor"] = kind


def get_executor() -> str:
    return str(_state["executor"])


def resolve_workers(workers: int | None) -> int:
    if workers is None:
        return get_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return workers


def _pool(kind: str, workers: int) -> Executor:
    key = (kind, workers)
    with _pool_lock:
        pool = _pools.get(key)
        if pool is None:
            if kind == "thread":
                pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hepaillier")
            else:
                import multiprocessing as mp

                pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
            _pools[key] = pool
        return pool


@atexit.register
def _shutdown() -> None:
    for pool in _pools.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _pools.clear()


def _call(obj, method: str, split: Sequence[np.ndarray], shared: Sequence, lo: int, hi: int):
    return getattr(obj, method)(*[a[lo:hi] for a in split], *shared)


def chunk_bounds(K: int, workers: int, min_chunk: int = 1) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) chunks: a few per worker so uneven work balances."""
    if K <= 0:
        return []
    nchunks = max(1, min(K // max(1, min_chunk), workers * 4 if workers > 1 else 1))
    edges = np.linspace(0, K, nchunks + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_batched(
    obj,
    method: str,
    split: Sequence[np.ndarray],
    shared: Sequence = (),
    *,
    workers: int | None = None,
    allow_process: bool = True,
    min_chunk: int = 1,
    progress: Callable[[int], None] | None = None,
):
    """Call ``obj.method(*chunks_of_split, *shared)`` over chunks and concatenate.

    Methods may return an array or an ``(array, count)`` tuple (counts add up).
    Private-key objects must pass ``allow_process=False``: key state never
    leaves this process.
    """
    w = resolve_workers(workers)
    K = int(split[0].shape[0])
    bounds = chunk_bounds(K, w, min_chunk)
    if not bounds:
        return getattr(obj, method)(*split, *shared)
    kind = get_executor() if allow_process else "thread"
    if w == 1 or len(bounds) == 1:
        results = []
        for lo, hi in bounds:
            results.append(_call(obj, method, split, shared, lo, hi))
            if progress:
                progress(hi - lo)
    else:
        pool = _pool(kind, w)
        futures = [pool.submit(_call, obj, method, split, shared, lo, hi) for lo, hi in bounds]
        results = []
        for (lo, hi), fut in zip(bounds, futures):
            results.append(fut.result())
            if progress:
                progress(hi - lo)
    if len(results) == 1:
        return results[0]
    if isinstance(results[0], tuple):
        arrays = np.concatenate([r[0] for r in results], axis=0)
        return arrays, sum(int(r[1]) for r in results)
    return np.concatenate(results, axis=0)


def run_tasks(fn, tasks: Sequence[tuple], *, workers: int | None = None,
              allow_process: bool = True, progress=None, sizes: Sequence[int] | None = None):
    """Run ``fn(*task)`` for each task (module-level fn), results in task order."""
    w = resolve_workers(workers)
    kind = get_executor() if allow_process else "thread"
    if w == 1 or len(tasks) <= 1:
        out = []
        for i, t in enumerate(tasks):
            out.append(fn(*t))
            if progress and sizes:
                progress(sizes[i])
        return out
    pool = _pool(kind, w)
    futures = [pool.submit(fn, *t) for t in tasks]
    out = []
    for i, f in enumerate(futures):
        out.append(f.result())
        if progress and sizes:
            progress(sizes[i])
    return out


def make_progress(progress, total: int, desc: str):
    """Normalise the ``progress=`` argument: True -> tqdm bar, callable -> itself."""
    if not progress or total <= 0:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="ct", leave=False)
    return bar.update, bar.close
