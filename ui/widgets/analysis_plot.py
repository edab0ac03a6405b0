"""The Analysis plot window (View › Analysis Plot): the video analysis the timeline's analysis
lane paints, as a plot to read and zoom: the onset envelope against time, the visual beats
(downbeats stronger), the contacts (diamonds, larger when harder) and the cuts as markers, and
on a second axis the project's tempo map (the grid, a step line) beside the beat-to-beat tempo
of the visual beats (dots). A playhead follows the transport; a click (or dragging the
playhead) seeks it. The timeline's own lane stays as it is (hand-painted, benchmarked for scroll
speed); this window is for looking closely."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout

from ui import beatgrid, theme
from ui.widgets import plots

MARK_TOP = 1.0  # beats reach the envelope's full scale; cuts a little above, contacts above those
CUT_TOP = 1.12
CONTACT_Y = 1.2
Y_RANGE = (-0.03, 1.45)  # the legend's row above the contacts
TEMPO = QColor("#4cc38a")


def segments(times, bottom: float, top: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y of vertical segments at ``times`` (drawn with ``connect="pairs"``: one item for all)."""
    t = np.asarray(times, np.float64)
    return np.repeat(t, 2), np.tile([bottom, top], len(t))


def tempo_steps(tempo, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the tempo map as a step line from 0 s to the end (each tempo held until the next)."""
    end = max(duration_s, tempo.changes[-1].time_s)
    starts = [0.0] + [c.time_s for c in tempo.changes[1:]]
    x, y = [], []
    for i, c in enumerate(tempo.changes):
        x += [starts[i], starts[i + 1] if i + 1 < len(starts) else end]
        y += [c.bpm, c.bpm]
    return np.array(x), np.array(y)


def beat_tempo(beat_times) -> tuple[np.ndarray, np.ndarray]:
    """(midpoints, BPM) of consecutive visual beats: the tempo the picture shows beat by beat."""
    b = np.asarray(beat_times, np.float64)
    if len(b) < 2:
        return np.zeros(0), np.zeros(0)
    d = np.diff(b)
    ok = d > 1e-6
    return ((b[1:] + b[:-1]) / 2)[ok], 60.0 / d[ok]


class AnalysisPlot(QDialog):
    def __init__(self, doc, playback, parent=None) -> None:
        super().__init__(parent)
        plots.themed()
        self.doc, self.playback = doc, playback
        self.setWindowTitle("Analysis Plot")
        self.setModal(False)
        self.resize(1180, 520)
        root = QVBoxLayout(self)
        self.header = QLabel(self)
        self.header.setStyleSheet("font-weight: bold;")
        root.addWidget(self.header)
        root.addWidget(QLabel("Click to move the playhead (or drag it); drag to pan, wheel to zoom in time; "
                              "double-click to see it all.", self, objectName="dim"))
        self.view = pg.PlotWidget(self)
        root.addWidget(self.view, 1)
        self._build_plot()
        self._build_tempo_axis()
        self.crosshair = plots.Crosshair(self.plot, self._readout)
        self.view.scene().sigMouseClicked.connect(self._clicked)
        doc.analysisChanged.connect(self.refresh)
        doc.tempoChanged.connect(self.refresh)
        doc.projectReset.connect(self.refresh)
        playback.positionChanged.connect(self.set_position)
        self.refresh()
        self.set_position(playback.position_s)

    # -- building -------------------------------------------------------------------------------
    def _build_plot(self) -> None:
        p = self.plot = plots.style(self.view.getPlotItem(), "", "time (s)", "onset envelope")
        p.setMouseEnabled(x=True, y=False)  # zoom and pan in time; the heights are fixed
        p.setYRange(*Y_RANGE, padding=0)
        p.setDownsampling(auto=True, mode="peak")
        p.setClipToView(True)
        plots.legend(p, (60, 4), columns=7)
        acc = theme.ACCENT_2
        self.items = {
            "envelope": p.plot(pen=pg.mkPen(acc, width=1.5), fillLevel=0,
                               brush=pg.mkBrush(acc.red(), acc.green(), acc.blue(), 60), name="onset envelope"),
            "beats": p.plot(pen=pg.mkPen(QColor(235, 240, 245, 90), width=1), connect="pairs", name="beats"),
            "downbeats": p.plot(pen=pg.mkPen(QColor(235, 240, 245, 200), width=2), connect="pairs",
                                name="downbeats"),
            "cuts": p.plot(pen=pg.mkPen(theme.CUT, width=2), connect="pairs", name="cuts"),
            "contacts": p.plot(pen=None, symbol="d", symbolBrush=theme.IMPACT, symbolPen=pg.mkPen(0, 0, 0, 160),
                               name="contacts"),
        }
        self.playhead = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(theme.ACCENT, width=2),
                                        hoverPen=pg.mkPen(theme.ACCENT.lighter(130), width=3))
        self.playhead.setZValue(40)
        self.playhead.sigDragged.connect(lambda line: self.playback.seek(max(0.0, line.value())))
        p.addItem(self.playhead, ignoreBounds=True)

    def _build_tempo_axis(self) -> None:
        """The tempo on the right axis: a second view sharing the time axis, under the first so
        the mouse pans and zooms the main plot (pyqtgraph's two-axes pattern)."""
        p = self.plot
        p.showAxis("right")
        axis = p.getAxis("right")
        axis.setLabel("tempo (BPM)", color=theme.TEXT_DIM.name())
        axis.setPen(pg.mkPen(theme.LINE))
        axis.setTextPen(pg.mkPen(theme.TEXT_DIM))
        self.tempo_view = vb = pg.ViewBox(enableMenu=False)
        vb.setMouseEnabled(x=False, y=False)
        vb.setZValue(-10)
        p.scene().addItem(vb)
        axis.linkToView(vb)
        vb.setXLink(p)
        self.items["tempo"] = pg.PlotDataItem(pen=pg.mkPen(TEMPO, width=2), name="tempo map (grid)")
        self.items["beat_tempo"] = pg.PlotDataItem(pen=None, symbol="o", symbolSize=5, symbolPen=None,
                                                   symbolBrush=QColor(76, 195, 138, 140), name="beat-to-beat tempo")
        for key in ("tempo", "beat_tempo"):
            vb.addItem(self.items[key])
            p.legend.addItem(self.items[key], self.items[key].name())

        def follow() -> None:
            vb.setGeometry(p.vb.sceneBoundingRect())
            vb.linkedViewChanged(p.vb, vb.XAxis)

        p.vb.sigResized.connect(follow)
        follow()

    # -- content --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Everything from the document's analysis and tempo map (empty without them)."""
        a, tempo, project = self.doc.analysis, self.doc.tempo, self.doc.project
        it = self.items
        if a is None or project is None:
            for item in it.values():
                item.setData([], [])
            self.header.setText("No analysis yet: open a video (or analyse it from the Generate panel)")
            return
        unclear = beatgrid.unclear(a)
        down = np.isin(np.round(a.beat_times_s, 4), np.round(a.downbeat_times_s, 4))
        it["envelope"].setData(a.times_s, a.onset_envelope)
        it["beats"].setData(*segments(a.beat_times_s[~down], 0.0, MARK_TOP))
        it["downbeats"].setData(*segments(a.beat_times_s[down], 0.0, MARK_TOP))
        it["beats"].setOpacity(0.5 if unclear else 1.0)  # as the lane: a guess is drawn faint
        it["downbeats"].setOpacity(0.5 if unclear else 1.0)
        it["cuts"].setData(*segments(a.cuts_s, 0.0, CUT_TOP))
        it["contacts"].setData([i.time_s for i in a.impacts], [CONTACT_Y] * len(a.impacts),
                               symbolSize=[6 + 8 * i.strength for i in a.impacts])
        duration = float(project.duration_s or a.duration_s)
        if tempo is not None:
            it["tempo"].setData(*tempo_steps(tempo, duration))
        it["beat_tempo"].setData(*beat_tempo(a.beat_times_s))
        self._tempo_range(tempo, a)
        self.plot.setLimits(xMin=-1.0, xMax=duration + 1.0)
        self.plot.setXRange(0.0, duration, padding=0.01)
        counts = ", ".join(_count(n, what) for n, what in ((len(a.beat_times_s), "beat"),
                                                         (len(a.impacts), "contact"), (len(a.cuts_s), "cut")))
        self.header.setText(f"{beatgrid.analysis_tempo_text(a, tempo, duration)}  \u00b7  {counts}  "
                            f"\u00b7  tempo confidence {a.tempo_confidence:.2f}")

    def _tempo_range(self, tempo, a) -> None:
        """The tempo axis spans the grid and the beat-to-beat tempi (outliers beyond 1.5x cut)."""
        values = [c.bpm for c in tempo.changes] if tempo is not None else []
        _, bt = beat_tempo(a.beat_times_s)
        if len(bt):
            values += list(np.percentile(bt, [5, 95]))
        if not values:
            return
        lo, hi = min(values), max(values)
        self.tempo_view.setYRange(lo * 0.85 - 2, hi * 1.1 + 2, padding=0)

    # -- transport ------------------------------------------------------------------------------
    def set_position(self, t: float) -> None:
        """The playhead at ``t``; while playing, the view pages along to keep it in sight."""
        self.playhead.setValue(t)
        (x0, x1), _ = self.plot.vb.viewRange()
        if self.playback.playing and not x0 <= t <= x1:
            w = x1 - x0
            self.plot.setXRange(t - 0.05 * w, t + 0.95 * w, padding=0)

    def time_at(self, scene_pos) -> float | None:
        """The time under a scene position inside the plot, else None."""
        vb = self.plot.vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        return float(vb.mapSceneToView(scene_pos).x())

    def _clicked(self, event) -> None:
        t = self.time_at(event.scenePos())
        if t is None or event.button() != Qt.LeftButton:
            return
        if event.double():
            self.refresh()  # back to the whole video
            return
        self.playback.seek(max(0.0, t))

    def _readout(self, x: float, y: float) -> str:
        """Time, bar.beat on the grid, and the onset envelope there."""
        tempo, a = self.doc.tempo, self.doc.analysis
        where = f"  bar {beatgrid.position_text(tempo, x)}" if tempo is not None else ""
        onset = f"\nonset {np.interp(x, a.times_s, a.onset_envelope):.2f}" if a is not None and len(a.times_s) else ""
        return f"{x:.3f} s{where}{onset}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def open_analysis_plot(window) -> None:
    """Open (or bring forward) the main window's Analysis plot."""
    w = getattr(window, "analysis_plot", None)
    if w is None:
        w = window.analysis_plot = AnalysisPlot(window.doc, window.playback, window)
    w.show()
    w.raise_()
    w.activateWindow()
