"""Video frames for the preview, decoded with studio.media on a dedicated thread.

Only the latest request counts (scrubbing skips stale frames). During playback the decoder
keeps one forward iterator open and steps it to the requested time, which is far cheaper than a
seek per frame; a jump backwards or far ahead starts a new iterator at the target.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from studio.errors import StudioError

FORWARD_WINDOW_S = 2.0  # step the running iterator when the target is at most this far ahead


def to_qimage(rgb: np.ndarray) -> QImage:
    """An owning QImage of an (H, W, 3) uint8 RGB array."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


class FrameServer(QObject):
    frameReady = Signal(float, QImage)  # time of the frame shown, the picture
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._want: float | None = None
        self._path: Path | None = None
        self._size: tuple[int, int] | None = None
        self._generation = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="frame-server")
        self._thread.start()

    def set_source(self, path: str | Path | None, size: tuple[int, int] | None) -> None:
        with self._cond:
            self._path = Path(path) if path else None
            self._size = size
            self._generation += 1
            self._want = 0.0 if path else None
            self._cond.notify()

    def request(self, time_s: float) -> None:
        with self._cond:
            if self._path is None:
                return
            self._want = max(0.0, float(time_s))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(2.0)

    # -- decoder thread -------------------------------------------------------------------------
    def _run(self) -> None:
        from studio import media

        it, it_gen, current, pending = None, -1, None, None  # iterator, its source, shown, look-ahead
        while True:
            with self._cond:
                while self._want is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                want, self._want = self._want, None
                path, size, gen = self._path, self._size, self._generation
            if path is None:
                continue
            try:
                if gen != it_gen:
                    it, it_gen, current, pending = None, gen, None, None
                near = current is not None and current.time_s <= want + 1e-3 \
                    and want - current.time_s <= FORWARD_WINDOW_S
                if not near:
                    it = media.iter_frames(path, size=size, start_s=max(0.0, want - 0.001))
                    current, pending = next(it, None), None
                while it is not None or pending is not None:  # step to the last frame <= want
                    nxt = pending if pending is not None else next(it, None)
                    pending = None
                    if nxt is None:
                        it = None
                        break
                    if nxt.time_s > want + 1e-3:
                        pending = nxt
                        break
                    current = nxt
                if current is not None:
                    self.frameReady.emit(current.time_s, to_qimage(current.image))
            except (StudioError, ValueError) as exc:
                it, current, pending = None, None, None
                self.failed.emit(str(exc))
