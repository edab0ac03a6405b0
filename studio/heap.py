"""Hand the C heap's free memory back to the system between the pipeline's stages.

glibc keeps memory that was freed in its heaps (one per thread that allocated: the analysis'
feature thread, the decoders' threads, onnxruntime's) for reuse, so what a stage let go of still
counts as the process's resident memory when the next stage reaches its peak. ``malloc_trim(0)``
returns the free pages of every heap to the system (``madvise``; the data in use is untouched).
No Python or numpy call does this, hence ctypes. Elsewhere than glibc: nothing."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["trim"]


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim  # glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def trim() -> bool:
    """Give the heaps' free memory back; whether anything was returned (False where unsupported)."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False
