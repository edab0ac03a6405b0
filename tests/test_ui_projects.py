"""Projects as in any editor (issue 18, item 3), driven through the real window offscreen: the
File menu's New / New from Video / Open / Open Recent / Close / Save / Save As with their
shortcuts, the start page while no project is open, the recent list (order, missing projects,
Clear Recent) in private settings, the window title, the save question on Close / New / Open,
and Save As's copy (complete or absent, the original untouched)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from studio.project import FoleyEvent, Project, Track, TrackKind, autosave_path
from test_ui_window import DEMO, open_and_analyse, window  # noqa: F401 (the window fixture)

APP = "Video Sound Studio"


def answer_questions(monkeypatch, answer) -> list:
    """QMessageBox.question answered at once with ``answer``; returns the titles asked."""
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, *a, **k: asked.append(title) or answer)
    return asked


def file_dialogs(monkeypatch, open_path=None, save_path=None) -> list:
    """QFileDialog's open / save questions answered with the paths given; returns (kind, start)."""
    seen = []

    def ask_open(parent, caption, start="", *a, **k):
        seen.append(("open", caption, start))
        return (str(open_path) if open_path else "", "")

    def ask_save(parent, caption, start="", *a, **k):
        seen.append(("save", caption, start))
        return (str(save_path) if save_path else "", "")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", ask_open)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", ask_save)
    return seen


def wait_idle(w, qtbot) -> None:
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)


def saved_project(folder: Path, name: str) -> Path:
    p = Project(name=name)
    return p.save(folder / "project.json")


def recent_paths(w) -> list[Path]:
    return [e.path for e in w.projects.recent.entries()]


def title(name: str, folder: Path, modified: bool = False) -> str:
    return f"{name}{' *' if modified else ''} \u2014 {folder} \u2014 {APP}"


# -- the menu ---------------------------------------------------------------------------------------
def test_the_file_menu_has_the_project_commands_with_standard_shortcuts(window):
    w = window
    file_menu = w.menuBar().actions()[0].menu()
    shown = {a.text(): a.shortcut().toString() for a in file_menu.actions()}
    assert shown["New Project\u2026"] == "Ctrl+N"
    assert shown["New Project from Video\u2026"] == "Ctrl+Shift+N"
    assert shown["Open\u2026"] == "Ctrl+O"
    assert shown["Close"] == "Ctrl+W"
    assert shown["Save"] == "Ctrl+S"
    assert shown["Save As\u2026"] == "Ctrl+Shift+S"
    recent = next(a.menu() for a in file_menu.actions() if a.menu() is not None)
    assert recent is w.projects.recent_menu and "Recent" in recent.title()
    # nothing to close or save without a project
    assert not w.act_close.isEnabled() and not w.act_save.isEnabled() and not w.act_save_as.isEnabled()


# -- the start page --------------------------------------------------------------------------------
def test_the_start_page_shows_without_a_project_and_close_goes_back_to_it(window, qtbot, monkeypatch):
    w = window
    asked = answer_questions(monkeypatch, QMessageBox.Cancel)
    assert w.doc.project is None and w.pages.currentWidget() is w.start_page and w.start_page.isVisible()
    assert w.windowTitle() == APP
    assert w.start_page.empty.isVisible() and not w.start_page.list.isVisible()  # nothing recent yet
    qtbot.mouseClick(w.start_page.demo_button, Qt.LeftButton)  # "Open Demo"
    wait_idle(w, qtbot)
    p = w.doc.project
    assert p.video is not None and Path(p.video.path).name == "demo.mp4"
    assert w.pages.currentWidget() is w.editor and not w.start_page.isVisible()
    assert w.act_close.isEnabled()
    w.act_close.trigger()
    assert w.doc.project is None and w.pages.currentWidget() is w.start_page and w.windowTitle() == APP
    assert asked == []  # an unmodified project closes without a question
    # the project is on the start page: name, folder, when; a double-click opens it again
    lst = w.start_page.list
    assert lst.topLevelItemCount() == 1
    item = lst.topLevelItem(0)
    assert item.text(0) == p.name and item.text(1) == str(p.folder) and item.text(2).startswith("today")
    QApplication.processEvents()
    rect = lst.visualItemRect(item)
    qtbot.mouseClick(lst.viewport(), Qt.LeftButton, pos=rect.center())  # a double-click: press, release,
    qtbot.mouseDClick(lst.viewport(), Qt.LeftButton, pos=rect.center())  # then the second press
    qtbot.waitUntil(lambda: w.doc.project is not None, timeout=5000)
    assert w.doc.project.path == p.path and not w.doc.modified
    assert w.pages.currentWidget() is w.editor
    wait_idle(w, qtbot)


def test_the_start_page_buttons_run_the_file_commands(window, qtbot, monkeypatch, tmp_path):
    w = window
    seen = file_dialogs(monkeypatch)  # every dialog cancelled
    qtbot.mouseClick(w.start_page.new_button, Qt.LeftButton)
    qtbot.mouseClick(w.start_page.new_video_button, Qt.LeftButton)
    qtbot.mouseClick(w.start_page.open_button, Qt.LeftButton)
    assert [kind for kind, _c, _s in seen] == ["save", "open", "open"]
    assert "video" in seen[1][1] and seen[2][1] == "Open project"
    assert w.doc.project is None


def test_the_start_page_shows_the_videos_thumbnail(window, qtbot, monkeypatch):
    w = window
    answer_questions(monkeypatch, QMessageBox.Cancel)
    open_and_analyse(w, qtbot)
    qtbot.waitUntil(lambda: w.projects.recent.has_thumbnail(w.doc.project.path), timeout=10_000)
    img = w.projects.recent.entries()[0].image()
    assert not img.isNull() and img.width() > 32
    w.act_close.trigger()
    assert not w.start_page.list.topLevelItem(0).icon(0).isNull()


# -- New ----------------------------------------------------------------------------------------------
def test_new_empty_project_in_a_chosen_folder_then_a_video_dropped_into_it(window, qtbot, monkeypatch, tmp_path):
    from test_ui_window import drop

    w = window
    folder = tmp_path / "work" / "My Film"
    seen = file_dialogs(monkeypatch, save_path=folder)
    infos = []
    w.controller.info.connect(infos.append)
    qtbot.keyClick(w, Qt.Key_N, Qt.ControlModifier)
    p = w.doc.project
    assert p is not None and p.path == folder / "project.json" and p.name == "My Film" and p.video is None
    assert Project.load(p.path).name == "My Film" and not w.doc.modified
    assert seen[0][0] == "save" and Path(seen[0][2]).parent == Path(os.environ["STUDIO_PROJECTS_DIR"])
    assert any(str(folder) in m for m in infos)  # the status bar says where it was saved
    assert w.windowTitle() == title("My Film", folder)
    assert w.pages.currentWidget() is w.editor
    assert recent_paths(w)[0] == p.path
    drop(w.timeline.canvas, DEMO)  # the empty project takes the video in
    wait_idle(w, qtbot)
    assert w.doc.project.path == folder / "project.json" and w.doc.project.name == "My Film"
    assert w.doc.project.video is not None and Project.load(folder / "project.json").video is not None
    assert not any(Path(os.environ["STUDIO_PROJECTS_DIR"]).glob("*/project.json"))  # no second project made


def test_new_project_from_video_asks_for_the_video_and_the_folder(window, qtbot, monkeypatch, tmp_path):
    w = window
    folder = tmp_path / "films" / "dance"
    seen = file_dialogs(monkeypatch, open_path=DEMO, save_path=folder)
    infos = []
    w.controller.info.connect(infos.append)
    w.act_new_video.trigger()
    wait_idle(w, qtbot)
    assert [kind for kind, _c, _s in seen] == ["open", "save"]
    p = w.doc.project
    assert p.path == folder / "project.json" and p.name == "dance" and (folder / "analysis.npz").exists()
    assert p.resolve(p.video.path) == DEMO.resolve()
    assert any(f"saved in {folder}" in m for m in infos)
    assert not w.doc.modified and w.windowTitle() == title("dance", folder)
    # a folder that already holds something is refused: nothing is made there
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    file_dialogs(monkeypatch, open_path=DEMO, save_path=taken)
    w.last_error = None
    w.act_new_video.trigger()
    assert w.last_error is not None and "not empty" in w.last_error
    assert sorted(x.name for x in taken.iterdir()) == ["notes.txt"] and w.doc.project.path == p.path


# -- Open -----------------------------------------------------------------------------------------------
def test_open_starts_in_the_projects_folder_and_leaves_the_project_unmodified(window, qtbot, monkeypatch):
    w = window
    projects = Path(os.environ["STUDIO_PROJECTS_DIR"])
    path = saved_project(projects / "song", "song")
    seen = file_dialogs(monkeypatch, open_path=path)
    qtbot.keyClick(w, Qt.Key_O, Qt.ControlModifier)
    assert seen == [("open", "Open project", str(projects))]
    assert w.doc.project.path == path and not w.doc.modified
    assert w.windowTitle() == title("song", projects / "song")
    from ui import undo

    undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0)])], "add")
    assert w.windowTitle() == title("song", projects / "song", modified=True)


def test_title_shortens_the_home_folder():
    from ui.main_window import window_title

    p = Project(name="clip")
    p.path = Path.home() / "Films" / "clip" / "project.json"
    assert window_title(p, False) == f"clip \u2014 ~/Films/clip \u2014 {APP}"
    assert window_title(p, True) == f"clip * \u2014 ~/Films/clip \u2014 {APP}"
    assert window_title(None, False) == APP


# -- the recent list ---------------------------------------------------------------------------------------
def test_recent_projects_newest_first_at_most_ten_missing_ones_disabled_and_clear(window, qtbot, tmp_path):
    w = window
    paths = [saved_project(tmp_path / f"p{i:02d}", f"p{i:02d}") for i in range(12)]
    for p in paths:
        w.controller.open_project(p)
    assert recent_paths(w) == list(reversed(paths))[:10]  # most recent first, 10 at most
    w.controller.open_project(paths[5])  # opened again: back on top, listed once
    assert recent_paths(w)[0] == paths[5] and recent_paths(w).count(paths[5]) == 1
    assert len(recent_paths(w)) == 10
    # the menu lists them in that order; a project that is gone is shown disabled
    (paths[11]).unlink()
    menu = w.projects.recent_menu
    menu.aboutToShow.emit()
    entries = [a for a in menu.actions() if a.data()]
    assert [Path(a.data()) for a in entries] == recent_paths(w)
    gone = next(a for a in entries if Path(a.data()) == paths[11])
    assert not gone.isEnabled() and "missing" in gone.text()
    assert all(a.isEnabled() for a in entries if a is not gone)
    # the menu entry opens its project
    first_other = next(a for a in entries if Path(a.data()) == paths[8])
    first_other.trigger()
    assert w.doc.project.path == paths[8] and recent_paths(w)[0] == paths[8]
    # on the start page too: the missing one greyed out and not opened by a double-click
    w.controller.close_project()
    lst = w.start_page.list
    items = [lst.topLevelItem(i) for i in range(lst.topLevelItemCount())]
    rows = {Path(item.data(0, Qt.UserRole + 1)): item for item in items}
    assert not (rows[paths[11]].flags() & Qt.ItemIsEnabled) and rows[paths[8]].flags() & Qt.ItemIsEnabled
    w.start_page.list.itemActivated.emit(rows[paths[11]], 0)
    assert w.doc.project is None
    # kept in the settings: a new window sees the same list
    from ui.main_window import MainWindow

    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert recent_paths(w2) == recent_paths(w)
    w2.close()
    # Clear Recent empties menu and start page
    w.projects.act_clear_recent.trigger()
    assert recent_paths(w) == [] and w.start_page.list.topLevelItemCount() == 0
    menu.aboutToShow.emit()
    assert not [a for a in menu.actions() if a.data()] and not w.projects.act_clear_recent.isEnabled()


def test_recent_list_lives_in_the_private_settings(window, private_settings, tmp_path):
    w = window
    w.controller.open_project(saved_project(tmp_path / "a", "a"))
    files = list(Path(private_settings).rglob("*.ini"))
    assert files and any("a/project.json" in f.read_text() for f in files)


# -- the save question ----------------------------------------------------------------------------------------
def _edited(w, qtbot, tmp_path) -> Path:
    from ui import undo

    path = saved_project(tmp_path / "edited", "edited")
    w.controller.open_project(path)
    undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0)])], "add")
    assert w.doc.modified
    return path


@pytest.mark.parametrize("command", ["close", "new", "open"])
def test_close_new_and_open_ask_to_save_a_modified_project(window, qtbot, monkeypatch, tmp_path, command):
    w = window
    path = _edited(w, qtbot, tmp_path)
    other = saved_project(tmp_path / "other", "other")
    seen = file_dialogs(monkeypatch, open_path=other, save_path=tmp_path / "new-one")
    act = {"close": w.act_close, "new": w.act_new, "open": w.act_open}[command]

    asked = answer_questions(monkeypatch, QMessageBox.Cancel)
    act.trigger()
    assert asked == ["Unsaved changes"] and seen == []  # cancelled: nothing else asked or done
    assert w.doc.project.path == path and w.doc.modified

    w.doc.autosave()
    assert autosave_path(path).exists()
    asked = answer_questions(monkeypatch, QMessageBox.Discard)
    act.trigger()
    assert asked == ["Unsaved changes"]
    assert not autosave_path(path).exists()  # Discard drops the autosave, as on quitting
    assert Project.load(path).tracks == []  # and the file keeps its last save
    expected = {"close": None, "new": tmp_path / "new-one" / "project.json", "open": other}[command]
    assert (w.doc.project.path if w.doc.project else None) == expected and not w.doc.modified


def test_close_with_save_writes_the_changes(window, qtbot, monkeypatch, tmp_path):
    w = window
    path = _edited(w, qtbot, tmp_path)
    answer_questions(monkeypatch, QMessageBox.Save)
    qtbot.keyClick(w, Qt.Key_W, Qt.ControlModifier)
    assert w.doc.project is None and [t.name for t in Project.load(path).tracks] == ["Hits"]


# -- Save As ------------------------------------------------------------------------------------------------------
def _project_with_assets(w, qtbot, tmp_path) -> Project:
    """The demo analysed, a generated MIDI track, an imported audio file in assets/, saved, then
    one more (unsaved) track."""
    from ui import undo

    open_and_analyse(w, qtbot)
    w.controller.generate({"engines": ["rhythm"], "seed": 1})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 1 and not w.controller.busy, timeout=20_000)
    wav = tmp_path / "voice.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(48000) * 0.05)).astype(np.float32), 48000)
    w.controller.import_audio(wav)
    assert len(w.doc.project.tracks) == 2
    assert w.controller.save()
    undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0)])], "add")
    return w.doc.project


def test_save_as_copies_the_folder_continues_there_and_leaves_the_original(window, qtbot, monkeypatch, tmp_path):
    w = window
    p = _project_with_assets(w, qtbot, tmp_path)
    original = p.path
    before = {f.relative_to(original.parent): f.read_bytes() for f in original.parent.rglob("*") if f.is_file()}
    tracks = p.to_dict()["tracks"]
    copy_dir = tmp_path / "copies" / "take two"
    seen = file_dialogs(monkeypatch, save_path=copy_dir)
    qtbot.keyClick(w, Qt.Key_S, Qt.ControlModifier | Qt.ShiftModifier)
    assert seen[0][0] == "save" and Path(seen[0][2]).parent == Path(os.environ["STUDIO_PROJECTS_DIR"])
    # the window goes on with the copy, saved and unmodified
    assert w.doc.project.path == copy_dir / "project.json" and not w.doc.modified
    assert w.windowTitle() == title(p.name, copy_dir)
    assert recent_paths(w)[0] == copy_dir / "project.json"
    # the copy: its own assets and analysis, the tracks as they were in the window (unsaved one too)
    assert (copy_dir / "analysis.npz").exists() and (copy_dir / "assets" / "voice.wav").exists()
    assert not any(n.name.startswith(".studio") for n in copy_dir.parent.iterdir())  # no staging left
    assert not any(copy_dir.glob("*.autosave.json")) and not (copy_dir / ".studio.lock").exists()
    # the original: not a byte changed, nothing added
    after = {f.relative_to(original.parent): f.read_bytes() for f in original.parent.rglob("*") if f.is_file()}
    assert after == before
    assert [t.name for t in Project.load(original).tracks] == ["Drums", "voice"]
    # the copy reopens in a fresh window with the same tracks, playing its own files
    from ui.main_window import MainWindow

    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.controller.open_project(copy_dir)
    q = w2.doc.project
    assert q.to_dict()["tracks"] == tracks and [t.name for t in q.tracks] == ["Drums", "voice", "Hits"]
    audio = next(t for t in q.tracks if t.kind is TrackKind.AUDIO)
    assert q.resolve(audio.audio_path).resolve() == (copy_dir / "assets" / "voice.wav").resolve()
    assert q.resolve(q.video.path).resolve() == DEMO.resolve() and not q.missing_assets()
    assert w2.doc.analysis is not None and not w2.doc.modified
    w2.close()


def test_save_as_refuses_a_full_folder_and_leaves_nothing_half_written(window, qtbot, monkeypatch, tmp_path):
    w = window
    path = saved_project(tmp_path / "orig", "orig")
    w.controller.open_project(path)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("keep")
    file_dialogs(monkeypatch, save_path=full)
    w.last_error = None
    w.act_save_as.trigger()
    assert "not empty" in (w.last_error or "") and sorted(x.name for x in full.iterdir()) == ["keep.txt"]
    inside = path.parent / "sub"  # not inside the project's own folder either
    file_dialogs(monkeypatch, save_path=inside)
    w.last_error = None
    w.act_save_as.trigger()
    assert "inside" in (w.last_error or "") and not inside.exists()
    # a failure while the copy is written (disk full...): no folder under the new name, no staging
    from studio.errors import ProjectError

    real_save = Project.save

    def failing(self, target=None):
        if Path(target).parent != path.parent:
            raise ProjectError("the disk is full")
        return real_save(self, target)

    monkeypatch.setattr(Project, "save", failing)
    target = tmp_path / "elsewhere" / "copy"
    file_dialogs(monkeypatch, save_path=target)
    w.last_error = None
    w.act_save_as.trigger()
    assert "disk is full" in (w.last_error or "")
    assert not target.exists()
    assert not target.parent.exists() or not any(target.parent.iterdir())  # no staging folder left
    assert w.doc.project.path == path
    QApplication.processEvents()
