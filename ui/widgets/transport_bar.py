"""Transport bar: home / stop / play-pause, loop on/off with its region, position (time and
bar.beat) and the project tempo (editing it is one undoable command)."""
from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QToolButton, QWidget

from studio.music import TempoMap
from ui import undo
from ui.icons import icon
from ui.widgets.timeline.geometry import fmt_time


class TransportBar(QWidget):
    loopEdited = Signal(object)  # (start, end) or None

    def __init__(self, doc, playback, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.playback = doc, playback
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(6)

        def tb(name: str, tip: str, slot) -> QToolButton:
            b = QToolButton(self, toolTip=tip)
            b.setIcon(icon(name))
            b.setIconSize(QSize(22, 22))
            b.clicked.connect(slot)
            lay.addWidget(b)
            return b

        self.home = tb("home", "Go to start (Home)", lambda: playback.seek(0.0))
        self.stop = tb("stop", "Stop (returns to where play started)", playback.stop)
        self.play = tb("play", "Play / pause (Space)", playback.toggle)
        self.loop = tb("loop", "Loop the region (Shift-drag on the ruler to set it)", self._toggle_loop)
        self.loop.setCheckable(True)
        lay.addWidget(QLabel("Loop", self, objectName="dim"))
        self.loop_start = self._spin("loop start (s)", lay)
        self.loop_end = self._spin("loop end (s)", lay)
        self.loop_start.editingFinished.connect(self._loop_fields)
        self.loop_end.editingFinished.connect(self._loop_fields)
        self.time_label = QLabel("0:00.000", self, objectName="lcd")
        self.bar_label = QLabel("1.1", self, objectName="lcd")
        self.time_label.setToolTip("position")
        self.bar_label.setToolTip("bar.beat")
        lay.addSpacing(10)
        lay.addWidget(self.time_label)
        lay.addWidget(self.bar_label)
        lay.addSpacing(10)
        lay.addWidget(QLabel("Tempo", self, objectName="dim"))
        self.tempo = QDoubleSpinBox(self, decimals=1, minimum=20.0, maximum=300.0, suffix=" BPM",
                                    keyboardTracking=False)
        self.tempo.setSpecialValueText("\u2014")
        self.tempo.setToolTip("Tempo at the playhead; a new value sets one tempo from the first downbeat")
        self.tempo.valueChanged.connect(self._tempo_edited)
        lay.addWidget(self.tempo)
        lay.addStretch(1)
        self.duration_label = QLabel("", self, objectName="dim")
        lay.addWidget(self.duration_label)

        playback.positionChanged.connect(self.show_position)
        playback.stateChanged.connect(self._state)
        doc.projectReset.connect(self._reset)
        doc.tempoChanged.connect(self._show_tempo)
        self._reset()

    def _spin(self, tip: str, lay) -> QDoubleSpinBox:
        s = QDoubleSpinBox(self, decimals=2, minimum=0.0, maximum=1e6, suffix=" s", keyboardTracking=False)
        s.setToolTip(tip)
        s.setEnabled(False)
        s.setFixedWidth(92)
        lay.addWidget(s)
        return s

    def _reset(self) -> None:
        has = self.doc.project is not None
        if not has:
            self.tempo.blockSignals(True)
            self.tempo.setValue(self.tempo.minimum())  # shows the special text: no tempo
            self.tempo.blockSignals(False)
        for w in (self.home, self.stop, self.play, self.loop, self.tempo):
            w.setEnabled(has)
        self.loop.setChecked(False)
        self._loop_widgets()
        self.duration_label.setText(f"length {fmt_time(self.doc.project.duration_s, 0.01)}" if has else "")
        self._show_tempo()
        self.show_position(0.0)

    def _show_tempo(self) -> None:
        if self.doc.project is None:
            return
        self.tempo.blockSignals(True)
        self.tempo.setValue(self.doc.project.tempo.bpm_at(self.playback.position_s))
        self.tempo.blockSignals(False)
        self.show_position(self.playback.position_s)

    def _tempo_edited(self, bpm: float) -> None:
        old = self.doc.project.tempo
        undo.set_tempo(self.doc, TempoMap.constant(bpm, old.downbeat_s, old.beats_per_bar), f"Tempo {bpm:.1f} BPM")

    def show_position(self, t: float) -> None:
        self.time_label.setText(fmt_time(t, 0.01)[:-1] + f"{int(t * 1000) % 10}")
        if self.doc.project is not None:
            beat = self.doc.project.tempo.beat_at(t)
            per = self.doc.project.tempo.beats_per_bar
            bar, inbar = divmod(beat, per)
            self.bar_label.setText(f"{int(bar) + 1}.{int(inbar) + 1}")
            if not self.tempo.hasFocus():
                self.tempo.blockSignals(True)
                self.tempo.setValue(self.doc.project.tempo.bpm_at(t))
                self.tempo.blockSignals(False)

    def _state(self, state: str) -> None:
        self.play.setIcon(icon("pause" if state == "playing" else "play"))

    # -- loop -----------------------------------------------------------------------------------
    def set_loop(self, region) -> None:
        """Show a region chosen elsewhere (the ruler) and enable looping over it."""
        if region is None:
            self.loop.setChecked(False)
        else:
            self.loop_start.setValue(region[0])
            self.loop_end.setValue(region[1])
            self.loop.setChecked(True)
        self._apply_loop()

    def _toggle_loop(self) -> None:
        if self.loop.isChecked() and self.loop_end.value() <= self.loop_start.value():
            t = self.playback.position_s
            bar = 60.0 / self.doc.project.tempo.bpm_at(t) * self.doc.project.tempo.beats_per_bar
            self.loop_start.setValue(t)
            self.loop_end.setValue(min(self.doc.project.duration_s, t + bar) or t + bar)
        self._apply_loop()

    def _loop_fields(self) -> None:
        if self.loop.isChecked():
            self._apply_loop()

    def _apply_loop(self) -> None:
        self._loop_widgets()
        a, b = self.loop_start.value(), self.loop_end.value()
        region = (a, b) if self.loop.isChecked() and b > a else None
        self.playback.set_loop(*(region or (None,)))
        self.loopEdited.emit(region)

    def _loop_widgets(self) -> None:
        on = self.loop.isChecked()
        self.loop_start.setEnabled(on)
        self.loop_end.setEnabled(on)
