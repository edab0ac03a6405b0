"""Lazy video thumbnails for the timeline: requested for the visible slots only, decoded in
batches on a background thread with studio.media.thumbnails, kept in a bounded cache."""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from studio.errors import StudioError
from ui.frames import to_qimage

MAX_IMAGES = 1500
BATCH = 6


def slot_seconds(thumb_w: float, px_per_s: float) -> float:
    """Power-of-two slot length so cached thumbnails are reused while zooming."""
    return 2.0 ** round(math.log2(max(1e-3, thumb_w / px_per_s)))


class ThumbnailCache(QObject):
    updated = Signal()

    def __init__(self, height: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.height = height
        self._images: OrderedDict[tuple[float, int], QImage] = OrderedDict()
        self._wanted: list[tuple[float, int]] = []
        self._path: Path | None = None
        self._duration = 0.0
        self._gen = 0
        self._cond = threading.Condition()
        self._closing = False
        self.failed: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="thumbnails")
        self._thread.start()

    def set_source(self, path: Path | None, duration_s: float) -> None:
        with self._cond:
            self._path, self._duration = path, duration_s
            self._images.clear()
            self._wanted = []
            self._gen += 1
            self.failed = None

    def set_height(self, height: int) -> None:
        """Decode at another height (e.g. the screen's device pixel ratio changed)."""
        with self._cond:
            if height != self.height:
                self.height = height
                self._images.clear()
                self._wanted = []
                self._gen += 1

    def get(self, slot_s: float, k: int) -> QImage | None:
        """The thumbnail of slot k, or a coarser level's one covering it while that loads."""
        with self._cond:
            img = self._images.get((slot_s, k))
            if img is not None:
                self._images.move_to_end((slot_s, k))
                return img
            s, j = slot_s, k
            for _ in range(4):
                s, j = s * 2, j // 2
                img = self._images.get((s, j))
                if img is not None:
                    return img
            for _ in range(3):  # or a finer one
                slot_s, k = slot_s / 2, k * 2
                img = self._images.get((slot_s, k))
                if img is not None:
                    return img
        return None

    def want(self, slots: list[tuple[float, int]]) -> None:
        """Replace the request queue with ``slots`` (visible ones first); cached ones are skipped."""
        with self._cond:
            self._wanted = [s for s in slots if s not in self._images]
            if self._wanted:
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(2.0)

    def _run(self) -> None:
        from studio import media

        while True:
            with self._cond:
                while not (self._wanted and self._path) and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                batch, self._wanted = self._wanted[:BATCH], self._wanted[BATCH:]
                path, duration, gen = self._path, self._duration, self._gen
            times = [min(max(0.0, (k + 0.5) * s), max(0.0, duration - 0.05)) for s, k in batch]
            try:
                frames = media.thumbnails(path, times, height=self.height)
            except (StudioError, ValueError) as exc:
                with self._cond:
                    self.failed, self._wanted = str(exc), []
                self.updated.emit()
                continue
            images = [to_qimage(f.image) for f in frames]
            with self._cond:
                if gen != self._gen:
                    continue
                for key, img in zip(batch, images):
                    self._images[key] = img
                while len(self._images) > MAX_IMAGES:
                    self._images.popitem(last=False)
            self.updated.emit()
