"""All-or-nothing writes of several files and folders, and one writer per folder.

``Transaction`` is what ``studio generate``, ``spatialize``, ``export`` and ``batch`` write
through. Everything new is built in a private staging folder beside its target
(``.studio-stage-*``, made by ``tempfile.mkdtemp`` in the target's own folder, so every final
rename stays on one filesystem and is atomic), and ``commit()`` moves it into place with
renames at the end, in the order staged (``last=True`` entries, i.e. ``project.json``, after
every other). Until then no target is touched; an exception, a cancel, a full disk or a kill
before the commit leaves the previous files exactly as they were, and the staging folder is
removed (by ``rollback``, or after a kill by the next writer of that folder).

The commit itself is a few renames. Before the first one a journal is written into the staging
folder; each replaced file or folder is first moved into the staging folder, then the new one
renamed in. A failure between two renames undoes the renames done so far at once; after a kill
there, the next writer of the folder finds the journal without its ``committed`` mark and puts
the old files back (``recover``), so a folder is never left half old, half new.

One writer per folder: every folder a transaction writes in is locked first (``FolderLock``: an
``fcntl.flock`` on ``.studio.lock`` holding the owner's pid, released by the kernel when the
process dies, so a killed run never leaves a stale lock). A second writer gets ``BusyError`` at
once, before any work. The lock file is removed when its holder is done.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.fsutil import explain_os_error

try:
    import fcntl
except ImportError:  # Windows: an exclusive-create lock file with the owner's pid instead
    fcntl = None

LOCK_NAME = ".studio.lock"
STAGE_PREFIX = ".studio-stage-"
JOURNAL = "journal.json"
COMMITTED = "committed"


class BusyError(StudioError):
    """Another studio process (or job) is writing to the same folder."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class FolderLock:
    """An exclusive, non-blocking lock on ``folder`` (see the module doc)."""

    def __init__(self, folder: str | os.PathLike, error: type[StudioError] = StudioError) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.error = error
        self._fd: int | None = None

    def _busy(self, owner: str) -> BusyError:
        who = f"another studio process (pid {owner})" if owner.isdigit() else "another studio process"
        return BusyError(f"{self.folder} is busy: {who} is writing there; wait for it to finish and try again")

    def _owner(self) -> str:
        try:
            return self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return ""

    def acquire(self) -> "FolderLock":
        for _ in range(100):  # the file may be removed by its holder between our open and flock
            try:
                flags = os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL)
                fd = os.open(self.path, flags, 0o644)
            except FileExistsError:  # only without fcntl: a lock file; stale when its pid is gone
                owner = self._owner()
                if owner.isdigit() and not _pid_alive(int(owner)):
                    with contextlib.suppress(OSError):
                        self.path.unlink()
                    continue
                raise self._busy(owner) from None
            except OSError as exc:  # e.g. "Read-only file system", "Permission denied"
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise self.error(f"cannot write in {self.folder} ({exc.strerror}): the folder is read-only "
                                     "or not yours; choose another location") from None
                raise self.error(explain_os_error(exc, self.path)) from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise self._busy(self._owner()) from None
                    raise self.error(explain_os_error(exc, self.path)) from None
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:  # locked a file its previous holder had just removed: again
                    os.close(fd)
                    continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return self
        raise self._busy("")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still held: nobody can lock the removed file after us
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def recover(folder: str | os.PathLike) -> None:
    """Clean up the staging folders a killed writer left in ``folder`` (call with its lock held):
    one killed during its commit gets its old files back, every one is removed."""
    folder = Path(folder)
    try:
        stale = [p for p in folder.iterdir() if p.name.startswith(STAGE_PREFIX) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return
    for stage in stale:
        journal = stage / JOURNAL
        if journal.is_file() and not (stage / COMMITTED).exists():
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                for e in reversed(json.loads(journal.read_text(encoding="utf-8"))):
                    name = str(e["name"])
                    if name in ("", ".", "..") or "/" in name or os.sep in name:
                        continue  # a journal only ever names entries of its own folder
                    target, staged, backup = folder / name, stage / "new" / name, stage / "old" / name
                    installed = not os.path.lexists(staged) and os.path.lexists(target)
                    if os.path.lexists(backup):  # the old one was moved aside: put it back
                        if installed:
                            _remove(target)
                        os.rename(backup, target)
                    elif installed and not e["had_old"]:
                        _remove(target)
        shutil.rmtree(stage, ignore_errors=True)


@dataclass
class _Entry:
    target: Path
    staged: Path
    backup: Path
    stage: Path
    kind: str  # "file" | "dir"
    last: bool
    had_old: bool = False
    moved_old: bool = False
    installed: bool = False


class Transaction:
    """Stage new files and folders beside their targets; ``commit()`` renames them into place.

    Use as a context manager: leaving the block without ``commit()`` (an exception, a cancel)
    rolls back. ``folders`` are locked at once (a busy one raises ``BusyError``); a folder
    staged into later is locked then. ``create=True`` makes missing ``folders`` (removed again
    on rollback). ``locked=False`` takes no locks: for a caller that holds the folder's lock
    itself (``studio batch`` locks its output folder once; its videos stage unlocked)."""

    def __init__(self, folders=(), *, error: type[StudioError] = StudioError, create: bool = False,
                 locked: bool = True) -> None:
        self.error = error
        self.locked = locked
        self._locks: dict[Path, FolderLock | None] = {}
        self._stages: dict[Path, Path] = {}
        self._entries: list[_Entry] = []
        self._dirs: dict[Path, Path] = {}  # target folder -> its staged replacement
        self._made: list[Path] = []  # folders made here, deepest last
        self.done = False
        try:
            for f in folders:
                self.lock(f, create=create)
        except BaseException:
            self.rollback()
            raise

    # -- locking ---------------------------------------------------------------------------
    def lock(self, folder: str | os.PathLike, *, create: bool = False) -> None:
        folder = Path(os.path.abspath(folder))
        if folder in self._locks:
            return
        if not folder.is_dir():
            if folder.exists():
                raise self.error(f"cannot write in {folder}: it is a file, not a folder")
            if not create:
                raise self.error(f"cannot write in {folder}: the folder does not exist")
            missing = [p for p in [folder, *folder.parents] if not p.exists()]
            try:
                folder.mkdir(parents=True)
            except OSError as exc:
                raise self.error(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
            self._made.extend(reversed(missing))
        if not self.locked:
            self._locks[folder] = None
            return
        self._locks[folder] = FolderLock(folder, self.error).acquire()
        recover(folder)

    # -- staging ---------------------------------------------------------------------------
    def _stage_for(self, folder: Path) -> Path:
        if folder not in self._stages:
            self.lock(folder)
            try:
                stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=folder))
                (stage / "new").mkdir()
                (stage / "old").mkdir()
            except OSError as exc:
                raise self.error(explain_os_error(exc, folder / STAGE_PREFIX)) from None
            self._stages[folder] = stage
        return self._stages[folder]

    def _inside_staged_dir(self, target: Path) -> Path | None:
        for d, staged in self._dirs.items():
            if target != d and d in target.parents:
                return staged / target.relative_to(d)
        return None

    def _add(self, target: str | os.PathLike, kind: str, last: bool) -> _Entry:
        target = Path(os.path.abspath(target))
        if any(e.target == target for e in self._entries):
            raise self.error(f"two outputs would write {target}; choose different names")
        if kind == "file" and target.is_dir() and not target.is_symlink():
            raise self.error(f"{target} is a folder; choose a file name")
        if kind == "dir" and target.exists() and not target.is_dir():
            raise self.error(f"{target} is a file, not a folder")
        stage = self._stage_for(target.parent)
        entry = _Entry(target, stage / "new" / target.name, stage / "old" / target.name, stage, kind, last)
        self._entries.append(entry)
        return entry

    def stage(self, target: str | os.PathLike, *, last: bool = False) -> Path:
        """Where to write the new ``target`` (a file). Inside a folder staged by ``stage_dir``
        it is a path in that folder's replacement (its subfolders made)."""
        inner = self._inside_staged_dir(Path(os.path.abspath(target)))
        if inner is not None:
            inner.parent.mkdir(parents=True, exist_ok=True)
            return inner
        return self._add(target, "file", last).staged

    def stage_dir(self, target: str | os.PathLike, *, last: bool = False) -> Path:
        """A new empty folder that replaces the folder ``target`` as a whole (or creates it)."""
        entry = self._add(target, "dir", last)
        entry.staged.mkdir()
        self._dirs[entry.target] = entry.staged
        return entry.staged

    def staged(self, target: str | os.PathLike) -> bool:
        target = Path(os.path.abspath(target))
        return self._inside_staged_dir(target) is not None or any(e.target == target for e in self._entries)

    # -- commit / rollback -------------------------------------------------------------------
    def commit(self) -> None:
        """Rename every staged entry into place (``last`` ones at the end), or none of them."""
        entries = [e for e in sorted(self._entries, key=lambda e: e.last) if os.path.lexists(e.staged)]
        try:
            for e in entries:  # nothing is renamed before every target is known to be replaceable
                if e.kind == "file" and e.target.is_dir() and not e.target.is_symlink():
                    raise self.error(f"{e.target} is a folder; choose a file name")
                if e.kind == "dir" and e.target.exists() and not e.target.is_dir():
                    raise self.error(f"{e.target} is a file, not a folder")
                e.had_old = os.path.lexists(e.target)
                _fsync_tree(e.staged)
            for stage in self._stages.values():
                journal = [{"name": e.target.name, "had_old": e.had_old} for e in entries if e.stage == stage]
                with open(stage / JOURNAL, "w", encoding="utf-8") as fh:
                    json.dump(journal, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            for e in entries:
                if e.had_old:
                    if e.kind == "file" and e.target.is_file() and not e.target.is_symlink():
                        os.chmod(e.staged, e.target.stat().st_mode & 0o7777)  # keep the replaced file's mode
                    os.rename(e.target, e.backup)
                    e.moved_old = True
                os.rename(e.staged, e.target)
                e.installed = True
            for stage in self._stages.values():
                (stage / COMMITTED).touch()
            for folder in self._stages:
                _fsync_dir(folder)
        except BaseException as exc:
            self._undo(entries)
            self.rollback()
            if isinstance(exc, OSError):
                bad = next((e.target for e in entries if not e.installed), None) or Path(exc.filename or "")
                raise self.error(explain_os_error(exc, bad)) from None
            raise
        self.done = True
        self._close()

    def _undo(self, entries: list[_Entry]) -> None:
        for e in reversed(entries):
            with contextlib.suppress(OSError):
                if e.installed:
                    os.rename(e.target, e.staged)
                    e.installed = False
                if e.moved_old:
                    os.rename(e.backup, e.target)
                    e.moved_old = False

    def rollback(self) -> None:
        """Throw away everything staged; the targets are as they were."""
        self._close()

    def _close(self) -> None:
        for stage in self._stages.values():
            shutil.rmtree(stage, ignore_errors=True)
        self._stages.clear()
        for lock in self._locks.values():
            if lock is not None:
                lock.release()
        self._locks.clear()
        if not self.done:
            for folder in reversed(self._made):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty
        self._made.clear()

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, *exc) -> None:
        if not self.done:
            self.rollback()


def _fsync_tree(path: Path) -> None:
    files = [path] if not path.is_dir() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["BusyError", "FolderLock", "Transaction", "recover", "LOCK_NAME", "STAGE_PREFIX"]
