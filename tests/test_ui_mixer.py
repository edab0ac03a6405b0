"""Issue 18 item 6, the Mixer, through the real window offscreen: per-track and master meters read
the rendered levels at the playhead (``studio.meters``), the clip light latches and resets on a
click, the master fader is an undo step that moves the exported mix (not the stems) by its dB,
survives save and reopen, and the Routing dialog warns of a shared MIDI channel (tested in
test_ui_results_conventions).

The project is built here without a video (its timeline lasts until the last sound ends) from
two imported tones, so nothing waits for a video analysis: a loud one (-6 dBFS) and a quiet one
(-26 dBFS), both from 0.5 s to 2.0 s, silence before."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt

from studio import render
from studio.project import Mixer, Project, Track, TrackKind
from ui import undo

SR = 48000


def tone(path: Path, amp: float, secs: float = 1.5, freq: float = 440.0) -> None:
    t = np.arange(int(SR * secs)) / SR
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)


def rms_db(x: np.ndarray) -> float:
    return 10.0 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture
def project_path(tmp_path) -> Path:
    folder = tmp_path / "mixer"
    (folder / "assets").mkdir(parents=True)
    tone(folder / "assets" / "loud.wav", 0.5)
    tone(folder / "assets" / "quiet.wav", 0.05, freq=660.0)
    p = Project(name="mixer", sample_rate=SR)
    p.path = folder / "project.json"
    p.add_track(Track("Loud", TrackKind.AUDIO, id="loud", audio_path="assets/loud.wav", offset_s=0.5))
    p.add_track(Track("Quiet", TrackKind.AUDIO, id="quiet", audio_path="assets/quiet.wav", offset_s=0.5))
    return p.save()


@pytest.fixture
def w(window, qtbot, project_path):
    render.clear_render_cache()
    window.playback.set_routing(type(window.playback.routing)(audio_device=None, midi_port=""))
    window.controller.open_project(project_path)
    assert window.doc.project is not None and window.last_error is None
    window.mixer_dock.raise_()
    yield window
    render.clear_render_cache()


from test_ui_window import window  # noqa: E402,F401 (the window fixture)


def levels_ready(w, qtbot) -> None:
    """The meters of the project as it is now (as a play or a fader move makes them)."""
    n = [0]
    w.playback.levelsChanged.connect(lambda lv: n.__setitem__(0, n[0] + (lv is not None)))
    w.playback.refresh_levels()
    qtbot.waitUntil(lambda: n[0] > 0 and w.playback._levels_job is None, timeout=30_000)


def export_mix(w, qtbot, folder: Path, stems: bool = False) -> tuple[np.ndarray, dict]:
    args = {"root": folder, "mix_path": folder / "mix.wav", "stems_dir": folder / "stems" if stems else None,
            "sample_rate": SR, "bit_depth": "float32", "file_format": "wav", "overwrite": True}
    w.controller.export(args)
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    mix, _ = sf.read(folder / "mix.wav", dtype="float64")
    out = {p.stem: sf.read(p, dtype="float64")[0] for p in sorted((folder / "stems").glob("*.wav"))} if stems else {}
    return mix, out


# -- meters ------------------------------------------------------------------------------------------
def test_meters_read_the_rendered_levels_at_the_playhead(w, qtbot):
    mixer = w.mixer
    assert set(mixer.strips) == {"loud", "quiet"}
    levels_ready(w, qtbot)
    w.playback.seek(1.0)  # both tones sound
    loud, quiet, master = (mixer.meter_reading(k) for k in ("loud", "quiet", None))
    # imported audio keeps its own level: the loud tone peaks at -6 dBFS, the quiet one at -26
    assert abs(loud - (-6.02)) < 0.1 and abs(quiet - (-26.02)) < 0.1
    assert loud > quiet + 15 and master > quiet
    assert mixer.strips["loud"].peak.text() == f"{loud:.1f}"
    w.playback.seek(0.2)  # before the tones: silence
    assert [mixer.meter_reading(k) for k in ("loud", "quiet", None)] == [-60.0] * 3
    assert mixer.strips["loud"].meter.level_db == -math.inf and mixer.master.peak.text() == "-inf"
    # the master's loudness and true peak: the mastering stage's figures (-14 LUFS, <= -1 dBTP)
    levels = w.playback.levels
    assert abs(levels.loudness_lufs - (-14.0)) < 0.5 and levels.true_peak_dbtp <= -1.0
    assert mixer.loudness.text() == f"{levels.loudness_lufs:.1f} LUFS\n{levels.true_peak_dbtp:.1f} dBTP"


def test_meters_move_while_playing(w, qtbot):
    levels_ready(w, qtbot)
    seen = []
    w.playback.positionChanged.connect(lambda t: seen.append((t, w.mixer.meter_reading("loud"))))
    w.playback.seek(0.0)
    w.playback.play()
    qtbot.waitUntil(lambda: w.playback.position_s > 1.2, timeout=10_000)
    w.playback.pause()
    before = [db for t, db in seen if t < 0.45]
    during = [db for t, db in seen if 0.6 < t < 1.2]
    assert before and during and max(before) == -60.0 and min(during) > -7.0


def test_meters_follow_an_edit_made_while_paused(w, qtbot):
    levels_ready(w, qtbot)
    w.playback.seek(1.0)
    assert w.mixer.meter_reading("loud") > -7.0
    undo.set_mixer(w.doc, "loud", "Mute", mute=True)  # muted: out of the render, its meter falls
    qtbot.waitUntil(lambda: "loud" not in w.playback.levels.tracks, timeout=30_000)
    assert w.mixer.meter_reading("loud") == -60.0 and w.mixer.meter_reading("quiet") > -27.0


def test_clip_light_latches_and_a_click_resets_it(w, qtbot):
    # the loud tone 12 dB up reaches full scale before its stem's safety limiter
    undo.set_mixer(w.doc, "loud", "Gain", gain_db=12.0)
    levels_ready(w, qtbot)
    meter = w.mixer.strips["loud"].meter
    w.playback.seek(0.2)
    assert not meter.clipped
    w.playback.seek(1.0)
    assert meter.clipped and not w.mixer.strips["quiet"].meter.clipped
    w.playback.seek(0.2)
    assert meter.clipped  # latched after the over has passed
    assert "CLIPPED" in meter.toolTip()
    qtbot.mouseClick(meter, Qt.LeftButton, pos=QPoint(5, 5))
    assert not meter.clipped
    # the master: the fader pushing the mastered mix (a sine at -14 LUFS peaks near -12 dBFS)
    # past full scale lights it
    assert not w.mixer.master.meter.clipped
    w.mixer.fader_box.setValue(15.0)
    qtbot.waitUntil(lambda: w.playback.levels is not None and w.playback.levels.master_fader_db == 15.0,
                    timeout=30_000)
    w.playback.seek(1.0)
    assert w.mixer.master.meter.clipped and w.mixer.meter_reading(None) > 0.0
    qtbot.mouseClick(w.mixer.master.meter, Qt.LeftButton)
    assert not w.mixer.master.meter.clipped


# -- the master fader ----------------------------------------------------------------------------------
def test_master_fader_moves_the_exported_mix_and_undo_restores_it(w, qtbot, tmp_path):
    mix0, stems0 = export_mix(w, qtbot, tmp_path / "a", stems=True)
    levels_ready(w, qtbot)
    lufs0 = w.playback.levels.loudness_lufs
    w.mixer.fader_box.setValue(-6.0)  # as typed in the master strip's box
    assert w.doc.project.master_fader_db == -6.0 and w.doc.undo_stack.undoText() == "Master fader -6.0 dB"
    assert w.mixer.fader.value() == -60
    mix1, stems1 = export_mix(w, qtbot, tmp_path / "b", stems=True)
    assert abs(rms_db(mix1) - rms_db(mix0) - (-6.0)) < 0.1
    # the stems are per track, before the master (as a DAW's stem export)
    assert stems1.keys() == stems0.keys() and len(stems0) == 2
    for name in stems0:
        assert abs(rms_db(stems1[name]) - rms_db(stems0[name])) < 0.01
    # the meters follow the fader at once (no new render), the loudness shown with them
    qtbot.waitUntil(lambda: w.playback.levels.master_fader_db == -6.0, timeout=30_000)
    assert abs(w.playback.levels.loudness_lufs - (lufs0 - 6.0)) < 1e-6
    assert w.mixer.loudness.text().startswith(f"{lufs0 - 6.0:.1f} LUFS")
    w.act_undo.trigger()
    assert w.doc.project.master_fader_db == 0.0 and w.mixer.fader_box.value() == 0.0
    mix2, _ = export_mix(w, qtbot, tmp_path / "c")
    assert abs(rms_db(mix2) - rms_db(mix0)) < 0.01
    w.act_redo.trigger()
    assert w.doc.project.master_fader_db == -6.0


def test_a_fader_drag_is_one_undo_step(w, qtbot):
    n = w.doc.undo_stack.count()
    f = w.mixer.fader
    f.setSliderDown(True)
    for v in (-10, -20, -35):
        f.setValue(v)
    assert w.doc.undo_stack.count() == n and w.mixer.fader_box.value() == -3.5
    f.setSliderDown(False)
    f.sliderReleased.emit()
    assert w.doc.undo_stack.count() == n + 1 and w.doc.project.master_fader_db == -3.5
    qtbot.mouseDClick(f, Qt.LeftButton)  # back to 0 dB
    assert w.doc.project.master_fader_db == 0.0 and f.value() == 0 and w.mixer.fader_box.value() == 0.0


def test_master_fader_survives_save_and_reopen(w, qtbot, project_path):
    w.mixer.fader_box.setValue(-4.5)
    w.act_save.trigger()
    assert not w.doc.modified
    from ui.main_window import MainWindow

    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.controller.open_project(project_path)
    assert w2.doc.project.master_fader_db == -4.5
    assert w2.mixer.fader_box.value() == -4.5 and w2.mixer.fader.value() == -45
    w2.close()


def test_every_mixer_control_has_a_tooltip(w):
    from PySide6.QtWidgets import QApplication

    from test_ui_results_conventions import _controls_without_tooltip

    QApplication.processEvents()
    assert w.mixer.fader_box.isVisible() and _controls_without_tooltip(w) == []
    assert w.mixer.fader.toolTip() and all(s.meter.toolTip() for s in w.mixer.strips.values())


def test_a_strip_shows_its_tracks_colour(w, qtbot):
    from ui import undo

    strip = w.mixer.strips["loud"]
    assert theme_default_colour(w, "loud") in strip.name.styleSheet()
    undo.edit_track(w.doc, "loud", "colour", colour="#12ab34")
    assert "#12ab34" in w.mixer.strips["loud"].name.styleSheet()
    w.doc.undo_stack.undo()
    assert theme_default_colour(w, "loud") in w.mixer.strips["loud"].name.styleSheet()


def theme_default_colour(w, track_id: str) -> str:
    from ui import theme

    return theme.track_colour(w.doc.track(track_id)).name()
