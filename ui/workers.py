"""Background jobs for the UI: studio.jobs futures whose progress and results reach the GUI
thread as queued signals. Workers never touch widgets; widgets only connect to these signals."""
from __future__ import annotations

import time
import traceback
from concurrent.futures import Future
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from studio.errors import EngineError, JobCancelled, StudioError
from studio.jobs import Job, JobRunner, Progress


class JobHandle(QObject):
    """One running job. The worker thread only emits the private ``_report``/``_result`` signals,
    which are queued to this object's slots in the GUI thread; those emit the public signals, so
    every connected slot (lambdas included) runs in the GUI thread."""

    progress = Signal(float, str)
    finished = Signal(object)  # the function's result
    failed = Signal(str)  # a message for the user
    cancelled = Signal()
    ended = Signal()  # after any of finished / failed / cancelled
    _report = Signal(float, str)
    _result = Signal(str, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.job: Job | None = None
        self.future: Future | None = None
        self.fraction, self.message = 0.0, ""
        self.done = False
        self._last_emit = 0.0
        # queued even when emitted from the GUI thread (a job that finished before
        # add_done_callback runs its callback at once): callers connect after submit() returns
        self._report.connect(self._on_report, Qt.QueuedConnection)
        self._result.connect(self._on_result, Qt.QueuedConnection)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    # worker thread
    def _on_progress(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self._last_emit < 0.05 and p.fraction < 1.0:
            return  # at most 20 updates a second reach the GUI
        self._last_emit = now
        self._report.emit(p.fraction, p.message)

    def _on_done(self, future: Future) -> None:
        try:
            result = future.result()
        except JobCancelled:
            self._result.emit("cancelled", None)
        except (StudioError, EngineError) as exc:
            self._result.emit("failed", str(exc))
        except Exception as exc:  # a bug: still a message, plus the traceback on stderr
            traceback.print_exc()
            self._result.emit("failed", f"internal error: {type(exc).__name__}: {exc}")
        else:
            self._result.emit("finished", result)

    # GUI thread
    @Slot(float, str)
    def _on_report(self, fraction: float, message: str) -> None:
        if self.done:
            return
        self.fraction, self.message = fraction, message or self.message
        self.progress.emit(fraction, message)

    @Slot(str, object)
    def _on_result(self, kind: str, value: object) -> None:
        self.done = True
        if kind == "finished":
            self.finished.emit(value)
        elif kind == "failed":
            self.failed.emit(value)
        else:
            self.cancelled.emit()
        self.ended.emit()


class Workers(QObject):
    """The app's job runner; ``started`` lets a progress widget show every job."""

    started = Signal(object)  # JobHandle

    def __init__(self, parent: QObject | None = None, max_workers: int = 2) -> None:
        super().__init__(parent)
        self._runner = JobRunner(max_workers)
        self.active: list[JobHandle] = []

    def submit(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JobHandle:
        """Run ``fn(*args, job=job, **kwargs)`` on a worker; connect to the handle's signals."""
        handle = JobHandle(name, self)
        self.active.append(handle)
        handle.ended.connect(self._forget_sender)
        job, future = self._runner.submit(name, fn, *args, listener=handle._on_progress, **kwargs)
        handle.job, handle.future = job, future
        self.started.emit(handle)
        future.add_done_callback(handle._on_done)
        return handle

    @Slot()
    def _forget_sender(self) -> None:
        handle = self.sender()
        if handle in self.active:
            self.active.remove(handle)
        handle.deleteLater()

    def cancel_all(self) -> None:
        for h in list(self.active):
            h.cancel()

    def shutdown(self) -> None:
        self.cancel_all()
        self._runner.shutdown(cancel_running=True)
