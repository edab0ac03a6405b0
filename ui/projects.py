"""Projects as in any editor: the recent-projects list, Save As's copy of a project folder, and
the File menu's project commands (New, New from Video, Open, Open Recent, Close, Save As) with
their dialogs.

Opening and saving go through ``ui.controller`` (which calls ``studio.project``); the only file
work here is Save As: the project folder copied, with the project as it is now, into a staging
folder beside the new place and renamed into place (``studio.transaction``), so a full disk or
a crash never leaves a half-written copy. The recent list lives in the app's QSettings (most
recent first, at most ``RECENT_MAX``; projects that are gone stay listed, disabled, until
"Clear Recent")."""
from __future__ import annotations

import base64
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QImage

from studio.project import AUTOSAVE_SUFFIX, Project
from studio.transaction import LOCK_NAME, STAGE_PREFIX

RECENT_KEY = "projects/recent"
RECENT_MAX = 10
THUMB_W = 112  # the start page's thumbnails: a JPEG this wide, kept in the settings
DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"
ANALYSIS_FILE = "analysis.npz"


# -- the recent list ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecentEntry:
    path: Path  # the project file
    name: str
    opened: float  # time.time() when last opened
    thumbnail: str = ""  # base64 JPEG of the video's first frame, "" when none yet

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def image(self) -> QImage:
        img = QImage()
        if self.thumbnail:
            img.loadFromData(QByteArray(base64.b64decode(self.thumbnail)), "JPG")
        return img


class RecentProjects(QObject):
    """The recent projects in the app's QSettings (one JSON list under ``RECENT_KEY``)."""

    changed = Signal()

    def entries(self) -> list[RecentEntry]:
        raw = QSettings().value(RECENT_KEY, "[]")
        try:
            items = json.loads(raw if isinstance(raw, str) else "[]")
            return [RecentEntry(Path(d["path"]), str(d.get("name", "")), float(d.get("opened", 0.0)),
                                str(d.get("thumbnail", ""))) for d in items if isinstance(d, dict) and d.get("path")]
        except (ValueError, TypeError):
            return []  # a damaged entry in the settings: start a new list

    def _write(self, entries: list[RecentEntry]) -> None:
        items = [{"path": str(e.path), "name": e.name, "opened": e.opened, "thumbnail": e.thumbnail}
                 for e in entries[:RECENT_MAX]]
        QSettings().setValue(RECENT_KEY, json.dumps(items))
        self.changed.emit()

    def add(self, path: str | os.PathLike, name: str) -> None:
        """``path`` opened now: first in the list (once), its thumbnail kept."""
        path = Path(os.path.abspath(path))
        old = self.entries()
        thumb = next((e.thumbnail for e in old if e.path == path), "")
        self._write([RecentEntry(path, name, time.time(), thumb)] + [e for e in old if e.path != path])

    def set_thumbnail(self, path: str | os.PathLike, image: QImage) -> None:
        path = Path(os.path.abspath(path))
        small = image.scaledToWidth(THUMB_W, Qt.SmoothTransformation)
        buf = QBuffer()
        buf.open(QIODevice.WriteOnly)
        small.save(buf, "JPG", 80)
        data = base64.b64encode(bytes(buf.data())).decode("ascii")
        old = self.entries()
        if any(e.path == path for e in old):
            self._write([RecentEntry(e.path, e.name, e.opened, data) if e.path == path else e for e in old])

    def has_thumbnail(self, path: str | os.PathLike) -> bool:
        path = Path(os.path.abspath(path))
        return any(e.path == path and e.thumbnail for e in self.entries())

    def clear(self) -> None:
        self._write([])


# -- Save As ---------------------------------------------------------------------------------------
def new_folder_problem(folder: Path, current: Path | None = None) -> str | None:
    """Why a new project cannot go into ``folder`` (None: it can). It must be a new or an empty
    folder, and not inside the open project's folder ``current``."""
    folder = Path(os.path.abspath(folder))
    if current is not None:
        cur = Path(os.path.abspath(current))
        if folder == cur or cur in folder.parents:
            return f"{folder} is inside the open project's folder; choose a place outside it"
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file; choose a name for a new folder"
    if folder.is_dir() and any(folder.iterdir()):
        return f"{folder} is not empty; choose a new folder for the project"
    return None


def _transient(folder: str, names: list[str]) -> set[str]:
    """What Save As does not copy: locks, staging folders and the autosave."""
    return {n for n in names if n == LOCK_NAME or n.startswith(STAGE_PREFIX) or n.endswith(AUTOSAVE_SUFFIX)}


def _rebased(ref: str, old: Path) -> str:
    """A stored path for the copy: a file inside the old folder keeps its place in the copied
    folder (relative), one outside it keeps pointing at the same file (absolute)."""
    p = Path(ref) if Path(ref).is_absolute() else old / ref
    p = Path(os.path.abspath(p))
    try:
        return str(p.relative_to(old))
    except ValueError:
        return str(p)


def save_copy(project: Project, analysis, folder: str | os.PathLike) -> Project:
    """Save As: a copy of the project's folder (assets, stems, analysis) at ``folder`` (new or
    empty), with ``project`` as it is now in its project file; returns the copy (its ``path``
    there). Built in a staging folder beside ``folder`` and renamed into place by one
    ``Transaction``: nothing half-written is ever left under the new name. The original folder is
    only read (under its lock). Raises StudioError (ProjectError) for the caller to show."""
    import dataclasses

    from studio.errors import ProjectError
    from studio.fsutil import explain_os_error
    from studio.generate import snapshot
    from studio.transaction import FolderLock, Transaction

    folder = Path(os.path.abspath(folder))
    problem = new_folder_problem(folder, project.folder)
    if problem:
        raise ProjectError(problem)
    old = Path(os.path.abspath(project.folder))
    copy = snapshot(project)
    if copy.video is not None:
        copy.video = dataclasses.replace(copy.video, path=_rebased(copy.video.path, old))
    copy.tracks[:] = [dataclasses.replace(t, audio_path=_rebased(t.audio_path, old)) if t.audio_path else t
                      for t in copy.tracks]
    name = project.path.name
    with FolderLock(old, ProjectError), Transaction([folder.parent], create=True, error=ProjectError) as tx:
        staged = tx.stage_dir(folder)
        try:
            shutil.copytree(old, staged, symlinks=True, ignore=_transient, dirs_exist_ok=True)
            if analysis is not None and not (staged / ANALYSIS_FILE).exists():
                analysis.save(staged / ANALYSIS_FILE)
        except OSError as exc:
            raise ProjectError(explain_os_error(exc, folder)) from None
        copy.save(staged / name)  # the one project writer (atomic, studio.project)
        tx.commit()
    copy.path = folder / name
    return copy


def unique_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name 2``, ``name 3``... : the first that is free."""
    from studio.names import safe_stem

    stem = safe_stem(name, "project")
    for n in range(1, 1000):
        candidate = parent / (stem if n == 1 else f"{stem} {n}")
        if not candidate.exists():
            return candidate
    return parent / f"{stem} {int(time.time())}"
