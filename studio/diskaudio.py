"""Disk-backed audio buffers, so a render's memory does not grow with the video's length.

A render of a two-hour film holds about 1.4 GB per stereo stem at 48 kHz (float32); the stems, the
mix and the mastering's working arrays together would not fit a laptop. ``disk_array`` gives a
(channels, n) float32 ``np.memmap`` over an unlinked temporary file: callers that index it like
any array keep working (the render cache, app playback, tests), while the render and the export
walk it in blocks (``chunks``, ``read``, ``write``), handing each block's pages back to the page
cache afterwards (``release``: ``madvise(MADV_DONTNEED)``), so the process's resident memory stays
a few blocks whatever the length.

The file is unlinked at once (``tempfile.TemporaryFile``: ``O_TMPFILE`` on Linux), so nothing is
left behind by a crash or a kill; its space is reserved up front (``posix_fallocate``), so a full
disk is a clear ``StudioError`` here and never a ``SIGBUS`` on a later write into the mapping.
Where the files go: ``$STUDIO_RENDER_DIR``, else the system's temporary folder when it is on a
disk (where it is a tmpfs, i.e. memory, the studio's cache folder; ``render_dir``).
"""
from __future__ import annotations

import errno
import mmap
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from studio.errors import StudioError

__all__ = ["RENDER_DIR_ENV", "BLOCK_FRAMES", "render_dir", "cache_root", "filesystem_type", "disk_array", "buffer",
           "chunks", "read", "write", "release", "release_all"]

RENDER_DIR_ENV = "STUDIO_RENDER_DIR"
# frames per block (about 5.5 s at 48 kHz; 2 MB of stereo float32): the unit everything that walks
# a disk array reads, writes and computes on. 1 << 20 (22 s, 8 MB) made the mastering stage's and
# the stem finishers' per-block temporaries ~50 MB more of the render's peak, for no speed
BLOCK_FRAMES = 1 << 18
IN_MEMORY_FRAMES = 1 << 20  # a track's source up to this long is an ordinary array (``buffer``)
_PAGE = mmap.PAGESIZE
# releases cover whole aligned 2 MiB spans (a huge page; a multiple of the page size)
_RELEASE_SPAN = max(_PAGE, 1 << 21)


_IN_MEMORY_FS = ("tmpfs", "ramfs")


def render_dir() -> str:
    """The folder of the render's temporary files: ``$STUDIO_RENDER_DIR``, else the system's
    temporary folder, unless that lives in memory (a tmpfs ``/tmp``, as on many desktops: the
    "disk" arrays would then be RAM, several GB for a film), then the studio's cache folder
    (``$STUDIO_CACHE_DIR``, else ``~/.cache/video-sound-studio``) ``/render``."""
    chosen = os.environ.get(RENDER_DIR_ENV)
    if chosen:
        return chosen
    tmp = tempfile.gettempdir()
    if filesystem_type(tmp) not in _IN_MEMORY_FS:
        return tmp
    alt = cache_root() / "render"
    try:
        alt.mkdir(parents=True, exist_ok=True)
    except OSError:
        return tmp  # no cache folder to be had: memory it is
    return str(alt) if filesystem_type(alt) not in _IN_MEMORY_FS else tmp


def cache_root() -> Path:
    """The studio's cache folder (``$STUDIO_CACHE_DIR``, else ``~/.cache/video-sound-studio``)."""
    root = os.environ.get("STUDIO_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "video-sound-studio"


def filesystem_type(path, mounts: str = "/proc/self/mounts") -> str | None:
    """The type of the file system holding ``path`` ("ext4", "tmpfs", ...), from the mount
    table (the longest mount point above it); None where there is no such table (not Linux).
    Written here because the standard library has no ``statfs``."""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as fh:
            table = fh.read().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = -1, None
    for line in table:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])  # \040 = space
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def disk_array(channels: int, n: int, *, folder: str | None = None, dtype=np.float32) -> np.ndarray:
    """A zeroed (channels, n) array (float32 unless told) backed by an unlinked temporary file (module doc);
    an ordinary array when empty. A full or read-only disk is a ``StudioError`` naming the folder."""
    channels, n = int(channels), int(n)
    if channels * n == 0:
        return np.zeros((channels, n), dtype)
    folder = folder or render_dir()
    size = channels * n * np.dtype(dtype).itemsize
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".studio-render-") as fh:
            os.posix_fallocate(fh.fileno(), 0, size)  # reserve the space: ENOSPC now, not SIGBUS later
            # the mapping keeps its own reference to the file, which goes when the array does
            return np.memmap(fh, dtype=dtype, mode="r+", shape=(channels, n))
    except OSError as exc:
        why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the folder is read-only", errno.EACCES: "the folder is not writable"}.get(
            exc.errno, exc.strerror or str(exc))
        raise StudioError(f"cannot keep the render's audio on disk in {folder} ({size / 1e6:.0f} MB): {why}; "
                          f"free some space or point ${RENDER_DIR_ENV} at another folder") from None


def buffer(channels: int, n: int) -> np.ndarray:
    """A zeroed (channels, n) float32 buffer for a track's source: in memory up to
    ``IN_MEMORY_FRAMES`` (a live bar, a preview, a short clip), on disk (``disk_array``) beyond, so a long render's
    memory does not follow its length."""
    if int(n) <= IN_MEMORY_FRAMES:
        return np.zeros((int(channels), int(n)), np.float32)
    return disk_array(channels, n)


def chunks(n: int, size: int = BLOCK_FRAMES) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive blocks covering ``0 .. n``."""
    for a in range(0, int(n), int(size)):
        yield a, min(int(n), a + int(size))


def read(audio: np.ndarray, a: int, b: int) -> np.ndarray:
    """A private (channels, b - a) copy of frames ``a:b`` (clamped to the array); the
    pages it came from are released."""
    a, b = max(0, int(a)), min(audio.shape[-1], int(b))
    out = np.array(audio[..., a:b])
    release(audio, a, b)
    return out


def write(audio: np.ndarray, a: int, block: np.ndarray) -> None:
    """Frames ``a : a + block.shape[-1]`` of ``audio`` set to ``block``; the pages released."""
    b = a + block.shape[-1]
    audio[..., a:b] = block
    release(audio, a, b)


def release(audio: np.ndarray, a: int = 0, b: int | None = None) -> None:
    """Give frames ``a:b`` of a ``disk_array`` (or a view of one) back to the page cache; the
    data stays in the file and reads back on the next access. Nothing for an ordinary array."""
    mm = getattr(audio, "_mmap", None)
    if mm is None or audio.size == 0:
        return
    a = max(0, int(a))
    b = audio.shape[-1] if b is None else min(int(b), audio.shape[-1])
    if b <= a:
        return
    base = np.frombuffer(mm, np.uint8).ctypes.data
    for row in (audio if audio.ndim > 1 else audio[None, :]):
        start = row.ctypes.data + a * row.strides[0]  # virtual addresses
        stop = start + (b - a) * row.strides[0]
        # whole aligned spans, not just the pages of a..b: a fault maps the whole page-cache
        # folio around it (Linux 6.x, ext4: up to 2 MiB), so the first access past a block's edge
        # mapped the end of the block released before it again, and nothing released that (a
        # 40-minute stem kept 11 MB resident after its blocks were walked; two hours of stems
        # about 250 MB). A page released while still in use only costs a minor fault
        s0 = max(0, start // _RELEASE_SPAN * _RELEASE_SPAN - base)
        s1 = min(len(mm), -(-stop // _RELEASE_SPAN) * _RELEASE_SPAN - base)
        if s1 > s0:
            mm.madvise(mmap.MADV_DONTNEED, s0, s1 - s0)


def release_all(*arrays) -> None:
    for x in arrays:
        if x is not None:
            release(x)
