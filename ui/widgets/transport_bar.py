"""Transport bar: home / stop / play-pause, loop on/off with its region, position (time and
bar.beat, a count-in before bar 1), the grid's tempo and its corrections: a typed tempo, Tap,
double / half time, back to the video's tempo. A correction is a request to the controller
(``gridRequested``), which makes it one undo step with the tracks generated again on it."""
from __future__ import annotations

import itertools
import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QToolButton, QWidget

from studio.errors import StudioError
from studio.music import TempoMap
from ui import beatgrid
from ui.icons import icon
from ui.widgets.fitting_label import FittingLabel
from ui.widgets.timeline.geometry import fmt_time

TAP_RESET_S = 2.0  # a tap this long after the previous one starts a new tempo
TAP_WINDOW = 8  # the tempo is that of the last taps


def fit_text(label: QLabel, longest: str) -> None:
    """A fixed width for ``label`` from its own font (the style sheet's, once polished): the
    longest text it shows, its padding and border, so a narrow window never clips it."""
    label.ensurePolished()
    frame = label.width() - label.contentsRect().width()  # border, padding and margins, left and right
    label.setFixedWidth(label.fontMetrics().horizontalAdvance(longest) + frame + 2)


def time_text(t: float) -> str:
    """The position readout: minutes, seconds and milliseconds (``1:05.250``)."""
    ms = int(max(0.0, t) * 1000 + 1e-6)
    m, ms = divmod(ms, 60_000)
    return f"{m}:{ms // 1000:02d}.{ms % 1000:03d}"


class TransportBar(QWidget):
    loopEdited = Signal(object)  # (start, end) or None
    gridRequested = Signal(object, str, str)  # TempoMap, undo text, merge key ("" for none)
    tempoFromVideoRequested = Signal()
    message = Signal(str)  # for the status bar

    def __init__(self, doc, playback, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.playback = doc, playback
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(4)  # (no "Loop" / "Tempo" captions: the icon, " s" and " BPM" say it; fits 1280 px)

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
        self.loop_start = self._spin("loop start (s)", lay)
        self.loop_end = self._spin("loop end (s)", lay)
        self.loop_start.editingFinished.connect(self._loop_fields)
        self.loop_end.editingFinished.connect(self._loop_fields)
        self.time_label = QLabel("0:00.000", self, objectName="lcd")
        self.bar_label = QLabel("1.1", self, objectName="lcd")
        self.time_label.setToolTip("position")
        self.bar_label.setToolTip("bar.beat (before bar 1: the pickup, counting the beats to bar 1)")
        lay.addSpacing(8)
        lay.addWidget(self.time_label)
        lay.addWidget(self.bar_label)
        # sized for their longest text in the style sheet's font (never clipped to "0:00.(")
        fit_text(self.time_label, "88:88.888")  # (_reset widens it for a video of 100 minutes or more)
        fit_text(self.bar_label, "pickup \u221288")
        self.time_label.setAlignment(Qt.AlignCenter)
        self.bar_label.setAlignment(Qt.AlignCenter)
        lay.addSpacing(8)
        self.tempo = QDoubleSpinBox(self, decimals=1, minimum=20.0, maximum=300.0, suffix=" BPM",
                                    keyboardTracking=False)
        self.tempo.setSpecialValueText("\u2014")
        self.tempo.setAccessibleName("Tempo")
        self.tempo.setToolTip("The grid's tempo (\u2248: it follows the visual beats; the mean from bar 1 on). "
                              "A new value sets one tempo from bar 1")
        self.tempo.valueChanged.connect(self._tempo_edited)
        lay.addWidget(self.tempo)

        def text_button(text: str, tip: str, slot) -> QToolButton:
            b = QToolButton(self, text=text, toolTip=tip)
            b.clicked.connect(slot)
            lay.addWidget(b)
            return b

        self.tap_button = text_button("Tap", "Tap the beat: the tempo of your taps from bar 1 "
                                      f"(a pause of {TAP_RESET_S:.0f} s starts over)", lambda: self.tap())
        self.double_button = text_button("\u00d72", "Double time: twice as many beats, bar 1 stays",
                                         lambda: self._rescale(2.0))
        self.half_button = text_button("\u00f72", "Half time: every other beat, bar 1 stays",
                                       lambda: self._rescale(0.5))
        self.video_button = text_button("Video", "Tempo from video: the grid the analysis found "
                                        "(undoes typed, tapped, doubled and moved grids)", self.tempoFromVideoRequested)
        self._taps: list[float] = []
        self._tap_session = itertools.count(1)
        self._tap_key = ""
        lay.addStretch(1)
        self.duration_label = FittingLabel("", self, objectName="dim")  # whole or not at all, never widening
        self.duration_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay.addWidget(self.duration_label)

        playback.positionChanged.connect(self.show_position)
        playback.stateChanged.connect(self._state)
        doc.projectReset.connect(self._reset)
        doc.tempoChanged.connect(lambda: self._show_tempo())
        doc.analysisChanged.connect(self._enable)
        self._reset()

    def _spin(self, tip: str, lay) -> QDoubleSpinBox:
        s = QDoubleSpinBox(self, decimals=2, minimum=0.0, maximum=1e6, suffix=" s", keyboardTracking=False)
        s.setToolTip(tip)
        s.setEnabled(False)
        s.setFixedWidth(max(80, s.fontMetrics().horizontalAdvance("0000.00 s") + 30))
        lay.addWidget(s)
        return s

    def _reset(self) -> None:
        has = self.doc.project is not None
        if not has:
            self.tempo.blockSignals(True)
            self.tempo.setPrefix("")
            self.tempo.setValue(self.tempo.minimum())  # shows the special text: no tempo
            self.tempo.blockSignals(False)
        self._enable()
        self.loop.setChecked(False)
        self._loop_widgets()
        self.duration_label.setText(f"length {fmt_time(self.doc.project.duration_s, 0.01)}" if has else "")
        longest = time_text(self.doc.project.duration_s if has else 0.0)
        fit_text(self.time_label, "8" * max(2, len(longest) - 7) + ":88.888")
        self._taps.clear()
        self._show_tempo()
        self.show_position(0.0)

    def _enable(self) -> None:
        has = self.doc.project is not None
        for w in (self.home, self.stop, self.play, self.loop, self.tempo, self.tap_button, self.double_button,
                  self.half_button):
            w.setEnabled(has)
        self.video_button.setEnabled(has and self.doc.analysis is not None)

    def _show_tempo(self, force: bool = False) -> None:
        """The grid's one tempo figure (the ruler and the analysis lane show the same)."""
        tempo = self.doc.tempo
        if tempo is None:
            return
        if not force and self.tempo.hasFocus() and self.tempo.lineEdit().isModified():
            return  # the user is typing a tempo: leave it
        self.tempo.blockSignals(True)
        self.tempo.setPrefix("" if beatgrid.is_constant(tempo) else "\u2248")
        self.tempo.setValue(beatgrid.grid_bpm(tempo, self.doc.project.duration_s))
        self.tempo.blockSignals(False)
        self.show_position(self.playback.position_s)

    def _request(self, tempo: TempoMap, text: str, merge_key: str = "") -> None:
        self.gridRequested.emit(tempo, text, merge_key)
        self._show_tempo(force=True)  # what the grid now is (a refused request leaves it as it was)

    def _tempo_edited(self, bpm: float) -> None:
        old = self.doc.tempo
        self._request(TempoMap.constant(bpm, old.downbeat_s, old.beats_per_bar), f"Tempo {bpm:.1f} BPM")

    def _rescale(self, factor: float) -> None:
        from studio.grid import rescaled

        try:
            tempo = rescaled(self.doc.tempo, factor)
        except StudioError as exc:
            self.message.emit(str(exc))
            return
        self._request(tempo, "Double time" if factor > 1 else "Half time")

    def tap(self, now: float | None = None) -> float | None:
        """One tap (``now``: a time in seconds, for tests); from the second tap on, the grid gets
        the tapped tempo from bar 1 (one undo step for one tapping). The tempo, or None."""
        from studio.grid import tap_bpm

        now = time.monotonic() if now is None else float(now)
        if not self._taps or now - self._taps[-1] > TAP_RESET_S or now <= self._taps[-1]:
            self._taps = []
            self._tap_key = f"tap:{next(self._tap_session)}"
        self._taps.append(now)
        if len(self._taps) < 2:
            self.message.emit("tap again on the beat")
            return None
        try:
            bpm = tap_bpm(self._taps[-TAP_WINDOW:])
        except StudioError as exc:
            self.message.emit(str(exc))
            return None
        old = self.doc.tempo
        self._request(TempoMap.constant(bpm, old.downbeat_s, old.beats_per_bar), f"Tap tempo {bpm:.1f} BPM",
                      self._tap_key)
        return bpm

    def show_position(self, t: float) -> None:
        self.time_label.setText(time_text(t))
        tempo = self.doc.tempo
        if tempo is not None:
            self.bar_label.setText(beatgrid.position_text(tempo, t))

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
            bar = 60.0 / self.doc.tempo.bpm_at(t) * self.doc.tempo.beats_per_bar
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
