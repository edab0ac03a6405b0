"""The timeline canvas: paints lanes (lanes.py, header.py) and turns mouse/keyboard gestures into
seeks, loop changes and undoable edits of Foley events. Horizontal and vertical scrolling are
offsets owned here; the view (view.py) puts scroll bars and zoom buttons around it."""
from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QToolTip, QWidget

from studio.project import TrackKind
from ui import theme, undo
from ui.widgets.timeline import lanes as paint
from ui.widgets.timeline import motion_lane
from ui.widgets.timeline.editing import EventEditing
from ui.widgets.timeline.header_gestures import HeaderGestures
from ui.widgets.timeline.geometry import FIXED_LANES, HEADER_W, RULER_H, TimeScale, layout, snap_time
from ui.widgets.timeline.header import button_rects, paint_header
from ui.widgets.timeline.thumbs import ThumbnailCache
from ui.widgets.timeline.waveform import PeakCache

HIT_PX = 7
PLAYHEAD_HALF_W = 6  # the playhead's head on the ruler: a triangle 2 * 6 px wide
RULER_LABEL_PX = 120  # a ruler label starts at its tick: a repaint draws the ticks this far left too
THUMB_H = 44  # logical px; decoded at this times the device pixel ratio


class TimelineCanvas(HeaderGestures, EventEditing, QWidget):
    seekRequested = Signal(float)
    gridRequested = Signal(object, str, str)  # a corrected TempoMap, undo text, merge key
    loopChanged = Signal(object)  # (start, end) or None
    viewChanged = Signal()  # zoom / scroll / content size
    editNotesRequested = Signal(str)  # a MIDI track's id: open the piano roll (double-click, Enter)

    def __init__(self, doc, workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.scale = TimeScale()
        self.v_offset = 0
        self.position_s = 0.0
        self.loop: tuple[float, float] | None = None
        self.snap = True
        self.follow = False  # page along with the playhead (while playing)
        self.thumbs = ThumbnailCache(THUMB_H, self)
        self.thumbs.updated.connect(self.update)
        self.peaks = PeakCache(workers, self)
        self.peaks.updated.connect(self.update)
        self.motion: list[dict] | None = None  # the Motion sections lane's sections (set_motion_sections)
        self._lanes = layout(doc.project)
        self._drag: dict | None = None
        self._headers = None  # (key, pixmap, what the key's ids name): _header_column
        self.clipboard: list = []  # copied Foley hits, times from the first (EventEditing.copy_selection)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)  # the resize cursor over a lane's bottom edge in the headers
        self.setMinimumHeight(200)
        self._init_header_gestures()
        doc.projectReset.connect(self._on_reset)
        doc.tracksChanged.connect(self._relayout)
        doc.trackChanged.connect(lambda _id: self.update())
        doc.tempoChanged.connect(self.update)
        doc.analysisChanged.connect(self.update)
        doc.selectionChanged.connect(self.update)

    # -- state ----------------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return self.doc.project.duration_s if self.doc.project is not None else 0.0

    @property
    def content_height(self) -> int:
        return self._lanes[-1].bottom

    def shown_tempo(self):
        """The grid drawn: bar 1 being dragged, else the document's (a pending correction or the
        project's tempo map), None without a project."""
        if self._drag is not None and self._drag["mode"] == "downbeat":
            return self._drag["tempo"]
        return self.doc.tempo

    def _on_reset(self) -> None:
        path = self.doc.video_path
        self.thumbs.set_source(path if path is not None and path.exists() else None, self.duration_s)
        self.loop = None
        self.motion = None  # another video: its sections come when computed (ui/keypoints.py)
        self.remember_tracks()
        self._relayout()
        self.fit()

    def set_motion_sections(self, sections: list[dict] | None) -> None:
        """The Motion sections lane shows ``sections`` (None: no lane, the video has no keypoints)."""
        self.motion = sections
        self._relayout()

    def _relayout(self) -> None:
        self._lanes = layout(self.doc.project, motion=self.motion is not None)
        self.viewChanged.emit()
        self.note_new_tracks()
        self.update()

    def fit(self) -> None:
        if self.duration_s > 0 and self.width() > HEADER_W + 20:
            self.scale.px_per_s = (self.width() - HEADER_W - 16) / self.duration_s
            self.scale.offset_s = 0.0
        self.viewChanged.emit()
        self.update()

    def set_offset(self, t: float) -> None:
        self.scale.offset_s = max(0.0, t)
        self.viewChanged.emit()
        self.update()

    def set_position(self, t: float) -> None:
        old_x = self.scale.x_of(self.position_s)
        self.position_s = t
        x = self.scale.x_of(t)
        if self.follow and (x > self.width() - 20 or x < HEADER_W):
            self.set_offset(t - 0.05 * (self.width() - HEADER_W) / self.scale.px_per_s)
            return
        for px in (old_x, x):  # repaint just the two playhead columns, its head included
            self.update(int(px) - PLAYHEAD_HALF_W - 2, 0, 2 * PLAYHEAD_HALF_W + 5, self.height())

    def lane_at(self, y: float):
        if y < RULER_H:
            return self._lanes[0]
        y += self.v_offset
        return next((l for l in self._lanes[1:] if l.top <= y < l.bottom), None)

    def lane_rect(self, lane) -> QRectF:
        top = lane.top if lane.key == "ruler" else lane.top - self.v_offset
        return QRectF(HEADER_W, top, max(0, self.width() - HEADER_W), lane.height)

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(event.rect(), theme.BG)
        project, s = self.doc.project, self.scale
        t0, t1 = s.visible(self.width())
        clip_x0 = max(HEADER_W, event.rect().left())
        t0 = max(t0, s.t_of(clip_x0) - 0.01)
        t1 = min(t1, s.t_of(event.rect().right() + 1) + 0.01)
        width = int(event.rect().right() + 1 - clip_x0)
        body = QRectF(HEADER_W, RULER_H, self.width() - HEADER_W, self.height() - RULER_H)
        tempo = self.shown_tempo()
        p.save()
        p.setClipRect(body)
        for lane in self._lanes[1:]:
            r = self.lane_rect(lane)
            if r.bottom() < RULER_H or r.top() > self.height():
                continue
            self._paint_lane(p, lane, r, t0, t1, width)
        if tempo is not None:
            paint.paint_grid(p, body, s, tempo, t0, t1)
        self._paint_hint(p)
        if self.loop is not None:
            x0, x1 = s.x_of(self.loop[0]), s.x_of(self.loop[1])
            p.fillRect(QRectF(x0, body.top(), x1 - x0, body.height()), theme.LOOP)
        if self._drag is not None and self._drag["mode"] == "band":
            lane = next(l for l in self._lanes if l.key == self._drag["track"])
            r = self.lane_rect(lane)
            a, b = sorted((self._drag["t0"], self._drag["t1"]))
            band = QRectF(s.x_of(a), r.top() + 1, s.x_of(b) - s.x_of(a), r.height() - 2)
            p.fillRect(band, QColor(240, 160, 64, 40))
            p.setPen(QPen(theme.ACCENT, 1, Qt.DashLine))
            p.drawRect(band)
        if self.duration_s > 0:
            xe = s.x_of(self.duration_s)
            if xe < self.width():
                p.fillRect(QRectF(xe, body.top(), self.width() - xe, body.height()), QColor(0, 0, 0, 90))
        p.restore()
        if event.rect().left() < HEADER_W:
            p.drawPixmap(0, 0, self._header_column(tempo))
        self.paint_header_overlays(p)
        if tempo is not None:
            p.save()
            p.setClipRect(QRectF(HEADER_W, 0, self.width() - HEADER_W, RULER_H))
            dragging = self._drag is not None and self._drag["mode"] == "downbeat"
            label_t0 = max(s.visible(self.width())[0], s.t_of(clip_x0 - RULER_LABEL_PX))
            paint.paint_ruler(p, QRectF(HEADER_W, 0, self.width() - HEADER_W, RULER_H), s, tempo, label_t0, t1,
                              self.loop, dragging)
            p.restore()
        else:
            p.fillRect(QRectF(HEADER_W, 0, self.width() - HEADER_W, RULER_H), theme.PANEL)
        x = s.x_of(self.position_s)
        if x >= HEADER_W and project is not None:
            p.setPen(QPen(theme.ACCENT, 1.5))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            p.setBrush(theme.ACCENT)
            p.setPen(Qt.NoPen)
            w = PLAYHEAD_HALF_W
            p.drawPolygon([QPointF(x - w, 0), QPointF(x + w, 0), QPointF(x, 8)])

    def _header_column(self, tempo) -> QPixmap:
        """The headers' column, painted again only when what it shows changed (a scroll or zoom
        repaints the lanes, not twelve headers): the key holds the objects whose identity it
        compares (tracks, tempo, analysis are replaced on every edit, never changed in place)."""
        project, dpr = self.doc.project, self.devicePixelRatioF()
        tracks = tuple(project.tracks) if project is not None else ()
        key = (self.v_offset, self.height(), dpr, tuple((l.key, l.top, l.height) for l in self._lanes),
               tuple(map(id, tracks)), self.doc.selected_track, id(tempo), id(self.doc.analysis), id(project),
               id(self.motion))
        cached = self._headers
        if cached is not None and cached[0] == key:
            return cached[1]
        pix = QPixmap(int(HEADER_W * dpr), int(self.height() * dpr))
        pix.setDevicePixelRatio(dpr)
        pix.fill(theme.BG)
        p = QPainter(pix)
        p.setFont(self.font())
        p.setClipRect(QRectF(0, RULER_H, HEADER_W, self.height()))
        for lane in self._lanes[1:]:
            if lane.bottom - self.v_offset < RULER_H or lane.top - self.v_offset > self.height():
                continue
            moved = dataclasses.replace(lane, top=lane.top - self.v_offset)
            if lane.key == "motion":
                motion_lane.paint_header(p, moved, self.motion)
                continue
            paint_header(p, moved, project, self.doc.analysis, lane.key == self.doc.selected_track, tempo)
        p.setClipping(False)
        paint_header(p, self._lanes[0], project, self.doc.analysis, False, tempo)
        p.end()
        self._headers = (key, pix, tracks, tempo, self.doc.analysis, project, self.motion)  # keeps the ids valid
        return pix

    def _paint_hint(self, p: QPainter) -> None:
        project = self.doc.project
        if project is not None and project.tracks:
            return
        top = self._lanes[-1].bottom - self.v_offset
        area = QRectF(HEADER_W, top, self.width() - HEADER_W, self.height() - top)
        if area.height() < 30:
            return
        p.setPen(theme.TEXT_DIM)
        from studio.generate import available_engines

        text = ("Drop a video file here to start" if project is None else
                "No tracks yet \u2014 open Generate (Ctrl+G) to make them from the video" if available_engines() else
                "No tracks yet \u2014 import audio (Ctrl+I); generation engines are not installed yet")
        p.drawText(area, Qt.AlignCenter, text)

    def _paint_lane(self, p: QPainter, lane, r: QRectF, t0: float, t1: float, width: int) -> None:
        s, project = self.scale, self.doc.project
        if lane.key == "video":
            self.thumbs.set_height(max(2, int(round(THUMB_H * self.devicePixelRatioF()))))
            v = project.video if project is not None else None
            aspect = v.width / v.height if v is not None and v.height else 16 / 9
            paint.paint_video(p, r, s, self.thumbs, self.duration_s, aspect, t0, t1)
        elif lane.key == "analysis":
            paint.paint_analysis(p, r, s, self.doc.analysis, t0, t1, width)
        elif lane.key == "motion":
            motion_lane.paint(p, r, s, self.motion, t0, t1)
        else:
            track = project.track(lane.key)
            selected = lane.key == self.doc.selected_track
            p.fillRect(r, QColor("#202329") if selected else QColor("#1d1f23"))
            if track.kind is TrackKind.FOLEY or track.events:
                d = self._drag  # only a drag of hits moves them (a rubber band has no "dt")
                dt = d["dt"] if d is not None and d["mode"] == "events" and d["track"] == track.id else 0.0
                ev_sel = self.doc.selected_events if selected else ()
                paint.paint_foley(p, r, s, track, t0, t1, ev_sel, dt)
            if track.notes:
                paint.paint_midi(p, r, s, track, t0, t1)
            if track.audio_path and project.path is not None:
                peaks = self.peaks.get(project.resolve(track.audio_path))
                colour = theme.track_colour(track)
                paint.paint_audio(p, r, s, peaks, track.offset_s, colour, s.t_of(r.left()), int(r.width()))
        p.setPen(theme.LINE)
        p.drawLine(QPointF(r.left(), r.bottom()), QPointF(r.right(), r.bottom()))

    # -- gestures -------------------------------------------------------------------------------
    def _snapped(self, t: float, event) -> float:
        if self.snap and not event.modifiers() & Qt.AltModifier and self.doc.project is not None:
            return snap_time(t, self.doc.tempo, self.scale.px_per_s)
        return max(0.0, t)

    def event_at(self, track, x: float) -> int | None:
        best, best_d = None, HIT_PX
        for i, ev in enumerate(track.events):
            d = abs(self.scale.x_of(ev.time_s) - x)
            if d <= best_d:
                best, best_d = i, d
        return best

    def mousePressEvent(self, event) -> None:
        if self.doc.project is None:
            return
        pos = event.position()
        edge = self.edge_lane(pos.y()) if pos.x() < HEADER_W else None
        if edge is not None and event.button() == Qt.LeftButton:
            self.start_header_drag(edge, pos.y(), resize=True)
            return
        lane = self.lane_at(pos.y())
        if lane is None:
            return
        t = max(0.0, self.scale.t_of(pos.x()))
        if pos.x() < HEADER_W:
            if lane.key not in FIXED_LANES:
                if self._header_press(lane, QPointF(pos.x(), pos.y() + self.v_offset)) \
                        and event.button() == Qt.LeftButton:
                    self.start_header_drag(lane, pos.y(), resize=False)
            return
        if event.button() != Qt.LeftButton:
            return
        if lane.key == "ruler" and event.modifiers() & Qt.ShiftModifier:
            t = self._snapped(t, event)
            self._drag = {"mode": "loop", "anchor": t}
            return
        if lane.key == "ruler" and abs(pos.x() - self.scale.x_of(self.doc.tempo.downbeat_s)) <= HIT_PX + 2:
            self._drag = {"mode": "downbeat", "tempo": self.doc.tempo, "t": self.doc.tempo.downbeat_s}
            self.update()
            return
        if lane.key not in FIXED_LANES:
            track = self.doc.track(lane.key)
            hit = self.event_at(track, pos.x()) if track.events else None
            if hit is not None:
                sel = set(self.doc.selected_events) if self.doc.selected_track == track.id else set()
                if event.modifiers() & Qt.ControlModifier:
                    sel ^= {hit}
                elif hit not in sel:
                    sel = {hit}
                self.doc.select(track.id, tuple(sel))
                if hit in sel:
                    self._drag = {"mode": "events", "track": track.id, "hit": hit, "x0": pos.x(), "dt": 0.0}
                return
            self.doc.select(track.id)
            if event.modifiers() & Qt.ShiftModifier and track.events:  # rubber band over hits
                self._drag = {"mode": "band", "track": track.id, "t0": t, "t1": t}
                return
        self._drag = {"mode": "scrub"}
        self.seekRequested.emit(t)

    def _header_press(self, lane, pos: QPointF) -> bool:
        """A click on a header: its mute / solo button, else selects the track (True: it may
        become a drag that reorders)."""
        track = self.doc.track(lane.key)
        for name, rect in button_rects(lane).items():
            if rect.contains(pos):
                value = not getattr(track.mixer, name)
                undo.set_mixer(self.doc, track.id, f"{'Mute' if name == 'mute' else 'Solo'} {track.name}",
                               **{name: value})
                return False
        self.doc.select(track.id)
        return True

    def mouseMoveEvent(self, event) -> None:
        d = self._drag
        if d is None:
            self.hover_header(event.position().x(), event.position().y())
            return
        if d["mode"] in ("height", "reorder"):
            self.move_header_drag(d, event.position().y())
            return
        x = event.position().x()
        t = max(0.0, self.scale.t_of(x))
        if d["mode"] == "scrub":
            self.seekRequested.emit(min(t, self.duration_s))
        elif d["mode"] == "downbeat":
            self._drag_downbeat(d, t, event)
        elif d["mode"] == "loop":
            t = self._snapped(t, event)
            a, b = sorted((d["anchor"], t))
            self.loop = (a, b) if b - a > 1e-3 else None
            self.update()
        elif d["mode"] == "band":
            d["t1"] = t
            a, b = sorted((d["t0"], t))
            track = self.doc.track(d["track"])
            self.doc.select(track.id, tuple(i for i, e in enumerate(track.events) if a <= e.time_s <= b))
            self.update()
        elif d["mode"] == "events":
            track = self.doc.track(d["track"])
            ev = track.events[d["hit"]]
            target = self._snapped(ev.time_s + (x - d["x0"]) / self.scale.px_per_s, event)
            dt = target - ev.time_s
            dt = max(dt, -min(track.events[i].time_s for i in self.doc.selected_events))
            d["dt"] = dt
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        d, self._drag = self._drag, None
        if d is None:
            return
        if d["mode"] == "loop":
            self.loopChanged.emit(self.loop)
        elif d["mode"] == "downbeat" and d["tempo"] is not self.doc.tempo:
            self.gridRequested.emit(d["tempo"], f"Bar 1 at {d['tempo'].downbeat_s:.2f} s", "")
        elif d["mode"] == "events" and abs(d["dt"]) > 1e-6:
            self.move_selected_events(d["dt"])
        elif d["mode"] in ("height", "reorder"):
            self.end_header_drag(d)
        self.update()

    def _drag_downbeat(self, d: dict, t: float, event) -> None:
        """Bar 1 follows the mouse: onto the nearest beat of the grid within an eighth of a beat
        (studio.grid.with_downbeat), else the grid moves so a beat lands there; with snap on, a
        visual beat of the analysis within a few pixels catches it first (Alt: free)."""
        from studio.errors import StudioError
        from studio.grid import with_downbeat

        t = min(max(0.0, t), self.duration_s)
        a = self.doc.analysis
        if self.snap and not event.modifiers() & Qt.AltModifier and a is not None and len(a.beat_times_s):
            near = float(a.beat_times_s[int(np.argmin(np.abs(a.beat_times_s - t)))])
            if abs(near - t) * self.scale.px_per_s <= HIT_PX:
                t = near
        if abs(t - d["t"]) < 1e-6:
            return
        d["t"] = t
        try:
            d["tempo"] = with_downbeat(self.doc.tempo, t, self.duration_s)
        except (StudioError, ValueError):
            return
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:
        pos = event.position()
        lane = self.lane_at(pos.y())
        if lane is None or pos.x() < HEADER_W or self.doc.project is None:
            return
        if lane.key in FIXED_LANES:
            return
        track = self.doc.track(lane.key)
        if track.kind is not TrackKind.FOLEY:
            if track.notes or track.kind is TrackKind.MIDI:
                self.editNotesRequested.emit(track.id)
            return
        t = self._snapped(self.scale.t_of(pos.x()), event)
        self.add_event(track.id, t)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            self.delete_selected_events()
        elif event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.doc.selected_track is not None:
            self.editNotesRequested.emit(self.doc.selected_track)
        elif event.key() in (Qt.Key_Left, Qt.Key_Right) and self.doc.selected_events:
            self.nudge_selected_events(-1 if event.key() == Qt.Key_Left else 1,
                                       fine=bool(event.modifiers() & Qt.AltModifier))
        else:
            super().keyPressEvent(event)

    def contextMenuEvent(self, event) -> None:
        lane = self.lane_at(event.pos().y())
        if lane is None or self.doc.project is None or lane.key in FIXED_LANES:
            return
        track = self.doc.track(lane.key)
        if event.pos().x() < HEADER_W:
            self.doc.select(track.id)
            self._header_menu(track, event.globalPos())
            return
        hit = self.event_at(track, event.pos().x())
        menu = QMenu(self)
        if hit is not None:
            if hit not in self.doc.selected_events or self.doc.selected_track != track.id:
                self.doc.select(track.id, (hit,))
            sub = menu.addMenu("Material")
            for m in theme.MATERIALS:
                sub.addAction(m, lambda m=m: self.set_material(m))
            menu.addAction("Delete", self.delete_selected_events)
        elif track.kind is TrackKind.FOLEY:
            t = self._snapped(self.scale.t_of(event.pos().x()), event)
            menu.addAction(f"Add event at {t:.2f} s", lambda: self.add_event(track.id, t))
        if not menu.isEmpty():
            menu.exec(event.globalPos())

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.ControlModifier:
            self.scale.zoom(1.15 ** (delta.y() / 120), event.position().x())
            self.viewChanged.emit()
            self.update()
        elif delta.x() != 0 or event.modifiers() & Qt.ShiftModifier or self.content_height <= self.height():
            d = delta.x() or delta.y()
            self.set_offset(self.scale.offset_s - d / 120 * 60 / self.scale.px_per_s)
        else:
            self.v_offset = max(0, min(self.content_height - self.height(), self.v_offset - delta.y() // 2))
            self.viewChanged.emit()
            self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.viewChanged.emit()

    def event(self, event) -> bool:
        """The Motion sections lane's tooltip: the section under the mouse."""
        if event.type() == QEvent.ToolTip:
            lane = self.lane_at(event.pos().y())
            sec = motion_lane.section_at(self.motion, self.scale.t_of(event.pos().x())) \
                if lane is not None and lane.key == "motion" and event.pos().x() >= HEADER_W else None
            if sec is not None:
                QToolTip.showText(event.globalPos(), motion_lane.tooltip(sec), self)
                return True
            QToolTip.hideText()
        return super().event(event)

    def closeEvent(self, event) -> None:
        self.thumbs.close()
        super().closeEvent(event)
