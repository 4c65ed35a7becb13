"""Background jobs for long uploads: a bounded in-process queue with worker threads.

An upload (a query or images to add) is checked at once (size, decodable,
not too small, estimate under the limit), then becomes a :class:`Job`; the
request returns a redirect to the job's page (``/jobs/<id>/``), which shows
its stages, a progress bar and an ETA (polling ``/jobs/<id>.json``), then the
result.  The job id is in the URL, so a reload (or another tab) finds the job
again.  ``submit`` raises :class:`QueueFull` when ``max_queued`` jobs already
wait: the view answers 503 with ``Retry-After``.  Finished jobs are kept for
``keep_seconds`` (results hold thumbnails of matches, nothing else).

Nothing here knows about Django or the gallery: a job runs ``fn(job)``, which
calls ``job.stage(name)`` as it goes and returns the result (a dict for the
template), or raises :class:`JobFailed` (a message and an HTTP status).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "JobFailed", "JobQueue", "QueueFull", "configure", "get_queue"]

log = logging.getLogger("hesift.web")

DEFAULT_WORKERS = 1  # one feature extraction at a time: the crypto already uses every core
DEFAULT_MAX_QUEUED = 8
DEFAULT_KEEP_SECONDS = 3600.0


class QueueFull(Exception):
    """``max_queued`` jobs are already waiting."""


class JobFailed(Exception):
    """A job's expected failure: shown on its page with ``status``."""

    def __init__(self, title: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.title, self.message, self.status = title, message, status


@dataclass
class Job:
    """One background job and what its page shows."""

    id: str
    kind: str  # "query" | "add"
    stages: list[tuple[str, str]]  # (key, label), in order
    weights: list[float]  # expected share of the time per stage
    estimate: float | None = None  # seconds, from the cost model
    estimate_text: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    state: str = "queued"  # queued | running | done | failed
    stage_index: int = -1
    stage_started: float | None = None
    result: dict | None = None
    error: JobFailed | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stage(self, key: str) -> None:
        """Enter the stage ``key`` (the worker calls this as it goes)."""
        keys = [k for k, _ in self.stages]
        with self._lock:
            self.stage_index = keys.index(key)
            self.stage_started = time.time()

    def progress(self) -> float:
        """0..1: finished stages by weight, plus the current one by elapsed/expected time."""
        with self._lock:
            if self.state == "done":
                return 1.0
            if self.stage_index < 0:
                return 0.0
            total = sum(self.weights) or 1.0
            done = sum(self.weights[: self.stage_index])
            cur = self.weights[self.stage_index]
            frac = 0.5
            if self.estimate and self.stage_started is not None:
                expected = max(1e-3, self.estimate * cur / total)
                frac = min(0.95, (time.time() - self.stage_started) / expected)
            return min(0.99, (done + cur * frac) / total)

    def eta(self) -> float | None:
        """Seconds left by the estimate (None without one); never below 1 s while running."""
        if self.state in ("done", "failed"):
            return 0.0
        if not self.estimate:
            return None
        if self.started is None:
            return self.estimate
        return max(1.0, self.estimate - (time.time() - self.started))

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def status(self) -> dict[str, Any]:
        """The small JSON the job page polls."""
        label = self.stages[self.stage_index][1] if self.stage_index >= 0 else "waiting in the queue"
        return {
            "id": self.id, "kind": self.kind, "state": self.state,
            "stage": self.stages[self.stage_index][0] if self.stage_index >= 0 else "queued",
            "stage_label": label, "stage_index": self.stage_index,
            "stages": [k for k, _ in self.stages],
            "progress": round(self.progress(), 3), "elapsed": round(self.elapsed(), 1),
            "eta": None if self.eta() is None else round(self.eta(), 1),
            "estimate": None if self.estimate is None else round(self.estimate, 1),
        }


class JobQueue:
    """A bounded queue of jobs and the worker threads that run them."""

    def __init__(self, workers: int = DEFAULT_WORKERS, max_queued: int = DEFAULT_MAX_QUEUED,
                 keep_seconds: float = DEFAULT_KEEP_SECONDS) -> None:
        if workers < 1 or max_queued < 0:
            raise ValueError("a job queue needs workers >= 1 and max_queued >= 0")
        self.max_queued = int(max_queued)
        self.keep_seconds = float(keep_seconds)
        self._q: queue.Queue = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._fns: dict[str, Callable[[Job], dict]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"hesift-job-{i}", daemon=True)
                         for i in range(int(workers))]
        for t in self._threads:
            t.start()

    def submit(self, kind: str, fn: Callable[[Job], dict], stages: Sequence[tuple[str, str]],
               weights: Sequence[float] | None = None, estimate: float | None = None,
               estimate_text: str = "") -> Job:
        """Queue ``fn``; QueueFull when ``max_queued`` jobs are already waiting."""
        stages = list(stages)
        weights = list(weights) if weights is not None else [1.0] * len(stages)
        job = Job(secrets.token_urlsafe(12), kind, stages, weights, estimate, estimate_text)
        with self._lock:
            self._expire()
            if self.waiting() >= self.max_queued:
                raise QueueFull(f"{self.waiting()} jobs are already waiting")
            self._jobs[job.id] = job
            self._fns[job.id] = fn
            self._q.put(job.id)
        return job

    def waiting(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == "queued")

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers (after their current job)."""
        self._stop.set()
        for _ in self._threads:
            self._q.put(None)
        for t in self._threads:
            t.join(timeout)

    def _expire(self) -> None:
        now = time.time()
        for jid in [j.id for j in self._jobs.values()
                    if j.finished is not None and now - j.finished > self.keep_seconds]:
            self._jobs.pop(jid, None)

    def _work(self) -> None:
        while not self._stop.is_set():
            jid = self._q.get()
            if jid is None:
                return
            with self._lock:
                job, fn = self._jobs.get(jid), self._fns.pop(jid, None)
            if job is None or fn is None:
                continue
            job.started, job.state = time.time(), "running"
            try:
                job.result = fn(job)
                job.state = "done"
            except JobFailed as e:
                job.error, job.state = e, "failed"
            except Exception:  # a bug: logged, shown as a 500 page of the job
                log.exception("job %s (%s) failed", job.id, job.kind)
                job.error = JobFailed("Internal error",
                                      "The server failed on this job; it has been logged.", 500)
                job.state = "failed"
            finally:
                job.finished = time.time()


_queue: JobQueue | None = None
_queue_lock = threading.Lock()
_config: dict[str, Any] = {}


def configure(**kwargs: Any) -> JobQueue:
    """(Re)create the process's job queue: ``workers``, ``max_queued``, ``keep_seconds``."""
    global _queue
    with _queue_lock:
        if _queue is not None:
            _queue.close(timeout=0.1)
        _config.clear()
        _config.update(kwargs)
        _queue = JobQueue(**kwargs)
        return _queue


def get_queue() -> JobQueue:
    """The process's job queue (created with the defaults on first use)."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = JobQueue(**_config)
        return _queue
