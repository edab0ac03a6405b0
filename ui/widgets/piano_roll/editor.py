"""The piano-roll window of one MIDI track: tools on top (select / draw, snap grid, quantise),
the keyboard column, the note area with its bar ruler, the velocity lane, scroll bars and a
status line. Its own window (not a dock), so its shortcuts (Ctrl+C, Delete, arrows ...) act on
notes while it has the focus and the main window keeps its own for the timeline."""
from __future__ import annotations

import weakref

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QMenu, QScrollBar, QToolButton, QVBoxLayout, QWidget,
)

from studio import note_edits as ne
from studio.project import TrackKind
from ui.widgets.piano_roll.commands import NoteCommands
from ui.widgets.piano_roll.geometry import GRIDS, KEY_W, RULER_H, NoteIndex, RollView
from ui.widgets.piano_roll.lanes import KeyboardColumn, VelocityLane
from ui.widgets.piano_roll.notes_area import NotesArea

MIN_ROW, MAX_ROW = 5, 28


def editable(track) -> bool:
    """A track whose notes the piano roll edits: a MIDI track, or a soundtrack part with notes."""
    return track is not None and (track.kind is TrackKind.MIDI or (track.kind is TrackKind.SOUNDTRACK
                                                                    and bool(track.notes)))


class PianoRoll(NoteCommands, QWidget):
    def __init__(self, doc, parent: QWidget | None = None, shared_actions=()) -> None:
        super().__init__(parent, Qt.Window)
        self.doc, self.track_id = doc, None
        self.selected: set[int] = set()
        self._selections: dict[int, tuple[weakref.ref, frozenset]] = {}  # per Track version
        self.position_s = 0.0
        self.draw_mode = False
        self.view = RollView()
        self.resize(1000, 620)
        self.notes_area = NotesArea(self, self)
        self.keys = KeyboardColumn(self, self)
        self.velocity = VelocityLane(self, self)
        self.status = QLabel("", self, objectName="dim")
        self.hbar, self.vbar = QScrollBar(Qt.Horizontal, self), QScrollBar(Qt.Vertical, self)
        self.hbar.valueChanged.connect(lambda v: self._scrolled(offset_s=v / 1000.0))
        self.vbar.valueChanged.connect(lambda v: self._scrolled(v_offset=v))
        self._build_actions(shared_actions)
        self._build_layout()
        doc.trackChanged.connect(self._track_changed)
        doc.tracksChanged.connect(self._tracks_changed)
        doc.tempoChanged.connect(self.refresh)
        doc.projectReset.connect(self.close)

    # -- state the parts read -------------------------------------------------------------------
    def track(self):
        p = self.doc.project
        return next((t for t in p.tracks if t.id == self.track_id), None) if p is not None else None

    def tempo(self):
        return self.doc.tempo

    def grid_name(self) -> str:
        return self.grid.currentText()

    def step(self) -> float | None:
        """Beats of the snap grid (None: snap off)."""
        d = GRIDS[self.grid.currentText()]
        tempo = self.tempo()
        return None if d is None or tempo is None else ne.step_beats(d, tempo.beat_unit)

    def say(self, message: str) -> None:
        self.status.setText(message)

    def set_selection(self, selected) -> None:
        track = self.track()
        n = len(track.notes) if track is not None else 0
        self.selected = {i for i in selected if 0 <= i < n}
        self.refresh()

    # -- showing a track ------------------------------------------------------------------------
    def open_track(self, track_id: str) -> None:
        """Show this track's notes: the view fitted around them, nothing selected."""
        self.track_id, self.selected = track_id, set()
        track = self.track()
        self.setWindowTitle(f"Notes \u2014 {track.name}")
        notes = track.notes
        v = self.view
        first = min((n.start_s for n in notes), default=self.position_s)
        last = max((n.end_s for n in notes), default=first + 8.0)
        width = max(200, self.notes_area.width())
        v.px_per_s = float(min(400.0, max(20.0, width / max(2.0, min(last - first, 16.0) + 0.5))))
        v.offset_s = max(0.0, first - 0.25)
        pitches = sorted(n.pitch for n in notes)
        v.centre_on(pitches[len(pitches) // 2] if pitches else 60, max(200, self.notes_area.height()))
        self.say("click, Shift-click or drag a box to select \u00b7 drag to move, the right end to resize "
                 "\u00b7 Ctrl+click / double-click draws \u00b7 \u2191\u2193 transpose (Shift: octave) "
                 "\u00b7 Q quantise \u00b7 Ctrl+C/X/V/D \u00b7 Del")
        self.view_changed()

    def set_position(self, t: float) -> None:
        self.position_s = t
        self.notes_area.update()

    def remember_selection(self, track) -> None:
        """The selection that goes with this version of the track (Undo / Redo bring it back)."""
        self._selections = {k: v for k, v in self._selections.items() if v[0]() is not None}
        self._selections[id(track)] = (weakref.ref(track), frozenset(self.selected))

    def _track_changed(self, track_id: str) -> None:
        if track_id == self.track_id:
            track = self.track()
            known = self._selections.get(id(track))
            # undo / redo: that version's selection; any other change: drop the indices now gone
            self.set_selection(known[1] if known is not None and known[0]() is track else self.selected)
            if track is not None:
                self.setWindowTitle(f"Notes \u2014 {track.name}")  # a rename shows

    def _tracks_changed(self) -> None:
        if self.track_id is not None and self.track() is None:
            self.close()  # the track was deleted (or its adding undone)
        else:
            self.set_selection(self.selected)

    # -- view -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        for w in (self.notes_area, self.keys, self.velocity):
            w.update()

    def max_v_offset(self) -> int:
        return max(0, 128 * self.view.row_h - (self.notes_area.height() - RULER_H))

    def set_row_height(self, h: int) -> None:
        self.view.row_h = max(MIN_ROW, min(MAX_ROW, h))
        self.view_changed()

    def zoom(self, factor: float) -> None:
        x = self.view.x_of(self.position_s)
        if not 0 <= x <= self.notes_area.width():
            x = self.notes_area.width() / 2
        self.view.zoom(factor, x)
        self.view_changed()

    def _scrolled(self, offset_s: float | None = None, v_offset: int | None = None) -> None:
        if offset_s is not None:
            self.view.offset_s = offset_s
        if v_offset is not None:
            self.view.v_offset = v_offset
        self.refresh()

    def view_changed(self) -> None:
        """Scroll bars follow the view (zoom, wheel, fit); then everything repaints."""
        v, area = self.view, self.notes_area
        v.v_offset = min(v.v_offset, self.max_v_offset())
        visible = area.width() / v.px_per_s
        track = self.track()
        ends = [v.offset_s + visible, self.doc.project.duration_s if self.doc.project is not None else 0.0]
        if track is not None and track.notes:
            ends.append(float(NoteIndex.of(track).end.max()))
        end = max(ends)
        for bar, (top, page, value) in ((self.hbar, (int(max(0.0, end - visible) * 1000), int(visible * 1000),
                                                      int(v.offset_s * 1000))),
                                        (self.vbar, (self.max_v_offset(), area.height() - RULER_H, v.v_offset))):
            bar.blockSignals(True)
            bar.setRange(0, max(top, value))
            bar.setPageStep(max(1, page))
            bar.setValue(value)
            bar.blockSignals(False)
        self.refresh()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.view_changed()

    # -- building -------------------------------------------------------------------------------
    def _act(self, text: str, slot, shortcuts=(), tip: str = "") -> QAction:
        a = QAction(text, self)
        a.setShortcuts([QKeySequence(k) for k in shortcuts])
        a.setToolTip(tip or text)
        a.triggered.connect(slot)
        self.addAction(a)
        self.menu.addAction(a)
        return a

    def _build_actions(self, shared_actions) -> None:
        """Every command with its keys, all listed in the Edit menu button (Undo and Play as in
        the main window: the same actions)."""
        self.menu = QMenu(self)
        for a in shared_actions:  # Undo, Redo, Play / Pause: the main window's own actions
            self.addAction(a)
            self.menu.addAction(a)
        self.menu.addSeparator()
        self.act_select_all = self._act("Select All", self.select_all, ["Ctrl+A"])
        self.act_copy = self._act("Copy", self.copy_selected, ["Ctrl+C"])
        self.act_cut = self._act("Cut", self.cut_selected, ["Ctrl+X"])
        self.act_paste = self._act("Paste", self.paste, ["Ctrl+V"], "Paste the copied notes at the playhead")
        self.act_duplicate = self._act("Duplicate", self.duplicate_selected, ["Ctrl+D"],
                                       "The selected notes again right after themselves")
        self.act_delete = self._act("Delete", self.delete_selected, ["Delete", "Backspace"])
        self.menu.addSeparator()
        self.act_up = self._act("Transpose Up", lambda: self.transpose(1), ["Up"])
        self.act_down = self._act("Transpose Down", lambda: self.transpose(-1), ["Down"])
        self.act_octave_up = self._act("Octave Up", lambda: self.transpose(12), ["Shift+Up"])
        self.act_octave_down = self._act("Octave Down", lambda: self.transpose(-12), ["Shift+Down"])
        self.act_left = self._act("Nudge Earlier", lambda: self.nudge(-1), ["Left"], "One grid step earlier")
        self.act_right = self._act("Nudge Later", lambda: self.nudge(1), ["Right"], "One grid step later")
        self.act_quantise = self._act("Quantise", self.quantise, ["Q"],
                                      "The selected notes (none selected: all) onto the snap grid")
        self.menu.addSeparator()
        self.act_zoom_in = self._act("Zoom In", lambda: self.zoom(1.5), ["+", "=", "Ctrl+="])
        self.act_zoom_out = self._act("Zoom Out", lambda: self.zoom(1 / 1.5), ["-", "Ctrl+-"])
        self.act_deselect = self._act("Select None", lambda: self.set_selection(()), ["Escape"])

    def _tool(self, row: QHBoxLayout, text: str, tip: str, slot=None, checkable: bool = False) -> QToolButton:
        b = QToolButton(self, text=text, toolTip=tip, autoRaise=True, checkable=checkable)
        if slot is not None:
            b.clicked.connect(slot)
        row.addWidget(b)
        return b

    def _build_layout(self) -> None:
        tools = QHBoxLayout()
        tools.setContentsMargins(6, 4, 6, 2)
        modes = QActionGroup(self)
        self.select_button = self._tool(tools, "Select", "Select, move and resize notes (S)", checkable=True)
        self.draw_button = self._tool(tools, "Draw", "Click on empty space draws a note (D; Ctrl+click "
                                      "or double-click draws in Select mode too)", checkable=True)
        for b, key, on in ((self.select_button, "S", False), (self.draw_button, "D", True)):
            a = QAction(b.text(), modes, checkable=True, shortcut=QKeySequence(key))
            a.toggled.connect(lambda checked, on=on: checked and setattr(self, "draw_mode", on))
            self.addAction(a)
            b.setDefaultAction(a)
            b.setToolTip(a.text() + (": click on empty space draws a note" if on else ": select, move, resize"))
        self.select_button.defaultAction().setChecked(True)
        tools.addWidget(QLabel("Snap", self))
        self.grid = QComboBox(self, toolTip="The grid notes snap to and Quantise uses (off: free; hold Alt "
                                            "while dragging to move freely)")
        self.grid.addItems(list(GRIDS))
        self.grid.setCurrentText("1/16")
        self.grid.currentTextChanged.connect(lambda _t: self.notes_area.update())
        tools.addWidget(self.grid)
        self._tool(tools, "Quantise", "The selected notes (none selected: all) onto the snap grid (Q)", self.quantise)
        self.lengths = QCheckBox("lengths", self, toolTip="Quantise moves the notes' ends onto the grid too")
        self.lengths.toggled.connect(lambda on: setattr(self, "quantise_lengths", on))
        tools.addWidget(self.lengths)
        self._tool(tools, "\u2212", "Zoom out (-, Ctrl+wheel)", lambda: self.zoom(1 / 1.5))
        self._tool(tools, "+", "Zoom in (+, Ctrl+wheel)", lambda: self.zoom(1.5))
        edit = self._tool(tools, "Edit \u25be", "Every note command and its keys")
        edit.setMenu(self.menu)
        edit.setPopupMode(QToolButton.InstantPopup)
        tools.addStretch(1)
        grid = QGridLayout()
        grid.setSpacing(0)
        vel = QLabel("vel", self, objectName="dim", alignment=Qt.AlignCenter, minimumWidth=KEY_W)
        for widget, row, column in ((self.keys, 0, 0), (self.notes_area, 0, 1), (self.vbar, 0, 2), (vel, 1, 0),
                                    (self.velocity, 1, 1), (self.hbar, 2, 1)):
            grid.addWidget(widget, row, column)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 4)
        root.setSpacing(2)
        root.addLayout(tools)
        root.addLayout(grid, 1)
        self.status.setContentsMargins(8, 0, 8, 0)
        root.addWidget(self.status)
