"""pyqtgraph in the studio's dark theme, and the crosshair readout the plot windows share
(``room_response.py``, ``analysis_plot.py``). Imported only when such a window opens: pyqtgraph
stays out of the app's start-up."""
from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from ui import theme

LEFT_EAR = QColor("#4fb3d9")  # theme.ACCENT_2
RIGHT_EAR = QColor("#f0a040")  # theme.ACCENT


def themed() -> None:
    """pyqtgraph's defaults in the app's colours (idempotent; before any plot is made)."""
    pg.setConfigOptions(antialias=True, background=theme.BG, foreground=theme.TEXT_DIM)


def style(plot: pg.PlotItem, title: str, x_label: str, y_label: str) -> pg.PlotItem:
    """A plot's title, axis labels and faint grid in the theme's colours."""
    plot.setTitle(title, color=theme.TEXT.name(), size="10pt")
    for side, label in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(side)
        axis.setLabel(label, color=theme.TEXT_DIM.name())
        axis.enableAutoSIPrefix(False)  # "amplitude (x0.001)" reads worse than the plain numbers
        axis.setPen(pg.mkPen(theme.LINE))
        axis.setTextPen(pg.mkPen(theme.TEXT_DIM))
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMenuEnabled(False)  # pyqtgraph's own menu (export, transforms) is not the app's
    return plot


def legend(plot: pg.PlotItem, offset=(-8, 8), columns: int = 1) -> pg.LegendItem:
    """The plot's legend (``offset``: from the top-left corner, negative from the right / bottom)."""
    return plot.addLegend(offset=offset, colCount=columns, labelTextColor=theme.TEXT.name(),
                          brush=pg.mkBrush(27, 29, 33, 210), pen=pg.mkPen(theme.LINE))


def hz_text(f: float) -> str:
    """'50 Hz', '200 Hz', '1k', '2.5k', '16k' (kHz without the unit on an axis' ticks)."""
    if f >= 1000:
        return f"{f / 1000:.3g}k"
    return f"{f:.3g}"


class FrequencyAxis(pg.AxisItem):
    """A log frequency axis labelled 20, 100, 1k, 10k instead of pyqtgraph's 10², 10³."""

    def logTickStrings(self, values, scale, spacing):
        return [hz_text(10 ** float(v) * scale) for v in values]


class Crosshair:
    """Lines through the mouse and a readout beside it (``text(x, y)`` of the view's coordinates;
    a log axis passes its exponent), shown while the mouse is over the plot."""

    def __init__(self, plot: pg.PlotItem, text: Callable[[float, float], str]) -> None:
        self.plot, self.text = plot, text
        pen = pg.mkPen(QColor(215, 219, 224, 110), width=1, style=Qt.DashLine)
        self.v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        self.label = pg.TextItem(color=theme.TEXT, fill=pg.mkBrush(21, 23, 26, 220), anchor=(0, 1))
        for item in (self.v, self.h, self.label):
            item.setZValue(50)
            plot.addItem(item, ignoreBounds=True)
            item.hide()
        self.readout = ""
        plot.scene().sigMouseMoved.connect(self.move_to)

    def move_to(self, scene_pos: QPointF) -> None:
        vb = self.plot.vb
        inside = vb.sceneBoundingRect().contains(scene_pos)
        for item in (self.v, self.h, self.label):
            item.setVisible(inside)
        if not inside:
            return
        p = vb.mapSceneToView(scene_pos)
        self.v.setPos(p.x())
        self.h.setPos(p.y())
        (x0, x1), (y0, y1) = vb.viewRange()
        # the readout stays inside the plot: left of the mouse on the right half, below it on the top half
        self.label.setAnchor((1 if p.x() > (x0 + x1) / 2 else 0, 0 if p.y() > (y0 + y1) / 2 else 1))
        self.label.setPos(p)
        self.readout = self.text(p.x(), p.y())
        self.label.setText(self.readout)
