"""The video preview: the frame at the playhead, aspect-fitted, with Foley events near the
playhead drawn where they happen in the picture, the piano engine's keyboard box (which the
user can drag out on the picture: ``start_box_drawing``), and, when the video has keypoints, a box
around each person (``set_people``): a click on one, or the Person chooser, picks the player that
Separate Player acts on."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QComboBox, QMenu, QSizePolicy, QWidget

from ui import theme
from ui.frames import FrameServer

EVENT_WINDOW_S = 0.12


class VideoPreview(QWidget):
    frameShown = Signal(float)
    keyboardBoxDrawn = Signal(object)  # (x, y, w, h) in video pixels
    personChosen = Signal(int)  # the player picked (a click on a box, or the chooser)
    message_for_user = Signal(str)

    def __init__(self, doc, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.image: QImage | None = None
        self.image_time = 0.0
        self.position_s = 0.0
        self.message = ""
        self.frames = FrameServer(self)
        self.frames.frameReady.connect(self._on_frame)
        self.frames.failed.connect(self._on_failed)
        doc.projectReset.connect(self._reset)
        doc.selectionChanged.connect(self.update)  # the selected Piano track's keyboard outline
        self.keyboard_box = None  # (x, y, w, h) video pixels, drawn as an overlay
        self.drawing = False
        self._drag: tuple[QPointF, QPointF] | None = None
        self.people = None  # studio.separate.PeopleInView of the video's keypoints, or None
        self.person = 0
        self.context_actions: list = []  # the preview's context menu (the window adds Separate Player)
        self.person_box = QComboBox(self)
        self.person_box.setAccessibleName("Person")
        self.person_box.setToolTip("the player Separate Player acts on (or click a box on the video)")
        self.person_box.currentIndexChanged.connect(self.choose_person)
        self.person_box.hide()

    def _reset(self) -> None:
        self.image, self.message = None, ""
        self.set_people(None)
        path = self.doc.video_path
        size = None
        if path is not None:
            v = self.doc.project.video
            scale = min(1.0, 960 / max(1, v.width))  # decode at preview size, not full 4K
            size = (max(2, int(v.width * scale) // 2 * 2), max(2, int(v.height * scale) // 2 * 2))
        self.frames.set_source(path if path and path.exists() else None, size)
        if path is not None and not path.exists():
            self.message = f"video missing: {path}"
        self.update()

    def show_time(self, time_s: float) -> None:
        self.position_s = time_s
        self.frames.request(time_s)
        self.update()

    def _on_frame(self, t: float, image: QImage) -> None:
        self.image, self.image_time = image, t
        self.update()
        self.frameShown.emit(t)

    def _on_failed(self, message: str) -> None:
        self.message = message
        self.update()

    def closeEvent(self, event) -> None:
        self.frames.close()
        super().closeEvent(event)

    def picture_rect(self) -> QRectF:
        if self.image is None:
            return QRectF(self.rect())
        iw, ih = self.image.width(), self.image.height()
        if self.doc.project is not None and self.doc.project.video is not None:
            iw, ih = self.doc.project.video.width, self.doc.project.video.height
        s = min(self.width() / iw, self.height() / ih)
        w, h = iw * s, ih * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    # -- people ---------------------------------------------------------------------------------
    def set_people(self, people) -> None:
        """The people of the video's keypoints (``studio.separate.PeopleInView``), or None."""
        self.people = people
        self.person_box.blockSignals(True)
        self.person_box.clear()
        for i in range(people.count if people is not None else 0):
            self.person_box.addItem(f"Person {i}")
        self.person_box.blockSignals(False)
        self.person_box.setVisible(people is not None)
        self.person = 0
        self._place_chooser()
        self.update()

    def choose_person(self, index: int) -> None:
        if self.people is None or not 0 <= index < self.people.count:
            return
        self.person = index
        if self.person_box.currentIndex() != index:
            self.person_box.setCurrentIndex(index)
        self.update()
        self.personChosen.emit(index)

    def person_boxes(self) -> list:
        """Each person's box at the frame shown, as widget rectangles (None: not located)."""
        if self.people is None or self.doc.project is None or self.doc.project.video is None:
            return []
        pic = self.picture_rect()
        return [None if b is None else
                QRectF(self.to_widget(b[0], b[1]), self.to_widget(b[0] + b[2], b[1] + b[3])).intersected(pic)
                for b in self.people.at(self.position_s)]

    def person_at(self, pt: QPointF) -> int | None:
        """The person whose box holds ``pt`` (the smallest, where boxes overlap)."""
        hits = [(r.width() * r.height(), i) for i, r in enumerate(self.person_boxes())
                if r is not None and r.contains(pt)]
        return min(hits)[1] if hits else None

    def _place_chooser(self) -> None:
        self.person_box.adjustSize()
        self.person_box.move(self.width() - self.person_box.width() - 8, 8)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_chooser()

    def contextMenuEvent(self, event) -> None:
        hit = self.person_at(QPointF(event.pos()))
        if hit is not None:
            self.choose_person(hit)
        if self.context_actions:
            menu = QMenu(self)
            for a in self.context_actions:
                menu.addAction(a)
            menu.exec(event.globalPos())

    def _draw_people(self, p: QPainter) -> None:
        for i, rect in enumerate(self.person_boxes()):
            if rect is None:
                continue
            chosen = i == self.person
            p.setBrush(Qt.NoBrush)
            p.setPen(QPen(theme.ACCENT if chosen else QColor(230, 235, 240, 150), 2.5 if chosen else 1.2))
            p.drawRect(rect)
            p.drawText(rect.topLeft() + QPointF(4, 14), f"person {i}")

    # -- keyboard box ---------------------------------------------------------------------------
    def set_keyboard_box(self, box) -> None:
        self.keyboard_box = box
        self.update()

    def start_box_drawing(self) -> None:
        if self.doc.project is None or self.doc.project.video is None:
            self.message_for_user.emit("open a video first")
            return
        self.drawing = True
        self.setCursor(Qt.CrossCursor)
        self.setFocus()
        self.message_for_user.emit("drag the keyboard's box on the video (Esc cancels)")

    def _stop_drawing(self) -> None:
        self.drawing, self._drag = False, None
        self.unsetCursor()
        self.update()

    def to_video(self, pt: QPointF) -> tuple[float, float]:
        """A widget point as video pixels (clamped to the picture)."""
        r, v = self.picture_rect(), self.doc.project.video
        x = min(max((pt.x() - r.left()) / max(1e-9, r.width()), 0.0), 1.0) * v.width
        y = min(max((pt.y() - r.top()) / max(1e-9, r.height()), 0.0), 1.0) * v.height
        return x, y

    def to_widget(self, x: float, y: float) -> QPointF:
        r, v = self.picture_rect(), self.doc.project.video
        return QPointF(r.left() + x / v.width * r.width(), r.top() + y / v.height * r.height())

    def mousePressEvent(self, event) -> None:
        if self.drawing and event.button() == Qt.LeftButton:
            self._drag = (event.position(), event.position())
            self.update()
        elif event.button() == Qt.LeftButton and self.person_at(event.position()) is not None:
            self.choose_person(self.person_at(event.position()))
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self.drawing and self._drag is not None:
            self._drag = (self._drag[0], event.position())
            self.update()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if not (self.drawing and self._drag is not None and event.button() == Qt.LeftButton):
            return super().mouseReleaseEvent(event)
        (x0, y0), (x1, y1) = self.to_video(self._drag[0]), self.to_video(event.position())
        self._stop_drawing()
        w, h = abs(x1 - x0), abs(y1 - y0)
        if w < 16 or h < 4:
            self.message_for_user.emit("the keyboard box is too small; drag across the whole keyboard")
            return
        self.keyboardBoxDrawn.emit((min(x0, x1), min(y0, y1), w, h))

    def keyPressEvent(self, event) -> None:
        if self.drawing and event.key() == Qt.Key_Escape:
            self._stop_drawing()
        else:
            super().keyPressEvent(event)

    def _draw_keyboard_box(self, p: QPainter) -> None:
        if self.doc.project is None or self.doc.project.video is None:
            return
        p.setBrush(Qt.NoBrush)
        if self._drag is not None or self.keyboard_box is not None:
            if self._drag is not None:
                rect = QRectF(self._drag[0], self._drag[1]).normalized()
            else:
                x, y, w, h = self.keyboard_box
                rect = QRectF(self.to_widget(x, y), self.to_widget(x + w, y + h))
            p.setPen(QPen(theme.ACCENT, 2, Qt.DashLine))
            p.drawRect(rect)
            p.drawText(rect.topLeft() + QPointF(4, -4), "keyboard")
        corners = self._selected_keyboard()
        if corners:  # the corners the piano engine used for the selected Piano track
            pts = [self.to_widget(x, y) for x, y in corners]
            p.setPen(QPen(theme.ACCENT, 1.5))
            for a, b in zip(pts, pts[1:] + pts[:1]):
                p.drawLine(a, b)

    def _selected_keyboard(self) -> list | None:
        doc = self.doc
        if not doc.selected_track:
            return None
        track = next((t for t in doc.project.tracks if t.id == doc.selected_track), None)
        corners = track.settings.get("keyboard") if track is not None and track.engine == "piano" else None
        return corners if isinstance(corners, list) and len(corners) == 4 else None

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#0e0f11"))
        if self.image is None:
            p.setPen(theme.TEXT_DIM)
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.3)
            p.setFont(f)
            text = self.message or ("Drop a video here\nor use File \u203a New Project from Video (Ctrl+Shift+N)"
                                    if self.doc.video_path is None else "decoding\u2026")
            p.drawText(self.rect(), Qt.AlignCenter, text)
            return
        r = self.picture_rect()
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        p.drawImage(r, self.image)
        self._draw_events(p, r)
        self._draw_people(p)
        self._draw_keyboard_box(p)
        if self.message:
            p.setPen(theme.CUT)
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignTop | Qt.AlignLeft, self.message)

    def _draw_events(self, p: QPainter, r: QRectF) -> None:
        project = self.doc.project
        if project is None:
            return
        p.setRenderHint(QPainter.Antialiasing)
        for track in project.tracks:
            for ev in track.events:
                dt = abs(ev.time_s - self.position_s)
                if dt > EVENT_WINDOW_S:
                    continue
                c = QColor(theme.material_colour(ev.material))
                c.setAlphaF(1.0 - dt / EVENT_WINDOW_S)
                p.setPen(QPen(c, 2.5))
                p.setBrush(Qt.NoBrush)
                rad = 8 + 22 * ev.strength
                p.drawEllipse(QPointF(r.left() + ev.x * r.width(), r.top() + ev.y * r.height()), rad, rad)
