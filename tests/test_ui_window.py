"""The real main window, offscreen: drop a video, wait for the analysis, Generate, edit with
undo/redo, save and reopen, export to a folder, bad files, cancel.

Engines plug in through ``studio.generate.ADAPTERS``; the tests register small adapters defined
here (MIDI notes on the visual beats, Foley hits on the detected impacts), exactly as an engine
package does, so the UI paths run whether or not real engines are installed."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio import generate, render
from studio.music import Note
from studio.project import FoleyEvent, Track, TrackKind

pytestmark = pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")

DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"
MATERIALS = ("wood", "metal", "glass")


# -- engine adapters used by the tests ---------------------------------------------------------
def fake_rhythm(project, timeline, settings, job):
    rng = np.random.default_rng(settings.seed)
    notes = []
    down = set(np.round(timeline.downbeat_times_s, 4).tolist())
    for t in timeline.beat_times_s:
        pitch = 36 if round(float(t), 4) in down else 42
        notes.append(Note(float(t), 0.1, pitch, int(rng.integers(60, 127)), 9))
        job.report(0.5)
    return [Track("Drums", TrackKind.MIDI, notes=notes, channel=9, engine="rhythm")]


def fake_foley(project, timeline, settings, job):
    rng = np.random.default_rng(settings.seed)
    forced = (settings.options or {}).get("material")  # the material setting, as the real adapter reads it
    events = [FoleyEvent(i.time_s, i.x, i.y, i.strength, forced or MATERIALS[int(rng.integers(3))], seed=k)
              for k, i in enumerate(timeline.impacts)]
    return [Track("Impacts", TrackKind.FOLEY, events=events, engine="foley")]


SEEN_OPTIONS: list[dict] = []


def fake_piano(project, timeline, settings, job):
    SEEN_OPTIONS.append(dict(settings.options))
    corners = [[10, 200], [600, 200], [600, 260], [10, 260]] if settings.options.get("keyboard_box") else None
    return [Track("Piano", TrackKind.MIDI, notes=[Note(1.0, 0.5, 60, 80, 3)], channel=3, engine="piano",
                  settings={"keyboard": corners} if corners else {})]


def fake_performer(project, timeline, settings, job):
    SEEN_OPTIONS.append(dict(settings.options))
    return [Track("Violin", TrackKind.MIDI, notes=[Note(1.0, 0.5, 67, 80, 4)], program=40, channel=4,
                  engine="performer")]


def slow_engine(project, timeline, settings, job):
    for i in range(1000):  # until cancelled (10 s at most)
        job.report(i / 1000, "working")
        time.sleep(0.01)
    return []


def foley_renderer(track, project, sample_rate, job=None):
    n = int(project.duration_s * sample_rate)
    out = np.zeros((2, n), np.float32)
    burst = np.exp(-np.arange(2000) / 300.0).astype(np.float32) * np.sin(np.arange(2000) * 0.3)
    for e in track.events:
        i = int(e.time_s * sample_rate)
        seg = burst[: max(0, n - i)] * e.strength
        out[:, i:i + len(seg)] += seg
    return out


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def window(qtbot, private_settings, tmp_path, monkeypatch):
    from ui.app import create_app
    from ui.main_window import MainWindow
    from ui.qtcompat import binding_problem

    if binding_problem():
        pytest.fail(binding_problem())
    create_app([])
    monkeypatch.setenv("STUDIO_PROJECTS_DIR", str(tmp_path / "projects"))
    # small, fast engines for the window tests (the real ones: test_real_engines_generate_tracks)
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_ui_window:fake_rhythm",
                                               "foley": "test_ui_window:fake_foley"})
    w = MainWindow()  # closed here, not by qtbot (its close would ask to save the changes)
    w.show()
    yield w
    # a job still running (an analysis the test did not wait for) would deliver its result to a
    # closed window while the next test starts: let it finish first
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=60_000)
    w.doc.undo_stack.setClean()  # no save question on close
    w.close()


def drop(widget, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    ev = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, ev)


def open_and_analyse(w, qtbot, path: Path = DEMO) -> None:
    drop(w.timeline.canvas, path)
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)


def lane_of(canvas, track_id):
    return next(l for l in canvas._lanes if l.key == track_id)


# -- tests ----------------------------------------------------------------------------------------
def test_drop_generate_edit_undo_save_reopen(window, qtbot, tmp_path):
    w = window
    open_and_analyse(w, qtbot)
    p = w.doc.project
    assert p.video is not None and abs(p.duration_s - 14.0) < 0.1
    assert len(w.doc.analysis.beat_times_s) > 10 and w.doc.analysis.impacts
    assert len(p.tempo.changes) >= 1 and 80 < p.tempo.bpm_at(5.0) < 125  # tempo from the video
    assert (p.folder / "analysis.npz").exists()
    assert w.preview.image is not None or qtbot.waitUntil(lambda: w.preview.image is not None, timeout=5000) is None

    # Generate: one button opens the panel; the installed engines are offered
    w.act_generate.trigger()
    panel = w.generate_panel
    assert set(panel.checks) == {"rhythm", "foley"} and not panel.no_engines.isVisible()
    assert panel.generate_button.isEnabled()
    qtbot.mouseClick(panel.generate_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 2 and not w.controller.busy, timeout=20_000)
    drums, foley = w.doc.project.tracks
    assert drums.kind is TrackKind.MIDI and drums.notes and foley.kind is TrackKind.FOLEY and foley.events
    assert [l.key for l in w.timeline.canvas._lanes][-2:] == [drums.id, foley.id]
    w.doc.undo_stack.undo()  # Generate is one command
    assert w.doc.project.tracks == []
    w.doc.undo_stack.redo()
    foley = w.doc.project.tracks[1]

    # drag the first Foley hit on the timeline (snap off): one undoable move
    c = w.timeline.canvas
    w.timeline.snap_button.setChecked(False)
    c.fit()
    ev0 = foley.events[0]
    lane = lane_of(c, foley.id)
    y = int(lane.top - c.v_offset + lane.height / 2)
    x = int(round(c.scale.x_of(ev0.time_s)))
    qtbot.mousePress(c, Qt.LeftButton, pos=QPoint(x, y))
    assert w.doc.selected_track == foley.id and w.doc.selected_events == (0,)
    qtbot.mouseMove(c, QPoint(x + 30, y))
    qtbot.mouseRelease(c, Qt.LeftButton, pos=QPoint(x + 30, y))
    moved = w.doc.track(foley.id).events
    assert ev0 not in moved and any(abs(e.time_s - (ev0.time_s + 30 / c.scale.px_per_s)) < 0.02 for e in moved)
    assert w.doc.undo_stack.undoText().startswith("Move 1 event")
    w.act_undo.trigger()
    assert w.doc.track(foley.id).events == foley.events
    w.act_redo.trigger()
    assert w.doc.track(foley.id).events == moved

    # material of the selected hit, mute in the inspector, delete with the Delete key
    w.doc.select(foley.id, (0,))
    c.set_material("glass")
    assert w.doc.track(foley.id).events[0].material == "glass"
    w.inspector.mute.setChecked(True)
    assert w.doc.track(foley.id).mixer.mute
    n = len(w.doc.track(foley.id).events)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key_Delete)
    assert len(w.doc.track(foley.id).events) == n - 1
    w.doc.undo_stack.undo()
    assert len(w.doc.track(foley.id).events) == n
    assert w.doc.modified and w.windowTitle().startswith(w.doc.project.name + " *")

    # save, reopen in a fresh window: everything comes back
    w.act_save.trigger()
    assert not w.doc.modified
    saved = w.doc.project.to_dict()
    path = w.doc.project.path
    from ui.main_window import MainWindow

    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.controller.open_project(path)
    assert w2.doc.project.to_dict() == saved
    assert w2.doc.analysis is not None and len(w2.doc.analysis.impacts) == len(w.doc.analysis.impacts)
    assert w2.doc.project.track(foley.id).mixer.mute
    w2.close()


def test_export_files_and_remembered_choices(window, qtbot, tmp_path, monkeypatch):
    w = window
    open_and_analyse(w, qtbot)
    w.generate_panel.generateRequested.emit({"engines": ["rhythm", "foley"], "seed": 3, "style": None,
                                             "room": None, "material": "metal"})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 2 and not w.controller.busy, timeout=20_000)
    assert {e.material for e in w.doc.project.tracks[1].events} == {"metal"}

    from ui.widgets.export_dialog import ExportDialog

    dlg = ExportDialog(w.doc.project)
    dlg.folder.setText(str(tmp_path / "out"))
    dlg.stems.setChecked(True)
    dlg.mix.setChecked(True)
    dlg.midi.setChecked(True)
    dlg.rpp.setChecked(True)
    dlg.video.setChecked(True)
    dlg.depth.setCurrentIndex(dlg.depth.findData("16"))
    dlg.accept()
    args = dlg.arguments()
    again = ExportDialog(w.doc.project)  # QSettings remembered the choices
    assert again.rpp.isChecked() and again.depth.currentData() == "16" and again.folder.text() == str(tmp_path / "out")

    from studio import adapters

    adapters.register_all()  # the real engines' renderers first, so that the test's one below wins
    monkeypatch.setitem(render._renderers, "foley", foley_renderer)  # (restored after the test)
    w.controller.export(args)
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    import soundfile as sf

    report = w.last_export
    out = tmp_path / "out"
    assert set(report.files) >= {args["mix_path"], args["midi_path"], args["rpp_path"]}
    stems = sorted(args["stems_dir"].glob("*.wav"))
    assert len(stems) == 2
    info = sf.info(str(args["mix_path"]))
    assert info.subtype == "PCM_16" and abs(info.frames / info.samplerate - 14.0) < 0.05
    assert args["midi_path"].read_bytes()[:4] == b"MThd"
    assert "Drums" in args["rpp_path"].read_text() and out.is_dir()
    from studio import media

    muxed = media.probe(args["video_path"])  # the video with the new sound
    assert muxed.has_video and muxed.has_audio and abs(muxed.duration_s - 14.0) < 0.1
    # mastered by default; the 16-bit mix does not clip and the dialog shows what was measured
    assert args["loudness_lufs"] == -14.0 and not args["limiter"]
    # (this mix, 23 drum hits and the test's tone bursts, is too spiky to reach -14 LUFS under
    # -1 dBTP: the limiter stops at about -16 rather than take more than 20 dB off every hit)
    assert report.clipped_samples == 0 and report.stems_clipped_samples == 0 and report.true_peak_dbtp <= -1.0
    assert report.loudness_target_lufs == -14.0 and -17.0 <= report.loudness_lufs <= -13.0
    shown = ExportDialog(w.doc.project).last_levels.text()
    assert "LUFS" in shown and "dBTP" in shown and "no clipped samples" in shown


def test_bad_file_gives_message_and_window_stays_usable(window, qtbot, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 20)
    drop(window.timeline.canvas, bad)
    qtbot.waitUntil(lambda: window.last_error is not None and not window.controller.busy, timeout=10_000)
    assert "broken.mp4" in window.last_error
    assert window.doc.project is None and window.act_open.isEnabled()
    window.last_error = None
    open_and_analyse(window, qtbot)  # still works afterwards
    assert window.doc.project is not None and window.last_error is None


def test_generation_cancel_and_no_engines(window, qtbot, monkeypatch):
    w = window
    open_and_analyse(w, qtbot)
    monkeypatch.setitem(generate.ADAPTERS, "soundtrack", "test_ui_window:slow_engine")
    w.show_generate()
    assert "soundtrack" in w.generate_panel.checks  # a newly installed engine is offered
    w.controller.generate({"engines": ["soundtrack"], "seed": 0})
    qtbot.waitUntil(lambda: w.generate_panel.cancel.isVisible() and w.job_bar.value() > 0, timeout=5000)
    qtbot.mouseClick(w.generate_panel.cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=5000)
    assert w.doc.project.tracks == [] and w.last_error is None

    monkeypatch.setattr(generate, "ADAPTERS", {})
    w.generate_panel.refresh()
    assert w.generate_panel.checks == {} and w.generate_panel.no_engines.isVisibleTo(w.generate_panel)
    assert not w.generate_panel.generate_button.isVisibleTo(w.generate_panel)
    assert w.generate_panel.tempo_button.isEnabled()


def test_regenerate_track_and_loop_region_and_space_plays(window, qtbot):
    w = window
    open_and_analyse(w, qtbot)
    w.controller.generate({"engines": ["rhythm"], "seed": 1})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 1 and not w.controller.busy, timeout=20_000)
    drums = w.doc.project.tracks[0]
    w.doc.select(drums.id)
    w.show_generate()
    panel = w.generate_panel
    assert panel.regen_track.isEnabled() and not panel.regen_region.isEnabled()  # no loop region yet
    w.transport.set_loop((4.0, 8.0))  # what a Shift-drag on the ruler does
    assert w.playback.transport.loop == (4.0, 8.0) and panel.regen_region.isEnabled()
    qtbot.mouseClick(panel.regen_region, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.controller.busy and w.doc.undo_stack.undoText().startswith("Re-generate"),
                    timeout=20_000)
    new = w.doc.track(drums.id)
    outside = lambda notes: [n for n in notes if not 4.0 <= n.start_s < 8.0]  # noqa: E731
    inside = lambda notes: [n for n in notes if 4.0 <= n.start_s < 8.0]  # noqa: E731
    assert outside(new.notes) == outside(drums.notes) and inside(new.notes) != inside(drums.notes)
    assert new.id == drums.id and new.mixer == drums.mixer
    w.doc.undo_stack.undo()
    assert w.doc.track(drums.id).notes == drums.notes
    qtbot.mouseClick(panel.regen_track, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.controller.busy and w.doc.undo_stack.undoText().startswith("Re-generate Drums"),
                    timeout=20_000)
    assert w.doc.track(drums.id).notes != drums.notes and len(w.doc.project.tracks) == 1

    w.playback.seek(5.0)
    w.act_play.trigger()  # Space
    qtbot.waitUntil(lambda: w.playback.playing and w.playback.position_s > 4.1, timeout=3000)
    w.act_play.trigger()
    assert not w.playback.playing
    w.act_home.trigger()
    assert w.playback.position_s == 0.0
    from PySide6.QtGui import QKeySequence

    assert w.act_play.shortcut() == QKeySequence("Space") and w.act_home.shortcut() == QKeySequence("Home")
    assert w.act_export.shortcut() == QKeySequence("Ctrl+E") and w.act_save.shortcut() == QKeySequence("Ctrl+S")
    assert QKeySequence("Ctrl+Shift+Z") in w.act_redo.shortcuts() and w.act_undo.shortcut() == QKeySequence("Ctrl+Z")


def test_about_box_names_the_provider_of_every_model(window):
    from engines.runtime import load_manifest

    text = window.about_text()
    assert "Video Sound Studio" in text and "CPUExecutionProvider" in text
    for model in load_manifest():
        assert model in text
    assert any(a.text() == "About Video Sound Studio" for a in window.findChildren(type(window.act_about)))


def test_real_engines_generate_tracks_in_the_window(window, qtbot, monkeypatch):
    """The shipped rhythm and Foley engines through the Generate panel, then an audible mix."""
    from studio import adapters, render

    real = {n: f"{adapters.module_name(n)}:generate" for n in generate.ENGINE_NAMES if adapters.present(n)}
    monkeypatch.setattr(generate, "ADAPTERS", real)
    w = window
    open_and_analyse(w, qtbot)
    w.show_generate()
    assert {"rhythm", "foley"} <= set(w.generate_panel.checks)
    w.controller.generate({"engines": ["rhythm", "foley"], "seed": 3})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) >= 2 and not w.controller.busy, timeout=180_000)
    assert w.last_error is None
    tracks = w.doc.project.tracks
    drums = next(t for t in tracks if t.is_drums)
    foley = next(t for t in tracks if t.kind is TrackKind.FOLEY)
    assert len(drums.notes) > 20 and len(foley.events) == len(w.doc.analysis.impacts)
    from ui import theme

    assert {e.material for e in foley.events} <= set(theme.MATERIALS)  # the inspector can show each
    lanes = [l.key for l in w.timeline.canvas._lanes]
    assert all(t.id in lanes for t in tracks)
    mix = render.render_project(w.doc.project, time_range=(0.0, 4.0)).mix
    assert float(np.abs(mix).max()) > 0.05


def test_keyboard_box_drawn_on_the_preview_reaches_the_piano_engine(window, qtbot, monkeypatch, tmp_path):
    """Draw: drag on the picture -> the box in video pixels -> the panel -> the engine's options;
    the performer's instrument and keypoint file go the same way; Auto clears the box."""
    monkeypatch.setattr(generate, "ADAPTERS", {"piano": "test_ui_window:fake_piano",
                                               "performer": "test_ui_window:fake_performer"})
    SEEN_OPTIONS.clear()
    w = window
    open_and_analyse(w, qtbot)
    w.show_generate()
    panel, preview = w.generate_panel, w.preview
    assert set(panel.checks) == {"piano", "performer"}
    assert not any(cb.isChecked() for cb in panel.checks.values())  # they run when asked
    assert not panel.keyboard_draw.isVisible() and not panel.instrument.isVisible()  # only checked engines' settings
    panel.checks["piano"].setChecked(True)
    panel.checks["performer"].setChecked(True)
    assert panel.keyboard_draw.isVisible() and panel.instrument.isVisible()
    qtbot.waitUntil(lambda: preview.image is not None, timeout=5000)
    qtbot.mouseClick(panel.keyboard_draw, Qt.LeftButton)
    assert preview.drawing
    v = w.doc.project.video
    a, b = preview.to_widget(0.1 * v.width, 0.6 * v.height), preview.to_widget(0.9 * v.width, 0.8 * v.height)
    qtbot.mousePress(preview, Qt.LeftButton, pos=a.toPoint())
    qtbot.mouseMove(preview, b.toPoint())
    qtbot.mouseRelease(preview, Qt.LeftButton, pos=b.toPoint())
    assert not preview.drawing
    x, y, bw, bh = panel.keyboard_box
    tol = 0.02 * v.width  # widget pixels rounded back to video pixels
    assert abs(x - 0.1 * v.width) < tol and abs(y - 0.6 * v.height) < tol
    assert abs(bw - 0.8 * v.width) < tol and abs(bh - 0.2 * v.height) < tol
    assert preview.keyboard_box == panel.keyboard_box  # drawn over the picture
    panel.checks["piano"].setChecked(True)
    panel.checks["performer"].setChecked(True)
    panel.instrument.setCurrentText("violin")
    panel.keypoints.setText(str(tmp_path / "player.json"))
    qtbot.mouseClick(panel.generate_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 2 and not w.controller.busy, timeout=20_000)
    assert w.last_error is None
    piano_opts, performer_opts = SEEN_OPTIONS
    assert tuple(piano_opts["keyboard_box"]) == panel.keyboard_box
    assert performer_opts["instrument"] == "violin" and performer_opts["keypoints"] == str(tmp_path / "player.json")
    piano = next(t for t in w.doc.project.tracks if t.engine == "piano")
    assert preview._selected_keyboard() is None
    w.doc.select(piano.id)
    assert preview._selected_keyboard() == [[10, 200], [600, 200], [600, 260], [10, 260]]
    preview.grab()  # paints the outline without error
    qtbot.mouseClick(panel.keyboard_auto, Qt.LeftButton)
    assert panel.keyboard_box is None and preview.keyboard_box is None
    assert panel.settings()["keyboard_box"] is None
