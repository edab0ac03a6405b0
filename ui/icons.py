"""Toolbar and transport icons drawn with QPainter (crisp at any scale, no files to ship)."""
from __future__ import annotations

import math
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

_FG = QColor("#d7dbe0")
_OFF = QColor("#5f656e")


def _path(points) -> QPainterPath:
    p = QPainterPath(QPointF(*points[0]))
    for pt in points[1:]:
        p.lineTo(QPointF(*pt))
    p.closeSubpath()
    return p


def _draw(name: str, p: QPainter, c: QColor) -> None:
    """Draw icon ``name`` on a 24x24 canvas."""
    p.setPen(Qt.NoPen)
    p.setBrush(c)
    pen = QPen(c, 2.0, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)
    if name == "play":
        p.drawPath(_path([(7, 5), (19, 12), (7, 19)]))
    elif name == "pause":
        p.drawRoundedRect(QRectF(6, 5, 4, 14), 1, 1)
        p.drawRoundedRect(QRectF(14, 5, 4, 14), 1, 1)
    elif name == "stop":
        p.drawRoundedRect(QRectF(6, 6, 12, 12), 1.5, 1.5)
    elif name == "home":
        p.drawRect(QRectF(5, 5, 2.5, 14))
        p.drawPath(_path([(19, 5), (9, 12), (19, 19)]))
    elif name == "loop":
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        p.drawArc(QRectF(4, 6, 16, 12), 30 * 16, 300 * 16)
        p.setPen(Qt.NoPen)
        p.setBrush(c)
        p.drawPath(_path([(17, 3.5), (21.5, 8), (16, 9.5)]))
    elif name in ("undo", "redo"):
        p.save()
        if name == "redo":
            p.translate(24, 0)
            p.scale(-1, 1)
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        path = QPainterPath(QPointF(7, 10))
        path.cubicTo(QPointF(12, 5), QPointF(21, 8), QPointF(18, 17))
        p.drawPath(path)
        p.setPen(Qt.NoPen)
        p.setBrush(c)
        p.drawPath(_path([(3, 10), (10, 5.5), (10, 14)]))
        p.restore()
    elif name == "open":
        p.drawPath(_path([(3, 7), (9, 7), (11, 9), (21, 9), (21, 19), (3, 19)]))
    elif name == "save":
        p.drawRoundedRect(QRectF(4, 4, 16, 16), 2, 2)
        p.setBrush(QColor(0, 0, 0, 160))
        p.drawRect(QRectF(8, 5, 8, 5))
        p.drawRect(QRectF(7, 13, 10, 6))
    elif name == "generate":  # a spark
        pts = []
        for i in range(8):
            r = 9.5 if i % 2 == 0 else 3.2
            a = math.pi / 4 * i - math.pi / 2
            pts.append((12 + r * math.cos(a), 12 + r * math.sin(a)))
        p.drawPath(_path(pts))
        p.drawEllipse(QPointF(19.5, 5), 1.6, 1.6)
    elif name == "export":
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        p.drawPolyline([QPointF(5, 13), QPointF(5, 19), QPointF(19, 19), QPointF(19, 13)])
        p.drawLine(QPointF(12, 4), QPointF(12, 14))
        p.drawPolyline([QPointF(8, 8), QPointF(12, 4), QPointF(16, 8)])
    elif name == "routing":  # a 5-pin DIN-ish socket
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        p.drawEllipse(QPointF(12, 12), 8, 8)
        p.setPen(Qt.NoPen)
        p.setBrush(c)
        for a in (180, 225, 270, 315, 0):
            r = math.radians(a)
            p.drawEllipse(QPointF(12 + 4.5 * math.cos(r), 13 + 4.5 * math.sin(r)), 1.3, 1.3)
    elif name == "zoom_in" or name == "zoom_out":
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        p.drawEllipse(QPointF(10, 10), 6, 6)
        p.drawLine(QPointF(14.5, 14.5), QPointF(20, 20))
        p.drawLine(QPointF(7, 10), QPointF(13, 10))
        if name == "zoom_in":
            p.drawLine(QPointF(10, 7), QPointF(10, 13))
    elif name == "snap":  # magnet
        p.setPen(QPen(c, 3.0, Qt.SolidLine, Qt.FlatCap))
        p.setBrush(Qt.NoBrush)
        p.drawArc(QRectF(6, 4, 12, 14), 180 * 16, 180 * 16)
        p.drawLine(QPointF(6, 11), QPointF(6, 5))
        p.drawLine(QPointF(18, 11), QPointF(18, 5))
    elif name == "video":
        p.drawRoundedRect(QRectF(3, 6, 13, 12), 2, 2)
        p.drawPath(_path([(17, 10), (21, 7), (21, 17), (17, 14)]))
    elif name == "app":
        p.setBrush(QColor("#f0a040"))
        p.drawRoundedRect(QRectF(2, 2, 20, 20), 5, 5)
        p.setBrush(QColor("#1b1d21"))
        for i, h in enumerate((6, 12, 16, 9, 13)):
            p.drawRoundedRect(QRectF(5 + i * 3, 12 - h / 2, 2, h), 1, 1)
    else:
        raise KeyError(f"no icon named {name!r}")


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    result = QIcon()
    for size in (16, 24, 32, 48, 64):
        for mode, colour in ((QIcon.Normal, _FG), (QIcon.Disabled, _OFF)):
            pm = QPixmap(size, size)
            pm.fill(Qt.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.Antialiasing)
            p.scale(size / 24.0, size / 24.0)
            _draw(name, p, colour)
            p.end()
            result.addPixmap(pm, mode)
    return result
