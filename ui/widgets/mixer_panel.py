"""The Mixer: a meter strip per track and the master strip (meter, fader, loudness).

The meters read ``Playback.levels`` (``studio.meters``: the block peaks of the render that plays)
at the playhead on every GUI tick; between two ticks the largest block counts, so no peak is
skipped. The master fader is ``Project.master_fader_db``, set through an undo step and applied
by the render (``studio.render``: the mix and the muxed video follow it, the stems do not). The
loudness and true peak shown are the mastering stage's figures for the whole mix as it plays.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QScrollArea, QSlider, QVBoxLayout, QWidget,
)

from studio.schema import GAIN_DB
from ui import theme, undo
from ui.widgets.level_meter import FLOOR_DB, LevelMeter, db_text

FADER_RANGE_DB = (-60.0, 12.0)  # the slider's travel; the box takes the schema's whole range
CONTIGUOUS_S = 0.5  # playhead steps shorter than this read every block in between
NAME_W = 56


class Strip(QWidget):
    """A name, a meter and its peak figure (and, for the master, what ``extra`` adds)."""

    def __init__(self, name: str, tip: str, parent: QWidget | None = None, extra: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(2, 2, 2, 2)
        v.setSpacing(3)
        self.name = QLabel("", self, objectName="dim")
        self.name.setAlignment(Qt.AlignHCenter)
        self.name.setFixedWidth(NAME_W)
        self.set_name(name)
        self.meter = LevelMeter(tip, self)
        self.peak = QLabel("-inf", self, objectName="dim")
        self.peak.setAlignment(Qt.AlignHCenter)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.meter)
        if extra is not None:
            row.addWidget(extra)
        row.addStretch(1)
        v.addWidget(self.name)
        v.addLayout(row, 1)
        v.addWidget(self.peak)

    def set_name(self, name: str) -> None:
        self.name.setText(self.name.fontMetrics().elidedText(name, Qt.ElideRight, NAME_W))
        self.name.setToolTip(name)

    def set_colour(self, colour) -> None:
        """The track's colour (as its timeline lane) under its name, so strip and lane pair up."""
        self.name.setStyleSheet(f"border-bottom: 3px solid {colour.name()};")

    def show_level(self, db: float, over: bool, running: bool) -> None:
        self.meter.set_level(db, over, running)
        self.peak.setText(db_text(self.meter.hold_db))


class MixerPanel(QWidget):
    def __init__(self, doc, playback, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.playback = doc, playback
        self.strips: dict[str, Strip] = {}
        self._last_t: float | None = None
        root = QHBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        # the track strips scroll sideways; the master strip stays in view beside them
        tracks = QWidget(self)
        self.track_row = QHBoxLayout(tracks)
        self.track_row.setContentsMargins(0, 0, 0, 0)
        self.track_row.setAlignment(Qt.AlignLeft)
        area = QScrollArea(self)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.NoFrame)
        area.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        area.setWidget(tracks)
        root.addWidget(area, 1)
        line = QFrame(self)
        line.setFrameShape(QFrame.VLine)
        root.addWidget(line)
        root.addWidget(self._build_master())
        doc.projectReset.connect(self._rebuild)
        doc.tracksChanged.connect(self._rebuild)
        doc.trackChanged.connect(self._rename)
        doc.masterChanged.connect(self._sync_fader)
        playback.positionChanged.connect(self._on_position)
        playback.levelsChanged.connect(self._on_levels)
        playback.stateChanged.connect(lambda _s: self._read(playback.position_s, playback.playing))
        self._rebuild()

    # -- the master strip ---------------------------------------------------------------------------
    def _build_master(self) -> QWidget:
        self.fader = QSlider(Qt.Vertical, self)
        self.fader.setRange(int(FADER_RANGE_DB[0] * 10), int(FADER_RANGE_DB[1] * 10))
        self.fader.setPageStep(10)
        self.fader.setToolTip("Master fader: the mix's level after mastering (the mixdown and the "
                              "exported video follow it, the stems do not); double-click: 0 dB")
        self.fader.installEventFilter(self)
        self.fader.valueChanged.connect(self._fader_moved)
        self.fader.sliderReleased.connect(lambda: self.set_master(self.fader.value() / 10.0))
        self.fader_box = QDoubleSpinBox(self, decimals=1, singleStep=0.5, suffix=" dB")
        self.fader_box.setRange(*GAIN_DB)
        self.fader_box.setKeyboardTracking(False)  # one undo step per typed value
        self.fader_box.setToolTip("Master fader in dB (0 dB: the mastered mix as it is)")
        self.fader_box.valueChanged.connect(self.set_master)
        self.master = Strip("Master", "Master: the mix as it plays and exports", self, extra=self.fader)
        self.loudness = QLabel("", self.master, objectName="dim")
        self.loudness.setAlignment(Qt.AlignHCenter)
        self.loudness.setToolTip("Integrated loudness (ITU-R BS.1770) and true peak of the whole mix as "
                                 "it plays and exports (mastering stage, master fader included)")
        lay = self.master.layout()
        lay.addWidget(self.fader_box)
        lay.addWidget(self.loudness)
        return self.master

    def set_master(self, db: float) -> None:
        """The master fader to ``db`` as one undo step (a drag pushes one, on release)."""
        if self.doc.project is not None and not self.fader.isSliderDown():
            undo.set_master_fader(self.doc, round(float(db), 1))

    def eventFilter(self, obj, event) -> bool:
        if obj is self.fader and event.type() == QEvent.MouseButtonDblClick:
            self.set_master(0.0)
            return True
        return super().eventFilter(obj, event)

    def _fader_moved(self, value: int) -> None:
        self.fader_box.blockSignals(True)
        self.fader_box.setValue(value / 10.0)
        self.fader_box.blockSignals(False)
        if not self.fader.isSliderDown():  # keys, wheel, page clicks: a step each
            self.set_master(value / 10.0)

    def _sync_fader(self) -> None:
        db = self.doc.project.master_fader_db if self.doc.project is not None else 0.0
        for w, v in ((self.fader, int(round(db * 10))), (self.fader_box, db)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)

    # -- the track strips ---------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """One strip per track, in track order; a kept track keeps its clip light."""
        old = self.strips
        self.strips = {}
        while self.track_row.count():
            item = self.track_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for t in (self.doc.project.tracks if self.doc.project is not None else []):
            s = Strip(t.name, f"{t.name}: post-fader level into the mix", self)
            s.set_colour(theme.track_colour(t))
            if t.id in old:
                s.meter.clipped = old[t.id].meter.clipped
            self.strips[t.id] = s
            self.track_row.addWidget(s)
        self.fader.setEnabled(self.doc.project is not None)
        self.fader_box.setEnabled(self.doc.project is not None)
        self._sync_fader()
        self._on_levels(self.playback.levels)

    def _rename(self, track_id: str) -> None:
        s = self.strips.get(track_id)
        if s is not None:
            track = self.doc.track(track_id)
            s.set_name(track.name)
            s.set_colour(theme.track_colour(track))

    # -- readings -----------------------------------------------------------------------------------
    def _on_levels(self, levels) -> None:
        if levels is None:
            self.loudness.setText("")
        else:
            lufs, tp = levels.loudness_lufs, levels.true_peak_dbtp
            self.loudness.setText(f"{lufs:.1f} LUFS\n{tp:.1f} dBTP" if math.isfinite(lufs) else "silent")
        self._last_t = None
        self._read(self.playback.position_s, False)

    def _on_position(self, t: float) -> None:
        self._read(t, self.playback.playing)

    def _read(self, t: float, running: bool) -> None:
        """Every meter at the playhead ``t``; while playing, the loudest block since the last tick."""
        prev, self._last_t = self._last_t, t
        t0 = prev if running and prev is not None and 0.0 < t - prev < CONTIGUOUS_S else t
        levels = self.playback.levels
        for key, strip in [*self.strips.items(), (None, self.master)]:
            db, over = levels.read(key, t0, t) if levels is not None else (float("-inf"), False)
            strip.show_level(db, over, running)

    def meter_reading(self, track_id: str | None) -> float:
        """What a meter shows now, in dBFS (``FLOOR_DB`` for silence); None: the master."""
        m = (self.master if track_id is None else self.strips[track_id]).meter
        return max(FLOOR_DB, m.level_db)
