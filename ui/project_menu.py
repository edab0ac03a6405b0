"""The File menu's project commands for the main window: New Project, New Project from Video,
Open, Open Recent (with Clear Recent), Open Demo, Close and Save As, with their dialogs. Each asks
to save a modified project first (the window's ``maybe_save``; Discard drops the autosave, as on
quitting); opening and saving are ``ui.controller``'s, the recent list and the copy
``ui.projects``'."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Slot
from PySide6.QtGui import QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu

from ui.controller import VIDEO_SUFFIXES, projects_dir
from ui.projects import DEMO, RecentProjects, new_folder_problem, unique_folder


class ProjectCommands(QObject):
    """New, New from Video, Open, Open Recent, Close and Save As for one main window, with their
    dialogs; each asks to save a modified project first (the window's ``maybe_save``: Discard
    drops the autosave). The window's actions ``act_new`` ... are made here."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.doc, self.controller = window.doc, window.controller
        self.recent = RecentProjects(self)
        a = window.action
        self.act_new = a("New Project\u2026", self.new_project, QKeySequence.New, None,
                         "A new empty project in a folder of its own")
        self.act_new_video = a("New Project from Video\u2026", self.new_from_video, "Ctrl+Shift+N", "video",
                               "A new project around a video, in a folder you choose")
        self.act_open = a("Open\u2026", self.open_dialog, QKeySequence.Open, "open", "Open a project")
        self.act_close = a("Close", self.close_project, "Ctrl+W", None, "Close the project")
        self.act_save_as = a("Save As\u2026", self.save_as, "Ctrl+Shift+S", None,
                             "Copy the project folder to a new place and go on there")
        self.act_demo = a("Open Demo", self.open_demo, None, None, "The bundled demo video")
        self.act_demo.setEnabled(DEMO.is_file())
        self.act_clear_recent = a("Clear Recent", self.recent.clear)
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.fill_recent_menu()
        self.recent.changed.connect(self.fill_recent_menu)
        self.doc.projectReset.connect(self._remember)
        self._thumbed: Path | None = None
        window.preview.frames.frameReady.connect(self._frame)

    # -- the recent list ------------------------------------------------------------------------
    def fill_recent_menu(self) -> None:
        m = self.recent_menu
        m.clear()
        entries = self.recent.entries()
        for i, e in enumerate(entries):
            text = f"&{(i + 1) % 10} {e.name}  \u2014  {e.folder}" + ("" if e.exists else "  (missing)")
            act = m.addAction(text)
            act.setData(str(e.path))
            act.setEnabled(e.exists)
            act.triggered.connect(lambda _c=False, p=e.path: self.open_recent(p))
        if not entries:
            m.addAction("No recent projects").setEnabled(False)
        m.addSeparator()
        m.addAction(self.act_clear_recent)
        self.act_clear_recent.setEnabled(bool(entries))

    def _remember(self) -> None:
        p = self.doc.project
        if p is not None and p.path is not None:
            self.recent.add(p.path, p.name)
        self._thumbed = None

    @Slot(float, QImage)
    def _frame(self, time_s: float, image: QImage) -> None:
        """The first frame the preview shows of a project's video: its thumbnail on the start page."""
        p = self.doc.project
        if p is None or p.path is None or self._thumbed == p.path or image.isNull():
            return
        self._thumbed = p.path
        if not self.recent.has_thumbnail(p.path):
            self.recent.set_thumbnail(p.path, image)

    # -- dialogs --------------------------------------------------------------------------------
    def _ask_folder(self, title: str, name: str, current: Path | None = None) -> Path | None:
        """A new folder for a project (suggested: ``name`` in the projects folder; not inside
        ``current``); None: cancelled or refused (the reason shown)."""
        base = projects_dir()
        suggested = unique_folder(base, name)
        chosen, _ = QFileDialog.getSaveFileName(self.window, title, str(suggested), "Project folder (*)")
        if not chosen:
            return None
        folder = Path(chosen)
        if folder.name == "project.json":
            folder = folder.parent
        problem = new_folder_problem(folder, current)
        if problem:
            self.window.report_error(title, problem)
            return None
        return folder

    def start_dir(self) -> str:
        """Where the open dialogs start: the projects folder (its parent until it exists)."""
        d = projects_dir()
        return str(d if d.is_dir() else next((p for p in d.parents if p.is_dir()), Path.home()))

    def new_project(self) -> None:
        if not self.window.maybe_save():
            return
        folder = self._ask_folder("New project", "Untitled")
        if folder is not None:
            self.controller.new_project(folder)

    def new_from_video(self) -> None:
        if not self.window.maybe_save():
            return
        last = QSettings().value("projects/video_dir", "") or str(Path.home())
        exts = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES))
        video, _ = QFileDialog.getOpenFileName(self.window, "New project from video", str(last),
                                               f"Videos ({exts});;All files (*)")
        if not video:
            return
        QSettings().setValue("projects/video_dir", str(Path(video).parent))
        folder = self._ask_folder("New project from video", Path(video).stem)
        if folder is not None:
            self.controller.open_video(video, target=folder / "project.json", name=folder.name)

    def open_dialog(self) -> None:
        if not self.window.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project", self.start_dir(),
                                              "Projects (project.json *.json);;All files (*)")
        if path:
            self.controller.open_project(path)

    def open_recent(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.is_file():
            self.window.report_error("Cannot open project", f"{path} is no longer there")
            self.fill_recent_menu()
            return
        if self.window.maybe_save():
            self.controller.open_project(path)

    def open_demo(self) -> None:
        if self.window.maybe_save():
            self.controller.open_video(DEMO, reuse=True)

    def close_project(self) -> None:
        if self.doc.project is not None and self.window.maybe_save():
            self.controller.close_project()

    def save_as(self) -> None:
        p = self.doc.project
        if p is None:
            return
        folder = self._ask_folder("Save project as", f"{p.name} copy", p.folder)
        if folder is not None:
            self.controller.save_as(folder)
