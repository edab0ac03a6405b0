"""Beside the note area: the keyboard column (note names, C4 = middle C) and the
velocity lane below it (a bar per note in view; drag to set the velocity of the selected notes,
or of the note under the mouse when it is not selected; one undo step on release)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ui import theme
from ui.widgets.piano_roll.geometry import BLACK, KEY_W, RULER_H, VEL_H, NoteIndex, note_name

BAR_PX = 5  # a velocity bar's hit width either side of its note's start


class KeyboardColumn(QWidget):
    def __init__(self, editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor, self.view = editor, editor.view
        self.setFixedWidth(KEY_W)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), theme.PANEL)
        v = self.view
        lo, hi = v.pitches_in(self.height())
        for pitch in range(lo, hi + 1):
            y = v.y_of(pitch)
            black = pitch % 12 in BLACK
            r = QRectF(0, y, KEY_W - (14 if black else 0), v.row_h)
            p.fillRect(QRectF(0, y, KEY_W, v.row_h), QColor("#cfd3d8"))
            if black:
                p.fillRect(r, QColor("#15171a"))
            p.setPen(QColor(0, 0, 0, 120))
            p.drawLine(QPointF(0, y + v.row_h), QPointF(KEY_W, y + v.row_h))
            if v.row_h >= 9 and (pitch % 12 == 0 or v.row_h >= 14):
                p.setPen(theme.TEXT if black else QColor("#202329"))
                p.drawText(r.adjusted(3, 0, 0, 0), Qt.AlignVCenter | Qt.AlignLeft, note_name(pitch))
        p.fillRect(QRectF(0, 0, KEY_W, RULER_H), theme.PANEL)


class VelocityLane(QWidget):
    def __init__(self, editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor, self.view = editor, editor.view
        self.setFixedHeight(VEL_H)
        self.drag: dict | None = None
        self.setToolTip("Velocity: drag a bar up or down (all the selected notes when it is selected)")

    def value_at(self, y: float) -> int:
        return int(max(1, min(127, round(127 * (self.height() - 4 - y) / (self.height() - 8)))))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), theme.PANEL)
        track = self.editor.track()
        if track is None:
            return
        v, idx, d = self.view, NoteIndex.of(track), self.drag
        h, bottom, width = self.height() - 8, self.height() - 4, max(1, self.width())
        shown = idx.visible(v.t_of(-BAR_PX), v.t_of(width + BAR_PX))
        vel = idx.velocity[shown]
        if d is not None:
            vel = np.where(np.isin(shown, list(d["targets"])), d["value"], vel)
        cols = np.round(v.x_of(idx.start[shown])).astype(np.int64)
        inside = (cols >= 0) & (cols < width)
        chosen = np.isin(shown, list(self.editor.selected))
        for pick, colour in ((~chosen, theme.KIND_COLOURS["midi"]), (chosen, theme.ACCENT)):
            top = np.zeros(width, np.int64)  # the loudest bar of each pixel column: thousands stay cheap
            np.maximum.at(top, cols[pick & inside], vel[pick & inside])
            xs = np.flatnonzero(top)
            ys = (bottom - h * top[xs] / 127).tolist()
            p.setPen(QPen(colour, 2))
            p.drawLines([q for x, y in zip(xs.tolist(), ys) for q in (QPointF(x, bottom), QPointF(x, y))])
            if len(xs) < width / 6:  # a knob on each bar while they are apart
                p.setBrush(colour)
                for x, y in zip(xs.tolist(), ys):
                    p.drawEllipse(QPointF(x, y), 2.5, 2.5)

    def bar_at(self, x: float) -> int | None:
        track = self.editor.track()
        v = self.view
        near = NoteIndex.of(track).visible(v.t_of(x - BAR_PX), v.t_of(x + BAR_PX))
        starts = NoteIndex.of(track).start
        near = [i for i in near.tolist() if abs(v.x_of(starts[i]) - x) <= BAR_PX]
        return min(near, key=lambda i: abs(v.x_of(starts[i]) - x)) if near else None

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.LeftButton or self.editor.track() is None:
            return
        pos = event.position()
        i = self.bar_at(pos.x())
        sel = self.editor.selected
        targets = set(sel) if i is None or i in sel else {i}
        if targets:
            self.drag = {"targets": targets, "value": self.value_at(pos.y())}
            self.update()

    def mouseMoveEvent(self, event) -> None:
        if self.drag is not None:
            self.drag["value"] = self.value_at(event.position().y())
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        d, self.drag = self.drag, None
        if d is not None:
            self.editor.set_velocity(d["value"], d["targets"])
        self.update()
