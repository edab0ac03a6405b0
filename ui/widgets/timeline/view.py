"""The timeline widget: a small tool row (zoom, snap, follow), the canvas and its scroll bars."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QScrollBar, QToolButton, QVBoxLayout, QWidget,
)

from ui.icons import icon
from ui.widgets.fitting_label import FittingLabel
from ui.widgets.timeline.canvas import TimelineCanvas
from ui.widgets.timeline.geometry import HEADER_W, RULER_H


class TimelineView(QWidget):
    legendRequested = Signal()  # the "?" button: Help \u203a Timeline Legend

    def __init__(self, doc, workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = TimelineCanvas(doc, workers, self)
        tools = QHBoxLayout()
        tools.setContentsMargins(6, 2, 6, 2)

        def button(name: str, tip: str, slot=None, checkable: bool = False) -> QToolButton:
            b = QToolButton(self)
            b.setIcon(icon(name))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setCheckable(checkable)
            if slot is not None:
                b.clicked.connect(slot)
            tools.addWidget(b)
            return b

        button("zoom_out", "Zoom out (Ctrl+wheel)", lambda: self.zoom(1 / 1.5))
        button("zoom_in", "Zoom in (Ctrl+wheel)", lambda: self.zoom(1.5))
        fit = QToolButton(self, text="Fit", toolTip="Show the whole video", autoRaise=True)
        fit.clicked.connect(self.canvas.fit)
        tools.addWidget(fit)
        self.snap_button = button("snap", "Snap to the beat grid (hold Alt to move freely)", None, True)
        self.snap_button.setChecked(True)
        self.snap_button.toggled.connect(lambda on: setattr(self.canvas, "snap", on))
        self.follow_button = QToolButton(self, text="Follow", checkable=True, autoRaise=True, checked=True,
                                         toolTip="Keep the playhead in view while playing")
        tools.addWidget(self.follow_button)
        legend = QToolButton(self, text="?", autoRaise=True,
                             toolTip="Timeline legend: what the lines and marks mean")
        legend.clicked.connect(self.legendRequested)
        tools.addWidget(legend)
        # on a narrow window only the first hints that fit whole (all in the tooltip)
        hint = FittingLabel("drag \u25b81 on the ruler: move bar 1 \u00b7 "
                            "Shift-drag: ruler = loop, lane = select hits \u00b7 double-click: add hit \u00b7 "
                            "\u2190\u2192 nudge \u00b7 Ctrl+A/C/V/D \u00b7 Del \u00b7 "
                            "drag a header: reorder, its lower edge: height", self, objectName="dim")
        hint.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        tools.addWidget(hint, 1)

        self.hbar = QScrollBar(Qt.Horizontal, self)
        self.vbar = QScrollBar(Qt.Vertical, self)
        self.hbar.valueChanged.connect(lambda v: self.canvas.set_offset(v / 1000.0))
        self.vbar.valueChanged.connect(self._set_v)
        self.canvas.viewChanged.connect(self._sync_bars)
        grid = QGridLayout()
        grid.setSpacing(0)
        grid.addWidget(self.canvas, 0, 0)
        grid.addWidget(self.vbar, 0, 1)
        grid.addWidget(self.hbar, 1, 0)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        root.addLayout(tools)
        root.addLayout(grid, 1)
        self._syncing = False

    def zoom(self, factor: float) -> None:
        c = self.canvas
        x = c.scale.x_of(c.position_s)
        if not HEADER_W <= x <= c.width():
            x = (HEADER_W + c.width()) / 2
        c.scale.zoom(factor, x)
        c.viewChanged.emit()
        c.update()

    def set_playing(self, playing: bool) -> None:
        self.canvas.follow = playing and self.follow_button.isChecked()

    def _set_v(self, v: int) -> None:
        if not self._syncing:
            self.canvas.v_offset = v
            self.canvas.update()

    def _sync_bars(self) -> None:
        c = self.canvas
        self._syncing = True
        visible = max(0.0, (c.width() - HEADER_W) / c.scale.px_per_s)
        end = max(c.duration_s, c.scale.offset_s + visible)
        self.hbar.blockSignals(True)
        self.hbar.setRange(0, int(max(0.0, end - visible) * 1000))
        self.hbar.setPageStep(int(visible * 1000))
        self.hbar.setSingleStep(max(1, int(visible * 50)))
        self.hbar.setValue(int(c.scale.offset_s * 1000))
        self.hbar.blockSignals(False)
        extra = max(0, c.content_height - c.height())
        self.vbar.setRange(0, extra)
        self.vbar.setPageStep(max(1, c.height() - RULER_H))
        c.v_offset = min(c.v_offset, extra)
        self.vbar.setValue(c.v_offset)
        self.vbar.setVisible(extra > 0)
        self._syncing = False
