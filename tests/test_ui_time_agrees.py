"""One truth for time (issue 18, item 2) in the window: the labels the timeline's ruler and the
piano roll's ruler actually paint, the transport's bar.beat readout and the tempo box all follow
the project's TempoMap (beat 0 = the first downbeat = bar 1.1; the pickup before it counted
down as such), on the demo clip's analysed grid and on a corrected one."""
from __future__ import annotations

import pytest

from studio import grid
from studio.music import Note, TempoMap
from studio.project import Track, TrackKind
from test_ui_window import open_and_analyse, window  # noqa: F401 (the window fixture)
from ui import beatgrid, undo


def painted_marks(monkeypatch, widget) -> list[tuple[float, str, bool]]:
    """The ruler marks a repaint of ``widget`` draws (each ruler asks beatgrid.ruler_marks)."""
    seen: list = []
    real = beatgrid.ruler_marks

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.extend(out)
        return out

    monkeypatch.setattr(beatgrid, "ruler_marks", spy)
    widget.grab()
    monkeypatch.setattr(beatgrid, "ruler_marks", real)
    return seen


def check_agreement(w, monkeypatch, tempo: TempoMap) -> None:
    p, c = w.doc.project, w.timeline.canvas
    assert w.doc.tempo is p.tempo
    figure = f"{beatgrid.grid_bpm(tempo, p.duration_s):.1f}"
    assert w.transport.tempo.value() == pytest.approx(float(figure)) and figure in w.transport.tempo.text()
    c.fit()
    marks = painted_marks(monkeypatch, c)
    bars = [(t, label) for t, label, pickup in marks if not pickup]
    assert bars and bars[0][1] == "1" and bars[0][0] == pytest.approx(tempo.downbeat_s)
    assert "0" not in [label for _, label, _ in marks] and all(t >= 0 for t, _, _ in marks)
    bpb = tempo.beats_per_bar
    for t, label in bars:  # a bar's label: where the readout says "N.1" and the map's beat is (N-1)*bpb
        assert tempo.beat_at(t) == pytest.approx((int(label) - 1) * bpb, abs=1e-6)
        if t + 1e-4 > p.duration_s:  # the ruler goes on past the video's end; the playhead does not
            continue
        w.playback.seek(t + 1e-4)
        assert w.transport.bar_label.text() == f"{label}.1"
    for t, label, pickup in marks:  # the count-in before bar 1
        if pickup:
            w.playback.seek(t + 1e-4)
            assert w.transport.bar_label.text() == f"pickup {label}"
    w.playback.seek(tempo.time_at(bpb + 2) + 1e-4)  # bar 2, beat 3
    assert w.transport.bar_label.text() == "2.3"
    w.playback.seek(0.0)
    at_zero = w.transport.bar_label.text()
    assert at_zero == ("1.1" if tempo.downbeat_s < 1e-3 else f"pickup {beatgrid.MINUS}"
                       f"{beatgrid.pickup_beat(tempo, 0.0)}")
    # the piano roll's ruler numbers the same bars at the same times
    w.edit_notes(p.tracks[0].id)
    roll = w.piano_roll
    roll.view.px_per_s, roll.view.offset_s = c.scale.px_per_s * 2, 0.0
    roll_bars = [(t, label) for t, label, pickup in painted_marks(monkeypatch, roll.notes_area) if not pickup]
    assert roll_bars and all(tempo.beat_at(t) == pytest.approx((int(label) - 1) * bpb, abs=1e-6)
                             for t, label in roll_bars)
    roll.close()


def test_ruler_readout_and_tempo_box_follow_the_tempo_map(window, qtbot, monkeypatch):  # noqa: F811
    w = window
    open_and_analyse(w, qtbot)
    assert w.doc.project.tempo == grid.tempo_map(w.doc.analysis)
    undo.add_tracks(w.doc, [Track("Keys", TrackKind.MIDI, notes=[Note(1.0, 0.5, 60, 90, 0)])], "Add Keys")
    check_agreement(w, monkeypatch, w.doc.project.tempo)
    # a corrected grid (typed 90 BPM, bar 1 at 0.7 s: a pickup of a beat and more)
    corrected = TempoMap.constant(90.0, 0.7)
    undo.set_tempo(w.doc, corrected, "Tempo 90")
    check_agreement(w, monkeypatch, corrected)
