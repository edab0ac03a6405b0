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
    draw = _ICONS.get(name)
    if draw is None:
        raise KeyError(f"no icon named {name!r}")
    p.setPen(Qt.NoPen)
    p.setBrush(c)
    draw(p, c, QPen(c, 2.0, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))


def _outline(p: QPainter, pen: QPen) -> None:
    p.setPen(pen)
    p.setBrush(Qt.NoBrush)


def _fill(p: QPainter, c: QColor) -> None:
    p.setPen(Qt.NoPen)
    p.setBrush(c)


def _play(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawPath(_path([(7, 5), (19, 12), (7, 19)]))


def _pause(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawRoundedRect(QRectF(6, 5, 4, 14), 1, 1)
    p.drawRoundedRect(QRectF(14, 5, 4, 14), 1, 1)


def _stop(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawRoundedRect(QRectF(6, 6, 12, 12), 1.5, 1.5)


def _home(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawRect(QRectF(5, 5, 2.5, 14))
    p.drawPath(_path([(19, 5), (9, 12), (19, 19)]))


def _loop(p: QPainter, c: QColor, pen: QPen) -> None:
    _outline(p, pen)
    p.drawArc(QRectF(4, 6, 16, 12), 30 * 16, 300 * 16)
    _fill(p, c)
    p.drawPath(_path([(17, 3.5), (21.5, 8), (16, 9.5)]))


def _undo(p: QPainter, c: QColor, pen: QPen, mirrored: bool = False) -> None:
    p.save()
    if mirrored:
        p.translate(24, 0)
        p.scale(-1, 1)
    _outline(p, pen)
    path = QPainterPath(QPointF(7, 10))
    path.cubicTo(QPointF(12, 5), QPointF(21, 8), QPointF(18, 17))
    p.drawPath(path)
    _fill(p, c)
    p.drawPath(_path([(3, 10), (10, 5.5), (10, 14)]))
    p.restore()


def _redo(p: QPainter, c: QColor, pen: QPen) -> None:
    _undo(p, c, pen, mirrored=True)


def _open(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawPath(_path([(3, 7), (9, 7), (11, 9), (21, 9), (21, 19), (3, 19)]))


def _save(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawRoundedRect(QRectF(4, 4, 16, 16), 2, 2)
    p.setBrush(QColor(0, 0, 0, 160))
    p.drawRect(QRectF(8, 5, 8, 5))
    p.drawRect(QRectF(7, 13, 10, 6))


def _generate(p: QPainter, c: QColor, pen: QPen) -> None:  # a spark
    pts = []
    for i in range(8):
        r = 9.5 if i % 2 == 0 else 3.2
        a = math.pi / 4 * i - math.pi / 2
        pts.append((12 + r * math.cos(a), 12 + r * math.sin(a)))
    p.drawPath(_path(pts))
    p.drawEllipse(QPointF(19.5, 5), 1.6, 1.6)


def _export(p: QPainter, c: QColor, pen: QPen) -> None:
    _outline(p, pen)
    p.drawPolyline([QPointF(5, 13), QPointF(5, 19), QPointF(19, 19), QPointF(19, 13)])
    p.drawLine(QPointF(12, 4), QPointF(12, 14))
    p.drawPolyline([QPointF(8, 8), QPointF(12, 4), QPointF(16, 8)])


def _routing(p: QPainter, c: QColor, pen: QPen) -> None:  # a 5-pin DIN-ish socket
    _outline(p, pen)
    p.drawEllipse(QPointF(12, 12), 8, 8)
    _fill(p, c)
    for a in (180, 225, 270, 315, 0):
        r = math.radians(a)
        p.drawEllipse(QPointF(12 + 4.5 * math.cos(r), 13 + 4.5 * math.sin(r)), 1.3, 1.3)


def _zoom_out(p: QPainter, c: QColor, pen: QPen, plus: bool = False) -> None:
    _outline(p, pen)
    p.drawEllipse(QPointF(10, 10), 6, 6)
    p.drawLine(QPointF(14.5, 14.5), QPointF(20, 20))
    p.drawLine(QPointF(7, 10), QPointF(13, 10))
    if plus:
        p.drawLine(QPointF(10, 7), QPointF(10, 13))


def _zoom_in(p: QPainter, c: QColor, pen: QPen) -> None:
    _zoom_out(p, c, pen, plus=True)


def _snap(p: QPainter, c: QColor, pen: QPen) -> None:  # magnet
    p.setPen(QPen(c, 3.0, Qt.SolidLine, Qt.FlatCap))
    p.setBrush(Qt.NoBrush)
    p.drawArc(QRectF(6, 4, 12, 14), 180 * 16, 180 * 16)
    p.drawLine(QPointF(6, 11), QPointF(6, 5))
    p.drawLine(QPointF(18, 11), QPointF(18, 5))


def _video(p: QPainter, c: QColor, pen: QPen) -> None:
    p.drawRoundedRect(QRectF(3, 6, 13, 12), 2, 2)
    p.drawPath(_path([(17, 10), (21, 7), (21, 17), (17, 14)]))


def _app(p: QPainter, c: QColor, pen: QPen) -> None:
    p.setBrush(QColor("#f0a040"))
    p.drawRoundedRect(QRectF(2, 2, 20, 20), 5, 5)
    p.setBrush(QColor("#1b1d21"))
    for i, h in enumerate((6, 12, 16, 9, 13)):
        p.drawRoundedRect(QRectF(5 + i * 3, 12 - h / 2, 2, h), 1, 1)


_ICONS = {"play": _play, "pause": _pause, "stop": _stop, "home": _home, "loop": _loop, "undo": _undo,
          "redo": _redo, "open": _open, "save": _save, "generate": _generate, "export": _export,
          "routing": _routing, "zoom_in": _zoom_in, "zoom_out": _zoom_out, "snap": _snap, "video": _video,
          "app": _app}


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
