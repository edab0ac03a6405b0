"""A CPU hog for the benches' "under load" figures (issue 23, real time under load): a busy-looping
Python subprocess, one core's worth of load, ended on exit (and with this process if it dies);
and ``busy_python``, the in-process load: a thread of pure Python holding the GIL."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

__all__ = ["CpuHog", "busy_python"]


def busy_python(stop: threading.Event) -> None:
    """Run pure Python (as an engine's sampling loop does) until ``stop`` is set: a thread's
    target, holding the GIL for whole switch intervals."""
    while not stop.is_set():
        total = 0
        for i in range(20_000):
            total += i * i


class CpuHog:
    """``with CpuHog():`` runs the block while one core is kept busy by another process."""

    def __enter__(self) -> "CpuHog":
        from studio.transport.jack import die_with_parent

        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True,
                                     preexec_fn=die_with_parent)
        time.sleep(0.2)  # let it take its core
        return self

    def __exit__(self, *exc) -> None:
        from studio.transport.jack import end_helper

        end_helper(self.proc)
