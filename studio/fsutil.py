"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash, a full disk or a cancelled job never leaves a half-written file under the final name,
and an existing file is only replaced once the new one is complete.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from studio.errors import ExportError, StudioError


def explain_os_error(exc: OSError, path: Path) -> str:
    """One line a user can act on for an OSError while writing ``path`` (disk full, read-only...)."""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full while writing {path}; free some space and try again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: the folder is read-only or not yours; choose another location"
    if exc.errno == errno.ENOENT:
        return f"cannot write {path}: the folder {path.parent} does not exist"
    return f"cannot write {path}: {exc.strerror or exc}"


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it: set and restore, once at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike, *, overwrite: bool = True, error: type[StudioError] = ExportError
) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is renamed onto ``target``.

    Use for writers that want a file name (soundfile, PyAV, mido). On any exception the
    temporary file is removed and the target is untouched. ``overwrite=False`` refuses to
    replace an existing file. OS errors become ``error`` with a readable message.
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise error(f"{target} already exists; pass --overwrite to replace it")
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=target.parent
        )
    except OSError as exc:
        raise error(explain_os_error(exc, target)) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would have
        # (or the replaced file's), so a DAW or another user can read what was exported
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(explain_os_error(exc, target)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(
    target: str | os.PathLike,
    mode: str = "w",
    *,
    overwrite: bool = True,
    error: type[StudioError] = ExportError,
    encoding: str | None = None,
) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``target`` only if the block succeeds."""
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(target, overwrite=overwrite, error=error) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()


def write_bytes_atomic(target: str | os.PathLike, data: bytes, **kw) -> None:
    with atomic_open(target, "wb", **kw) as fh:
        fh.write(data)


def write_text_atomic(target: str | os.PathLike, text: str, **kw) -> None:
    with atomic_open(target, "w", **kw) as fh:
        fh.write(text)
