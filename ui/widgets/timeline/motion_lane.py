"""The Motion sections lane: the player's motion sections (studio.motion_sections, the same core as
``studio analyze --sections``) as coloured spans with their label, a line at each boundary.
Sections alike share a letter and so a colour. Shown only when the project's video has keypoints."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from ui import theme
from ui.widgets.timeline.geometry import HEADER_W, Lane, TimeScale

# one colour per section letter (A, B, C, ...), muted so the lanes below stay the focus
PALETTE = ("#4f8fd6", "#d68a4f", "#5fb77a", "#b36fd0", "#d0c45a", "#d05f7a", "#5fc3c8", "#9aa36a")
BOUNDARY = QColor("#e9edf2")


def label_colour(label: str) -> QColor:
    i = (ord(label[:1].upper()) - ord("A")) if label else 0
    return QColor(PALETTE[i % len(PALETTE)])


def section_at(sections, t: float) -> dict | None:
    return next((s for s in sections or () if s["start_s"] <= t < s["end_s"]), None)


def tooltip(section: dict) -> str:
    """What a section is, in words (the lane's tooltip)."""
    hint = f"; nearest synthetic action: {section['action']}" if section.get("action") else ""
    return (f"Motion section {section['label']}: {section['start_s']:.2f}\u2013{section['end_s']:.2f} s"
            f" (sections alike share a letter{hint})")


def paint(p: QPainter, rect: QRectF, s: TimeScale, sections, t0: float, t1: float) -> None:
    """The spans in view, each labelled where it is wide enough, and the boundary lines."""
    p.fillRect(rect, QColor("#17191c"))
    fm = p.fontMetrics()
    for sec in sections or ():
        if sec["end_s"] < t0 or sec["start_s"] > t1:
            continue
        x0, x1 = s.x_of(sec["start_s"]), s.x_of(sec["end_s"])
        c = label_colour(sec["label"])
        fill = QColor(c)
        fill.setAlpha(95)
        span = QRectF(x0, rect.top() + 4, x1 - x0, rect.height() - 8)
        p.fillRect(span, fill)
        p.fillRect(QRectF(x0, span.bottom() - 3, x1 - x0, 3), c)
        text = sec["label"] + (f"  {sec['action']}" if sec.get("action") else "")
        if fm.horizontalAdvance(text) + 10 > x1 - x0:
            text = sec["label"]
        if fm.horizontalAdvance(text) + 8 <= x1 - x0:
            p.setPen(theme.TEXT)
            p.drawText(span.adjusted(max(0.0, rect.left() - x0) + 5, 0, -3, -3), Qt.AlignLeft | Qt.AlignVCenter, text)
    p.setPen(QPen(BOUNDARY, 2))
    for sec in (sections or ())[1:]:
        if t0 <= sec["start_s"] <= t1:
            x = s.x_of(sec["start_s"])
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))


def paint_header(p: QPainter, lane: Lane, sections) -> None:
    r = QRectF(0, lane.top, HEADER_W, lane.height)
    p.fillRect(r, theme.PANEL)
    p.setPen(theme.LINE)
    p.drawLine(r.topRight(), r.bottomRight())
    p.drawLine(r.bottomLeft(), r.bottomRight())
    fm = p.fontMetrics()
    p.setPen(theme.TEXT)
    p.drawText(QRectF(10, lane.top + 4, HEADER_W - 14, fm.height()), Qt.AlignLeft, "Motion sections")
    p.setPen(theme.TEXT_DIM)
    n = len(sections or ())
    kinds = len({s["label"] for s in sections or ()})
    sub = f"{n} section{'s' * (n != 1)} \u00b7 {kinds} kind{'s' * (kinds != 1)}" if n else "no sections"
    p.drawText(QRectF(10, lane.top + 6 + fm.height(), HEADER_W - 14, fm.height()), Qt.AlignLeft,
               fm.elidedText(sub, Qt.ElideRight, HEADER_W - 14))
