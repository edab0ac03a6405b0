"""Binaural rendering: one FFT convolution for a static source, uniformly partitioned FFT
convolution with time-varying room IRs for a moving one and for the live stream.

A source that does not move (:class:`KeyframePath` with one keyframe, or keyframes at one
place: ``path.static``) is one field query and one ``scipy.signal.oaconvolve`` per ear for the
whole signal (:func:`render_path`); it equals the partitioned convolver's output for that filter
to float rounding (tested). Everything below is for moving sources and streaming.

The partitioned engine serves moving sources offline and real-time streaming:
:class:`Convolver` processes one block of B samples at a time (overlap-save, FFT size 2B, a
frequency-domain delay line of P input spectra, kept twice over so it never has to move, one
complex multiply-accumulate per partition and ear). Its output for a fixed IR equals direct
convolution (tested to 1e-5).

Filter changes never click: the delay line holds *input* spectra, so the block is computed
with both the old and the new filter and cross-faded (raised cosine over the block); where
only some partitions change (the early part of a moving source), the unchanged ones are
summed once.

:class:`MultiRenderer` drives a Convolver per source from its path, several sources with one
batched field query per block (the benchmark's 4 moving stems, the live stream): it queries the
room field at the block's centre time (position interpolated between keyframes) in every block
where the path moves (``path.moves(t0, t1)``: a keyframe path knows its moving segments, so
there is no per-block comparison of poses or filters; a plain callable is taken to move every
block); the direct + early region of the IR (the first ``early_parts`` partitions) is updated
in each such block, the late tail every ``tail_every`` blocks (it changes slowly with position;
staggered over the sources). :func:`render_path` renders a whole mono signal: static, one
convolution; moving, through a MultiRenderer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from engines.spatial import dsp


def _resample(ir: np.ndarray, sr: int) -> np.ndarray:
    if sr == dsp.IR_RATE:
        return ir
    from scipy.signal import resample_poly

    g = math.gcd(sr, dsp.IR_RATE)
    return resample_poly(ir.astype(np.float64), sr // g, dsp.IR_RATE // g, axis=-1).astype(np.float32)


class Convolver:
    """Stereo (2-ear) uniformly partitioned convolution of a mono input, block by block."""

    def __init__(self, ir: np.ndarray, block: int = 512, crossfade: bool = True) -> None:
        self.B = int(block)
        self.crossfade = crossfade  # False only to show what a hard switch sounds like (tests)
        self.P = max(1, -(-ir.shape[-1] // self.B))
        self.F = self.B + 1
        # the frequency-domain delay line, twice over: every spectrum is written at h and h + P,
        # so fdl[h:h + P] is the line newest first, without moving it each block
        self._fdl2 = np.zeros((2 * self.P, self.F), np.complex64)
        self._h = 0
        self.buf = np.zeros(2 * self.B, np.float32)
        self.H = self.spectra(ir)
        self._pending: tuple[int, np.ndarray] | None = None
        self.fade_in = (np.sin(0.5 * np.pi * (np.arange(self.B) + 0.5) / self.B) ** 2).astype(np.float32)

    @property
    def fdl(self) -> np.ndarray:
        """(P, F) input spectra, newest first (a view)."""
        return self._fdl2[self._h:self._h + self.P]

    def spectra(self, ir: np.ndarray, first: int = 0, count: int | None = None) -> np.ndarray:
        """(2, count, F) partition spectra of ``ir`` (2, n) for partitions first..first+count."""
        count = self.P - first if count is None else count
        seg = np.zeros((2, count * self.B), np.float32)
        a = first * self.B
        piece = ir[:, a:a + count * self.B]
        seg[:, :piece.shape[-1]] = piece
        parts = np.zeros((2, count, 2 * self.B), np.float32)
        parts[:, :, :self.B] = seg.reshape(2, count, self.B)
        return np.fft.rfft(parts, axis=-1).astype(np.complex64)

    def set_ir(self, ir: np.ndarray, first: int = 0, count: int | None = None) -> None:
        """Change partitions first..first+count to those of ``ir``: cross-faded in the next block."""
        H = self.spectra(ir, first, count)
        if self._pending is not None:  # merge with a change not yet applied
            f0, Hp = self._pending
            lo, hi = min(f0, first), max(f0 + Hp.shape[1], first + H.shape[1])
            merged = self.H[:, lo:hi].copy()
            merged[:, f0 - lo:f0 - lo + Hp.shape[1]] = Hp
            merged[:, first - lo:first - lo + H.shape[1]] = H
            first, H = lo, merged
        self._pending = (first, H)

    def process(self, x: np.ndarray) -> np.ndarray:
        """One block (B,) of mono input -> (2, B) output."""
        B = self.B
        self.buf[:B] = self.buf[B:]
        self.buf[B:] = x
        self._h = (self._h - 1) % self.P
        X = np.fft.rfft(self.buf)
        self._fdl2[self._h] = X
        self._fdl2[self._h + self.P] = X
        if self._pending is None:
            Y = np.einsum("pf,epf->ef", self.fdl, self.H)
            return np.fft.irfft(Y, axis=-1)[:, B:].astype(np.float32)
        first, Hn = self._pending
        self._pending = None
        last = first + Hn.shape[1]
        X = self.fdl[first:last]
        Yc = (np.einsum("pf,epf->ef", self.fdl[:first], self.H[:, :first])
              + np.einsum("pf,epf->ef", self.fdl[last:], self.H[:, last:]))
        Yo = Yc + np.einsum("pf,epf->ef", X, self.H[:, first:last])
        Yn = Yc + np.einsum("pf,epf->ef", X, Hn)
        y = np.fft.irfft(np.stack([Yo, Yn]), axis=-1)[:, :, B:]
        self.H[:, first:last] = Hn
        if not self.crossfade:
            return y[1].astype(np.float32)
        return (y[0] + (y[1] - y[0]) * self.fade_in).astype(np.float32)


def convolve(x: np.ndarray, ir: np.ndarray, block: int = 512) -> np.ndarray:
    """Offline: mono ``x`` through a fixed 2-ear ``ir`` with the streaming convolver;
    returns the full (2, len(x) + n_ir - 1) result."""
    c = Convolver(ir, block)
    n = len(x) + ir.shape[-1] - 1
    nb = -(-n // block)
    xp = np.zeros(nb * block, np.float32)
    xp[:len(x)] = x
    out = np.concatenate([c.process(xp[i * block:(i + 1) * block]) for i in range(nb)], axis=-1)
    return out[:, :n]


# ----------------------------------------------------------------------------- moving sources

Pose = tuple[np.ndarray, np.ndarray, float]  # source xyz, listener xyz, head yaw (rad)
# the field's IRs are physical (direct path 1/(4 pi r)); rendered stems are scaled by 4 pi so a
# source 1 m away has a unity-gain direct path (a dry track keeps roughly its level at 1-2 m)
REF_GAIN = 4 * math.pi


@dataclass
class _Voice:
    path: Callable[[float], Pose]
    conv: Convolver | None = None
    last: Pose | None = None
    tail: np.ndarray | None = None  # tail params in use


class MultiRenderer:
    """Streams N mono sources in one room: one batched field query per block."""

    def __init__(self, field, paths: Sequence[Callable[[float], Pose]], sample_rate: int,
                 block: int = 512, tail_every: int = 16, gain: float = REF_GAIN, start_s: float = 0.0) -> None:
        self.field, self.sr, self.B, self.tail_every = field, int(sample_rate), int(block), int(tail_every)
        self.start_s = float(start_s)  # path time of the first block's start
        self.gain = np.float32(gain)
        self.voices = [_Voice(p) for p in paths]
        self.n_ir = int(round(field.room.ir_s * self.sr))
        early_n = int(math.ceil((dsp.EARLY_S + 0.002) * self.sr))
        self.early_parts = max(1, -(-early_n // self.B))
        self.block_index = 0
        self.queries = 0

    def _irs(self, poses: list[Pose], full: list[bool]) -> list[np.ndarray]:
        src = np.stack([self.field.room.clip(p[0]) for p in poses])
        lis = np.stack([self.field.room.clip(p[1]) for p in poses])
        yaw = np.array([p[2] for p in poses], np.float32)
        early, tail, hrir = self.field.raw(src, lis, yaw)
        self.queries += 1
        dist = np.linalg.norm(src - lis, axis=-1)
        out = []
        n48 = self.field.n
        e48 = int(math.ceil(self.early_parts * self.B * dsp.IR_RATE / self.sr)) + 64
        for i in range(len(poses)):
            n = n48 if full[i] else min(n48, e48)
            ir = (dsp.place_direct(hrir[i], dist[i], n) + dsp.early_to_ir_rate(early[i], n)
                  + dsp.tail(tail[i], n))
            out.append(_resample(ir * self.gain, self.sr))
        return out

    def process(self, blocks: np.ndarray) -> np.ndarray:
        """(N, B) mono input blocks -> (N, 2, B) binaural output, one block of time."""
        t = self.start_s + (self.block_index + 0.5) * self.B / self.sr
        t_prev = t - self.B / self.sr
        todo, full, poses = [], [], {}
        for i, v in enumerate(self.voices):
            if v.conv is not None:
                # the path says whether it moved since the last block's centre (a keyframe path
                # knows its segments; any other callable is taken to move every block): no
                # per-block comparison of poses or filters
                moves = getattr(v.path, "moves", None)
                if moves is not None and not moves(t_prev, t):
                    continue
            # tail updates staggered over the voices, so they never all fall on one block
            tail_due = (self.block_index + i * self.tail_every // max(1, len(self.voices))) % self.tail_every == 0
            poses[i] = v.path(t)
            todo.append(i)
            full.append(v.conv is None or tail_due)
        if todo:
            irs = self._irs([poses[i] for i in todo], full)
            for i, f, ir in zip(todo, full, irs):
                v = self.voices[i]
                if v.conv is None:
                    v.conv = Convolver(ir[:, :self.n_ir], self.B)
                elif f:
                    v.conv.set_ir(ir[:, :self.n_ir])
                else:
                    v.conv.set_ir(ir, 0, self.early_parts)
                v.last = poses[i]
        self.block_index += 1
        return np.stack([v.conv.process(b) for v, b in zip(self.voices, blocks)])


def brir(field, pose: Pose, sample_rate: int, gain: float = REF_GAIN) -> np.ndarray:
    """The full binaural room IR (2, room IR length at ``sample_rate``) of one pose, scaled by
    ``gain``: the filter a static source is convolved with (one field query)."""
    r = MultiRenderer(field, [lambda t: pose], sample_rate, gain=gain)
    return r._irs([pose], [True])[0][:, :r.n_ir]


def render_path(field, x: np.ndarray, sample_rate: int, path: Callable[[float], Pose],
                block: int = 512, tail: bool = True, gain: float = REF_GAIN) -> np.ndarray:
    """Offline render of mono ``x`` along ``path`` -> (2, len(x) [+ IR length when tail]).

    A static path (``path.static``: one keyframe, or keyframes that do not move) is one field
    query and one FFT convolution per ear for the whole signal (``scipy.signal.oaconvolve``);
    the result equals the partitioned convolver's for that filter (float rounding). A moving
    path streams through :class:`MultiRenderer` block by block (cross-faded IR changes)."""
    x = np.asarray(x, np.float32)
    if getattr(path, "static", False):
        from scipy.signal import oaconvolve

        ir = brir(field, path(0.0), sample_rate, gain)
        n = len(x) + (ir.shape[-1] if tail else 0)
        out = np.zeros((2, n), np.float32)
        if len(x):
            y = oaconvolve(x[None, :], ir, axes=-1)
            m = min(n, y.shape[-1])
            out[:, :m] = y[:, :m]
        return out
    r = MultiRenderer(field, [path], sample_rate, block, gain=gain)
    n = len(x) + (r.n_ir if tail else 0)
    nb = -(-n // block)
    xp = np.zeros(nb * block, np.float32)
    xp[:len(x)] = x
    out = np.concatenate([r.process(xp[None, i * block:(i + 1) * block])[0] for i in range(nb)], axis=-1)
    return out[:, :n]


class KeyframePath:
    """A source path: linear interpolation between keyframes (held before the first and after
    the last), called as ``path(t) -> (source xyz, listener xyz, yaw)``. It knows where it moves:
    ``static`` (it never does) and ``moves(t0, t1)`` (it is not at rest all through [t0, t1]),
    from its segments, so renderers need not compare poses or filters block by block."""

    def __init__(self, times, positions, listener, yaw: float) -> None:
        self.times = np.asarray(times, np.float64).reshape(-1)
        self.positions = np.asarray(positions, np.float64).reshape(len(self.times), 3)
        self.listener = np.asarray(listener, np.float64)
        self.yaw = yaw
        if len(self.times) > 1 and np.any(np.diff(self.times) < 0):
            order = np.argsort(self.times, kind="stable")
            self.times, self.positions = self.times[order], self.positions[order]
        # the segments between keyframes whose ends differ, merged where they touch; a jump (two
        # keyframes at one time) is a segment of zero length, widened a hair so it is seen
        starts, ends = [], []
        for k in range(len(self.times) - 1):
            if np.array_equal(self.positions[k], self.positions[k + 1]):
                continue
            a, b = self.times[k], self.times[k + 1]
            if b <= a:
                a, b = a - 1e-9, b + 1e-9
            if ends and a <= ends[-1]:
                ends[-1] = max(ends[-1], b)
            else:
                starts.append(a)
                ends.append(b)
        self._starts, self._ends = np.array(starts), np.array(ends)

    @property
    def static(self) -> bool:
        return len(self._starts) == 0

    def moves(self, t0: float, t1: float) -> bool:
        """True when the source is not at rest all through [t0, t1] (some moving segment
        overlaps (t0, t1))."""
        j = int(np.searchsorted(self._ends, t0, side="right"))  # the first segment ending after t0
        return j < len(self._starts) and self._starts[j] < t1

    def __call__(self, t: float) -> Pose:
        if len(self.times) == 1:
            return self.positions[0], self.listener, self.yaw
        p = np.array([np.interp(t, self.times, self.positions[:, k]) for k in range(3)])
        return p, self.listener, self.yaw


def keyframe_path(times: np.ndarray, positions: np.ndarray, listener: np.ndarray, yaw: float
                  ) -> KeyframePath:
    """Linear interpolation between keyframes (held before the first and after the last)."""
    return KeyframePath(times, positions, listener, yaw)
