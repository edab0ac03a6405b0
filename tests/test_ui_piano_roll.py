"""Issue 18, item 5: the piano roll, driven through the real window offscreen. A generated Keys
track opens by double-click, Enter or Edit › Edit Notes…; notes are selected, moved and resized
with the mouse, drawn, deleted, quantised, transposed, copied, pasted and duplicated, their
velocity dragged; each edit is one undo step that brings back the exact notes; the edited notes
go to the MIDI port when playing and into the exported MIDI file."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from studio import generate
from studio.music import Note
from studio.project import Track, TrackKind
from test_ui_window import lane_of, open_and_analyse, window  # noqa: F401 (the window fixture)

KEYS = [Note(1.0 + 0.55 * k, 0.3, 60 + k % 5, 90, 2) for k in range(12)]  # off the grid on purpose


def fake_keys(project, timeline, settings, job):
    return [Track("Keys", TrackKind.MIDI, id="keys", notes=list(KEYS), channel=2, program=0, engine="rhythm"),
            Track("Drums", TrackKind.MIDI, id="drums", notes=[Note(0.5, 0.1, 36, 100, 9)], channel=9,
                  engine="rhythm")]


@pytest.fixture
def w(window, qtbot, monkeypatch):
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_ui_piano_roll:fake_keys"})
    open_and_analyse(window, qtbot)
    n = window.doc.undo_stack.count()
    window.controller.generate({"engines": ["rhythm"], "seed": 0})
    qtbot.waitUntil(lambda: not window.controller.busy and window.doc.undo_stack.count() > n, timeout=20_000)
    return window


@pytest.fixture
def roll(w, qtbot):
    w.doc.select("keys")
    w.act_edit_notes.trigger()
    r = w.piano_roll
    qtbot.waitUntil(lambda: r.isVisible() and r.isActiveWindow(), timeout=5000)
    r.grid.setCurrentText("off")  # exact mouse arithmetic; tests that snap choose a grid
    r.view.px_per_s, r.view.offset_s, r.view.row_h = 100.0, 0.0, 12
    r.view.centre_on(62, r.notes_area.height())
    r.view_changed()
    return r


def notes(w, track_id="keys"):
    return list(w.doc.track(track_id).notes)


def centre(r, i) -> QPoint:
    n = r.track().notes[i]
    return QPoint(int(r.view.x_of(n.start_s + n.dur_s / 2)), int(r.view.y_of(n.pitch) + r.view.row_h / 2))


def drag(qtbot, widget, a: QPoint, b: QPoint, modifier=Qt.NoModifier) -> None:
    qtbot.mousePress(widget, Qt.LeftButton, modifier, a)
    qtbot.mouseMove(widget, QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2))
    qtbot.mouseMove(widget, b)
    qtbot.mouseRelease(widget, Qt.LeftButton, modifier, b)


def one_undo_step(w, before, count):
    """The edit was one undo step, and Undo brings back the exact notes (Redo the edit)."""
    after = notes(w)
    assert w.doc.undo_stack.count() == count + 1 and after != before
    w.doc.undo_stack.undo()
    assert notes(w) == before
    w.doc.undo_stack.redo()
    assert notes(w) == after
    return after


def test_opens_by_double_click_enter_and_the_edit_menu(w, qtbot):
    c = w.timeline.canvas
    lane = lane_of(c, "drums")
    y = int(lane.top - c.v_offset + lane.height / 2)
    qtbot.mouseDClick(c, Qt.LeftButton, pos=QPoint(c.width() // 2, y))
    assert w.piano_roll.isVisible() and w.piano_roll.track_id == "drums"
    assert w.piano_roll.windowTitle() == "Notes \u2014 Drums"
    w.activateWindow()
    w.doc.select("keys")
    c.setFocus()
    qtbot.keyClick(c, Qt.Key_Return)
    assert w.piano_roll.track_id == "keys"
    edit = w.menuBar().actions()[1].menu()
    assert "Edit Notes\u2026" in [a.text() for a in edit.actions()]
    w.doc.select(None)
    w.act_edit_notes.trigger()  # nothing selected: a hint, no editor change
    assert "MIDI track" in w.statusBar().currentMessage()


def test_select_move_resize_with_the_mouse_each_one_undo_step(w, roll, qtbot):
    area, before, n = roll.notes_area, notes(w), w.doc.undo_stack.count()
    a = centre(roll, 0)
    drag(qtbot, area, a, a + QPoint(40, -2 * roll.view.row_h))  # 0.4 s later, two semitones up
    moved = one_undo_step(w, before, n)
    (i,) = roll.selected  # the moved note, where it went in the sorted list
    new = moved[i]
    assert new.start_s == pytest.approx(KEYS[0].start_s + 0.4, abs=0.011)
    assert new.pitch == KEYS[0].pitch + 2 and w.doc.undo_stack.undoText() == "Move 1 note"

    before, n = notes(w), w.doc.undo_stack.count()
    end = QPoint(int(roll.view.x_of(new.end_s)) - 2, centre(roll, i).y())
    drag(qtbot, area, end, end + QPoint(30, 0))  # the right end: resize
    resized = one_undo_step(w, before, n)
    assert resized[i].dur_s == pytest.approx(new.dur_s + 0.3, abs=0.011) and resized[i].start_s == new.start_s

    # rubber band from empty space: the notes it covers; Shift-click adds one
    top_left = QPoint(int(roll.view.x_of(1.5)), int(roll.view.y_of(70)))
    bottom_right = QPoint(int(roll.view.x_of(3.3)), int(roll.view.y_of(50)))
    drag(qtbot, area, top_left, bottom_right)
    expected = {k for k, x in enumerate(notes(w)) if x.start_s <= 3.3 and x.end_s >= 1.5}
    assert roll.selected == expected and len(expected) >= 3
    k = max(range(len(notes(w))), key=lambda j: notes(w)[j].start_s)
    qtbot.mouseClick(area, Qt.LeftButton, Qt.ShiftModifier, centre(roll, k))
    assert roll.selected == expected | {k}


def test_draw_delete_velocity_quantise_transpose(w, roll, qtbot):
    area, v = roll.notes_area, roll.view
    roll.grid.setCurrentText("1/16")
    tempo, step = w.doc.project.tempo, 0.25
    before, n = notes(w), w.doc.undo_stack.count()
    at = QPoint(int(v.x_of(9.13)), int(v.y_of(72) + v.row_h / 2))
    qtbot.mouseClick(area, Qt.LeftButton, Qt.ControlModifier, at)  # Ctrl+click on empty space draws
    drawn = one_undo_step(w, before, n)
    new = next(x for x in drawn if x not in before)
    assert new.pitch == 72 and new.channel == 2 and new.start_s <= 9.13
    beat = tempo.beat_at(new.start_s) / step
    assert abs(beat - round(beat)) < 1e-6 and tempo.beat_at(new.end_s) - tempo.beat_at(new.start_s) == \
        pytest.approx(step)
    assert roll.selected == {drawn.index(new)}
    qtbot.keyClick(area, Qt.Key_Delete)
    assert notes(w) == before and w.doc.undo_stack.undoText() == "Delete 1 note"

    roll.draw_button.click()  # Draw mode: a plain click draws, on a note it selects
    qtbot.mouseClick(area, Qt.LeftButton, Qt.NoModifier, at)
    assert len(notes(w)) == len(before) + 1
    roll.select_button.click()

    # velocity lane: drag the bar of a selected note: every selected note gets that velocity
    roll.set_selection({0, 1})
    lane = roll.velocity
    x = int(v.x_of(notes(w)[0].start_s))
    before, n = notes(w), w.doc.undo_stack.count()
    drag(qtbot, lane, QPoint(x, lane.height() // 2), QPoint(x, 4))
    after = one_undo_step(w, before, n)
    assert after[0].velocity == after[1].velocity == 127 and after[2].velocity == 90

    # quantise (Q): none selected = all, starts on the 1/16 grid, lengths kept
    roll.set_selection(())
    before, n = notes(w), w.doc.undo_stack.count()
    qtbot.keyClick(area, Qt.Key_Q)
    q = one_undo_step(w, before, n)
    assert all(abs(tempo.beat_at(x.start_s) / step - round(tempo.beat_at(x.start_s) / step)) < 1e-6 for x in q)
    assert sorted(x.dur_s for x in q) == pytest.approx(sorted(x.dur_s for x in before))

    # transpose: Up +1, Shift+Up +12, Down -1 (the selected notes only)
    roll.set_selection({0})
    p0 = notes(w)[0].pitch
    for key, mod, expect in ((Qt.Key_Up, Qt.NoModifier, p0 + 1), (Qt.Key_Up, Qt.ShiftModifier, p0 + 13),
                             (Qt.Key_Down, Qt.NoModifier, p0 + 12)):
        n = w.doc.undo_stack.count()
        qtbot.keyClick(area, key, mod)
        assert w.doc.undo_stack.count() == n + 1 and [notes(w)[i].pitch for i in roll.selected] == [expect]


def test_copy_paste_at_the_playhead_duplicate_cut_and_select_all(w, roll, qtbot):
    area = roll.notes_area
    roll.set_selection({0, 1})
    first, second = notes(w)[0], notes(w)[1]
    qtbot.keyClick(area, Qt.Key_C, Qt.ControlModifier)
    w.playback.seek(10.0)
    qtbot.waitUntil(lambda: abs(roll.position_s - 10.0) < 1e-6, timeout=2000)
    before, n = notes(w), w.doc.undo_stack.count()
    qtbot.keyClick(area, Qt.Key_V, Qt.ControlModifier)
    pasted = one_undo_step(w, before, n)
    got = sorted((pasted[i].start_s, pasted[i].pitch) for i in roll.selected)
    assert [t for t, _ in got] == pytest.approx([10.0, 10.0 + second.start_s - first.start_s])
    assert [p for _, p in got] == [first.pitch, second.pitch]

    before, n = notes(w), w.doc.undo_stack.count()
    qtbot.keyClick(area, Qt.Key_D, Qt.ControlModifier)  # right after the pasted ones
    dup = one_undo_step(w, before, n)
    starts = sorted(dup[i].start_s for i in roll.selected)
    assert len(dup) == len(before) + 2 and starts[0] >= 10.0 + second.end_s - first.start_s - 1e-6

    qtbot.keyClick(area, Qt.Key_X, Qt.ControlModifier)
    assert len(notes(w)) == len(before) and w.doc.undo_stack.undoText() == "Cut 2 notes"
    qtbot.keyClick(area, Qt.Key_A, Qt.ControlModifier)
    assert roll.selected == set(range(len(notes(w))))
    # Undo from the piano roll's window (the main window's action)
    qtbot.keyClick(area, Qt.Key_Z, Qt.ControlModifier)
    assert len(notes(w)) == len(before) + 2


def test_edited_notes_stream_to_the_midi_port_and_export(w, roll, qtbot, tmp_path, monkeypatch):
    import mido
    import soundfile as sf

    import studio.transport as transport
    from test_midi_integrity import RecordingPort
    from ui.playback import Routing

    roll.set_selection({3})
    target = notes(w)[3]
    roll.move_selected(12.0 - target.start_s, 100 - target.pitch)  # alone at 12 s, a pitch of its own
    edited = notes(w)[next(iter(roll.selected))]
    assert (edited.start_s, edited.pitch) == (pytest.approx(12.0), 100)
    assert w.doc.modified and w.windowTitle().startswith(w.doc.project.name + " *")

    port = RecordingPort()
    monkeypatch.setattr(transport, "MidiPort", lambda *args, **kwargs: port)
    pb = w.playback
    pb.routing = Routing(audio_device=None, midi_port=None)  # no audio device here: MIDI alone
    pb.seek(edited.start_s - 0.15)
    pb.play()
    qtbot.waitUntil(lambda: [0x92, 100, edited.velocity] in port.sent, timeout=5000)  # channel 3: Keys
    pb.pause()

    out = tmp_path / "out"
    w.controller.export({"root": out, "midi_path": out / "notes.mid", "stems_dir": out / "stems"})
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    mid = mido.MidiFile(str(out / "notes.mid"))
    ons = [m for t in mid.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert any(m.note == 100 and m.velocity == edited.velocity for m in ons)
    stem = next((out / "stems").glob("*Keys*.wav"))
    audio, sr = sf.read(str(stem), always_2d=True)
    level = lambda t0, t1: float(np.sqrt(np.mean(audio[int(t0 * sr):int(t1 * sr)] ** 2)))  # noqa: E731
    assert level(12.0, 12.3) > 10 * level(10.5, 11.9) and level(12.0, 12.3) > 1e-3  # the moved note sounds there

    w.doc.undo_stack.undo()  # an export after Undo has the note where it was
    w.controller.export({"root": out, "midi_path": out / "undone.mid"})
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=30_000)
    ons = [m for t in mido.MidiFile(str(out / "undone.mid")).tracks for m in t if m.type == "note_on"]
    assert not any(m.note == 100 for m in ons) and any(m.note == target.pitch for m in ons)


def test_snap_a_click_zoom_and_the_track_going_away(w, roll, qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    area, tempo = roll.notes_area, w.doc.project.tempo
    roll.grid.setCurrentText("1/8")
    n = w.doc.undo_stack.count()
    qtbot.mouseClick(area, Qt.LeftButton, Qt.NoModifier, centre(roll, 2))  # a click selects, moves nothing
    assert roll.selected == {2} and w.doc.undo_stack.count() == n and notes(w) == KEYS
    a = centre(roll, 2)
    drag(qtbot, area, a, a + QPoint(37, 0))  # snapped: the start on the 1/8 grid (half a beat in 4/4)
    moved = notes(w)[next(iter(roll.selected))]
    half_beats = tempo.beat_at(moved.start_s) / 0.5
    assert abs(half_beats - round(half_beats)) < 1e-6 and moved.pitch == KEYS[2].pitch
    w.doc.undo_stack.undo()
    assert roll.selected == {2}  # Undo brings back that version's selection too

    roll.lengths.setChecked(True)
    qtbot.keyClick(area, Qt.Key_Q)  # the selected note: start and end on the grid
    q = notes(w)[next(iter(roll.selected))]
    assert all(abs(tempo.beat_at(t) / 0.5 - round(tempo.beat_at(t) / 0.5)) < 1e-6 for t in (q.start_s, q.end_s))

    lane, v = roll.velocity, roll.view  # the bar of a note that is not selected: that note alone
    x = int(v.x_of(notes(w)[5].start_s))
    drag(qtbot, lane, QPoint(x, 10), QPoint(x, lane.height() - 5))
    assert notes(w)[5].velocity < 10 and notes(w)[4].velocity == 90

    px = v.px_per_s
    qtbot.keyClick(area, Qt.Key_Plus)
    assert v.px_per_s > px * 1.4
    pos = QPointF(area.width() / 2, area.height() / 2)
    QApplication.sendEvent(area, QWheelEvent(pos, area.mapToGlobal(pos), QPoint(0, 0), QPoint(0, -240), Qt.NoButton,
                                             Qt.ControlModifier, Qt.NoScrollPhase, False))
    assert v.px_per_s < px * 1.5 / 1.2
    top = v.v_offset
    QApplication.sendEvent(area, QWheelEvent(pos, area.mapToGlobal(pos), QPoint(0, 0), QPoint(0, -120), Qt.NoButton,
                                             Qt.NoModifier, Qt.NoScrollPhase, False))
    assert v.v_offset > top and roll.vbar.value() == v.v_offset

    qtbot.mouseClick(area, Qt.LeftButton, Qt.NoModifier, QPoint(int(v.x_of(v.offset_s + 1.0)), 5))
    assert w.playback.position_s == pytest.approx(v.offset_s + 1.0, abs=0.02)  # the ruler moves the playhead
    assert w.act_play in roll.actions() and w.act_undo in roll.actions()  # Space, Ctrl+Z in the roll too

    from ui import undo

    undo.remove_track(w.doc, "keys")  # the track goes: so does its editor
    assert not roll.isVisible()
