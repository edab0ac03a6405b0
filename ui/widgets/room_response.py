"""The Room response window (View › Room Response…, or the Inspector's "Room response…"): for a
track's source where it is at the playhead, in its room (or another one chosen to compare), the
binaural impulse response, the energy decay with T30 and DRR, and the magnitude per ear.

Every curve comes from ``studio.room_response.track_response`` (the renderer's own filter);
this module only plots it. It follows the selected track, the playhead and every edit of the
track (a drag in the Inspector's room view), recomputing at most every ``REFRESH_MS``."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QVBoxLayout

from studio.errors import EngineError, StudioError
from ui import theme
from ui.widgets import plots
from ui.widgets.room_view import position_at

REFRESH_MS = 40  # a drag in the room view edits the track per mouse move: one recompute per 40 ms
EDC_FLOOR_DB = -90.0
EARLY_VIEW_MS = 250.0


def direction_text(azimuth_deg: float) -> str:
    """'ahead', '35° right', '90° left', 'behind' of an azimuth (> 0 right)."""
    a = (azimuth_deg + 180.0) % 360.0 - 180.0
    if abs(a) < 2.5:
        return "ahead"
    if abs(a) > 177.5:
        return "behind"
    return f"{abs(a):.0f}\u00b0 {'right' if a > 0 else 'left'}"


def figures_text(r) -> str:
    """The header's figures: distance and direction, reverberation time, DRR."""
    d = r.decay
    t60 = f"{d.method} {d.t60_s:.2f} s" if d.method else "RT60 not measurable"
    drr = "\u221e" if math.isinf(r.drr_db) else f"{r.drr_db:+.1f}".replace("-", "\u2212")
    return (f"source {r.distance_m:.2f} m, {direction_text(r.azimuth_deg)}  \u00b7  {t60}  \u00b7  "
            f"DRR {drr} dB")


class RoomResponseWindow(QDialog):
    def __init__(self, doc, playback, parent=None) -> None:
        super().__init__(parent)
        plots.themed()
        self.doc, self.playback = doc, playback
        self.setWindowTitle("Room Response")
        self.setModal(False)
        self.resize(1080, 700)
        self.track_id: str | None = None
        self.response = None
        self.message = ""
        self._key = None
        self._build_header()
        self._build_plots()
        self._timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._timer.timeout.connect(self.recompute)
        doc.selectionChanged.connect(self._follow_selection)
        doc.trackChanged.connect(lambda tid: self.schedule() if tid == self.track_id else None)
        for sig in (doc.tracksChanged, doc.projectReset):
            sig.connect(self._follow_selection)
        playback.positionChanged.connect(lambda _t: self.schedule())
        self._follow_selection()

    # -- building -------------------------------------------------------------------------------
    def _build_header(self) -> None:
        from studio.room_response import available_rooms

        root = QVBoxLayout(self)
        row = QHBoxLayout()
        self.title = QLabel(self)
        self.title.setStyleSheet("font-weight: bold;")
        self.room = QComboBox(self, toolTip="the room to measure in: the track's own, or another to compare "
                                            "(the project is not changed)")
        for name in available_rooms():
            self.room.addItem(name.replace("_", " "), name)
        self.room.activated.connect(lambda _i: self.schedule())
        self.figures = QLabel(self)
        self.figures.setStyleSheet(f"color: {theme.ACCENT.name()}; font-weight: bold;")
        row.addWidget(self.title)
        row.addWidget(QLabel("in", self))
        row.addWidget(self.room)
        row.addSpacing(16)
        row.addWidget(self.figures, 1)
        root.addLayout(row)
        self.hint = QLabel("Drag to pan, wheel to zoom (on an axis: that axis alone), right-drag to stretch; "
                           "double-click a plot to fit it.", self, objectName="dim")
        root.addWidget(self.hint)
        self._root = root

    def _build_plots(self) -> None:
        self.view = pg.GraphicsLayoutWidget(self)
        self._root.addWidget(self.view, 1)
        ir = plots.style(self.view.addPlot(row=0, col=0, colspan=2), "Binaural impulse response",
                         "time (ms)", "amplitude")
        edc = plots.style(self.view.addPlot(row=1, col=0), "Energy decay (Schroeder)", "time (ms)", "dB")
        mag = plots.style(self.view.addPlot(row=1, col=1, axisItems={"bottom": plots.FrequencyAxis("bottom")}),
                          "Magnitude per ear (1/6 octave)", "frequency (Hz)", "dB")
        mag.setLogMode(x=True, y=False)
        self.plots = {"ir": ir, "edc": edc, "mag": mag}
        for p in self.plots.values():
            plots.legend(p, (8, -8) if p is mag else (-8, 8))  # the spectrum's free corner is the lower left
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")  # a hall's IR is 57,600 samples per ear
        left, right = pg.mkPen(plots.LEFT_EAR, width=1.2), pg.mkPen(plots.RIGHT_EAR, width=1.2)
        self.curves = {
            "ir_left": ir.plot(pen=left, name="left ear"), "ir_right": ir.plot(pen=right, name="right ear"),
            "edc_left": edc.plot(pen=left, name="left ear"), "edc_right": edc.plot(pen=right, name="right ear"),
            "edc_both": edc.plot(pen=pg.mkPen(theme.TEXT, width=1.5), name="both ears"),
            "fit": edc.plot(pen=pg.mkPen(theme.CUT, width=2, style=Qt.DashLine), name="fitted decay"),
            "mag_left": mag.plot(pen=left, name="left ear"), "mag_right": mag.plot(pen=right, name="right ear"),
        }
        c = self.curves
        c["ir_left"].setZValue(1)  # the left ear over the right: it reads as the legend lists them
        edc.setYRange(EDC_FLOOR_DB, 3)
        ir.setXRange(0, EARLY_VIEW_MS, padding=0.02)  # the direct sound and early reflections; zoom out for the tail
        # the direct sound, as the DRR counts it: from the first arrival to 2.5 ms after it
        self.direct = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(240, 160, 64, 40),
                                          pen=pg.mkPen(240, 160, 64, 90))
        self.direct.setZValue(-5)
        ir.addItem(self.direct, ignoreBounds=True)
        self.crosshairs = {
            "ir": plots.Crosshair(ir, lambda x, y: f"{x:.2f} ms\n{y:+.4f}"),
            "edc": plots.Crosshair(edc, lambda x, y: f"{x:.0f} ms\n{y:.1f} dB"),
            "mag": plots.Crosshair(mag, lambda x, y: f"{plots.hz_text(10 ** x)} Hz\n{y:.1f} dB"),
        }
        self.view.scene().sigMouseClicked.connect(self._fit_on_double_click)

    # -- following the project ------------------------------------------------------------------
    def _track(self):
        p = self.doc.project
        return next((t for t in p.tracks if t.id == self.track_id), None) if p is not None else None

    def _follow_selection(self) -> None:
        """Show the selected track; without a selection keep the one shown, else the first placed
        in a room, else the first; the room box goes to the track's own room."""
        p = self.doc.project
        tracks = list(p.tracks) if p is not None else []
        chosen = self.doc.selected_track if any(t.id == self.doc.selected_track for t in tracks) else None
        if chosen is None and self._track() is None:
            chosen = next((t.id for t in tracks if t.room), tracks[0].id if tracks else None)
        if chosen is not None and chosen != self.track_id:
            self.track_id = chosen
            track = self._track()
            if track.room and self.room.findData(track.room) >= 0:
                self.room.setCurrentIndex(self.room.findData(track.room))
        elif chosen is None and self._track() is None:
            self.track_id = None
        self.schedule()

    def schedule(self) -> None:
        """Recompute soon, at most once per REFRESH_MS however many edits or ticks come (not while
        the window is closed: opening it schedules one)."""
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    def _pose_key(self, track, t: float):
        """What the response depends on: the track's path (the same Track object until it is
        edited), the room chosen and where the source is at ``t``."""
        return id(track), self.room.currentData(), position_at(sorted(track.spatial, key=lambda k: k.time_s), t)

    def recompute(self) -> None:
        from studio.room_response import track_response

        track, t = self._track(), self.playback.position_s
        if track is None:
            return self._show_message("No track to measure: generate or add one")
        if not self.room.currentData():
            return self._show_message("No room with a trained field in this build")
        key = self._pose_key(track, t)
        if key == self._key:  # playback moved but the source did not: the same curves
            self.title.setText(f"{track.name} at {t:.2f} s")
            return
        self._key = key
        try:
            self.response = track_response(track, t, self.room.currentData())
        except (StudioError, EngineError) as exc:
            return self._show_message(str(exc))
        self._track_ref = track  # keeps id(track) in the key valid
        self.message = ""
        self._show(self.response, track)

    # -- showing --------------------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.message, self.response, self._key = text, None, None
        self.title.setText("")
        self.figures.setText(text)
        for c in self.curves.values():
            c.setData([], [])

    def _show(self, r, track) -> None:
        own = track.room == r.room
        self.title.setText(f"{track.name} at {r.time_s:.2f} s")
        self.setWindowTitle(f"Room Response \u2014 {track.name} in {r.room.replace('_', ' ')}"
                            + ("" if own else " (compared: the track is not placed there)"))
        self.figures.setText(figures_text(r))
        c = self.curves
        c["ir_left"].setData(r.times_ms, r.ir[0])
        c["ir_right"].setData(r.times_ms, r.ir[1])
        c["edc_left"].setData(r.times_ms, r.edc_db[0])
        c["edc_right"].setData(r.times_ms, r.edc_db[1])
        c["edc_both"].setData(r.times_ms, r.edc_both_db)
        d = r.decay
        if d.method:
            fit_t = np.array([0.0, min(r.times_ms[-1] / 1000.0, d.t60_s)])  # the line down to -60 dB
            c["fit"].setData(fit_t * 1000.0, d.line(fit_t))
        else:
            c["fit"].setData([], [])
        self.direct.setRegion((r.times_ms[r.direct_start], r.times_ms[min(r.direct_end, len(r.times_ms) - 1)]))
        c["mag_left"].setData(r.freqs_hz, r.magnitude_db[0])
        c["mag_right"].setData(r.freqs_hz, r.magnitude_db[1])

    def _fit_on_double_click(self, event) -> None:
        if event.double():
            for p in self.plots.values():
                if p.vb.sceneBoundingRect().contains(event.scenePos()):
                    p.enableAutoRange()
                    if p is self.plots["edc"]:
                        p.setYRange(EDC_FLOOR_DB, 3)


def open_room_response(window) -> None:
    """Open (or bring forward) the main window's Room response window."""
    w = getattr(window, "room_response", None)
    if w is None:
        w = window.room_response = RoomResponseWindow(window.doc, window.playback, window)
    w.show()
    w.raise_()
    w.activateWindow()
    w.schedule()
