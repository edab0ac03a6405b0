"""One beat grid in the window: the tempo box, the ruler, the bar.beat readout, the analysis
lane and the Generate panel all show project.tempo; the user corrects it (typed or tapped
tempo, double / half time, bar 1 dragged on the ruler, back to the video's), each correction
one undo step that also generates the grid-following tracks again on the new grid.

The engine here is a small adapter that writes, as the rhythm engine does, on the project's
grid (a kick on every downbeat, a hi-hat on every other beat; its provenance in
track.settings); one test runs the shipped rhythm engine."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from studio import generate, grid
from studio.music import Note, TempoMap
from studio.project import Track, TrackKind
from ui import beatgrid

DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"
SEEN: list[tuple[float, int, str | None]] = []  # (grid tempo, seed, style) of every run


def grid_rhythm(project, timeline, settings, job):
    """Drums and bass on project.tempo (what the rhythm engine does with the grid it is given)."""
    tempo = project.tempo
    SEEN.append((beatgrid.grid_bpm(tempo, project.duration_s), settings.seed, settings.style))
    times, numbers = grid.grid_beats(tempo, project.duration_s)
    keep = times >= 0
    times, numbers = times[keep], numbers[keep]
    bpb = tempo.beats_per_bar
    drums = [Note(float(t), 0.05, 36 if n % bpb == 0 else 42, 90, 9) for t, n in zip(times, numbers)]
    bass = [Note(float(t), 0.3, 40, 80, 1) for t, n in zip(times, numbers) if n % bpb == 0]
    job.report(0.5, "grid rhythm")
    prov = {"style": settings.style or "rock", "seed": settings.seed, "humanize": 0.0, **settings.options}
    return [Track("Drums", TrackKind.MIDI, id="rhythm-drums", notes=drums, channel=9, engine="rhythm",
                  settings={**prov, "part": "drums"}),
            Track("Bass", TrackKind.MIDI, id="rhythm-bass", notes=bass, program=33, channel=1, engine="rhythm",
                  settings={**prov, "part": "bass"})]


@pytest.fixture
def window(studio_app, qtbot, tmp_path, monkeypatch):
    from ui.main_window import MainWindow

    monkeypatch.setenv("STUDIO_PROJECTS_DIR", str(tmp_path / "projects"))
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_ui_grid:grid_rhythm",
                                               "foley": "test_ui_window:fake_foley"})
    SEEN.clear()
    w = MainWindow()
    w.show()
    yield w
    w.doc.undo_stack.setClean()
    w.close()


def analysed(w, qtbot):
    w.controller.open_video(DEMO)
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)
    return w.doc.project


def generated(w, qtbot, engines=("rhythm", "foley")):
    w.controller.generate({"engines": list(engines), "seed": 7, "style": "funk"})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) == 3 and not w.controller.busy, timeout=20_000)
    return list(w.doc.project.tracks)


def settled(w, qtbot, text: str) -> None:
    """Until the correction ``text`` is on the undo stack (its tracks made again) and no job runs."""
    qtbot.waitUntil(lambda: not w.controller.busy and w.doc.undo_stack.undoText() == text
                    and w.doc.pending_tempo is None, timeout=20_000)


def drums_on(track, tempo, duration) -> float:
    """Fraction of the grid's beats (within the video) that have a drum hit within 20 ms."""
    times, _ = grid.grid_beats(tempo, duration)
    times = times[(times >= 0) & (times < duration - 0.05)]
    starts = np.array(sorted(n.start_s for n in track.notes))
    return float(np.mean([np.min(np.abs(starts - t)) < 0.02 for t in times]))


# -- pure: the texts every view shows -------------------------------------------------------------
def test_pickup_readout_and_ruler_marks_count_in_to_bar_1():
    tempo = TempoMap.constant(120.0, 1.3)  # bar 1 at 1.3 s, beats every 0.5 s: 2.6 beats of pickup
    assert beatgrid.position_text(tempo, 0.0) == "pickup \u22123"
    assert beatgrid.position_text(tempo, 0.9) == "pickup \u22121"
    assert [beatgrid.position_text(tempo, t) for t in (1.3, 1.8, 3.29, 3.3)] == ["1.1", "1.2", "1.4", "2.1"]
    marks = beatgrid.ruler_marks(tempo, 0.0, 4.0, px_per_s=100.0)
    assert [(round(t, 3), label) for t, label, _ in marks] == [
        (0.3, "\u22122"), (0.8, "\u22121"), (1.3, "1"), (3.3, "2")]
    assert not any(label in ("0", "-0") for _, label, _ in marks) and all(t >= 0 for t, _, _ in marks)
    # zoomed out: labels thinned, bar 1 still on the downbeat, never a bar before 0 s
    far = beatgrid.ruler_marks(tempo, 0.0, 60.0, px_per_s=5.0)
    bars = [label for _, label, pickup in far if not pickup]
    assert bars[0] == "1" and far[[lab for _, lab, _ in far].index("1")][0] == pytest.approx(1.3)
    assert len(bars) < 30
    assert beatgrid.grid_bpm(tempo, 10.0) == 120.0 and beatgrid.bpm_text(tempo, 10.0) == "120.0 BPM"
    varying = TempoMap.from_beats([0.5, 1.0, 1.52, 2.0, 2.5, 3.0])
    assert beatgrid.bpm_text(varying, 3.0).startswith("\u2248")


def test_analysis_lane_text_detected_vs_grid_and_no_clear_rhythm():
    beats = np.arange(0.25, 10.0, 0.5)
    tl = SimpleNamespace(beat_times_s=beats, downbeat_times_s=beats[::4], tempo_bpm=120.0, cuts_s=(),
                         params=SimpleNamespace(beats_per_bar=4), extra={})
    detected = grid.tempo_map(tl)
    assert beatgrid.analysis_tempo_text(tl, detected, 10.0) == "120.0 BPM"
    doubled = grid.rescaled(detected, 2.0)
    assert beatgrid.analysis_tempo_text(tl, doubled, 10.0) == "detected 120.0 BPM (grid 240.0)"
    unsure = SimpleNamespace(**{**vars(tl), "extra": {}, "tempo_confidence": 0.1})
    assert beatgrid.analysis_tempo_text(unsure, detected, 10.0) == "no clear rhythm"
    assert beatgrid.analysis_tempo_text(unsure, doubled, 10.0) == "no clear rhythm (grid 240.0)"
    sure = SimpleNamespace(**{**vars(tl), "extra": {}, "tempo_confidence": 0.9})
    assert beatgrid.analysis_tempo_text(sure, detected, 10.0) == "120.0 BPM"


# -- the window -----------------------------------------------------------------------------------
def test_tempo_box_ruler_readout_and_lane_show_the_project_grid(window, qtbot):
    w = window
    p = analysed(w, qtbot)
    tempo, dur = p.tempo, p.duration_s
    assert tempo == grid.tempo_map(w.doc.analysis)  # the one grid, from the analysis
    figure = f"{beatgrid.grid_bpm(tempo, dur):.1f}"
    assert w.transport.tempo.value() == pytest.approx(float(figure))
    assert figure in w.transport.tempo.text()
    lane = beatgrid.analysis_tempo_text(w.doc.analysis, tempo, dur)
    assert lane == ("no clear rhythm" if beatgrid.unclear(w.doc.analysis) else beatgrid.bpm_text(tempo, dur))
    assert figure in beatgrid.bpm_text(tempo, dur)  # the ruler's header
    assert w.generate_panel.analysis_label.text().startswith(lane)
    c = w.timeline.canvas
    c.fit()
    marks = beatgrid.ruler_marks(tempo, 0.0, dur, c.scale.px_per_s)
    ones = [t for t, label, _ in marks if label == "1"]
    assert ones == [pytest.approx(tempo.downbeat_s)] and "0" not in [label for _, label, _ in marks]
    w.playback.seek(0.0)
    readout = w.transport.bar_label.text()
    assert readout == beatgrid.position_text(tempo, 0.0)
    assert readout.startswith("pickup") if tempo.downbeat_s > 1e-3 else readout == "1.1"
    w.playback.seek(tempo.downbeat_s + 1e-4)
    assert w.transport.bar_label.text() == "1.1"
    c.grab()  # paints ruler, pickup, handle and lanes


def test_double_half_typed_and_tapped_tempo_regenerate_the_tracks_in_one_undo_step(window, qtbot):
    w = window
    p = analysed(w, qtbot)
    dur = p.duration_s
    tracks = generated(w, qtbot)
    drums0 = next(t for t in tracks if t.name == "Drums")
    foley0 = next(t for t in tracks if t.kind is TrackKind.FOLEY)
    tempo0, steps = p.tempo, w.doc.undo_stack.count()
    bpm0 = beatgrid.grid_bpm(tempo0, dur)

    qtbot.mouseClick(w.transport.double_button, Qt.LeftButton)
    settled(w, qtbot, "Double time")
    tempo2 = w.doc.project.tempo
    assert tempo2 == grid.rescaled(tempo0, 2.0) and tempo2.downbeat_s == tempo0.downbeat_s
    assert beatgrid.grid_bpm(tempo2, dur) == pytest.approx(2 * bpm0)
    assert w.transport.tempo.value() == pytest.approx(round(2 * bpm0, 1))
    drums2 = w.doc.track(drums0.id)
    assert drums_on(drums2, tempo2, dur) == 1.0 and drums_on(drums0, tempo2, dur) < 0.6  # hits on the new beats
    assert len(drums2.notes) > 1.8 * len(drums0.notes)
    assert w.doc.track(foley0.id) == foley0  # Foley follows the impacts, not the grid
    assert drums2.id == drums0.id and drums2.mixer == drums0.mixer
    assert SEEN[-1][1:] == (7, "funk")  # made again with the settings it was made with
    assert "grid" in beatgrid.analysis_tempo_text(w.doc.analysis, tempo2, dur)  # detected X (grid Y)
    assert w.doc.undo_stack.count() == steps + 1

    w.act_undo.trigger()  # one step: the tempo and the tracks
    assert w.doc.project.tempo == tempo0 and w.doc.project.tracks == tracks
    assert w.transport.tempo.value() == pytest.approx(round(bpm0, 1))
    w.act_redo.trigger()
    assert w.doc.project.tempo == tempo2 and w.doc.track(drums0.id) == drums2

    qtbot.mouseClick(w.transport.half_button, Qt.LeftButton)
    settled(w, qtbot, "Half time")
    assert w.doc.project.tempo == tempo0
    assert drums_on(w.doc.track(drums0.id), tempo0, dur) == 1.0

    w.transport.tempo.setValue(90.0)  # typed: one constant tempo from bar 1
    settled(w, qtbot, "Tempo 90.0 BPM")
    assert w.doc.project.tempo == TempoMap.constant(90.0, tempo0.downbeat_s, tempo0.beats_per_bar)
    assert drums_on(w.doc.track(drums0.id), w.doc.project.tempo, dur) == 1.0

    steps = w.doc.undo_stack.count()
    for k in range(4):  # one tapping at 120 BPM: one undo step
        w.transport.tap(100.0 + 0.5 * k)
    settled(w, qtbot, "Tap tempo 120.0 BPM")
    tapped = w.doc.project.tempo
    assert tapped == TempoMap.constant(120.0, tempo0.downbeat_s, tempo0.beats_per_bar)
    assert w.transport.tempo.text().startswith("120.0")
    assert drums_on(w.doc.track(drums0.id), tapped, dur) == 1.0
    assert w.doc.undo_stack.count() == steps + 1
    w.transport.tap(110.0)  # more than 2 s later: starts over (one tap sets nothing)
    assert w.doc.project.tempo == tapped and w.doc.pending_tempo is None
    w.act_undo.trigger()
    assert w.doc.project.tempo.changes[0].bpm == pytest.approx(90.0)

    qtbot.mouseClick(w.transport.video_button, Qt.LeftButton)  # back to the video's grid
    settled(w, qtbot, "Tempo from video")
    assert w.doc.project.tempo == tempo0 and w.doc.track(drums0.id).notes == drums0.notes


def test_drag_bar_1_on_the_ruler_moves_the_grid_and_the_tracks(window, qtbot):
    w = window
    p = analysed(w, qtbot)
    tracks = generated(w, qtbot)
    drums0 = next(t for t in tracks if t.name == "Drums")
    tempo0, dur = p.tempo, p.duration_s
    c = w.timeline.canvas
    c.fit()
    w.timeline.snap_button.setChecked(False)  # (snap would catch the visual beat nearest the mouse)
    target = tempo0.time_at(1.0)  # bar 1 onto the grid's next beat: counted from there
    x0, x1 = int(round(c.scale.x_of(tempo0.downbeat_s))), int(round(c.scale.x_of(target)))
    y = 18  # in the ruler
    qtbot.mousePress(c, Qt.LeftButton, pos=QPoint(x0, y))
    qtbot.mouseMove(c, QPoint((x0 + x1) // 2, y))
    qtbot.mouseMove(c, QPoint(x1, y))
    assert c.shown_tempo().downbeat_s == pytest.approx(target, abs=1e-6)  # the preview follows
    assert w.doc.project.tempo == tempo0
    qtbot.mouseRelease(c, Qt.LeftButton, pos=QPoint(x1, y))
    settled(w, qtbot, f"Bar 1 at {target:.2f} s")
    moved = w.doc.project.tempo
    assert moved.downbeat_s == pytest.approx(target, abs=1e-6)
    labels = beatgrid.ruler_marks(moved, 0.0, dur, c.scale.px_per_s)
    assert [t for t, label, _ in labels if label == "1"] == [pytest.approx(target, abs=1e-6)]
    w.playback.seek(0.0)
    assert w.transport.bar_label.text() == beatgrid.position_text(moved, 0.0)
    assert w.transport.bar_label.text().startswith("pickup")
    drums = w.doc.track(drums0.id)
    kicks = sorted(n.start_s for n in drums.notes if n.pitch == 36)
    assert min(abs(k - target) for k in kicks) < 1e-3  # bar 1's kick is on the new downbeat
    w.act_undo.trigger()
    assert w.doc.project.tempo == tempo0 and w.doc.track(drums0.id) == drums0


def test_shipped_rhythm_engine_follows_the_corrected_grid(window, qtbot, monkeypatch):
    """The real rhythm engine, after double time: its drums hit the new beats."""
    from studio import adapters

    if not adapters.present("rhythm"):
        pytest.skip("the rhythm engine is not part of this build")
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": f"{adapters.module_name('rhythm')}:generate"})
    w = window
    p = analysed(w, qtbot)
    w.controller.generate({"engines": ["rhythm"], "seed": 3, "style": "rock"})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) >= 2 and not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    dur = p.duration_s
    drums0 = next(t for t in w.doc.project.tracks if t.is_drums)
    assert drums_on(drums0, w.doc.project.tempo, dur) > 0.6
    w.transport.double_button.click()
    settled(w, qtbot, "Double time")
    tempo2 = w.doc.project.tempo
    drums2 = w.doc.track(drums0.id)
    assert drums2.notes != drums0.notes
    assert drums_on(drums2, tempo2, dur) > 0.6  # hits on the new (doubled) beats, the off-beats too
    w.act_undo.trigger()
    assert w.doc.track(drums0.id) == drums0


def test_shipped_soundtrack_is_made_again_on_the_corrected_grid(window, qtbot, monkeypatch):
    """The real soundtrack engine: after half time its token grid has half the beats, its notes
    sit on 16ths of the new grid; one Undo brings the old parts back."""
    from studio import adapters

    if not adapters.present("soundtrack"):
        pytest.skip("the soundtrack engine is not part of this build")
    monkeypatch.setattr(generate, "ADAPTERS", {"soundtrack": f"{adapters.module_name('soundtrack')}:generate"})
    w = window
    analysed(w, qtbot)
    w.controller.generate({"engines": ["soundtrack"], "seed": 5, "style": "calm"})
    qtbot.waitUntil(lambda: len(w.doc.project.tracks) >= 2 and not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    before = list(w.doc.project.tracks)
    tempo0 = w.doc.project.tempo
    w.transport.half_button.click()
    settled(w, qtbot, "Half time")
    half = w.doc.project.tempo
    assert half == grid.rescaled(tempo0, 0.5)
    for old in before:
        new = w.doc.track(old.id)
        assert new.settings["seed"] == 5 and new.settings["style"] == "calm"
        assert new.settings["grid_beats"] < 0.6 * old.settings["grid_beats"]
        pos = np.array([half.beat_at(n.start_s) * 4 for n in new.notes if n.start_s > 0.01])
        assert np.all(np.abs(pos - np.round(pos)) < 0.02)  # on 16ths of the new grid
    w.act_undo.trigger()
    assert w.doc.project.tracks == before and w.doc.project.tempo == tempo0
