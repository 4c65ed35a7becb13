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


def dask_client(address: str, timeout: float = 30) -> Any:
    """A ``dask.distributed.Client`` for the scheduler at ``address`` (tcp://host:port)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--dask needs dask.distributed: pip install 'hesift[dask]'") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {e}") from None


class DaskExecutor:
    """Jobs run here; their ciphertext batches run as tasks on a Dask cluster.

    Only public-key work exists in an evaluator, so only the public key and
    ciphertext rows reach the workers (see ``hepaillier_core.dask_exec``).
    """

    name = "dask"
    workers: int | None = None  # the cluster decides: ~4 tasks per worker thread

    def __init__(self, client: Any) -> None:
        import hepaillier_core as hc

        hc.parallel.check_executor(client)
        self.client = client

    @classmethod
    def connect(cls, address: str, timeout: float = 30) -> DaskExecutor:
        return cls(dask_client(address, timeout))

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        import hepaillier_core as hc

        with hc.using(self.client):
            return fn(*args, **kwargs)

    def describe(self) -> dict:
        from hepaillier_core.dask_exec import cluster_threads

        info = self.client.scheduler_info()
        return {"kind": self.name, "scheduler": info.get("address"),
                "workers": len(info.get("workers", {})),
                "threads": cluster_threads(self.client)}
