"""Splitting batch kernels across CPU workers, local or on a Dask cluster.

The C kernels release the GIL, so threads give real parallelism with no
copies; a process pool is offered for callers that want isolation, and a
``dask.distributed.Client`` sends public-key work to a cluster (see
``dask_exec``).  Work is always split into contiguous chunks along the first
axis and concatenated back in order, so results never depend on the worker
count or executor.

Private-key work (decryption, the key owner's encryption) runs on the local
threads whatever the executor, unless the caller allows shipping the key
(``using(..., allow_private=True)``).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np

_state: dict[str, Any] = {"workers": max(1, os.cpu_count() or 1), "executor": "thread"}
#: per-call overrides (``using``): executor, workers, allow_private
_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar("hepaillier_scope",
                                                                    default=None)
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
    sc = _scope.get()
    if sc is not None and sc.get("workers") is not None:
        return int(sc["workers"])
    return int(_state["workers"])


def is_dask_client(obj: object) -> bool:
    """True for a ``dask.distributed.Client`` (checked without importing dask)."""
    t = type(obj)
    return any(c.__name__ == "Client" and c.__module__.startswith("distributed")
               for c in t.__mro__)


def check_executor(kind: object) -> object:
    if isinstance(kind, str) and kind in ("thread", "process"):
        return kind
    if is_dask_client(kind):
        return kind
    raise ValueError("executor must be 'thread', 'process' or a dask.distributed.Client, "
                     f"got {kind!r}")


def set_executor(kind: Any) -> None:
    """Where public-key (evaluator) work runs: 'thread' (default), 'process', or a
    ``dask.distributed.Client`` (a cluster; private-key work stays on local threads)."""
    _state["executor"] = check_executor(kind)


def _executor_obj() -> object:
    sc = _scope.get()
    if sc is not None and sc.get("executor") is not None:
        return sc["executor"]
    return _state["executor"]


def get_executor() -> str:
    """'thread', 'process' or 'dask' (the kind of the current executor)."""
    ex = _executor_obj()
    return ex if isinstance(ex, str) else "dask"


def get_client() -> Any:
    """The current ``dask.distributed.Client``, or None when work runs locally."""
    ex = _executor_obj()
    return None if isinstance(ex, str) else ex


def private_allowed() -> bool:
    """True when the caller allowed private-key work to leave the local threads."""
    sc = _scope.get()
    return bool(sc and sc.get("allow_private")) and get_executor() != "thread"


@contextlib.contextmanager
def using(executor: Any = None, *, workers: int | None = None,
          allow_private: bool | None = None) -> Iterator[None]:
    """Run the enclosed calls on ``executor`` ('thread', 'process' or a Dask Client)
    and/or ``workers``; None keeps the current setting.  ``allow_private=True``
    lets private-key work (decryption, the key owner's encryption) go to that
    executor too, which ships p and q to its workers."""
    cur = dict(_scope.get() or {})
    if executor is not None:
        cur["executor"] = check_executor(executor)
    if workers is not None:
        cur["workers"] = resolve_workers(workers)
    if allow_private is not None:
        cur["allow_private"] = bool(allow_private)
    token = _scope.set(cur)
    try:
        yield
    finally:
        _scope.reset(token)


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
    K = int(split[0].shape[0])
    kind = get_executor() if allow_process else "thread"
    if kind == "dask" and K > 0 and method not in LOCAL_METHODS:
        from .dask_exec import run_batched_dask

        return _join(run_batched_dask(get_client(), obj, method, split, shared,
                                      workers=workers, progress=progress))
    w = resolve_workers(workers)
    bounds = chunk_bounds(K, w, min_chunk)
    if not bounds:
        return getattr(obj, method)(*split, *shared)
    if kind == "dask":
        kind = "thread"
    if w == 1 or len(bounds) == 1:
        results = []
        for lo, hi in bounds:
            results.append(_call(obj, method, split, shared, lo, hi))
            if progress:
                progress(hi - lo)
    else:
        pool = _pool(kind, w)
        futures = [pool.submit(_call, obj, method, split, shared, lo, hi) for lo, hi in bounds]
        results = _gather(futures, [hi - lo for lo, hi in bounds], progress)
    return _join(results)


def _gather(futures: list, sizes: Sequence[int] | None, progress) -> list:
    """Results in order; on any exception (Ctrl-C included) every chunk not yet
    started is cancelled at once, so an interrupted call does not keep the pool
    busy draining its queue (chunks already running finish their C call)."""
    out = []
    try:
        for i, fut in enumerate(futures):
            out.append(fut.result())
            if progress and sizes:
                progress(sizes[i])
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return out


def cancel_all() -> None:
    """Cancel every queued chunk of every local pool (e.g. on Ctrl-C); the pools
    are shut down without waiting and recreated on next use."""
    with _pool_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


#: Methods cheaper to run than to ship (one product per ciphertext moved):
#: they stay on the local threads even when a Dask cluster is the executor.
LOCAL_METHODS = frozenset({"mulmod", "to_mont", "from_mont"})


def _join(results: list):
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
    if kind == "dask":
        from .dask_exec import run_tasks_dask

        return run_tasks_dask(get_client(), fn, tasks, progress=progress, sizes=sizes)
    if w == 1 or len(tasks) <= 1:
        out = []
        for i, t in enumerate(tasks):
            out.append(fn(*t))
            if progress and sizes:
                progress(sizes[i])
        return out
    pool = _pool(kind, w)
    futures = [pool.submit(fn, *t) for t in tasks]
    return _gather(futures, sizes, progress)


def make_progress(progress, total: int, desc: str):
    """Normalise the ``progress=`` argument: True -> tqdm bar, callable -> itself."""
    if not progress or total <= 0:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="ct", leave=False)
    return bar.update, bar.close
