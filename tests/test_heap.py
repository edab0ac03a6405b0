"""``studio.heap.trim``: the C heap's free memory goes back to the system between stages."""
from __future__ import annotations

import sys
import threading

import pytest

from studio import heap


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux") or heap._malloc_trim() is None, reason="glibc only")
def test_trim_returns_what_a_thread_freed_between_what_it_kept():
    """A stage on a thread of its own (the analysis' features, the Foley prefetch) allocates
    100 MB, keeps one block in 64 and frees the rest: glibc keeps the freed blocks in that
    thread's heap (they lie between kept ones, so nothing is returned on its own) until trim."""
    kept = []

    def stage() -> None:
        scratch = []
        for i in range(100_000):
            (kept if i % 64 == 0 else scratch).append(bytearray(1000))
        del scratch

    t = threading.Thread(target=stage)
    t.start()
    t.join()
    before = _rss_mb()
    assert heap.trim() is True
    assert _rss_mb() < before - 40, (before, _rss_mb())
    assert len(kept) == 1563 and all(len(b) == 1000 for b in kept)  # what is in use is untouched
