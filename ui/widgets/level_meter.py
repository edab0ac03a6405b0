"""A peak meter painted with QPainter: the level bar, a peak-hold line and a clip light.

The levels come from ``studio.meters`` (block peaks of the render at the playhead); this widget
only adds the ballistics a user reads a meter by: while playing, the bar falls at
``FALL_DB_PER_S`` instead of flickering, the hold line stays ``HOLD_S`` at the highest peak,
and the clip light latches on the first over until it is clicked (as on a mixing desk).
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui import theme

FLOOR_DB = -60.0  # the bottom of the scale (and what silence shows)
TOP_DB = 6.0  # room above 0 dBFS, so an over is seen
FALL_DB_PER_S = 20.0
HOLD_S = 1.5
LED_H = 8
CLIP = QColor("#e0463c")
ZONES = ((-18.0, QColor("#4cc38a")), (-6.0, QColor("#e8c547")), (TOP_DB, QColor("#f07a3c")))
TICKS_DB = (-6.0, -12.0, -24.0, -48.0)  # scale marks beside the 0 dBFS line


def db_text(db: float) -> str:
    return "-inf" if not math.isfinite(db) or db <= FLOOR_DB else f"{db:.1f}"


class LevelMeter(QWidget):
    clipReset = Signal()

    def __init__(self, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(12, 90)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Expanding)
        self.setFixedWidth(14)
        self._tip = tip
        self.level_db = self.hold_db = float("-inf")
        self.clipped = False
        self._t: float | None = None  # when the last running reading came (None: not running)
        self._hold_until = 0.0
        self._update_tip()

    def set_level(self, db: float, over: bool = False, running: bool = False) -> None:
        """The level read at the playhead; ``running``: playing, so the bar falls smoothly and the
        hold line holds; otherwise the exact reading (a seek while paused)."""
        now = time.monotonic()
        if running and self._t is not None and math.isfinite(self.level_db):
            db = max(db, self.level_db - FALL_DB_PER_S * (now - self._t))
        self.level_db = db
        self._t = now if running else None
        if not running or db >= self.hold_db or now >= self._hold_until:
            self.hold_db, self._hold_until = db, now + HOLD_S
        self.clipped = self.clipped or bool(over)
        self._update_tip()
        self.update()

    def reset_clip(self) -> None:
        self.clipped = False
        self.hold_db = self.level_db
        self._update_tip()
        self.update()
        self.clipReset.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self.reset_clip()
        super().mousePressEvent(event)

    def _update_tip(self) -> None:
        state = "CLIPPED: a sample reached 0 dBFS; click to reset" if self.clipped else "click to reset the clip light"
        self.setToolTip(f"{self._tip}\npeak {db_text(self.hold_db)} dBFS ({state})")

    def _y(self, db: float, top: float, height: float) -> float:
        frac = (min(TOP_DB, max(FLOOR_DB, db)) - FLOOR_DB) / (TOP_DB - FLOOR_DB)
        return top + height * (1.0 - frac)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(QRectF(0, 0, w, LED_H), CLIP if self.clipped else theme.PANEL_2)
        top, height = LED_H + 2.0, h - LED_H - 2.0
        p.fillRect(QRectF(0, top, w, height), theme.PANEL)
        if math.isfinite(self.level_db) and self.level_db > FLOOR_DB:
            y_level, lo = self._y(self.level_db, top, height), FLOOR_DB
            for hi, colour in ZONES:  # coloured by zone, so -6 dB and up reads at a glance
                y_hi, y_lo = self._y(hi, top, height), self._y(lo, top, height)
                y0 = max(y_hi, y_level)
                if y0 < y_lo:
                    p.fillRect(QRectF(1, y0, w - 2, y_lo - y0), colour)
                lo = hi
        if math.isfinite(self.hold_db) and self.hold_db > FLOOR_DB:
            p.fillRect(QRectF(0, self._y(self.hold_db, top, height) - 1, w, 2),
                       CLIP if self.hold_db >= 0.0 else theme.TEXT)
        p.setPen(theme.LINE)
        for db in TICKS_DB:
            y = int(self._y(db, top, height))
            p.drawLine(0, y, 3, y)
        y0 = int(self._y(0.0, top, height))
        p.drawLine(0, y0, w, y0)  # the 0 dBFS mark
        p.end()
