"""Waveform peaks of audio tracks, computed once per file in the background and drawn per pixel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

BLOCK = 256  # samples per stored peak


def compute_peaks(path: Path, job=None) -> tuple[np.ndarray, int]:
    """(peaks, sample_rate): the max |sample| of each BLOCK of the mono signal."""
    from studio import media

    audio, sr = media.read_audio(path, mono=True)
    x = np.abs(audio[0])
    n = len(x) // BLOCK * BLOCK
    peaks = x[:n].reshape(-1, BLOCK).max(axis=1) if n else np.zeros(0, np.float32)
    if len(x) > n:
        peaks = np.append(peaks, x[n:].max())
    return peaks.astype(np.float32), sr


def pixel_peaks(peaks: np.ndarray, sr: int, t0: float, px_per_s: float, width: int,
                offset_s: float = 0.0) -> np.ndarray:
    """Max peak under each of ``width`` pixels, the first at time ``t0``; the file starts at
    ``offset_s``; zeros outside the file."""
    n = len(peaks)
    out = np.zeros(max(0, width), np.float32)
    if n == 0 or width <= 0:
        return out
    edges = np.floor(((t0 - offset_s) + np.arange(width + 1) / px_per_s) * (sr / BLOCK)).astype(np.int64)
    lo, hi = edges[:-1], edges[1:]
    valid = (hi >= 0) & (lo < n)
    if not valid.any():
        return out
    lo_c = np.clip(lo, 0, n - 1)
    res = np.maximum.reduceat(peaks, lo_c)  # max over [lo_i, lo_{i+1}) (a[lo_i] where not increasing)
    res[-1] = peaks[lo_c[-1]:max(lo_c[-1] + 1, min(n, hi[-1]))].max()
    out[valid] = res[valid]
    return out


class PeakCache(QObject):
    updated = Signal()

    def __init__(self, workers, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self._peaks: dict[Path, tuple[np.ndarray, int] | str] = {}

    def get(self, path: Path):
        """(peaks, sr), an error string, or None while computing (then a job is started)."""
        if path in self._peaks:
            return self._peaks[path]
        self._peaks[path] = None
        handle = self.workers.submit(f"waveform {path.name}", _peaks_job, path)
        handle.finished.connect(lambda result, p=path: self._done(p, result))
        handle.failed.connect(lambda msg, p=path: self._done(p, msg))
        return None

    def _done(self, path: Path, result) -> None:
        self._peaks[path] = result
        self.updated.emit()


def _peaks_job(path: Path, job=None):
    return compute_peaks(path)
