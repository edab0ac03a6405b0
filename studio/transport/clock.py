"""The master clock and the play timeline that audio, MIDI and video all follow.

One *run* is the span between a start (play, resume, seek while playing) and the next halt.
Within a run time is counted in *unwrapped* frames ``u`` from 0; a :class:`Timeline` maps
``u`` to the song position (seconds), wrapping at the loop end when a loop region is set.
The audio feeder renders and the MIDI scheduler sends in unwrapped frames, so both see the
same wrap at the same sample.

Varispeed (following a DAW at another speed, studio.transport.follow): a run may play at a rate
``r`` (song seconds per second of the audio clock). Its :class:`RateMap` maps the audio's
unwrapped frames ``u`` to *run frames* ``v`` (song frames played since the start, before the
loop wraps them), piecewise linearly: a rate change is a new breakpoint at a frame not yet
rendered (the feeder's write position with audio, the heard frame on the system clock), so
every reader (position, feeder, MIDI scheduler) maps the same ``u`` to the same ``v``. Without a
rate map (``rate=None``, the default) ``v = u`` exactly, as before.

:class:`MasterClock` says how many unwrapped frames have been *heard* at a wall time. With an
audio stream it is driven by the audio callback: each callback publishes (frames played before
this block, block size, its time) in a preallocated int64 array under a sequence counter
(a seqlock: the callback is the only writer, readers retry on a torn read) — no locks, nothing
allocated. Without audio it runs from the system's monotonic clock. If the callback stalls
(underrun, lost device) the audio clock stops too, so MIDI and video wait for the audio.
"""
from __future__ import annotations

import math
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Iterator

import numpy as np

# Cells of the shared control array (int64). The audio callback writes CB_*, the control
# thread writes the others while the callback is silent (see audio.py for the protocol).
SEQ, CB_START, CB_FRAMES, CB_TNS = 0, 1, 2, 3  # seqlock-protected clock anchor
CTL_SIZE = 16


@dataclass(frozen=True)
class Segment:
    """A stretch of a run: unwrapped frames [u0, u0+frames) play song frames [pos0, pos0+frames)."""

    u0: int
    pos0: int
    frames: int  # may be huge (open end)
    wraps: bool  # True when the run continues at the loop start after this segment


RATE_MIN, RATE_MAX = 0.5, 2.0


class RateMap:
    """Varispeed of a run: unwrapped audio frames ``u`` -> run frames ``v``, piecewise linear.

    Breakpoints (u, v, rate) only ever grow at the end (one writer: the feeder, or the transport
    on the system clock); readers on other threads bisect the lists without a lock (the tuple
    is appended before its keys, so a reader never indexes past it)."""

    def __init__(self, rate: float = 1.0) -> None:
        self._pts: list[tuple[float, float, float]] = [(0.0, 0.0, clamp_rate(rate))]
        self._u: list[float] = [0.0]
        self._v: list[float] = [0.0]

    @property
    def rate(self) -> float:
        """The rate of the last breakpoint (the one that applies from there on)."""
        return self._pts[-1][2]

    @property
    def changes(self) -> int:
        return len(self._pts) - 1

    def set(self, rate: float, at_u: float) -> None:
        """Play at ``rate`` from unwrapped frame ``at_u`` on (not before the last breakpoint)."""
        rate = clamp_rate(rate)
        u0, v0, r0 = self._pts[-1]
        if rate == r0:
            return
        at_u = max(float(at_u), u0)
        v = v0 + r0 * (at_u - u0)
        self._pts.append((at_u, v, rate))
        self._v.append(v)
        self._u.append(at_u)

    def v_of(self, u: float) -> float:
        i = max(0, bisect_right(self._u, u) - 1)
        u0, v0, r = self._pts[i]
        return v0 + r * (u - u0)

    def u_of(self, v: float) -> float:
        i = max(0, bisect_right(self._v, v) - 1)
        u0, v0, r = self._pts[i]
        return u0 + (v - v0) / r

    def v_block(self, u: int, n: int) -> np.ndarray:
        """``v`` of the unwrapped frames u, u+1, ..., u+n-1 (float64)."""
        k = np.arange(n, dtype=np.float64) + u
        i = max(0, bisect_right(self._u, u) - 1)
        j = max(0, bisect_right(self._u, u + n - 1) - 1)
        if i == j:
            u0, v0, r = self._pts[i]
            return v0 + r * (k - u0)
        out = np.empty(n)
        for s in range(i, j + 1):
            u0, v0, r = self._pts[s]
            m = k >= u0
            out[m] = v0 + r * (k[m] - u0)
        return out


def clamp_rate(rate: float) -> float:
    r = float(rate)
    if not math.isfinite(r):
        return 1.0
    return min(max(r, RATE_MIN), RATE_MAX)


class Timeline:
    """Maps a run's unwrapped frames to song frames: start at ``start``, loop [a, b) if given.

    ``rate`` (varispeed): None plays at the audio clock's speed (run frames = unwrapped frames);
    a number gives the run a :class:`RateMap` starting at that rate (``rates``). :meth:`segments`
    and :meth:`song_frame` count run frames ``v``; :meth:`position` and :meth:`position_s` take
    unwrapped frames ``u``."""

    OPEN = 1 << 62

    def __init__(self, sample_rate: int, start_frame: int, loop: tuple[int, int] | None = None,
                 rate: float | None = None) -> None:
        self.sample_rate = int(sample_rate)
        self.start = int(start_frame)
        self.rates = RateMap(rate) if rate is not None else None
        if loop is not None:
            a, b = int(loop[0]), int(loop[1])
            if b - a < 1:
                raise ValueError("loop region must be at least one frame long")
            if not a <= self.start < b:  # starting outside the loop: play into it, then loop
                loop = (a, b) if self.start < a else None
        self.loop = loop

    def v_of(self, u: float) -> float:
        """Run frame played at unwrapped frame ``u``."""
        return u if self.rates is None else self.rates.v_of(u)

    def u_of(self, v: float) -> float:
        """Unwrapped frame at which run frame ``v`` plays (as far as the rates are known now)."""
        return v if self.rates is None else self.rates.u_of(v)

    def song_frame(self, v: int) -> int:
        """Song frame of run frame ``v`` (the loop wraps it)."""
        p = self.start + int(v)
        if self.loop is None or p < self.loop[1]:
            return p
        a, b = self.loop
        return a + (p - b) % (b - a)

    def position(self, u: int) -> int:
        """Song frame heard at unwrapped frame ``u``."""
        if self.rates is None:
            return self.song_frame(u)
        return self.song_frame(int(math.floor(self.rates.v_of(u))))

    def position_s(self, u: float) -> float:
        v = self.v_of(u)
        if self.loop is None:
            return (self.start + v) / self.sample_rate
        whole = int(math.floor(v))
        return (self.song_frame(whole) + (v - whole)) / self.sample_rate

    def segments(self, u_from: int = 0) -> Iterator[Segment]:
        """Segments from the one containing run frame ``u_from`` onward (endless when looping);
        their ``u0`` and ``frames`` are run frames (= unwrapped frames without varispeed)."""
        if self.loop is None:
            yield Segment(0, self.start, self.OPEN, False)
            return
        a, b = self.loop
        first = b - self.start
        if u_from < first:
            yield Segment(0, self.start, first, True)
            k = 0
        else:
            k = (u_from - first) // (b - a)
        while True:
            yield Segment(first + k * (b - a), a, b - a, True)
            k += 1


class MasterClock:
    """Heard unwrapped frames at a wall time; driven by the audio callback or by the system clock."""

    def __init__(self, sample_rate: int, ctl: np.ndarray | None = None, latency_frames: int = 0) -> None:
        self.sample_rate = int(sample_rate)
        self.ctl = ctl  # None: system clock
        self.latency_frames = int(latency_frames)
        self._t0_ns = 0
        self._running = False

    # -- system-clock mode ------------------------------------------------------------------
    def start(self) -> None:
        """Begin a run at unwrapped frame 0 now (system mode; audio mode starts with the callback)."""
        self._t0_ns = time.perf_counter_ns()
        self._running = True

    def halt(self) -> None:
        self._frozen = self.heard_frames()
        self._running = False

    @property
    def running(self) -> bool:
        """System mode: a run is counting (audio mode: always True, the callback drives it)."""
        return self.ctl is not None or self._running

    @property
    def origin_ns(self) -> int:
        """System mode: perf_counter_ns of the run's unwrapped frame 0."""
        return self._t0_ns

    # -- reading ----------------------------------------------------------------------------
    def anchor(self) -> tuple[int, int, int]:
        """(frames before the last callback's block, its block size, its perf_counter_ns)."""
        c = self.ctl
        while True:
            s1 = int(c[SEQ])
            if s1 & 1:
                continue
            start, frames, tns = int(c[CB_START]), int(c[CB_FRAMES]), int(c[CB_TNS])
            if int(c[SEQ]) == s1:
                return start, frames, tns

    def heard_frames(self, t_ns: int | None = None) -> float:
        """Unwrapped frames heard at ``t_ns`` (perf_counter_ns; now if None), never negative."""
        t_ns = time.perf_counter_ns() if t_ns is None else t_ns
        if self.ctl is None:
            if not self._running:
                return getattr(self, "_frozen", 0.0)
            return max(0.0, (t_ns - self._t0_ns) * 1e-9 * self.sample_rate)
        start, frames, tns = self.anchor()
        if tns == 0:
            return 0.0
        ahead = min(max(0.0, (t_ns - tns) * 1e-9 * self.sample_rate), float(frames))
        return max(0.0, start + ahead - self.latency_frames)

    def wall_ns_of(self, u: float) -> int | None:
        """perf_counter_ns at which unwrapped frame ``u`` should be heard, extrapolated from the
        last callback (None before the first one). Only an estimate for sleeping: whether ``u``
        has really been reached is ``heard_frames() >= u``, which waits for the audio."""
        if self.ctl is None:
            return self._t0_ns + int(u / self.sample_rate * 1e9) if self._running else None
        start, _frames, tns = self.anchor()
        if tns == 0:
            return None
        return tns + int((u + self.latency_frames - start) / self.sample_rate * 1e9)
