"""Shared pieces of the Dask tests: an in-process cluster, a client that records what
it sends, real ``dask scheduler`` / ``dask worker`` processes, and private-key bytes."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from distributed import Client, LocalCluster
from distributed.protocol import pickle as dpickle


class RecordingClient(Client):
    """A Client that keeps every task and scattered object as distributed pickles them."""

    def __init__(self, *args, **kwargs):
        self.sent: list[bytes] = []
        super().__init__(*args, **kwargs)

    def submit(self, func, *args, **kwargs):
        self.sent.append(dpickle.dumps((func, args)))
        return super().submit(func, *args, **kwargs)

    def scatter(self, data, *args, **kwargs):
        self.sent.append(dpickle.dumps(data))
        return super().scatter(data, *args, **kwargs)


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, client_cls=Client):
    """Threads-only cluster in this process: fast to start, real scheduler and tasks."""
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                      dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster:
        with client_cls(cluster) as client:
            yield client


def secret_patterns(priv) -> list[bytes]:
    """Byte forms in which p, q or lambda could travel (big/little endian, hex, decimal)."""
    p, q = priv.p, priv.q
    out = []
    for s in (p, q, (p - 1) * (q - 1), (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)):
        nb = (s.bit_length() + 7) // 8
        for form in (s.to_bytes(nb, "big"), s.to_bytes(nb, "little"), format(s, "x").encode(),
                     str(s).encode()):
            out.append(form[4:20])  # a 16-byte window: any copy of the value contains it
    return out


def leaks(blobs: list[bytes], priv) -> bool:
    pats = secret_patterns(priv)
    return any(pat in b for b in blobs for pat in pats)


def _dask(*args: str) -> list[str]:
    return [sys.executable, "-m", "dask", *args]


class ProcessCluster:
    """``dask scheduler`` and ``dask worker tcp://...`` started as a deployment would."""

    def __init__(self, tmp: Path, n_workers: int = 2):
        self.tmp, self.procs, self.workers = tmp, [], []
        env = dict(os.environ, PYTHONUNBUFFERED="1", DASK_DISTRIBUTED__WORKER__DAEMON="False")
        self.env = env
        sched_file = tmp / "scheduler.json"
        self.scheduler = self._start(_dask("scheduler", "--host", "127.0.0.1", "--port", "0",
                                           "--no-dashboard", "--scheduler-file",
                                           str(sched_file)), "scheduler")
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text().strip():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                self.close()
                raise RuntimeError("dask scheduler did not start: " + self.log("scheduler"))
            time.sleep(0.1)
        time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            self.add_worker(f"worker{i}")

    def _start(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                             start_new_session=True)
        p._log = log  # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    def add_worker(self, name: str) -> subprocess.Popen:
        p = self._start(_dask("worker", self.address, "--nthreads", "1", "--no-nanny",
                              "--host", "127.0.0.1", "--no-dashboard", "--name", name), name)
        self.workers.append(p)
        return p

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def client(self, n_workers: int) -> Client:
        c = Client(self.address, timeout=60)
        c.wait_for_workers(n_workers, timeout=60)
        return c

    def kill(self, proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
            p._log.close()  # type: ignore[attr-defined]
