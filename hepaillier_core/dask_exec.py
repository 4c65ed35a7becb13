"""Public-key work on a Dask cluster: the executor behind ``hc.set_executor(client)``.

Imported only when a ``dask.distributed.Client`` is the executor, so the core
imports without dask.  What travels:

- the key object a kernel runs under (the ``Mod`` of n^2, a public-key
  encryptor) is scattered once per client with ``broadcast=True`` and every
  task refers to it, so each worker holds one copy (and builds its
  Montgomery context once);
- each task carries only its rows as ``uint64`` limb buffers (a filter tile
  carries the bases its outputs read: the tile plus its halo, re-indexed);
- results come back as limb buffers and are concatenated in order, so they
  equal the thread executor's bit for bit.

Task data is part of the task itself (not scattered), so when a worker dies
the scheduler re-runs its tasks elsewhere.  Private-key objects never get
here unless the caller allowed it (see ``parallel.private_allowed``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core
from .multiexp import compact
from .parallel import chunk_bounds, using

#: Fewest rows (ciphertexts) in one task: below this the per-task overhead
#: (~1 ms of scheduling and serialisation) outweighs a 2048-bit kernel's work.
MIN_ROWS = 32
#: Times a task is re-submitted after it raised (a lost worker is handled by
#: the scheduler itself and does not count).
RETRIES = 1

_refs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def cluster_threads(client: Any) -> int:
    """Worker threads in the cluster (at least 1)."""
    return max(1, sum(int(v) for v in client.nthreads().values()))


def task_key(obj: object) -> tuple | None:
    """What identifies a key object across calls (None: ship it with every task)."""
    k = getattr(obj, "task_key", None)
    if callable(k):
        return k()
    if isinstance(obj, _core.Mod):
        return ("mod", obj.modulus)
    return None


def remote(client: Any, obj: object) -> Any:
    """A future for ``obj`` on every worker: scattered once per (client, key)."""
    key = task_key(obj)
    if key is None:
        return obj
    with _lock:
        cache = _refs.setdefault(client, {})
        fut = cache.get(key)
        if fut is None or fut.status != "finished":
            fut = client.scatter(obj, broadcast=True, hash=False)
            cache[key] = fut
    return fut


def forget(client: Any) -> None:
    """Drop this client's scattered keys (they are released on the cluster)."""
    with _lock:
        _refs.pop(client, None)


def _call(obj, method: str, *args):
    with using("thread", workers=1):
        return getattr(obj, method)(*args)


def _run(fn, *args):
    with using("thread", workers=1):  # never submit from inside a task
        return fn(*args)


def build_tasks(ref: Any, method: str, split: Sequence[np.ndarray], shared: Sequence,
                bounds: Sequence[tuple[int, int]]) -> list[tuple]:
    """One argument tuple per chunk: only the rows (and bases) that chunk reads."""
    tasks = []
    for lo, hi in bounds:
        if method == "multiexp":  # split = [idx], shared = [bases_mont, exponents, ...]
            idx, bases = compact(split[0][lo:hi], shared[0])
            tasks.append((ref, method, idx, bases, *shared[1:]))
        else:
            tasks.append((ref, method, *[np.ascontiguousarray(a[lo:hi]) for a in split],
                          *shared))
    return tasks


def run_batched_dask(client: Any, obj: object, method: str, split: Sequence[np.ndarray],
                     shared: Sequence = (), *, workers: int | None = None,
                     progress: Callable[[int], None] | None = None) -> list:
    """``obj.method`` over chunks of ``split`` as Dask tasks; results in chunk order."""
    K = int(split[0].shape[0])
    w = workers if workers is not None else cluster_threads(client)
    bounds = chunk_bounds(K, w, MIN_ROWS)
    ref = remote(client, obj)
    temp = None
    if ref is obj and len(bounds) > 1:  # per-call state (e.g. a query's table): once per worker
        ref = temp = client.scatter(obj, broadcast=True, hash=False)
    try:
        tasks = build_tasks(ref, method, split, shared, bounds)
        return submit_all(client, _call, tasks, progress=progress,
                          sizes=[hi - lo for lo, hi in bounds])
    finally:
        if temp is not None:
            temp.release()


def run_tasks_dask(client: Any, fn: Callable, tasks: Sequence[tuple], *, progress=None,
                   sizes: Sequence[int] | None = None) -> list:
    """``fn(*task)`` for each task on the cluster (fn must be importable there)."""
    return submit_all(client, _run, [(fn, *t) for t in tasks], progress=progress, sizes=sizes)


def submit_all(client: Any, fn: Callable, tasks: Sequence[tuple], *, progress=None,
               sizes: Sequence[int] | None = None) -> list:
    futures = [client.submit(fn, *t, pure=False, retries=RETRIES) for t in tasks]
    out = []
    try:
        for i, f in enumerate(futures):
            out.append(f.result())
            if progress and sizes:
                progress(sizes[i])
    except BaseException:
        client.cancel(futures)
        raise
    return out
