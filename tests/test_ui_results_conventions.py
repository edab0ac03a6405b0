"""Issue 18, items 7 and 8, driven through the real window offscreen.

Item 7, engine results a creator understands: generating a part that is there already asks
Replace / Add as a variation / Cancel (``studio.generate.applied_tracks``' ``existing``); track
names stay unique ("Drums 2"); two parts on one MIDI channel are warned about (status bar,
Routing dialog); the Generate panel shows only the checked engines' settings; the status line
says what happened ("generated Drums, Bass, Keys", "replaced ...", "placed 4 tracks in the hall").

Item 8, conventions: Space plays from a spin box too, Home / End, + / - and Ctrl+wheel zoom,
Select All / Copy / Paste / Duplicate / Delete on the timeline's selection (each one undo step,
shown in the Edit menu), a tooltip on every control, and Help › Timeline Legend.

The engines are small adapters defined here, registered through ``studio.generate.ADAPTERS`` as
an engine package is (ids and channels as the real ones give them: the rhythm engine's fixed
ids on channels 10, 2, 3; the soundtrack's fresh ids, its bass on 2 and drums on 10)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QDialog, QMessageBox, QWidget,
)

from studio import generate
from studio.music import Note
from studio.project import FoleyEvent, Track, TrackKind
from test_ui_window import open_and_analyse, window  # noqa: F401 (the window fixture)


# -- engines ----------------------------------------------------------------------------------------
def _notes(seed: int, channel: int, pitch: int, n: int = 8) -> list[Note]:
    rng = np.random.default_rng(seed)
    return [Note(float(t), 0.2, pitch, int(rng.integers(40, 127)), channel) for t in np.linspace(0.5, 12.0, n)]


def fake_rhythm(project, timeline, settings, job):
    s = {"seed": settings.seed}
    return [Track("Drums", TrackKind.MIDI, id="rhythm-drums", notes=_notes(settings.seed, 9, 36), channel=9,
                  engine="rhythm", settings={**s, "part": "drums"}),
            Track("Bass", TrackKind.MIDI, id="rhythm-bass", notes=_notes(settings.seed + 1, 1, 40), channel=1,
                  engine="rhythm", settings={**s, "part": "bass"}),
            Track("Keys", TrackKind.MIDI, id="rhythm-keys", notes=_notes(settings.seed + 2, 2, 60), channel=2,
                  engine="rhythm", settings={**s, "part": "keys"})]


def fake_soundtrack(project, timeline, settings, job):
    return [Track("Soundtrack Bass", TrackKind.SOUNDTRACK, notes=_notes(settings.seed, 1, 38), channel=1,
                  engine="soundtrack", settings={"seed": settings.seed}),
            Track("Soundtrack Drums", TrackKind.SOUNDTRACK, notes=_notes(settings.seed, 9, 38), channel=9,
                  engine="soundtrack", settings={"seed": settings.seed})]


def fake_performer(project, timeline, settings, job):
    return [Track("Drums", TrackKind.MIDI, id="performer-drums", notes=_notes(7, 9, 38), channel=9,
                  engine="performer")]


def fake_spatial(project, timeline, settings, job):
    """Places every track there (as the real adapter: edited copies, same ids)."""
    return [dataclasses.replace(t, room=settings.room) for t in project.tracks if not t.original_audio]


ENGINES = {name: f"test_ui_results_conventions:fake_{name}"
           for name in ("rhythm", "soundtrack", "performer", "spatial")}


@pytest.fixture
def w(window, qtbot, monkeypatch):
    monkeypatch.setattr(generate, "ADAPTERS", dict(ENGINES))
    open_and_analyse(window, qtbot)
    window.generate_panel.refresh()
    return window


def answer_existing(monkeypatch, label: str | None) -> list[str]:
    """The Replace / Add as a variation / Cancel question answered with the button ``label``
    (None: Cancel); returns the questions asked."""
    asked = []

    def exec_(box):
        asked.append(box.text())
        button = box.button(QMessageBox.Cancel) if label is None else \
            next(b for b in box.buttons() if b.text() == label)
        button.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def run_generate(w, qtbot, engines, seed=0, **extra) -> None:
    n = w.doc.undo_stack.count()
    w.controller.generate({"engines": list(engines), "seed": seed, **extra})
    qtbot.waitUntil(lambda: not w.controller.busy and w.doc.undo_stack.count() > n, timeout=20_000)


def names(w) -> list[str]:
    return [t.name for t in w.doc.project.tracks if not t.original_audio]


def status(w) -> str:
    return w.statusBar().currentMessage()


# -- item 7: replace or add as a variation ------------------------------------------------------------
def test_rhythm_again_asks_and_replace_is_one_undo_step(w, qtbot, monkeypatch):
    asked = answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    assert asked == []  # nothing there yet: no question
    assert names(w) == ["Drums", "Bass", "Keys"]
    assert status(w).startswith("generated Drums, Bass, Keys")
    first = {t.id: t for t in w.doc.project.tracks}

    run_generate(w, qtbot, ["rhythm"], seed=2)
    assert len(asked) == 1 and "Drums, Bass, Keys" in asked[0] and "Rhythm" in asked[0]
    assert names(w) == ["Drums", "Bass", "Keys"]  # the old ones went, the new took their place
    assert all(t.notes != first[t.id].notes for t in w.doc.project.tracks)
    assert status(w).startswith("replaced Drums, Bass, Keys")
    w.doc.undo_stack.undo()  # one step brings the old tracks back
    assert {t.id: t for t in w.doc.project.tracks} == first


def test_soundtrack_twice_replace_removes_the_old_soundtrack(w, qtbot, monkeypatch):
    answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["soundtrack"], seed=1)
    old_ids = {t.id for t in w.doc.project.tracks}
    run_generate(w, qtbot, ["soundtrack"], seed=2)
    assert names(w) == ["Soundtrack Bass", "Soundtrack Drums"]  # fresh ids, yet the old ones are gone
    assert not old_ids & {t.id for t in w.doc.project.tracks}
    assert status(w).startswith("replaced Soundtrack Bass, Soundtrack Drums")


def test_add_as_a_variation_keeps_the_old_tracks_and_names_the_new_uniquely(w, qtbot, monkeypatch):
    answer_existing(monkeypatch, "Add as a variation")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    first = list(w.doc.project.tracks)
    run_generate(w, qtbot, ["rhythm"], seed=2)
    assert names(w) == ["Drums", "Bass", "Keys", "Drums 2", "Bass 2", "Keys 2"]
    assert w.doc.project.tracks[:3] == first  # untouched
    ids = [t.id for t in w.doc.project.tracks]
    assert len(set(ids)) == len(ids)
    assert status(w).startswith("added a variation: Drums 2, Bass 2, Keys 2")
    run_generate(w, qtbot, ["rhythm"], seed=3)
    assert names(w)[-3:] == ["Drums 3", "Bass 3", "Keys 3"]
    w.doc.undo_stack.undo()
    assert len(w.doc.project.tracks) == 6


def test_cancel_generates_nothing(w, qtbot, monkeypatch):
    answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    before, count = list(w.doc.project.tracks), w.doc.undo_stack.count()
    asked = answer_existing(monkeypatch, None)
    w.controller.generate({"engines": ["rhythm"], "seed": 5})
    assert asked and not w.controller.busy  # nothing started
    qtbot.wait(100)
    assert w.doc.project.tracks == before and w.doc.undo_stack.count() == count
    assert "cancelled" in status(w)


def test_the_performers_drums_get_a_name_of_their_own(w, qtbot, monkeypatch):
    asked = answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    run_generate(w, qtbot, ["performer"])
    assert asked == []  # another engine: nothing of its own to replace
    assert names(w) == ["Drums", "Bass", "Keys", "Drums 2"]
    assert w.doc.project.track("performer-drums").name == "Drums 2"


def test_apply_keeps_the_clis_behaviour_and_offers_both_choices():
    """studio.generate.apply: no ``existing`` (the CLI) puts a track with the same id in its
    place and adds the rest under their own names; REPLACE and VARIATION as in the app."""
    from studio.generate import REPLACE, VARIATION, Result, applied_tracks, apply, existing_parts
    from studio.project import Project

    old = Track("Drums", TrackKind.MIDI, id="rhythm-drums", engine="rhythm", notes=_notes(1, 9, 36))
    bed = Track("Drums", TrackKind.SOUNDTRACK, engine="soundtrack")
    other = Track("Foley", TrackKind.FOLEY, engine="foley")
    remade = dataclasses.replace(old, notes=_notes(2, 9, 36))
    new_bed = Track("Drums", TrackKind.SOUNDTRACK, engine="soundtrack")
    placed = dataclasses.replace(other, room="hall")
    result = Result((new_bed,), (remade, placed), Project().tempo, (), None, ("rhythm", "soundtrack", "spatial"),
                    frozenset({remade.id, new_bed.id}))
    tracks = [old, bed, other]
    assert applied_tracks(tracks, result) == [remade, bed, placed, new_bed]  # as before: names untouched

    replaced = applied_tracks(tracks, result, REPLACE)
    assert [t.id for t in replaced] == [old.id, other.id, new_bed.id]  # the old soundtrack went
    assert [t.name for t in replaced] == ["Drums", "Foley", "Drums 2"] and replaced[1].room == "hall"

    varied = applied_tracks(tracks, result, VARIATION)
    assert varied[:3] == [old, bed, placed]
    assert [t.name for t in varied[3:]] == ["Drums 2", "Drums 3"] and varied[3].notes == remade.notes
    assert varied[3].id != old.id

    project = Project(tracks=list(tracks))
    assert set(existing_parts(project, ["rhythm", "spatial"])) == {"rhythm"}
    apply(project, result, VARIATION)
    assert len(project.tracks) == 5
    with pytest.raises(Exception, match="existing"):
        applied_tracks(tracks, result, "sideways")


def test_unique_names_for_any_added_track(w):
    from studio.names import unique_name
    from ui import undo

    assert unique_name("Drums", ["drums", "Drums 2"]) == "Drums 3" and unique_name("Keys", ["Drums"]) == "Keys"
    undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY), Track("Hits", TrackKind.FOLEY)], "add")
    assert names(w)[-2:] == ["Hits", "Hits 2"]


# -- item 7: MIDI channels ----------------------------------------------------------------------------
def test_soundtrack_and_rhythm_on_the_same_channels_are_warned_about(w, qtbot, monkeypatch):
    answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    assert "share MIDI channel" not in status(w)
    run_generate(w, qtbot, ["soundtrack"], seed=1)
    text = status(w)
    assert "Bass and Soundtrack Bass share MIDI channel 2" in text
    assert "Drums and Soundtrack Drums share MIDI channel 10" in text


def test_the_routing_dialog_warns_while_two_tracks_share_a_channel(w, qtbot, monkeypatch):
    from ui.widgets.routing_dialog import RoutingDialog

    answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    run_generate(w, qtbot, ["performer"])  # its drums on channel 10 as well
    dlg = RoutingDialog(w.doc, w.playback.routing, w)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.channel_warning.isVisible()
    assert "Drums and Drums 2 share MIDI channel 10" in dlg.channel_warning.text()
    dlg.channels["performer-drums"].setValue(11)
    assert not dlg.channel_warning.isVisible()
    dlg.channels["performer-drums"].setValue(2)  # now on the bass's channel
    assert dlg.channel_warning.isVisible() and "Bass and Drums 2 share MIDI channel 2" in dlg.channel_warning.text()


# -- item 7: the panel and the status line ------------------------------------------------------------
def test_the_generate_panel_shows_only_the_checked_engines_settings(w):
    panel = w.generate_panel
    w.show_generate()
    for cb in panel.checks.values():
        cb.setChecked(False)
    assert not panel.settings_box.isVisibleTo(panel)
    panel.checks["spatial"].setChecked(True)
    assert panel.room.isVisibleTo(panel) and not panel.style.isVisibleTo(panel)
    assert not panel.instrument.isVisibleTo(panel)
    panel.checks["rhythm"].setChecked(True)
    assert panel.style.isVisibleTo(panel) and panel.seed.isVisibleTo(panel)
    panel.checks["spatial"].setChecked(False)
    assert not panel.room.isVisibleTo(panel)
    panel.checks["performer"].setChecked(True)
    assert panel.instrument.isVisibleTo(panel) and panel.keypoints.isVisibleTo(panel)


def test_spatial_says_it_placed_the_tracks_in_the_room(w, qtbot, monkeypatch):
    answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    run_generate(w, qtbot, ["performer"])
    run_generate(w, qtbot, ["spatial"], room="hall")
    assert status(w).startswith("placed 4 tracks in the hall")
    assert "generated" not in status(w)
    assert all(t.room == "hall" for t in w.doc.project.tracks if not t.original_audio)


# -- item 8: keys ---------------------------------------------------------------------------------------
def test_space_plays_and_pauses_from_a_spin_box_but_types_in_a_name(w, qtbot):
    w.activateWindow()
    spin = w.transport.tempo
    spin.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() in (spin, spin.lineEdit()), timeout=2000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Space)
    qtbot.waitUntil(lambda: w.playback.playing, timeout=3000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Space)
    qtbot.waitUntil(lambda: not w.playback.playing, timeout=3000)
    w.generate_panel.seed.setFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Space)
    qtbot.waitUntil(lambda: w.playback.playing, timeout=3000)
    w.playback.stop()
    # a track's name takes a space as text
    from ui import undo

    undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY)], "add")
    w.doc.select(w.doc.project.tracks[-1].id)
    w.inspector_dock.raise_()
    name = w.inspector.name
    qtbot.waitUntil(name.isVisible, timeout=2000)
    name.setFocus()
    name.end(False)
    qtbot.keyClick(name, Qt.Key_Space)
    assert name.text().endswith(" ") and not w.playback.playing


def test_home_end_and_zoom_keys_and_ctrl_wheel(w, qtbot):
    c = w.timeline.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key_End)
    assert abs(w.playback.position_s - w.doc.project.duration_s) < 0.05
    qtbot.keyClick(c, Qt.Key_Home)
    assert w.playback.position_s == 0.0
    px = c.scale.px_per_s
    qtbot.keyClick(c, Qt.Key_Plus)
    assert c.scale.px_per_s > px * 1.4
    px = c.scale.px_per_s
    qtbot.keyClick(c, Qt.Key_Minus)
    assert c.scale.px_per_s < px / 1.4
    px = c.scale.px_per_s
    pos = QPointF(c.width() / 2, c.height() / 2)
    ev = QWheelEvent(pos, c.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 240), Qt.NoButton, Qt.ControlModifier,
                     Qt.NoScrollPhase, False)
    QApplication.sendEvent(c, ev)
    assert c.scale.px_per_s > px * 1.2
    shown = {a.text(): a.shortcut().toString() for a in w.menuBar().actions()[4].menu().actions()}
    assert shown["Zoom In"] == "+" and shown["Zoom Out"] == "-"


def test_select_all_copy_paste_duplicate_delete_hits_each_one_undo_step(w, qtbot):
    from ui import undo

    hits = Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(t, material="metal") for t in (1.0, 1.5, 2.0)])
    undo.add_tracks(w.doc, [hits], "add hits")
    c = w.timeline.canvas
    c.setFocus()
    w.doc.select(hits.id)
    edit = w.menuBar().actions()[1].menu()
    shown = {a.text(): a.shortcut().toString() for a in edit.actions()}
    assert shown["Select All"] == "Ctrl+A" and shown["Copy"] == "Ctrl+C" and shown["Paste"] == "Ctrl+V"
    assert shown["Duplicate"] == "Ctrl+D" and shown["Delete"] == "Del"

    qtbot.keyClick(c, Qt.Key_A, Qt.ControlModifier)
    assert w.doc.selected_events == (0, 1, 2)
    qtbot.keyClick(c, Qt.Key_C, Qt.ControlModifier)
    w.playback.seek(8.0)
    qtbot.waitUntil(lambda: abs(c.position_s - 8.0) < 1e-6, timeout=2000)
    n = w.doc.undo_stack.count()
    qtbot.keyClick(c, Qt.Key_V, Qt.ControlModifier)
    times = [e.time_s for e in w.doc.track(hits.id).events]
    assert times == pytest.approx([1.0, 1.5, 2.0, 8.0, 8.5, 9.0])
    assert w.doc.undo_stack.count() == n + 1 and w.doc.selected_events == (3, 4, 5)
    assert all(e.material == "metal" for e in w.doc.track(hits.id).events)
    w.doc.undo_stack.undo()
    assert len(w.doc.track(hits.id).events) == 3

    w.doc.select(hits.id, (0, 1))  # 1.0 and 1.5 s: duplicated one beat later (they span under a beat)
    tempo = w.doc.project.tempo
    qtbot.keyClick(c, Qt.Key_D, Qt.ControlModifier)
    events = w.doc.track(hits.id).events
    assert len(events) == 5 and w.doc.undo_stack.count() == n + 1
    expected = sorted([1.0, 1.5, 2.0] + [tempo.time_at(tempo.beat_at(t) + 1) for t in (1.0, 1.5)])
    assert [e.time_s for e in events] == pytest.approx(expected)

    qtbot.keyClick(c, Qt.Key_Delete)  # the duplicated (selected) hits go
    assert [e.time_s for e in w.doc.track(hits.id).events] == pytest.approx([1.0, 1.5, 2.0])

    w.doc.select(hits.id)  # a track with no hit selected: duplicate and delete the track
    qtbot.keyClick(c, Qt.Key_D, Qt.ControlModifier)
    copy = w.doc.project.tracks[-1]
    assert copy.name == "Hits 2" and copy.id != hits.id and copy.events == w.doc.track(hits.id).events
    assert w.doc.selected_track == copy.id
    qtbot.keyClick(c, Qt.Key_Delete)
    assert all(t.id != copy.id for t in w.doc.project.tracks)
    w.doc.undo_stack.undo()
    assert w.doc.project.tracks[-1].id == copy.id


def test_copy_on_a_midi_track_says_to_duplicate_instead(w, qtbot, monkeypatch):
    answer_existing(monkeypatch, "Replace")
    run_generate(w, qtbot, ["rhythm"], seed=1)
    c = w.timeline.canvas
    c.setFocus()
    w.doc.select("rhythm-bass")
    qtbot.keyClick(c, Qt.Key_C, Qt.ControlModifier)
    assert "Ctrl+D duplicates a track" in status(w)
    qtbot.keyClick(c, Qt.Key_D, Qt.ControlModifier)
    assert names(w) == ["Drums", "Bass", "Bass 2", "Keys"]


def test_a_loop_region_is_copied_pasted_and_duplicated_across_tracks(w, qtbot):
    """With no hit selected and a loop region set, Copy / Paste / Duplicate act on every track's
    notes and hits that start in the region (studio.regions), each one undo step."""
    from studio.music import Note
    from ui import undo

    keys = Track("Lead", TrackKind.MIDI, notes=[Note(t, 0.2, 60 + k, 90, 0) for k, t in enumerate((0.5, 1.0, 1.5, 2.5))])
    hits = Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(t, material="glass") for t in (0.6, 1.2, 2.8)])
    undo.add_tracks(w.doc, [keys, hits], "add")
    c = w.timeline.canvas
    c.setFocus()
    w.doc.select(keys.id)
    c.loop = (1.0, 2.0)
    qtbot.keyClick(c, Qt.Key_C, Qt.ControlModifier)
    assert "copied the loop region" in status(w) and "3 notes and hits of 2 tracks" in status(w)
    w.playback.seek(4.0)
    qtbot.waitUntil(lambda: abs(c.position_s - 4.0) < 1e-6, timeout=2000)
    n = w.doc.undo_stack.count()
    qtbot.keyClick(c, Qt.Key_V, Qt.ControlModifier)
    assert [x.start_s for x in w.doc.track(keys.id).notes] == pytest.approx([0.5, 1.0, 1.5, 2.5, 4.0, 4.5])
    assert [x.pitch for x in w.doc.track(keys.id).notes][-2:] == [61, 62]
    assert [e.time_s for e in w.doc.track(hits.id).events] == pytest.approx([0.6, 1.2, 2.8, 4.2])
    assert w.doc.undo_stack.count() == n + 1
    w.doc.undo_stack.undo()
    assert len(w.doc.track(keys.id).notes) == 4 and len(w.doc.track(hits.id).events) == 3
    qtbot.keyClick(c, Qt.Key_D, Qt.ControlModifier)  # right after the region (at 2.0 s)
    assert [x.start_s for x in w.doc.track(keys.id).notes] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 2.5])
    assert [e.time_s for e in w.doc.track(hits.id).events] == pytest.approx([0.6, 1.2, 2.2, 2.8])
    assert w.doc.undo_stack.count() == n + 1 and len(w.doc.project.tracks) == len(names(w))
    c.loop = None


# -- item 8: tooltips and the legend ------------------------------------------------------------------
def _controls_without_tooltip(w) -> list[str]:
    missing = []
    for kind in (QAbstractButton, QAbstractSpinBox, QComboBox):
        for control in w.findChildren(kind):
            if control.isVisible() and control.window() is w and not control.toolTip().strip():
                missing.append(f"{type(control).__name__} {control.objectName() or ''} "
                               f"{control.text() if kind is QAbstractButton else ''} in "
                               f"{type(control.parentWidget()).__name__}")
    return missing


def test_every_visible_control_of_the_window_has_a_tooltip(window, qtbot, monkeypatch):
    w = window
    assert _controls_without_tooltip(w) == []  # the start page
    monkeypatch.setattr(generate, "ADAPTERS", dict(ENGINES))
    open_and_analyse(w, qtbot)
    from ui import undo

    undo.add_tracks(w.doc, [Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0)]),
                            Track("Lead", TrackKind.MIDI, notes=_notes(1, 0, 60))], "add")
    checked = 0
    for track in w.doc.project.tracks:  # the inspector shows other controls for each kind
        w.doc.select(track.id)
        for dock in (w.inspector_dock, w.generate_dock, w.history_dock):
            dock.raise_()
            w.generate_panel.refresh()
            for cb in w.generate_panel.checks.values():
                cb.setChecked(True)  # every engine's settings shown
            QApplication.processEvents()
            assert _controls_without_tooltip(w) == [], (track.name, dock.objectName())
            checked += 1
    assert checked >= 6


def test_help_timeline_legend_names_and_draws_each_marker(w, qtbot):
    from ui import theme

    help_menu = w.menuBar().actions()[-1].menu()
    assert "Timeline Legend" in [a.text() for a in help_menu.actions()]
    w.act_legend.trigger()
    dlg = w.legend_window
    assert isinstance(dlg, QDialog) and dlg.isVisible()
    shown = set(dlg.names.values())
    for name in ("Beat", "Downbeat", "Contact / impact", "Cut", "Playhead", "Bar 1", "Loop region"):
        assert name in shown
    labels = " ".join(l.text() for l in dlg.findChildren(QWidget) if hasattr(l, "text") and callable(l.text)
                      and isinstance(l.text(), str))
    assert "scene cut" in labels and "hit, step or bounce" in labels

    def has_colour(key, colour) -> bool:
        img = dlg.swatches[key].grab().toImage()
        return any(img.pixelColor(x, y).name() == colour.name()
                   for x in range(img.width()) for y in range(img.height()))

    assert has_colour("cut", theme.CUT) and has_colour("playhead", theme.ACCENT)
    assert has_colour("impact", theme.IMPACT) and not has_colour("cut", theme.IMPACT)
    dlg.close()
    legend = next(b for b in w.timeline.findChildren(QAbstractButton) if b.text() == "?")
    qtbot.mouseClick(legend, Qt.LeftButton)  # the timeline's own "?" opens it too
    assert w.legend_window is not dlg and w.legend_window.isVisible()
    w.legend_window.close()
