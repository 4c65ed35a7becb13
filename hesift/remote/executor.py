"""The one seam through which the evaluator service runs work.

A service hands every job to ``executor.run(fn, *args)``.  :class:`LocalExecutor`
runs it in the request's thread, and the core fans the ciphertext batches out
to its own worker threads (``workers`` of them).  Another executor (e.g. a Dask
cluster) replaces this object and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Executor(Protocol):
    name: str
    workers: int | None

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    def describe(self) -> dict: ...


class LocalExecutor:
    """Jobs run in the calling thread; the core's thread pool does the ciphertext work."""

    name = "threads"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    def describe(self) -> dict:
        import hepaillier_core as hc

        return {"kind": self.name, "workers": self.workers or hc.get_workers()}
