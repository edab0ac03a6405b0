"""Hand the C heap's free memory back to the system between the pipeline's stages.

glibc keeps memory that was freed in its heaps (one per thread that allocated: the analysis'
feature thread, the decoders' threads, onnxruntime's) for reuse, so what a stage let go of still
counts as the process's resident memory when the next stage reaches its peak. ``malloc_trim(0)``
returns the free pages of every heap to the system (``madvise``; the data in use is untouched).
No Python or numpy call does this, hence ctypes. Elsewhere than glibc: nothing.

glibc also makes up to eight heaps per core, one for each thread that allocates while another
holds a heap (the render's pools, onnxruntime's and FFmpeg's threads), and each keeps its own
free memory: :func:`limit_arenas` caps them at one per core."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

__all__ = ["trim", "limit_arenas"]

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


@functools.lru_cache(maxsize=None)
def _glibc(name: str, argtypes: tuple):
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = getattr(libc, name)  # glibc only (musl has neither)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = list(argtypes), ctypes.c_int
    return fn


def _malloc_trim():
    return _glibc("malloc_trim", (ctypes.c_size_t,))


def trim() -> bool:
    """Give the heaps' free memory back; whether anything was returned (False where unsupported)."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False


def limit_arenas(n: int | None = None) -> bool:
    """At most ``n`` malloc heaps (default: one per core, at least 2) from now on; whether the
    limit was set. With glibc's default, sixteen on this 2-core machine, a render kept ~110 MB
    free across them against ~50 MB with two (a 10-minute video through generate and export:
    peak 698-714 -> 657-677 MB in three runs each, the same stage times). glibc fixes its limit
    once the process has made eight heaps, so this is called before the pipeline starts its
    threads; a ``MALLOC_ARENA_MAX`` in the environment is left to rule."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    fn = _glibc("mallopt", (ctypes.c_int, ctypes.c_int))
    n = max(2, os.cpu_count() or 2) if n is None else int(n)
    return bool(fn(M_ARENA_MAX, n)) if fn is not None else False
