"""Level meters: per-block peak envelopes of a render, read at a playhead (the app's mixer).

Computed once per render, not per GUI tick: every stem and the mix are reduced to one peak per
``BLOCK_S`` block (the largest ``|sample|`` of either channel), so a meter's reading at a time
is an array look-up. A block is "over" when a sample reached full scale (0 dBFS): for the mix,
the mix as played and exported (after the master fader, ``studio.render``); for a track, its
post-fader signal before the stem safety limiter (``RenderResult.stem_overs``), since the
limited stem itself never gets there. The master's loudness and true peak are the mastering
stage's figures (``studio.mastering``, BS.1770) of that same mix.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BLOCK_S = 0.01  # 10 ms: finer than the GUI's 16 ms tick, 100 values a second per track
FULL_SCALE = 1.0  # 0 dBFS: a sample here clips in a fixed-point file or at the converter


def block_frames(sample_rate: int) -> int:
    return max(1, int(round(sample_rate * BLOCK_S)))


def block_peaks(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n_blocks,) float32: each block's largest |sample| over the channels (a last short block too).
    Block maxima and minima, not ``abs`` of the whole signal: no temporary as large as the audio."""
    x = np.asarray(audio, dtype=np.float32)
    x = x[None, :] if x.ndim == 1 else x
    if x.shape[-1] == 0:
        return np.zeros(0, np.float32)
    starts = np.arange(0, x.shape[-1], block_frames(sample_rate))
    hi = np.maximum.reduceat(x, starts, axis=1).max(axis=0)
    lo = np.minimum.reduceat(x, starts, axis=1).min(axis=0)
    return np.maximum(hi, -lo).astype(np.float32)


def block_overs(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n_blocks,) bool: the blocks where a sample reached full scale."""
    return block_peaks(audio, sample_rate) >= FULL_SCALE


def to_db(linear: float) -> float:
    return 20.0 * math.log10(linear) if linear > 0 else float("-inf")


@dataclass(frozen=True)
class Meter:
    peaks: np.ndarray  # (n_blocks,) float32 linear
    overs: np.ndarray  # (n_blocks,) bool

    def read(self, i0: int, i1: int) -> tuple[float, bool]:
        """(peak dBFS, any over) of blocks ``i0 .. i1`` inclusive; -inf outside the render."""
        i0, i1 = max(0, i0), min(self.peaks.size - 1, i1)
        if i1 < i0:
            return float("-inf"), False
        over = bool(self.overs[i0:min(i1 + 1, self.overs.size)].any())
        return to_db(float(self.peaks[i0:i1 + 1].max())), over


@dataclass(frozen=True)
class Levels:
    """A render's meters: one per audible track (by id) and the master."""

    sample_rate: int
    start_s: float  # where the render starts on the timeline
    tracks: dict[str, Meter]
    master: Meter
    loudness_lufs: float = float("-inf")  # integrated, of the mix as played (fader included)
    true_peak_dbtp: float = float("-inf")
    master_fader_db: float = 0.0
    block_s: float = field(default=BLOCK_S)

    def _block(self, time_s: float) -> int:
        return int(math.floor((time_s - self.start_s) * self.sample_rate / block_frames(self.sample_rate)))

    def read(self, track_id: str | None, t0: float, t1: float | None = None) -> tuple[float, bool]:
        """(peak dBFS, over) of a track (None: the master) between ``t0`` and ``t1`` (default: the
        block at ``t0``); a track this render did not play reads -inf."""
        meter = self.master if track_id is None else self.tracks.get(track_id)
        if meter is None:
            return float("-inf"), False
        a = self._block(t0)
        return meter.read(a, self._block(t1) if t1 is not None else a)


def levels_of(result) -> Levels:
    """The meters of a ``studio.render.RenderResult`` (this module does not import the renderer:
    the renderer uses ``block_overs`` from here)."""
    sr = result.sample_rate
    tracks = {}
    for tid, stem in result.stems.items():
        peaks = block_peaks(stem, sr)
        overs = peaks >= FULL_SCALE
        pre = result.stem_overs.get(tid)
        if pre is not None:
            k = min(pre.size, overs.size)
            overs[:k] |= pre[:k]
        tracks[tid] = Meter(peaks, overs)
    peaks = block_peaks(result.mix, sr)
    return Levels(sr, result.start_s, tracks, Meter(peaks, peaks >= FULL_SCALE), result.loudness_lufs,
                  result.true_peak_dbtp, result.master_fader_db)

