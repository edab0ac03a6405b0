"""Help › Timeline Legend: what each line and mark of the timeline means, each drawn with the
colours and shapes the timeline's painters use (ui/theme.py), so the legend cannot drift from
what is on screen."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGridLayout, QLabel, QVBoxLayout, QWidget

from ui import theme

# (key, name, what it means); the key picks the swatch's drawing
ENTRIES = (
    ("beat", "Beat", "a visual beat the analysis found (a faint line and a tick on the analysis lane)"),
    ("downbeat", "Downbeat", "the first beat of a bar as the video moves (brighter, with a taller tick)"),
    ("impact", "Contact / impact", "a hit, step or bounce in the picture; the bigger the diamond, the stronger"),
    ("cut", "Cut", "a scene cut in the video"),
    ("playhead", "Playhead", "where playback is; click the ruler to move it (Home / End: start / end)"),
    ("bar1", "Bar 1", "the grid's first downbeat on the ruler: drag it to move bar 1"),
    ("grid", "Grid lines", "the beat grid the engines write on (bars brighter than beats)"),
    ("loop", "Loop region", "Shift-drag on the ruler; playback loops here, re-generate can use it"),
    ("envelope", "Onset envelope", "how strongly the picture moves and changes (analysis lane)"),
    ("hit", "Foley hit", "a sound on a Foley lane, coloured by its material; orange ring: selected"),
    ("motion", "Motion sections", "where the player's movement changes kind (a lane shown when the video has "
               "keypoints: studio pose); sections alike share a letter and a colour, a line at each change"),
)


class Swatch(QWidget):
    """One mark as the timeline draws it, on the timeline's dark background."""

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setFixedSize(QSize(44, 26))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor("#17191c"))
        w, h, x = self.width(), self.height(), self.width() / 2
        draw = getattr(self, f"_paint_{self.key}")
        draw(p, x, w, h)
        p.end()

    @staticmethod
    def _line(p: QPainter, colour: QColor, width: float, x: float, top: float, bottom: float) -> None:
        p.setPen(QPen(colour, width))
        p.drawLine(QPointF(x, top), QPointF(x, bottom))

    def _paint_beat(self, p, x, w, h) -> None:
        self._line(p, QColor(255, 255, 255, 60), 1.5, x, 0, h - 8)
        self._line(p, QColor(235, 240, 245, 210), 1.5, x, h - 8, h)

    def _paint_downbeat(self, p, x, w, h) -> None:
        self._line(p, QColor(255, 255, 255, 80), 2, x, 0, h - 12)
        self._line(p, QColor(235, 240, 245, 240), 2, x, h - 12, h)

    def _paint_impact(self, p, x, w, h) -> None:
        p.setPen(QPen(QColor(0, 0, 0, 160), 1))
        p.setBrush(theme.IMPACT)
        y, r = h / 2, 7
        p.drawPolygon(QPolygonF([QPointF(x, y - r), QPointF(x + r, y), QPointF(x, y + r), QPointF(x - r, y)]))

    def _paint_cut(self, p, x, w, h) -> None:
        self._line(p, theme.CUT, 2, x, 0, h)

    def _paint_playhead(self, p, x, w, h) -> None:
        self._line(p, theme.ACCENT, 2, x, 0, h)
        p.setPen(Qt.NoPen)
        p.setBrush(theme.ACCENT)
        p.drawPolygon(QPolygonF([QPointF(x - 6, 0), QPointF(x + 6, 0), QPointF(x, 8)]))

    def _paint_bar1(self, p, x, w, h) -> None:
        self._line(p, theme.ACCENT_2, 2, x - 6, h - 14, h)
        p.setPen(Qt.NoPen)
        p.setBrush(theme.ACCENT_2)
        p.drawPolygon(QPolygonF([QPointF(x - 6, h - 14), QPointF(x + 3, h - 10), QPointF(x - 6, h - 6)]))

    def _paint_grid(self, p, x, w, h) -> None:
        for i, gx in enumerate((6, 16, 26, 36)):
            self._line(p, QColor(255, 255, 255, 90 if i == 0 else 40), 1, gx, 0, h)

    def _paint_loop(self, p, x, w, h) -> None:
        p.fillRect(4, 0, w - 8, h, QColor(240, 160, 64, 90))

    def _paint_envelope(self, p, x, w, h) -> None:
        p.setPen(QPen(theme.ACCENT_2, 1.5))
        ys = (h - 4, h - 8, h - 18, h - 10, h - 6, h - 14, h - 20, h - 9, h - 5)
        p.drawPolyline(QPolygonF([QPointF(2 + i * (w - 4) / (len(ys) - 1), y) for i, y in enumerate(ys)]))

    def _paint_hit(self, p, x, w, h) -> None:
        for k, (m, hx) in enumerate((("wood", 12), ("metal", 32))):
            p.setPen(QPen(theme.ACCENT, 2) if k else QPen(QColor(0, 0, 0, 160), 1))
            p.setBrush(theme.material_colour(m))
            p.drawEllipse(QPointF(hx, h / 2), 6, 6)


    def _paint_motion(self, p, x, w, h) -> None:
        from ui.widgets.timeline.motion_lane import BOUNDARY, label_colour

        for label, x0, x1 in (("A", 2, x), ("B", x, w - 2)):
            c = label_colour(label)
            fill = QColor(c)
            fill.setAlpha(95)
            p.fillRect(QRectF(x0, 4, x1 - x0, h - 8), fill)
            p.fillRect(QRectF(x0, h - 7, x1 - x0, 3), c)
        self._line(p, BOUNDARY, 2, x, 0, h)


class LegendDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Timeline legend")
        root = QVBoxLayout(self)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        self.swatches: dict[str, Swatch] = {}
        self.names: dict[str, str] = {}
        for row, (key, name, meaning) in enumerate(ENTRIES):
            self.swatches[key] = Swatch(key, self)
            self.names[key] = name
            text = QLabel(f"<b>{name}</b>: {meaning}", self)
            text.setWordWrap(True)
            grid.addWidget(self.swatches[key], row, 0)
            grid.addWidget(text, row, 1)
        root.addLayout(grid)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        root.addWidget(buttons)
        self.resize(520, self.sizeHint().height())
