"""``studio.heap.trim``: the C heap's free memory goes back to the system between stages."""
from __future__ import annotations

import ctypes
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


_COUNT_HEAPS = r"""
import ctypes, os, sys, threading
sys.path.insert(0, {root!r})
from studio import heap
if {limit}:
    print("set", heap.limit_arenas(2))
libc = ctypes.CDLL("libc.so.6")
libc.open_memstream.restype = ctypes.c_void_p
libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]

together = threading.Barrier(12)

def work():  # every thread allocates before any ends: an ended thread's heap goes to the next
    [bytearray(700) for _ in range(2000)]
    together.wait()

threads = [threading.Thread(target=work) for _ in range(12)]
[t.start() for t in threads]
[t.join() for t in threads]
buf, size = ctypes.c_char_p(), ctypes.c_size_t()
f = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
libc.malloc_info(0, f)
libc.fclose(f)
print("heaps", buf.value.decode().count("<heap nr="))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or heap._glibc("mallopt", (ctypes.c_int, ctypes.c_int)) is None,
                    reason="glibc only")
@pytest.mark.parametrize("limit", [False, True])
def test_limit_arenas_keeps_threads_to_two_heaps(limit):
    """glibc gives each new thread that allocates a heap of its own, up to eight per core; after
    ``limit_arenas(2)`` twelve threads share two. A fresh process each: the limit is for life."""
    import os
    import subprocess
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    code = _COUNT_HEAPS.format(root=str(Path(__file__).resolve().parents[1]), limit=limit)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    heaps = int(out.stdout.split("heaps")[-1])
    if limit:
        assert "set True" in out.stdout and heaps <= 2, out.stdout
    else:
        assert heaps > 2, out.stdout  # what the limit changes


def test_an_arena_limit_in_the_environment_is_left_to_rule(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert heap.limit_arenas() is False
