"""The piano roll's note area: rows per pitch under a bar ruler, the beat grid, the notes in view,
and the mouse gestures (select, rubber band, move, resize, draw). A gesture is previewed while
the mouse moves and committed once on release (one undo step, through the editor)."""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ui import beatgrid, theme
from ui.widgets.piano_roll.geometry import BLACK, RULER_H, NoteIndex, grid_lines

EDGE_PX = 6  # this close to a note's right end a press resizes it
DRAG_PX = 3  # a press that moves less is a click (selects; moves nothing)
GRID_PENS = {0: QColor(255, 255, 255, 14), 1: QColor(255, 255, 255, 34), 2: QColor(255, 255, 255, 80)}


class NotesArea(QWidget):
    seekRequested = Signal(float)

    def __init__(self, editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor, self.view = editor, editor.view
        self.drag: dict | None = None
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)  # the resize cursor over note ends
        self.setMinimumSize(300, 200)

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        v, track, tempo = self.view, self.editor.track(), self.editor.tempo()
        p.fillRect(self.rect(), theme.BG)
        if track is None or tempo is None:
            return
        t0, t1 = v.t_of(0), v.t_of(self.width())
        lo, hi = v.pitches_in(self.height())
        for pitch in range(lo, hi + 1):  # black keys' rows darker, a line under each C
            y = v.y_of(pitch)
            if pitch % 12 in BLACK:
                p.fillRect(QRectF(0, y, self.width(), v.row_h), QColor(0, 0, 0, 60))
            if pitch % 12 == 0:
                p.setPen(theme.LINE)
                p.drawLine(QPointF(0, y + v.row_h), QPointF(self.width(), y + v.row_h))
        lines: dict[int, list[QPointF]] = {0: [], 1: [], 2: []}
        for t, weight in grid_lines(tempo, t0, t1, self.editor.step(), v.px_per_s):
            x = v.x_of(t)
            lines[weight] += (QPointF(x, RULER_H), QPointF(x, self.height()))
        for weight, points in lines.items():
            p.setPen(GRID_PENS[weight])
            p.drawLines(points)
        self._paint_notes(p, track, t0, t1, lo, hi)
        self._paint_ruler(p, tempo, t0, t1)
        d = self.drag
        if d is not None and d["mode"] == "band":
            p.setPen(QPen(theme.ACCENT, 1, Qt.DashLine))
            p.setBrush(QColor(240, 160, 64, 40))
            p.drawRect(QRectF(d["p0"], d["p1"]).normalized())
        x = v.x_of(self.editor.position_s)
        p.setPen(QPen(theme.ACCENT, 1.5))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def _paint_notes(self, p: QPainter, track, t0: float, t1: float, lo: int, hi: int) -> None:
        """The notes in view, batched: one drawRects per velocity band and one for the chosen ones
        (thousands of notes in view still paint in tens of milliseconds)."""
        v, idx, sel = self.view, NoteIndex.of(track), self.editor.selected
        d = self.drag
        pad = abs(d.get("dt", 0.0)) + abs(d.get("dd", 0.0)) if d else 0.0
        reach = abs(d.get("dp", 0)) if d else 0
        shown = idx.visible(t0 - pad, t1 + pad, lo - reach, hi + reach)
        band = self.editor.band_selection(d) if d is not None and d["mode"] == "band" else None
        chosen = sel if band is None else band
        start, end, pitch = idx.start[shown], idx.end[shown], idx.pitch[shown]
        if d is not None and d["mode"] in ("move", "resize") and sel:  # the dragged notes where they go
            moving = np.isin(shown, list(sel))
            if d["mode"] == "move":
                start, end = start + moving * d["dt"], end + moving * d["dt"]
                pitch = pitch + moving * d["dp"]
            else:
                end = np.where(moving, np.maximum(start + 0.01, end + d["dd"]), end)
        x0 = v.x_of(start)
        width, top = np.maximum(3.0, v.x_of(end) - x0), v.y_of(pitch) + 1
        key = np.where(np.isin(shown, list(chosen)), -1, idx.velocity[shown] // 32)  # -1: the chosen ones
        h = max(2, v.row_h - 2)
        groups: dict[int, list[QRectF]] = {}  # velocity band 0..3, or -1 for the chosen notes
        for k, x, y, w in zip(key.tolist(), x0.tolist(), top.tolist(), width.tolist()):
            groups.setdefault(k, []).append(QRectF(x, y, w, h))
        colour = theme.track_colour(track)  # as on its timeline lane
        p.setPen(QColor(0, 0, 0, 170) if len(shown) < 4 * self.width() else Qt.NoPen)
        for key, rects in sorted(groups.items()):
            fill = QColor(theme.ACCENT if key < 0 else colour)
            if key >= 0:
                fill.setAlpha(110 + 36 * key)  # louder notes stronger
            p.setBrush(fill)
            p.drawRects(rects)

    def _paint_ruler(self, p: QPainter, tempo, t0: float, t1: float) -> None:
        p.fillRect(QRectF(0, 0, self.width(), RULER_H), theme.PANEL)
        for t, label, pickup in beatgrid.ruler_marks(tempo, t0, t1, self.view.px_per_s):
            x = self.view.x_of(t)
            p.setPen(theme.TEXT_DIM if pickup else theme.ACCENT_2)
            p.drawLine(QPointF(x, RULER_H - 6), QPointF(x, RULER_H))
            p.drawText(QPointF(x + 3, RULER_H - 6), label)

    # -- hit testing ----------------------------------------------------------------------------
    def note_at(self, pos: QPointF) -> tuple[int | None, bool]:
        """(index of the note under ``pos`` or None, whether at its right end: resize)."""
        track = self.editor.track()
        if track is None or pos.y() < RULER_H:
            return None, False
        v, idx = self.view, NoteIndex.of(track)
        t, pitch = v.t_of(pos.x()), v.pitch_of(pos.y())
        slack = EDGE_PX / v.px_per_s
        hits = idx.visible(t - slack, t + slack, pitch, pitch)
        best = None
        for i in hits.tolist():  # the latest-starting note under the mouse is the one drawn on top
            x0, x1 = v.x_of(idx.start[i]), max(v.x_of(idx.start[i]) + 3, v.x_of(idx.end[i]))
            if x0 <= pos.x() <= x1 + 2 and (best is None or idx.start[i] >= idx.start[best]):
                best = i
        if best is None:
            return None, False
        x1 = max(v.x_of(idx.start[best]) + 3, v.x_of(idx.end[best]))
        return best, pos.x() >= x1 - min(EDGE_PX, (x1 - v.x_of(idx.start[best])) / 3)

    # -- gestures -------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        ed, pos = self.editor, event.position()
        if event.button() != Qt.LeftButton or ed.track() is None:
            return
        if pos.y() < RULER_H:  # the ruler: the playhead (where Paste goes)
            self.drag = {"mode": "seek"}
            self.seekRequested.emit(max(0.0, self.view.t_of(pos.x())))
            return
        i, edge = self.note_at(pos)
        mods = event.modifiers()
        if i is None and (ed.draw_mode or mods & Qt.ControlModifier):
            ed.draw_at(self.view.t_of(pos.x()), self.view.pitch_of(pos.y()), free=bool(mods & Qt.AltModifier))
            return
        if i is None:
            base = set(ed.selected) if mods & Qt.ShiftModifier else set()
            self.drag = {"mode": "band", "p0": pos, "p1": pos, "base": base}
            self.update()
            return
        if mods & Qt.ShiftModifier:
            ed.set_selection(set(ed.selected) ^ {i})
            return
        if i not in ed.selected:
            ed.set_selection({i})
        idx, sel = NoteIndex.of(ed.track()), sorted(ed.selected)
        self.drag = {"mode": "resize" if edge else "move", "note": i, "p0": pos, "dt": 0.0, "dp": 0, "dd": 0.0,
                     # how far the group may go (the commit keeps the same bounds: studio.note_edits)
                     "earliest": float(idx.start[sel].min()), "pitches": (int(idx.pitch[sel].min()),
                                                                          int(idx.pitch[sel].max()))}

    def mouseMoveEvent(self, event) -> None:
        d, pos, ed = self.drag, event.position(), self.editor
        if d is None:
            i, edge = self.note_at(pos)
            self.setCursor(Qt.SizeHorCursor if i is not None and edge else Qt.ArrowCursor)
            return
        free = bool(event.modifiers() & Qt.AltModifier)
        if d["mode"] == "seek":
            self.seekRequested.emit(max(0.0, self.view.t_of(pos.x())))
            return
        if d["mode"] == "band":
            d["p1"] = pos
        elif (pos - d["p0"]).manhattanLength() < DRAG_PX and not d.get("moved"):
            return  # a click, not a drag: the note stays where it is (even off the grid)
        elif d["note"] >= len(ed.track().notes):
            self.drag = None  # the notes changed under the drag (an undo): it ends there
        else:
            d["moved"] = True
            n = ed.track().notes[d["note"]]
            dx = (pos.x() - d["p0"].x()) / self.view.px_per_s
            if d["mode"] == "move":
                d["dt"] = max(ed.snapped(n.start_s + dx, free) - n.start_s, -d["earliest"])
                lo, hi = d["pitches"]
                d["dp"] = max(-lo, min(127 - hi, self.view.pitch_of(pos.y()) - self.view.pitch_of(d["p0"].y())))
            else:
                d["dd"] = ed.snapped(n.end_s + dx, free) - n.end_s
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        d, self.drag = self.drag, None
        if d is None:
            return
        ed = self.editor
        if d["mode"] == "band":
            ed.set_selection(ed.band_selection(d))
        elif d["mode"] == "move" and (abs(d["dt"]) > 1e-9 or d["dp"]):
            ed.move_selected(d["dt"], d["dp"])
        elif d["mode"] == "resize" and abs(d["dd"]) > 1e-9:
            ed.resize_selected(d["dd"])
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:
        pos = event.position()
        if event.button() == Qt.LeftButton and pos.y() >= RULER_H and self.note_at(pos)[0] is None:
            self.drag = None
            self.editor.draw_at(self.view.t_of(pos.x()), self.view.pitch_of(pos.y()),
                                free=bool(event.modifiers() & Qt.AltModifier))

    def contextMenuEvent(self, event) -> None:
        """Every note command with its keys (the editor's Edit menu), on the note under the mouse."""
        i, _edge = self.note_at(QPointF(event.pos()))
        if i is not None and i not in self.editor.selected:
            self.editor.set_selection({i})
        self.editor.menu.exec(event.globalPos())

    def wheelEvent(self, event) -> None:
        """Ctrl: zoom time at the mouse; Ctrl+Shift: row height; Shift (or a sideways wheel): scroll
        time; else scroll the pitches."""
        delta, mods, v = event.angleDelta(), event.modifiers(), self.view
        steps = (delta.y() or delta.x()) / 120
        if mods & Qt.ControlModifier and mods & Qt.ShiftModifier:
            self.editor.set_row_height(v.row_h + int(math.copysign(1, steps)))
        elif mods & Qt.ControlModifier:
            v.zoom(1.15 ** steps, event.position().x())
        elif mods & Qt.ShiftModifier or delta.x():
            v.offset_s = max(0.0, v.offset_s - steps * 60 / v.px_per_s)
        else:
            v.v_offset = int(max(0, min(self.editor.max_v_offset(), v.v_offset - steps * 3 * v.row_h)))
        self.editor.view_changed()
