"""The timeline's track headers as handles: drag a lane's bottom edge to resize it, drag a header
to reorder the tracks, pick a colour from the context menu (each one undo step, saved in the
project: ``Track.lane_height`` / ``Track.colour``, schema v7); and the flash that shows where new
or regenerated tracks landed, scrolled into view. Mixed into the canvas, which provides ``doc``,
``_lanes``, ``v_offset``, ``_drag`` and ``viewChanged``."""
from __future__ import annotations

import time

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QColorDialog

from studio.schema import MAX_LANE_H, MIN_LANE_H
from ui import theme, undo
from ui.widgets.timeline.geometry import FIXED_LANES, HEADER_W, RULER_H, layout, track_height

EDGE_PX = 4  # this close to a lane's bottom edge (in its header) the drag resizes the lane
START_PX = 5  # a header dragged this far starts a reorder (less: a click that selects)
FLASH_S = 1.2
FLASH = "#ffffff"  # white, not the accent: orange is the selection's, the loop's and the playhead's
FIXED = FIXED_LANES


class HeaderGestures:
    def _init_header_gestures(self) -> None:
        self._flash: dict[str, float] = {}  # track id -> when its flash began (monotonic s)
        self._flash_timer = QTimer(self, interval=33)
        self._flash_timer.timeout.connect(self._flash_tick)
        self._known: dict = {}  # track id -> the Track object last seen: what is new or changed
        self.doc.trackChanged.connect(self._track_edited)

    # -- geometry -------------------------------------------------------------------------------
    def track_lanes(self) -> list:
        return [lane for lane in self._lanes if lane.key not in FIXED]

    def edge_lane(self, y: float):
        """The track lane whose bottom edge is at widget ``y`` (within EDGE_PX), or None."""
        if y < RULER_H:
            return None
        return next((lane for lane in self.track_lanes() if abs(lane.bottom - self.v_offset - y) <= EDGE_PX), None)

    def drop_index(self, track_id: str, y: float) -> int:
        """Where a dragged track would go in the list without it: after every other lane whose
        middle is above ``y``."""
        y += self.v_offset
        return sum(1 for lane in self.track_lanes() if lane.key != track_id and lane.top + lane.height / 2 < y)

    # -- drags ----------------------------------------------------------------------------------
    def start_header_drag(self, lane, y: float, resize: bool) -> None:
        if resize:
            self._drag = {"mode": "height", "track": lane.key, "y0": y, "h0": lane.height, "h": lane.height}
        else:
            self._drag = {"mode": "reorder", "track": lane.key, "y0": y, "index": None}

    def move_header_drag(self, d: dict, y: float) -> None:
        if d["mode"] == "height":
            d["h"] = int(min(MAX_LANE_H, max(MIN_LANE_H, d["h0"] + y - d["y0"])))
            self._lanes = layout(self.doc.project, {d["track"]: d["h"]}, self.motion is not None)
            self.viewChanged.emit()
        elif d["index"] is not None or abs(y - d["y0"]) >= START_PX:
            d["index"] = self.drop_index(d["track"], y)
            self.setCursor(Qt.ClosedHandCursor)
        self.update()

    def end_header_drag(self, d: dict) -> None:
        self.unsetCursor()
        track = self.doc.track(d["track"])
        if d["mode"] == "height":
            self._lanes = layout(self.doc.project, motion=self.motion is not None)
            if d["h"] != track_height(track):
                undo.edit_track(self.doc, track.id, f"Resize lane {track.name}", lane_height=d["h"])
            else:
                self.viewChanged.emit()
        elif d["index"] is not None:
            undo.move_track(self.doc, track.id, d["index"])
        self.update()

    def hover_header(self, x: float, y: float) -> None:
        if x < HEADER_W and self.edge_lane(y) is not None:
            self.setCursor(Qt.SizeVerCursor)
        else:
            self.unsetCursor()

    # -- colour and height from the context menu ------------------------------------------------
    def add_look_actions(self, menu, track) -> None:
        menu.addAction("Colour\u2026", lambda: self.choose_colour(track.id))
        if track.colour:
            menu.addAction("Default colour", lambda: self.set_track_colour(track.id, None))
        if track.lane_height:
            menu.addAction("Default height", lambda: undo.edit_track(
                self.doc, track.id, f"Resize lane {track.name}", lane_height=None))

    def choose_colour(self, track_id: str) -> None:
        track = self.doc.track(track_id)
        c = QColorDialog.getColor(theme.track_colour(track), self, f"Colour of {track.name}")
        if c.isValid():
            self.set_track_colour(track_id, c.name())

    def set_track_colour(self, track_id: str, colour: str | None) -> None:
        undo.edit_track(self.doc, track_id, f"Colour {self.doc.track(track_id).name}", colour=colour)

    # -- new / regenerated tracks: scrolled into view, flashed ----------------------------------
    def remember_tracks(self) -> None:
        """What is there now counts as seen (a project opened: nothing flashes)."""
        p = self.doc.project
        self._known = {t.id: t for t in p.tracks} if p is not None else {}

    def _track_edited(self, track_id: str) -> None:
        if self.doc.project is None:
            return
        track = self.doc.track(track_id)
        if track_id in self._known:  # an edit is no new track
            self._known[track_id] = track
        if (self._drag is None or self._drag["mode"] != "height") and \
                next((lane.height for lane in self._lanes if lane.key == track_id), None) != track_height(track):
            self._lanes = layout(self.doc.project, motion=self.motion is not None)  # its height changed (a drag, an undo)
            self.viewChanged.emit()

    def note_new_tracks(self) -> None:
        """After the track list changed: the tracks added or replaced (generated, regenerated,
        brought back by an undo) flash, and the view scrolls to show them; a reorder flashes none."""
        p = self.doc.project
        if p is None:
            return
        fresh = [t.id for t in p.tracks if self._known.get(t.id) is not t]
        self.remember_tracks()
        if not fresh:
            return
        now = time.monotonic()
        self._flash.update({tid: now for tid in fresh})
        self._flash_timer.start()
        self.scroll_to_tracks(fresh)

    def scroll_to_tracks(self, track_ids) -> None:
        lanes = [lane for lane in self._lanes if lane.key in set(track_ids)]
        if not lanes:
            return
        top, bottom = lanes[0].top, lanes[-1].bottom
        view_h = self.height() - RULER_H
        v = self.v_offset
        if bottom - v > self.height():
            v = bottom - self.height()
        if top - v < RULER_H or bottom - top > view_h:  # the first one's top wins
            v = top - RULER_H
        self.v_offset = max(0, min(v, max(0, self.content_height - self.height())))
        self.viewChanged.emit()
        self.update()

    def _flash_tick(self) -> None:
        now = time.monotonic()
        self._flash = {k: t for k, t in self._flash.items() if now - t < FLASH_S}
        if not self._flash:
            self._flash_timer.stop()
        self.update()

    def paint_header_overlays(self, p: QPainter) -> None:
        """The flash over new lanes and, during a reorder, the line where the track will go."""
        w = self.width()
        now = time.monotonic()
        p.save()
        p.setClipRect(QRectF(0, RULER_H, w, self.height() - RULER_H))
        for lane in self.track_lanes():
            began = self._flash.get(lane.key)
            if began is not None:  # the header lit, the lane framed: its content stays readable
                a = max(0.0, 1.0 - (now - began) / FLASH_S)
                c = QColor(FLASH)
                c.setAlpha(int(70 * a))
                top = lane.top - self.v_offset
                p.fillRect(QRectF(0, top, HEADER_W, lane.height), c)
                c.setAlpha(int(255 * a))
                p.setPen(QPen(c, 2))
                p.setBrush(Qt.NoBrush)
                p.drawRect(QRectF(HEADER_W + 1, top + 1, w - HEADER_W - 2, lane.height - 2))
        d = self._drag
        if d is not None and d["mode"] == "reorder" and d["index"] is not None:
            others = [lane for lane in self.track_lanes() if lane.key != d["track"]]
            y = others[d["index"] - 1].bottom if d["index"] else self.track_lanes()[0].top
            p.setPen(QPen(theme.ACCENT, 3))
            p.drawLine(QPointF(0, y - self.v_offset), QPointF(w, y - self.v_offset))
        p.restore()
