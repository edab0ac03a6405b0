"""What a new user meets in the desktop app (issue 18), each driven through the real window
offscreen: the rubber band over Foley hits, the playhead's trail on the ruler, a project that is
"modified" as soon as it opens, one demo project per ``make run`` and no autosave left after
Discard, a repeat export and the exported folder, a window that fits 1280x720."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from studio import generate
from studio.project import FoleyEvent, Project, Track, TrackKind, autosave_path
from test_ui_window import DEMO, lane_of, open_and_analyse, window  # noqa: F401 (the window fixture)


def settle(qtbot, ms: int = 50) -> None:
    """Let queued events (repaints above all) run."""
    QApplication.processEvents()
    qtbot.wait(ms)


def no_question(monkeypatch, answer=QMessageBox.Discard) -> list:
    """QMessageBox.question answered at once with ``answer``; returns the titles it was asked with."""
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, *a, **k: asked.append(title) or answer)
    return asked


def orange(colour) -> bool:
    """The accent (playhead, band), also where antialiasing blends it with a dark background."""
    return colour.red() > 150 and colour.red() - colour.blue() > 80 and 100 < colour.green() < 190


def backing_store(w, widget):
    """What the screen shows of ``widget``: the window's backing store (partial repaints
    included), not a fresh paint as ``widget.grab()`` would make."""
    top = widget.mapTo(w, QPoint(0, 0))
    return QApplication.primaryScreen().grabWindow(w.winId(), top.x(), top.y(), widget.width(),
                                                    widget.height()).toImage()


# -- 1. the rubber band --------------------------------------------------------------------------
def test_shift_drag_on_a_foley_lane_draws_a_band_and_selects_the_hits_inside(window, qtbot):
    from ui import undo

    w = window
    open_and_analyse(w, qtbot)
    hits = Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(t) for t in (1.0, 2.0, 3.0, 4.0, 9.0)])
    undo.add_tracks(w.doc, [hits], "add hits")
    c = w.timeline.canvas
    c.fit()
    settle(qtbot)
    lane = lane_of(c, hits.id)
    y = int(lane.top - c.v_offset + lane.height / 2)
    x0, x1 = int(c.scale.x_of(1.5)), int(c.scale.x_of(4.5))
    qtbot.mousePress(c, Qt.LeftButton, Qt.ShiftModifier, QPoint(x0, y))
    qtbot.mouseMove(c, QPoint((x0 + x1) // 2, y))
    qtbot.mouseMove(c, QPoint(x1, y))
    assert c._drag["mode"] == "band"
    img = c.grab().toImage()  # paints the lanes and the band (a KeyError 'dt' here before the fix)
    top = int(lane.top - c.v_offset) + 1
    edge = [img.pixelColor(x, yy) for x in range(x1 - 2, x1 + 3) for yy in range(top, top + lane.height - 2)]
    assert sum(1 for col in edge if orange(col)) > 5  # the band's dashed edge
    qtbot.mouseRelease(c, Qt.LeftButton, Qt.ShiftModifier, QPoint(x1, y))
    assert w.doc.selected_track == hits.id and w.doc.selected_events == (1, 2, 3)  # 2.0, 3.0, 4.0 s
    img = c.grab().toImage()
    assert not any(orange(img.pixelColor(x, yy)) for x in range(x1 - 2, x1 + 3)
                   for yy in range(top, top + lane.height - 2))  # the band is gone


# -- 2. the playhead's trail ---------------------------------------------------------------------
def test_a_moving_playhead_leaves_no_trail_on_the_ruler(window, qtbot):
    from ui.widgets.timeline.geometry import RULER_H

    w = window
    open_and_analyse(w, qtbot)
    c = w.timeline.canvas
    c.fit()
    tempo = w.doc.project.tempo
    bar = next(tempo.time_at(float(b)) for b in range(0, 64, tempo.beats_per_bar) if tempo.time_at(float(b)) > 2.0)
    start = bar + 9 / c.scale.px_per_s  # over the number of a bar on the ruler
    w.playback.seek(start)
    c.repaint()  # everything painted once, the playhead there
    settle(qtbot)
    old_x = int(round(c.scale.x_of(start)))
    for t in (start + 3 / c.scale.px_per_s, start + 6 / c.scale.px_per_s, 6.0):  # as playback moves it
        w.playback.seek(t)
        settle(qtbot, 20)
    shown = backing_store(w, c)
    left = [(x, y) for x in range(old_x - 8, old_x + 1) for y in range(RULER_H) if orange(shown.pixelColor(x, y))]
    assert left == [], f"playhead pixels left on the ruler at {left[:5]}"
    # and the ruler shows what a full repaint shows (no label cut where the playhead passed)
    fresh = c.grab().toImage()
    ruler = [(x, y) for x in range(0, c.width(), 1) for y in range(RULER_H)
             if shown.pixelColor(x, y) != fresh.pixelColor(x, y)]
    assert ruler == [], f"{len(ruler)} ruler pixels differ from a full repaint, e.g. {ruler[:5]}"


# -- 3. opened means unmodified ------------------------------------------------------------------
def test_opening_a_video_or_a_project_leaves_it_unmodified(window, qtbot, monkeypatch):
    w = window
    asked = no_question(monkeypatch, QMessageBox.Cancel)
    open_and_analyse(w, qtbot)
    settle(qtbot)
    p = w.doc.project
    assert not w.doc.modified and w.doc.undo_stack.count() == 0 and " *" not in w.windowTitle()
    assert Project.load(p.path).tempo == p.tempo  # the video's grid is saved with the project
    path = p.path
    (path.parent / "analysis.npz").unlink()  # a project opened without its analysis: analysed again
    w.controller.open_project(path)
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)
    settle(qtbot)
    assert not w.doc.modified and w.doc.undo_stack.count() == 0
    w.controller.open_project(path)  # with its analysis
    settle(qtbot)
    assert not w.doc.modified
    assert w.close() and asked == []  # quitting right away asks nothing


# -- 4. one demo project, no autosave after Discard ----------------------------------------------
def test_each_run_with_the_demo_reuses_its_project_and_discard_drops_the_autosave(qtbot, private_settings,
                                                                                  tmp_path, monkeypatch):
    from ui import undo
    from ui.app import launch

    projects = tmp_path / "projects"
    monkeypatch.setenv("STUDIO_PROJECTS_DIR", str(projects))
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_ui_window:fake_rhythm"})
    asked = no_question(monkeypatch, QMessageBox.Discard)
    paths = []
    for run in range(3):  # `make run` three times: python -m ui studio/assets/demo.mp4
        _app, w = launch(["ui", str(DEMO)])
        qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)
        paths.append(w.doc.project.path)
        if run == 1:  # an edit, autosaved, then thrown away on quitting
            assert w.doc.project.tracks == []
            undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0)])], "add")
            w.doc.autosave()
            assert autosave_path(w.doc.project.path).exists()
        assert w.close()
    assert asked == ["Unsaved changes"]  # only the run with the edit asked
    assert paths[0] == paths[1] == paths[2] == projects / "demo" / "project.json"
    assert sorted(d.name for d in projects.iterdir()) == ["demo"]
    assert not autosave_path(paths[0]).exists()  # Discard removed it: nothing to recover next time
    assert Project.load(paths[0]).tracks == []
    # a video opened from the window still gets a project of its own
    _app, w = launch(["ui"])
    w.controller.open_video(DEMO)
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)
    assert w.doc.project.path == projects / "demo-2" / "project.json"
    assert w.close()


# -- 5. export again, open the folder --------------------------------------------------------------
def _export_from_dialog(w, qtbot, folder: Path, replace: bool):
    from PySide6.QtWidgets import QDialogButtonBox

    w.last_error = None
    w.act_export.trigger()
    dlg = w.export_window
    dlg.folder.setText(str(folder))
    for box, on in ((dlg.stems, False), (dlg.mix, True), (dlg.midi, True), (dlg.video, False), (dlg.rpp, False)):
        box.setChecked(on)
    dlg.overwrite.setChecked(replace)
    qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.Ok), Qt.LeftButton)
    qtbot.waitUntil(lambda: w.controller.busy or w.last_error is not None, timeout=5000)
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=60_000)


def test_export_again_replaces_with_the_box_and_offers_to_open_the_folder(window, qtbot, tmp_path, monkeypatch):
    w = window
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    open_and_analyse(w, qtbot)
    w.controller.generate({"engines": ["rhythm"], "seed": 1})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 1 and not w.controller.busy, timeout=20_000)
    out = tmp_path / "out"

    _export_from_dialog(w, qtbot, out, replace=False)
    assert w.last_error is None and any(out.glob("*.wav")) and any(out.glob("*.mid"))
    box = w.export_done_box
    opener = next(b for b in box.buttons() if b.text() == "Open folder")
    qtbot.mouseClick(opener, Qt.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(out))]

    _export_from_dialog(w, qtbot, out, replace=False)  # the files are there: said in the app's words
    assert w.last_error is not None and "already" in w.last_error
    assert "Replace existing files" in w.last_error and "--" not in w.last_error
    first = {p: p.stat().st_mtime_ns for p in out.iterdir()}

    _export_from_dialog(w, qtbot, out, replace=True)  # the dialog's box replaces them
    assert w.last_error is None and w.last_export.files
    assert all(Path(f).stat().st_mtime_ns > first.get(Path(f), 0) for f in w.last_export.files)


def test_export_error_names_no_cli_flag():
    from ui.generation import existing_files_text

    text = existing_files_text([Path("/x/demo-mix.wav"), Path("/x/demo.mid")])
    assert "demo-mix.wav" in text and "1 more file" in text and "--" not in text


# -- 6. small screens ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_the_window_fits_small_screens_and_the_time_readout_is_never_cut(window, qtbot, size):
    w = window
    hint = w.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720, hint
    open_and_analyse(w, qtbot)
    w.show_generate()  # the tallest dock in front
    settle(qtbot)
    hint = w.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720, hint
    w.resize(*size)
    settle(qtbot)
    assert (w.width(), w.height()) == size
    label = w.transport.time_label
    for t in (0.0, 13.987, 59 * 60 + 59.999):
        w.transport.show_position(t)
        text = label.text()
        assert len(text) >= len("0:00.000")
        assert label.fontMetrics().horizontalAdvance(text) <= label.contentsRect().width(), (text, label.width())
    bar = w.transport.bar_label
    assert bar.fontMetrics().horizontalAdvance("pickup \u221288") <= bar.contentsRect().width()
    assert w.transport.time_label.text() == "59:59.999"


def test_time_text_is_minutes_seconds_milliseconds():
    from ui.widgets.transport_bar import time_text

    assert time_text(0.0) == "0:00.000" and time_text(65.25) == "1:05.250" and time_text(1.239) == "0:01.239"
    assert time_text(6000.0) == "100:00.000"


def test_the_window_opens_within_a_laptop_screen():
    from PySide6.QtCore import QSize

    from ui.main_window import initial_size

    assert initial_size(QSize(1366, 740)) == QSize(1366, 740)  # a 1366x768 laptop less its panel
    assert initial_size(QSize(1280, 690)) == QSize(1280, 690)
    assert initial_size(QSize(1920, 1040)) == QSize(1480, 920)
    assert initial_size(QSize(800, 600)) == QSize(1480, 920)  # smaller than the minimum: nothing fits
    assert initial_size(None) == QSize(1480, 920)
