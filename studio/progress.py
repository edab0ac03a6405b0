"""Terminal progress for the CLI: a tqdm bar on stderr fed by a job's listener."""
from __future__ import annotations

import sys

from studio.jobs import Job, Progress


class ProgressBar:
    """Use as ``with ProgressBar("analysing", enabled) as job: work(job=job)``."""

    def __init__(self, name: str, enabled: bool = True) -> None:
        self.name = name
        self.enabled = enabled
        self._bar = None

    def __enter__(self) -> Job:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=1000, desc=self.name, file=sys.stderr, leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
            )
        return Job(self.name, self._update if self.enabled else None)

    def _update(self, p: Progress) -> None:
        bar = self._bar
        bar.n = int(p.fraction * 1000)
        if p.message:
            bar.set_postfix_str(p.message, refresh=False)
        bar.refresh()

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
