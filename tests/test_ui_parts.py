"""Parts of the UI on their own: timeline geometry and raster helpers, undo commands and
autosave of the document, playback with the transport clock, routing, room view, audio import,
the Qt binding check."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt

from studio.music import Note, TempoMap
from studio.project import FoleyEvent, Project, Track, TrackKind, has_newer_autosave
from ui import undo
from ui.widgets.timeline import geometry, waveform


@pytest.fixture
def app(qapp, private_settings):
    from ui.app import create_app
    from ui.qtcompat import binding_problem

    if binding_problem():
        pytest.fail(binding_problem())
    return create_app([])


@pytest.fixture
def doc(app, tmp_path):
    from ui.document import Document

    d = Document()
    p = Project(name="t")
    p.path = tmp_path / "p" / "project.json"
    p.tracks = [Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0), FoleyEvent(2.0, material="metal")]),
                Track("Drums", TrackKind.MIDI, notes=[Note(0.5, 0.1, 36, 100, 9)], channel=9)]
    p.save()
    d.set_project(p)
    return d


def test_time_scale_zoom_keeps_anchor_and_snap_uses_tempo():
    s = geometry.TimeScale(px_per_s=50, offset_s=10)
    x = 500.0
    t = s.t_of(x)
    s.zoom(2.0, x)
    assert s.px_per_s == 100 and abs(s.t_of(x) - t) < 1e-9
    tempo = TempoMap.constant(120.0, downbeat_s=0.1)
    # at 100 px/s a beat is 50 px: the grid is in 1/4 beats (12.5 px)
    assert abs(geometry.snap_time(1.23, tempo, 100.0) - (0.1 + 9 * 0.125)) < 1e-9  # beat 2.25
    assert geometry.grid_division(5.0) == 4.0
    assert geometry.fmt_time(75.5, 1) == "1:15" and geometry.fmt_time(5.25, 0.05) == "0:05.25"


def test_pixel_peaks_and_column_values():
    peaks = np.zeros(1000, np.float32)
    peaks[500] = 0.8  # block 500 = 500 * 256 / 25600 = 5.0 s at 25.6 kHz
    col = waveform.pixel_peaks(peaks, 25600, t0=4.0, px_per_s=10.0, width=20)
    assert col.argmax() == 10 and col.max() == pytest.approx(0.8) and np.count_nonzero(col) == 1
    # before the file, after the file, a file starting at an offset
    assert not waveform.pixel_peaks(peaks, 25600, t0=-5.0, px_per_s=10, width=20).any()
    shifted = waveform.pixel_peaks(peaks, 25600, t0=4.0, px_per_s=10.0, width=20, offset_s=0.5)
    assert shifted.argmax() == 15
    from ui.widgets.timeline.lanes import column_values

    s = geometry.TimeScale(px_per_s=1.0, offset_s=0.0)  # 1 px per second: many samples per column
    times = np.arange(0, 100, 0.1)
    values = np.zeros_like(times)
    values[503] = 1.0  # at 50.3 s
    col = column_values(times, values, s, geometry.HEADER_W, 100)
    assert col.argmax() == 50 and col[50] == 1.0 and col[49] < 1.0


def test_undo_commands_merge_per_gesture_and_macro(doc):
    tid = doc.project.tracks[0].id
    undo.set_mixer(doc, tid, "gain", **{"gain_db": -1.0})
    undo.edit_track(doc, tid, "gain", "mixer:gain:1", mixer=doc.track(tid).mixer.__class__(gain_db=-2.0))
    undo.edit_track(doc, tid, "gain", "mixer:gain:1", mixer=doc.track(tid).mixer.__class__(gain_db=-3.0))
    assert doc.undo_stack.count() == 2  # the drag of gesture 1 merged into one command
    doc.undo_stack.undo()
    assert doc.track(tid).mixer.gain_db == -1.0
    doc.undo_stack.undo()
    assert doc.track(tid).mixer.gain_db == 0.0
    from ui.widgets.routing_dialog import RoutingDialog
    from ui.playback import Routing

    dlg = RoutingDialog(doc, Routing())
    assert dlg.audio.currentData() == "default" and dlg.audio.findData(None) == 1
    assert dlg.midi.currentData() == "__virtual__"
    dlg.audio.setCurrentIndex(1)
    drums = doc.project.tracks[1]
    dlg.channels[drums.id].setValue(4)
    dlg.midi.setCurrentIndex(dlg.midi.findData("__off__"))
    assert dlg.routing() == Routing(audio_device=None, midi_port="")
    dlg.routing().save()
    assert Routing.load() == Routing(audio_device=None, midi_port="")  # remembered (QSettings)
    Routing().save()
    assert Routing.load() == Routing()
    dlg.apply_channels()
    assert doc.track(drums.id).channel == 3 and doc.undo_stack.undoText() == "MIDI routing"
    doc.undo_stack.undo()
    assert doc.track(drums.id).channel == 9


def test_autosave_writes_recovery_copy(doc):
    tid = doc.project.tracks[0].id
    undo.set_mixer(doc, tid, "Mute", mute=True)
    assert doc.modified
    doc.autosave()
    assert has_newer_autosave(doc.project.path)
    p = Project.load(doc.project.path.with_name("project.autosave.json"))
    assert p.track(tid).mixer.mute
    doc.save()
    assert not doc.modified and not has_newer_autosave(doc.project.path)


def test_inspector_room_view_places_track(doc, monkeypatch):
    from studio import generate
    from ui.widgets.inspector import Inspector

    monkeypatch.setitem(generate.ADAPTERS, "spatial", "nowhere:spatial")  # offered as installed
    insp = Inspector(doc)
    insp.show()
    tid = doc.project.tracks[0].id
    doc.select(tid)
    assert insp.spatial.isVisible() and insp.foley.isVisible() and not insp.midi.isVisible()
    rv = insp.room_view
    insp.set_time(1.5)
    from PySide6.QtTest import QTest

    start = rv.to_px(2.0, 2.0).toPoint()
    QTest.mousePress(rv, Qt.LeftButton, pos=start)
    for k in range(1, 6):
        QTest.mouseMove(rv, QPoint(start.x() + 8 * k, start.y()))
    QTest.mouseRelease(rv, Qt.LeftButton, pos=QPoint(start.x() + 40, start.y()))
    kf = doc.track(tid).spatial
    assert len(kf) == 1 and kf[0].time_s == 1.5 and kf[0].x > 2.5 and abs(kf[0].y - 2.0) < 0.1
    assert doc.undo_stack.undoText().startswith("Place")
    doc.undo_stack.undo()  # the whole drag is one step
    assert doc.track(tid).spatial == []


def test_playback_moves_playhead_and_preview(app, qtbot, tmp_path):
    from videogen import write_video

    from studio.project import new_project_for_video
    from ui.document import Document
    from ui.playback import Playback
    from ui.widgets.video_preview import VideoPreview
    from ui.workers import Workers

    def draw(t):
        img = np.zeros((120, 160, 3), np.uint8)
        img[:, : int(10 + 70 * t)] = 200  # a bar that grows with time
        return img

    clip = write_video(tmp_path / "clip.mp4", draw, duration_s=2.0, fps=25, size=(160, 120))
    doc, workers = Document(), Workers()
    pb = Playback(doc, workers)
    preview = VideoPreview(doc)
    pb.positionChanged.connect(preview.show_time)
    doc.set_project(new_project_for_video(clip, tmp_path / "p" / "project.json"))
    assert pb.transport.duration_s == pytest.approx(2.0, abs=0.05)
    pb.set_routing(pb.routing.__class__(audio_device=None, midi_port=""))
    pb.play()
    qtbot.waitUntil(lambda: pb.position_s > 0.5 and preview.image_time > 0.3, timeout=5000)
    assert pb.playing
    pb.pause()
    t = pb.position_s
    qtbot.wait(100)
    assert pb.position_s == t and not pb.playing
    pb.seek(1.6)
    qtbot.waitUntil(lambda: abs(preview.image_time - 1.6) < 0.05, timeout=5000)
    pb.set_loop(0.2, 0.6)
    pb.play()
    qtbot.wait(700)
    assert 0.2 <= pb.position_s < 0.6  # looping inside the region
    pb.stop()
    assert not pb.playing
    pb.close()
    preview.frames.close()
    workers.shutdown()


def test_audio_import_draws_waveform(app, qtbot, tmp_path, monkeypatch):
    from ui.main_window import MainWindow

    monkeypatch.setenv("STUDIO_PROJECTS_DIR", str(tmp_path / "projects"))
    wav = tmp_path / "hit.wav"
    sr = 24000
    x = np.zeros(sr * 2, np.float32)
    x[sr: sr + 2400] = 0.9  # a burst at 1.0 s
    sf.write(str(wav), x, sr)
    w = MainWindow()
    from videogen import write_video

    clip = write_video(tmp_path / "clip.mp4", lambda t: np.zeros((72, 96, 3), np.uint8), duration_s=2.0, fps=10,
                       size=(96, 72))
    w.controller.open_video(clip)
    qtbot.waitUntil(lambda: w.doc.project is not None, timeout=10_000)
    w.controller.open_path(wav)  # an audio file with a project open: imported as a track
    track = w.doc.project.tracks[-1]
    assert track.kind is TrackKind.AUDIO and (w.doc.project.folder / track.audio_path).exists()
    c = w.timeline.canvas
    path = w.doc.project.resolve(track.audio_path)
    c.resize(800, 400)
    c.grab()  # first paint starts the peak job
    qtbot.waitUntil(lambda: isinstance(c.peaks._peaks.get(path), tuple), timeout=10_000)
    img = c.grab().toImage()
    lane = next(l for l in c._lanes if l.key == track.id)
    y = lane.top + lane.height // 2
    x_burst, x_quiet = int(c.scale.x_of(1.02)), int(c.scale.x_of(0.5))
    assert img.pixelColor(x_burst, y).green() > 120 and img.pixelColor(x_quiet, y).green() < 80
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=30_000)
    w.doc.undo_stack.undo()
    assert all(t.kind is not TrackKind.AUDIO for t in w.doc.project.tracks)
    w.doc.undo_stack.setClean()
    w.close()


def test_binding_check_passes_on_installed_pyside():
    from ui.qtcompat import binding_problem

    assert binding_problem() is None


def test_workers_deliver_results_of_instant_jobs_connected_after_submit(app, qtbot):
    """A job can finish before submit() returns; its result must still reach slots connected
    right after submit (the queued delivery), progress and cancellation likewise."""
    from studio.errors import MediaError
    from ui.workers import Workers

    workers = Workers()
    got, failed = [], []
    for i in range(40):
        h = workers.submit("instant", lambda k, job=None: k * 2, i)
        h.finished.connect(got.append)
    h = workers.submit("bad", lambda job=None: (_ for _ in ()).throw(MediaError("no such file")))
    h.failed.connect(failed.append)
    qtbot.waitUntil(lambda: len(got) == 40 and bool(failed), timeout=5000)
    assert sorted(got) == [2 * i for i in range(40)] and failed == ["no such file"]

    def slow(job=None):
        for i in range(500):
            job.report(i / 500, "step")
            import time

            time.sleep(0.01)

    cancelled, progress = [], []
    h = workers.submit("slow", slow)
    h.cancelled.connect(lambda: cancelled.append(True))
    h.progress.connect(lambda f, m: progress.append(f))
    qtbot.waitUntil(lambda: len(progress) > 2, timeout=5000)
    h.cancel()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=5000)
    assert progress == sorted(progress) and workers.active == []
    workers.shutdown()


def test_nudge_and_autosave_recovery(app, qtbot, tmp_path, monkeypatch):
    from ui.main_window import MainWindow

    monkeypatch.setenv("STUDIO_PROJECTS_DIR", str(tmp_path / "projects"))
    from videogen import write_video

    clip = write_video(tmp_path / "clip.mp4", lambda t: np.zeros((72, 96, 3), np.uint8), duration_s=3.0, fps=10,
                       size=(96, 72))
    w = MainWindow()
    w.controller.open_video(clip)
    qtbot.waitUntil(lambda: w.doc.project is not None and not w.controller.busy, timeout=20_000)
    track = Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0), FoleyEvent(2.0)])
    undo.add_tracks(w.doc, [track], "add")
    c = w.timeline.canvas
    w.doc.project.tempo = TempoMap.constant(120.0)  # beats every 0.5 s
    c.scale.px_per_s = 48.0  # a beat is 24 px: the grid is in half beats (0.25 s)
    w.doc.select(track.id, (0,))
    c.setFocus()
    qtbot.keyClick(c, Qt.Key_Right)
    assert [e.time_s for e in w.doc.track(track.id).events] == [1.25, 2.0]
    qtbot.keyClick(c, Qt.Key_Left, Qt.AltModifier)  # Alt: one video frame
    assert w.doc.track(track.id).events[0].time_s == pytest.approx(1.15)
    assert w.doc.selected_events == (0,)
    w.doc.undo_stack.undo()
    assert w.doc.track(track.id).events[0].time_s == 1.25

    w.save()
    undo.set_mixer(w.doc, track.id, "Mute", mute=True)
    w.doc.autosave()  # then the studio "crashes": the project file still has the unmuted track
    path = w.doc.project.path
    w.doc.undo_stack.setClean()
    w.close()

    w2 = MainWindow()
    asked = []
    w2.controller.ask_restore = lambda p: asked.append(p) or True
    w2.controller.open_project(path)
    assert asked == [path] and w2.doc.project.track(track.id).mixer.mute
    assert w2.doc.modified and w2.doc.project.path == path  # saving writes the real project file
    qtbot.waitUntil(lambda: not w2.controller.busy, timeout=20_000)
    w2.doc.undo_stack.setClean()
    w2.close()


def test_python_m_ui_starts_headless_and_opens_a_video(tmp_path):
    """Smoke run of the launched app: ``python -m ui VIDEO`` opens and analyses the video."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STUDIO_PROJECTS_DIR=str(tmp_path / "projects"),
               STUDIO_CACHE_DIR=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.Popen([sys.executable, "-m", "ui", str(root / "studio" / "assets" / "demo.mp4")], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    target = tmp_path / "projects" / "demo" / "analysis.npz"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not target.exists():
            time.sleep(0.1)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode(errors="replace")
    assert alive, out
    assert target.exists() and (tmp_path / "projects" / "demo" / "project.json").exists(), out


def test_generated_tracks_replace_by_id_and_add_new(doc, app):
    """An engine may return edited copies of existing tracks (same id) plus new ones."""
    import dataclasses

    from ui.controller import Controller
    from ui.workers import Workers

    from studio.generate import Result

    c = Controller(doc, Workers())
    hits = doc.project.tracks[0]
    placed = dataclasses.replace(hits, room="studio")
    extra = Track("Bed", TrackKind.SOUNDTRACK)
    tempo = doc.project.tempo
    c._generated(Result((extra,), (placed,), tempo, (), None), {"engines": ["spatial"], "material": None})
    assert [t.id for t in doc.project.tracks] == [hits.id, doc.project.tracks[1].id, extra.id]
    assert doc.track(hits.id).room == "studio"
    doc.undo_stack.undo()
    assert doc.track(hits.id).room is None and len(doc.project.tracks) == 2


def test_rubber_band_selects_hits_and_moves_them_as_one_step(doc, qtbot):
    from ui.widgets.timeline.canvas import TimelineCanvas
    from ui.workers import Workers

    c = TimelineCanvas(doc, Workers())
    c.resize(900, 300)
    c.show()
    c.snap = False
    c.scale.px_per_s, c.scale.offset_s = 100.0, 0.0
    track = doc.project.tracks[0]  # hits at 1.0 and 2.0 s
    lane = next(l for l in c._lanes if l.key == track.id)
    y = lane.top + lane.height // 2
    x = lambda t: int(c.scale.x_of(t))  # noqa: E731
    qtbot.mousePress(c, Qt.LeftButton, Qt.ShiftModifier, QPoint(x(0.5), y))
    qtbot.mouseMove(c, QPoint(x(2.5), y))
    qtbot.mouseRelease(c, Qt.LeftButton, Qt.ShiftModifier, QPoint(x(2.5), y))
    assert doc.selected_track == track.id and doc.selected_events == (0, 1)
    qtbot.mousePress(c, Qt.LeftButton, pos=QPoint(x(1.0), y))
    qtbot.mouseMove(c, QPoint(x(1.0) + 50, y))
    qtbot.mouseRelease(c, Qt.LeftButton, pos=QPoint(x(1.0) + 50, y))
    times = [e.time_s for e in doc.track(track.id).events]
    assert times == pytest.approx([1.5, 2.5], abs=0.011)
    doc.undo_stack.undo()  # both hits, one step
    assert [e.time_s for e in doc.track(track.id).events] == [1.0, 2.0]
