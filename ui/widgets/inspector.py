"""Inspector of the selected track: name, mixer (gain, pan, mute, solo; "Duck under music" for
audio tracks), MIDI channel/program and instrument bank (the soundfonts installed here,
``studio.banks``; "Automatic" follows the studio's default choice), Foley hits (material,
strength), spatial position on a room view.
Every change is an undo command; a slider drag is one command (merged per gesture)."""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSlider,
    QSpinBox, QVBoxLayout, QWidget,
)

from studio import banks as bank_catalog
from studio.mastering import DUCK_DB
from studio.project import SpatialKeyframe, TrackKind
from ui import theme, undo
from ui.widgets.room_view import RoomView

KEYFRAME_SNAP_S = 0.05


def _slider(lo: int, hi: int) -> QSlider:
    s = QSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    return s


class Inspector(QWidget):
    roomResponseRequested = Signal()  # "Room response…": the main window opens its plot

    def __init__(self, doc, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.time_s = 0.0
        self._gesture = 0
        self._loading = False
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        self.empty = QLabel("Select a track on the timeline", self, objectName="dim")
        root.addWidget(self.empty)
        self._build_head(root)
        self._build_mixer(root)
        self._build_midi(root)
        self._build_foley(root)
        self._build_spatial(root)
        root.addStretch(1)

        for sig in (doc.projectReset, doc.selectionChanged, doc.tracksChanged):
            sig.connect(self.refresh)
        doc.trackChanged.connect(lambda tid: self.refresh() if tid == doc.selected_track else None)
        self.refresh()

    # -- building -------------------------------------------------------------------------------
    def _build_head(self, root: QVBoxLayout) -> None:
        """The track's name, kind and Delete."""
        doc = self.doc
        self.head = QWidget(self)
        hl = QHBoxLayout(self.head)
        hl.setContentsMargins(0, 0, 0, 0)
        self.name = QLineEdit(self, toolTip="the track's name (Enter renames it; stems and MIDI are named after it)")
        self.name.editingFinished.connect(self._rename)
        self.kind = QLabel(self, objectName="dim")
        self.delete = QPushButton("Delete", self, toolTip="delete this track")
        self.delete.clicked.connect(lambda: undo.remove_track(doc, doc.selected_track))
        hl.addWidget(self.name, 1)
        hl.addWidget(self.kind)
        hl.addWidget(self.delete)
        root.addWidget(self.head)

    def _build_mixer(self, root: QVBoxLayout) -> None:
        """Gain and pan sliders (one undo command per drag), mute and solo."""
        self.mixer = QGroupBox("Mixer", self)
        f = QFormLayout(self.mixer)
        self.gain, self.gain_label = _slider(-600, 120), QLabel()
        self.pan, self.pan_label = _slider(-100, 100), QLabel()
        for s, lab, name in ((self.gain, self.gain_label, "gain"), (self.pan, self.pan_label, "pan")):
            row = QHBoxLayout()
            row.addWidget(s, 1)
            lab.setMinimumWidth(58)
            row.addWidget(lab)
            f.addRow(name.title(), row)
            s.sliderPressed.connect(self._new_gesture)
        self.gain.valueChanged.connect(lambda v: self._mixer("gain_db", v / 10.0, "Gain"))
        self.pan.valueChanged.connect(lambda v: self._mixer("pan", v / 100.0, "Pan"))
        row = QHBoxLayout()
        self.mute = QCheckBox("Mute", toolTip="silence this track in playback, the mix and its stem")
        self.solo = QCheckBox("Solo", toolTip="hear only the soloed tracks")
        self.gain.setToolTip("the track's level in dB (drag: one undo step)")
        self.pan.setToolTip("left / right in the stereo mix")
        self.mute.toggled.connect(lambda on: self._mixer("mute", on, "Mute"))
        self.solo.toggled.connect(lambda on: self._mixer("solo", on, "Solo"))
        row.addWidget(self.mute)
        row.addWidget(self.solo)
        row.addStretch(1)
        f.addRow("", row)
        self.duck = QCheckBox("Duck under music", toolTip=f"lower this track by {-DUCK_DB:g} dB where the "
                              "generated music is loud (50 ms attack, 300 ms release)")
        self.duck.toggled.connect(lambda on: self._mixer("duck_db", DUCK_DB if on else None, "Duck under music"))
        f.addRow("", self.duck)
        root.addWidget(self.mixer)

    def _build_midi(self, root: QVBoxLayout) -> None:
        """MIDI channel, GM program and instrument bank."""
        self.midi = QGroupBox("MIDI", self)
        f = QFormLayout(self.midi)
        self.channel = QSpinBox(self, minimum=1, maximum=16, toolTip="MIDI channel (10 = GM drums)")
        self.program = QSpinBox(self, minimum=0, maximum=127, toolTip="GM program, 0-based (0 piano)")
        self.channel.valueChanged.connect(lambda v: self._field("channel", v - 1, "MIDI channel"))
        self.program.valueChanged.connect(lambda v: self._field("program", v, "GM program"))
        self.bank = QComboBox(self, toolTip="instrument bank (soundfont) this track plays through")
        self.bank.activated.connect(lambda i: self._field("bank", self.bank.itemData(i), "Instrument bank"))
        self.notes_label = QLabel(self, objectName="dim")
        f.addRow("Channel", self.channel)
        f.addRow("Program", self.program)
        f.addRow("Instrument", self.bank)
        f.addRow("", self.notes_label)
        root.addWidget(self.midi)

    def _build_foley(self, root: QVBoxLayout) -> None:
        """The selected Foley hits' material and strength; add and delete hits."""
        self.foley = QGroupBox("Foley hits", self)
        f = QFormLayout(self.foley)
        self.events_label = QLabel(self, objectName="dim")
        self.material = QComboBox(self, toolTip="the material the selected hits sound like")
        self.material.addItems(theme.MATERIALS)
        self.material.activated.connect(lambda _i: self._events(material=self.material.currentText()))
        self.strength = _slider(0, 100)
        self.strength.setToolTip("how hard the selected hits strike")
        self.strength.sliderPressed.connect(self._new_gesture)
        self.strength.valueChanged.connect(lambda v: self._events(strength=v / 100.0, merge=True))
        buttons = QHBoxLayout()
        add = QPushButton("Add at playhead", self, toolTip="a new hit on this lane at the playhead")
        add.clicked.connect(self._add_event)
        self.delete_events = QPushButton("Delete hits", self, toolTip="delete the selected hits (Delete)")
        self.delete_events.clicked.connect(self._delete_events)
        buttons.addWidget(add)
        buttons.addWidget(self.delete_events)
        f.addRow("", self.events_label)
        f.addRow("Material", self.material)
        f.addRow("Strength", self.strength)
        f.addRow(buttons)  # across both columns: beside the labels' column they widened the dock
        root.addWidget(self.foley)

    def _build_spatial(self, root: QVBoxLayout) -> None:
        """The track's position on a top-down view of its room."""
        doc = self.doc
        self.spatial = QGroupBox("Position in the room", self)
        sl = QVBoxLayout(self.spatial)
        self.room_view = RoomView(self)
        self.room_view.moved.connect(self._place)
        sl.addWidget(self.room_view)
        clear = QPushButton("Clear positions", self, toolTip="remove every position of this track in the room")
        clear.clicked.connect(lambda: undo.set_spatial(doc, doc.selected_track, [], "Clear positions"))
        self.response_button = QPushButton("Room response\u2026", self, toolTip="plot this track's impulse "
                                           "response, decay (T30, DRR) and magnitude in its room at the playhead")
        self.response_button.clicked.connect(self.roomResponseRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(clear)
        buttons.addWidget(self.response_button)
        sl.addLayout(buttons)
        root.addWidget(self.spatial)

    # -- view -----------------------------------------------------------------------------------
    def set_time(self, t: float) -> None:
        self.time_s = t
        if self.spatial.isVisible():
            self._show_room()

    def _track(self):
        d = self.doc
        if d.project is None or d.selected_track is None:
            return None
        return d.track(d.selected_track)

    def refresh(self) -> None:
        from studio.generate import available_engines

        t = self._track()
        self.empty.setVisible(t is None)
        for w in (self.head, self.mixer):
            w.setVisible(t is not None)
        self.midi.setVisible(t is not None and (t.kind is TrackKind.MIDI or bool(t.notes)))
        self.foley.setVisible(t is not None and t.kind is TrackKind.FOLEY)
        self.spatial.setVisible(t is not None and ("spatial" in available_engines() or bool(t.room)))
        if t is None:
            return
        self._loading = True
        self.name.setText(t.name)
        self.kind.setText(t.kind.value + (f" \u00b7 {t.engine}" if t.engine and t.engine != t.kind.value else ""))
        self.gain.setValue(round(t.mixer.gain_db * 10))
        self.gain_label.setText(f"{t.mixer.gain_db:+.1f} dB")
        self.pan.setValue(round(t.mixer.pan * 100))
        self.pan_label.setText("C" if abs(t.mixer.pan) < 0.005 else
                               f"{'L' if t.mixer.pan < 0 else 'R'}{abs(t.mixer.pan) * 100:.0f}")
        self.mute.setChecked(t.mixer.mute)
        self.solo.setChecked(t.mixer.solo)
        self.duck.setVisible(t.kind is TrackKind.AUDIO)  # an audio track (the video's own sound) under the music
        self.duck.setChecked(t.mixer.duck_db is not None)
        self.channel.setValue(t.channel + 1)
        self.program.setValue(t.program)
        self._fill_banks(t)
        self.notes_label.setText(f"{len(t.notes)} notes" + (" \u00b7 GM drums" if t.is_drums else ""))
        sel = [t.events[i] for i in self.doc.selected_events if i < len(t.events)]
        self.events_label.setText(f"{len(t.events)} hits, {len(sel)} selected")
        for w in (self.material, self.strength, self.delete_events):
            w.setEnabled(bool(sel))
        if sel:
            self.material.setCurrentText(sel[0].material)
            self.strength.setValue(round(sel[0].strength * 100))
        self._loading = False
        self._show_room()

    def _fill_banks(self, t) -> None:
        """Automatic, then the banks installed here that can play this track (recorded drum
        kits only for drum tracks); a choice whose bank is missing here stays listed."""
        from studio.synth import SynthError, resolve_bank

        try:
            auto = resolve_bank(None, drums=t.is_drums).name
        except SynthError:
            auto = "no soundfont installed"
        self.bank.clear()
        self.bank.addItem(f"Automatic ({auto})", None)
        for b in bank_catalog.discover():
            if t.is_drums or b.kind == bank_catalog.GM:
                self.bank.addItem(b.name + (" (drum kit)" if b.kind == bank_catalog.DRUMS else ""), b.id)
                self.bank.setItemData(self.bank.count() - 1, f"{b.path} ({b.licence})", Qt.ToolTipRole)
        if t.bank is not None and self.bank.findData(t.bank) < 0:
            self.bank.addItem(f"{t.bank} (not installed: automatic)", t.bank)
        self.bank.setCurrentIndex(0 if t.bank is None else max(0, self.bank.findData(t.bank)))

    _placing = False

    def _show_room(self) -> None:
        t = self._track()
        if t is not None:
            self.room_view.set_state(t.spatial, self.time_s, theme.KIND_COLOURS.get(t.kind.value, theme.ACCENT))

    # -- edits ----------------------------------------------------------------------------------
    def _new_gesture(self) -> None:
        self._gesture += 1

    def _mixer(self, name: str, value, label: str) -> None:
        t = self._track()
        if self._loading or t is None:
            return
        slider = name in ("gain_db", "pan")
        if slider and not (self.gain.isSliderDown() or self.pan.isSliderDown()):
            self._new_gesture()  # keyboard / wheel steps are separate edits; a drag is one
        key = f"mixer:{name}:{self._gesture}" if slider else None
        before = t.mixer
        after = dataclasses.replace(before, **{name: value})
        undo.edit_track(self.doc, t.id, f"{label} {t.name}", key, mixer=after)

    def _field(self, name: str, value, label: str) -> None:
        t = self._track()
        if not self._loading and t is not None:
            undo.edit_track(self.doc, t.id, f"{label} {t.name}", None, **{name: value})

    def _rename(self) -> None:
        t = self._track()
        name = self.name.text().strip()
        if t is not None and name and name != t.name:
            undo.edit_track(self.doc, t.id, f"Rename to {name}", None, name=name)

    def _events(self, merge: bool = False, **changes) -> None:
        t = self._track()
        if self._loading or t is None or not self.doc.selected_events:
            return
        sel = set(self.doc.selected_events)
        events = [dataclasses.replace(e, **changes) if i in sel else e for i, e in enumerate(t.events)]
        what = ", ".join(f"{k} {v}" for k, v in changes.items())
        if merge and not self.strength.isSliderDown():
            self._new_gesture()
        key = f"events:{','.join(changes)}:{self._gesture}" if merge else None
        undo.edit_track(self.doc, t.id, f"Set {what}", key, events=events)

    def _add_event(self) -> None:
        from studio.project import FoleyEvent

        t = self._track()
        material = t.events[-1].material if t.events else "wood"
        new = FoleyEvent(time_s=self.time_s, material=material, seed=len(t.events))
        undo.set_events(self.doc, t.id, list(t.events) + [new], f"Add hit at {self.time_s:.2f} s")
        events = self.doc.track(t.id).events
        self.doc.select(t.id, (next(i for i, e in enumerate(events) if e is new),))

    def _delete_events(self) -> None:
        t = self._track()
        sel = set(self.doc.selected_events)
        self.doc.select(t.id)
        undo.set_events(self.doc, t.id, [e for i, e in enumerate(t.events) if i not in sel],
                        f"Delete {len(sel)} hits")

    def _place(self, x: float, y: float, final: bool) -> None:
        t = self._track()
        if t is None:
            return
        frames = [k for k in t.spatial if abs(k.time_s - self.time_s) > KEYFRAME_SNAP_S]
        z = next((k.z for k in t.spatial), 1.5)
        frames.append(SpatialKeyframe(self.time_s, x, y, z))
        if not self._placing:
            self._new_gesture()
        self._placing = not final
        undo.edit_track(self.doc, t.id, f"Place {t.name}", f"spatial:{self._gesture}",
                        spatial=sorted(frames, key=lambda k: k.time_s))
