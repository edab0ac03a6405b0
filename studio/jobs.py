"""Long work as cancellable jobs with progress.

A ``Job`` is handed to long-running functions (analysis, generation, export, training). They
call ``job.report(fraction, message)`` now and then; that records progress, notifies listeners
and raises ``JobCancelled`` once someone has called ``job.cancel()``. Functions accept
``job=None`` and use ``Job.quiet()`` so callers that don't care pass nothing.

``JobRunner`` runs jobs on a thread pool and returns futures; the UI wraps the listener so
progress reaches the GUI thread by a queued call, the CLI draws a progress bar from it.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from studio.errors import JobCancelled


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1
    message: str
    elapsed_s: float


Listener = Callable[[Progress], None]


class Job:
    """Progress and cancellation shared between a worker and whoever watches it."""

    def __init__(self, name: str = "job", listener: Listener | None = None) -> None:
        self.name = name
        self._listeners: list[Listener] = [listener] if listener else []
        self._cancel = threading.Event()
        # held from a report's fraction to its last listener, so one report at a time reaches
        # the listeners, in the order of its fraction: engines run on threads at once
        # (studio.generate) and a listener (a terminal line, a bar) is not written for that;
        # re-entrant, for a listener that reports on the same job or adds a listener
        self._lock = threading.RLock()
        self._started = time.monotonic()
        self.fraction = 0.0
        self.message = ""

    @classmethod
    def quiet(cls, job: "Job | None") -> "Job":
        """The given job, or a silent one for callers that passed none."""
        return job if job is not None else cls("quiet")

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled(f"{self.name} was cancelled")

    def report(self, fraction: float, message: str | None = None) -> None:
        """Record progress (clamped to 0..1, never going backwards) and honour cancellation."""
        self.check_cancelled()
        with self._lock:
            self.fraction = max(self.fraction, min(1.0, max(0.0, float(fraction))))
            if message is not None:
                self.message = message
            progress = Progress(self.fraction, self.message, time.monotonic() - self._started)
            for listener in list(self._listeners):
                listener(progress)

    def sub(self, start: float, end: float) -> "SubJob":
        """A view of this job that maps its own 0..1 onto [start, end] of the parent."""
        return SubJob(self, start, end)


class SubJob(Job):
    """A stage of a larger job: reports scaled into the parent's range, shares its cancel flag."""

    def __init__(self, parent: Job, start: float, end: float) -> None:
        self._parent = parent
        self._start, self._end = start, end
        self.name = parent.name

    @property
    def cancelled(self) -> bool:
        return self._parent.cancelled

    def cancel(self) -> None:
        self._parent.cancel()

    def check_cancelled(self) -> None:
        self._parent.check_cancelled()

    def add_listener(self, listener: Listener) -> None:
        self._parent.add_listener(listener)

    def report(self, fraction: float, message: str | None = None) -> None:
        f = min(1.0, max(0.0, float(fraction)))
        self._parent.report(self._start + (self._end - self._start) * f, message)

    def sub(self, start: float, end: float) -> "SubJob":
        span = self._end - self._start
        return SubJob(self._parent, self._start + span * start, self._start + span * end)


class JobRunner:
    """Runs jobs on worker threads; each submission returns ``(job, future)``."""

    def __init__(self, max_workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="studio-job")

    def submit(
        self, name: str, fn: Callable[..., Any], *args: Any, listener: Listener | None = None, **kwargs: Any
    ) -> tuple[Job, Future]:
        job = Job(name, listener)
        future = self._pool.submit(fn, *args, job=job, **kwargs)
        return job, future

    def shutdown(self, cancel_running: bool = True) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel_running)
