"""``studio bench ui``: drop-to-timeline time and timeline redraw frame time (see ui/bench.py).
Qt is imported only when the benchmark runs, so studio stays free of Qt at import time."""
from __future__ import annotations

from studio.jobs import Job


def run(job: Job | None = None) -> dict:
    from ui.bench import run as run_ui

    return run_ui(job)
