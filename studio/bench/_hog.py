"""A CPU hog for the benches' "under load" figures (issue 23, real time under load): a busy-looping
Python subprocess, one core's worth of load, ended on exit (and with this process if it dies)."""
from __future__ import annotations

import subprocess
import sys
import time

__all__ = ["CpuHog"]


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
