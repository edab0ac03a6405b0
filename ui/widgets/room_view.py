"""Top-down view of a room: the listener in the middle, a track's source position (its spatial
keyframe at the playhead) as a dot that can be dragged; the path over time as a faint line."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

from engines.spatial.rooms import STAGE_D, STAGE_LISTENER, STAGE_W
from ui import theme

ROOM_W, ROOM_D = STAGE_W, STAGE_D  # metres shown (x across, y depth): the spatial engine's stage


def position_at(keyframes, t: float) -> tuple[float, float] | None:
    """Linear interpolation of (x, y) between keyframes; held before the first / after the last."""
    if not keyframes:
        return None
    if t <= keyframes[0].time_s:
        return keyframes[0].x, keyframes[0].y
    for a, b in zip(keyframes, keyframes[1:]):
        if a.time_s <= t <= b.time_s:
            f = (t - a.time_s) / max(1e-9, b.time_s - a.time_s)
            return a.x + f * (b.x - a.x), a.y + f * (b.y - a.y)
    return keyframes[-1].x, keyframes[-1].y


class RoomView(QWidget):
    moved = Signal(float, float, bool)  # x, y (metres), final (mouse released)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(220, 170)
        self.keyframes: list = []
        self.time_s = 0.0
        self.colour = theme.ACCENT
        self._dragging = False
        self.setToolTip("Drag the source to place the track in the room at the playhead")

    def set_state(self, keyframes, time_s: float, colour: QColor) -> None:
        self.keyframes, self.time_s, self.colour = list(keyframes), time_s, colour
        self.update()

    def _room_rect(self) -> QRectF:
        m = 12
        w, h = self.width() - 2 * m, self.height() - 2 * m
        s = min(w / ROOM_W, h / ROOM_D)
        return QRectF((self.width() - ROOM_W * s) / 2, (self.height() - ROOM_D * s) / 2, ROOM_W * s, ROOM_D * s)

    def to_px(self, x: float, y: float) -> QPointF:
        r = self._room_rect()
        return QPointF(r.left() + x / ROOM_W * r.width(), r.top() + y / ROOM_D * r.height())

    def to_room(self, p: QPointF) -> tuple[float, float]:
        r = self._room_rect()
        x = (p.x() - r.left()) / r.width() * ROOM_W
        y = (p.y() - r.top()) / r.height() * ROOM_D
        return min(max(x, 0.0), ROOM_W), min(max(y, 0.0), ROOM_D)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), theme.BG)
        r = self._room_rect()
        p.setPen(QPen(theme.LINE, 2))
        p.setBrush(QColor("#17191c"))
        p.drawRect(r)
        p.setPen(QPen(QColor(255, 255, 255, 16), 1))
        for i in range(1, int(ROOM_W)):
            x = r.left() + i / ROOM_W * r.width()
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        for j in range(1, int(ROOM_D)):
            y = r.top() + j / ROOM_D * r.height()
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        lp = self.to_px(*STAGE_LISTENER)  # listener, facing up (the screen)
        p.setPen(Qt.NoPen)
        p.setBrush(theme.TEXT)
        p.drawEllipse(lp, 7, 7)
        p.drawPolygon([lp + QPointF(-4, -6), lp + QPointF(4, -6), lp + QPointF(0, -13)])
        if len(self.keyframes) > 1:
            path = QPainterPath(self.to_px(self.keyframes[0].x, self.keyframes[0].y))
            for k in self.keyframes[1:]:
                path.lineTo(self.to_px(k.x, k.y))
            p.setPen(QPen(QColor(self.colour.red(), self.colour.green(), self.colour.blue(), 90), 1.5, Qt.DashLine))
            p.setBrush(Qt.NoBrush)
            p.drawPath(path)
        pos = position_at(self.keyframes, self.time_s)
        p.setPen(theme.TEXT_DIM)
        p.drawText(self.rect().adjusted(4, 2, -4, -2), Qt.AlignBottom | Qt.AlignRight, f"{ROOM_W:g} \u00d7 {ROOM_D:g} m")
        if pos is None:
            p.drawText(r, Qt.AlignCenter | Qt.TextWordWrap, "\n\n\nclick to place the source")
            return
        sp = self.to_px(*pos)
        p.setPen(QPen(QColor(0, 0, 0, 180), 1.5))
        p.setBrush(self.colour)
        p.drawEllipse(sp, 8, 8)

    def mousePressEvent(self, event) -> None:
        self._dragging = True
        self.moved.emit(*self.to_room(event.position()), False)

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            self.moved.emit(*self.to_room(event.position()), False)

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging:
            self._dragging = False
            self.moved.emit(*self.to_room(event.position()), True)
