"""Binaural rendering: one FFT convolution for a static source, uniformly partitioned FFT
convolution with time-varying room IRs for a moving one and for the live stream.

A source that does not move (:class:`KeyframePath` with one keyframe, or keyframes at one
place: ``path.static``) is one field query and one FFT convolution per ear for the whole signal
(overlap-add in long blocks, :func:`render_path`); it equals the partitioned convolver's output for that filter
to float rounding (tested). Everything below is for moving sources and streaming.

The partitioned engine serves moving sources offline and real-time streaming:
:class:`Convolver` processes one block of B samples at a time (overlap-save, FFT size 2B, a
frequency-domain delay line of P input spectra, kept twice over so it never has to move, one
complex multiply-accumulate per partition and ear, as one batched (2 x P) @ (P x 1) product
per frequency bin). Its output for a fixed IR equals direct convolution (tested to 1e-5).

Filter changes never click: the delay line holds *input* spectra, so the block is computed
with both the old and the new filter and cross-faded (raised cosine over the block); where
only some partitions change (the early part of a moving source), only the change of those is
added to the old filter's sum.

:class:`MultiRenderer` drives a Convolver per source from its path, several sources with one
batched field query per block (the benchmark's 4 moving stems, the live stream): in every block
where the path moves (``path.moves(t0, t1)``: a keyframe path knows its moving segments, so
there is no per-block comparison of poses or filters; a plain callable is taken to move every
block) the direct + early region of the IR (the first ``early_parts`` partitions) is updated at
the block's centre time, the late tail every ``tail_every`` blocks (it changes slowly with
position; staggered over the sources). The direct path (HRIR lookup and distance) is exact every
block; the room field's network, three quarters of the stream's work, runs again only for a
tail update or once the source has moved ``ANCHOR_M`` (4 cm, ``MultiRenderer.anchor_m``) since
its last query, its early reflections held in between (a stream cannot look ahead to interpolate
as the offline renderer does): at 3 m/s every other block, within -30 to -37 dB of querying
every block. :func:`render_path` renders a whole mono signal: static, one
convolution; moving, offline (issue 23, :func:`_render_moving`): the same blocks, update
schedule and cross-fades as a MultiRenderer, but the field's network is queried in batches and
only at anchors at most ``ANCHOR_M`` (4 cm) apart along the path, its early part and tail
parameters interpolated linearly in between (the direct path, geometric, is exact at every
block), and the filter split into a head of 512-sample partitions (updated every block) and a
body convolved in 8192-sample chunks (it changes only with the late tail); within -40 dB of
querying every block (tests/test_spatial_speed.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.fft as _fft

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
        # the frequency-domain delay line, frequency-major and twice over: every spectrum is
        # written at columns h and h + P, so fdl2[:, h:h + P] is the line newest first, without
        # moving it each block; frequency-major so that the sum over partitions is one batched
        # (2 x P) @ (P x 1) product per bin (np.matmul, ~4x faster than the einsum it replaced)
        self._fdl2 = np.zeros((self.F, 2 * self.P), np.complex64)
        self._h = 0
        self.buf = np.zeros(2 * self.B, np.float32)
        self.H = self.spectra(ir)  # (F, 2, P)
        self._pending: tuple[int, np.ndarray] | None = None
        self.fade_in = (np.sin(0.5 * np.pi * (np.arange(self.B) + 0.5) / self.B) ** 2).astype(np.float32)

    @property
    def fdl(self) -> np.ndarray:
        """(P, F) input spectra, newest first (a view)."""
        return self._fdl2[:, self._h:self._h + self.P].T

    def spectra(self, ir: np.ndarray, first: int = 0, count: int | None = None) -> np.ndarray:
        """(F, 2, count) partition spectra of ``ir`` (2, n) for partitions first..first+count."""
        count = self.P - first if count is None else count
        return partition_spectra(ir[None], self.B, first, count)[0]

    def set_ir(self, ir: np.ndarray, first: int = 0, count: int | None = None) -> None:
        """Change partitions first..first+count to those of ``ir``: cross-faded in the next block."""
        self.set_spectra(self.spectra(ir, first, count), first)

    def set_spectra(self, H: np.ndarray, first: int = 0) -> None:
        """Change partitions first..first+H.shape[-1] to the spectra ``H`` (F, 2, count), as made
        by :func:`partition_spectra`: cross-faded in the next block."""
        if self._pending is not None:  # merge with a change not yet applied
            f0, Hp = self._pending
            lo, hi = min(f0, first), max(f0 + Hp.shape[-1], first + H.shape[-1])
            merged = self.H[:, :, lo:hi].copy()
            merged[:, :, f0 - lo:f0 - lo + Hp.shape[-1]] = Hp
            merged[:, :, first - lo:first - lo + H.shape[-1]] = H
            first, H = lo, merged
        self._pending = (first, H)

    def process(self, x: np.ndarray) -> np.ndarray:
        """One block (B,) of mono input -> (2, B) output."""
        B = self.B
        self.buf[:B] = self.buf[B:]
        self.buf[B:] = x
        self._h = (self._h - 1) % self.P
        X = _fft.rfft(self.buf)
        self._fdl2[:, self._h] = X
        self._fdl2[:, self._h + self.P] = X
        line = self._fdl2[:, self._h:self._h + self.P, None]  # (F, P, 1), newest first
        Y = np.matmul(self.H, line)[..., 0]  # (F, 2): sum over partitions per bin and ear
        if self._pending is None:
            return _fft.irfft(Y.T, axis=-1)[:, B:].astype(np.float32)
        first, Hn = self._pending
        self._pending = None
        last = first + Hn.shape[-1]
        # the new filter's output: the old one's plus the change of the changed partitions
        Yn = Y + np.matmul(Hn - self.H[:, :, first:last], line[:, first:last])[..., 0]
        y = _fft.irfft(np.stack([Y.T, Yn.T]), axis=-1)[:, :, B:]
        self.H[:, :, first:last] = Hn
        if not self.crossfade:
            return y[1].astype(np.float32)
        return (y[0] + (y[1] - y[0]) * self.fade_in).astype(np.float32)

    def process_run(self, xs: np.ndarray) -> np.ndarray:
        """``k`` consecutive blocks (k B,) under a filter that does not change among them -> (2,
        k B): the same sums as ``k`` calls of :meth:`process` (float rounding), in one batched FFT
        each way and one product per bin: for the offline renderer's held stretches (a Foley
        source between impacts). 16 partitions of 512: 114 us a block one by one, 39 us in runs
        of 16 (2026-12-07)."""
        if self._pending is not None:
            raise ValueError("process_run needs a filter without a pending change: process() first")
        B, P = self.B, self.P
        k = len(xs) // B
        frames = np.lib.stride_tricks.sliding_window_view(np.concatenate([self.buf[B:], xs]), 2 * B)[::B]
        X = _fft.rfft(frames, axis=-1)  # (k, F): block j's input spectrum
        # the P - 1 spectra before the run (oldest first), then the run's: block j's line, newest
        # first, is seq[:, j + P - 1 - p] for partition p
        h = self._h
        seq = np.concatenate([self._fdl2[:, h + np.arange(P - 2, -1, -1)], X.T], axis=1)  # (F, P - 1 + k)
        win = np.lib.stride_tricks.sliding_window_view(seq, P, axis=1)  # (F, k, P): oldest first
        Y = np.matmul(self.H[:, :, ::-1], win.transpose(0, 2, 1))  # (F, 2, k)
        for j in range(max(0, k - P), k):  # the delay line as k process() calls leave it
            col = (h - 1 - j) % P
            self._fdl2[:, col] = X[j]
            self._fdl2[:, col + P] = X[j]
        self._h = (h - k) % P
        self.buf[:] = frames[-1]
        y = _fft.irfft(Y.transpose(1, 2, 0), axis=-1)[:, :, B:]  # (2, k, B)
        return y.reshape(2, k * B).astype(np.float32)


def partition_spectra(irs: np.ndarray, block: int, first: int = 0, count: int = 1) -> np.ndarray:
    """(N, F, 2, count) complex64 partition spectra (FFT size 2 x ``block``) of N 2-ear IRs
    ``irs`` (N, 2, n), partitions first..first+count (zero beyond the IR's end): the layout
    :class:`Convolver` keeps its filter in. One FFT call for all of them."""
    N, B = irs.shape[0], int(block)
    parts = np.zeros((N, 2, count, 2 * B), np.float32)
    a = first * B
    piece = irs[:, :, a:a + count * B]
    m = piece.shape[-1]
    full = m // B
    parts[:, :, :full, :B] = piece[:, :, :full * B].reshape(N, 2, full, B)
    if m > full * B:
        parts[:, :, full, :m - full * B] = piece[:, :, full * B:]
    S = _fft.rfft(parts, axis=-1)  # (N, 2, count, F)
    return np.ascontiguousarray(S.transpose(0, 3, 1, 2)).astype(np.complex64, copy=False)


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
    anchor: Pose | None = None  # (clipped) pose of the last field query
    short: np.ndarray | None = None  # that query's early region + tail start (2, e48) at IR_RATE


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
        self.anchor_m = ANCHOR_M  # streaming: the field queried again after this much movement

    def _irs(self, poses: list[Pose], full: list[bool], voices: list[_Voice] | None = None) -> list[np.ndarray]:
        """The IRs at ``poses`` (full length where ``full``, else the early region). With
        ``voices`` (streaming): a voice's field is queried again only for a full update or once
        it has moved ``anchor_m`` from its last query; in between the direct path is exact (its
        HRIR and distance, every block) and the early reflections are the last query's (as the
        offline renderer's anchors, which it interpolates; a stream cannot look ahead)."""
        src = np.stack([self.field.room.clip(p[0]) for p in poses])
        lis = np.stack([self.field.room.clip(p[1]) for p in poses])
        yaw = np.array([p[2] for p in poses], np.float32)
        dist = np.linalg.norm(src - lis, axis=-1)
        ask = [True] * len(poses) if voices is None else [
            f or v.anchor is None or _moved(v.anchor, src[i], lis[i], yaw[i], dist[i]) >= self.anchor_m
            for i, (f, v) in enumerate(zip(full, voices))]
        q = [i for i, a in enumerate(ask) if a]
        early = tail = None
        if q:
            early, tail, hrir_q = self.field.raw(src[q], lis[q], yaw[q])
            self.queries += 1
        rest = [i for i, a in enumerate(ask) if not a]
        hrir = dict(zip(q, hrir_q)) if q else {}
        if rest:
            hrir.update(zip(rest, _field_hrirs(self.field, src[rest], lis[rest], yaw[rest])))
        out = []
        n48 = self.field.n
        e48 = int(math.ceil(self.early_parts * self.B * dsp.IR_RATE / self.sr)) + 64
        for i in range(len(poses)):
            n = n48 if full[i] else min(n48, e48)
            direct = dsp.place_direct(hrir[i], dist[i], n)
            if ask[i]:
                k = q.index(i)
                e, t = dsp.early_to_ir_rate(early[k], n), dsp.tail(tail[k], n)
                ir = direct + e + t
                if voices is not None:
                    voices[i].anchor = (src[i], lis[i], float(yaw[i]))
                    voices[i].short = e[:, :e48] + t[:, :e48]
            else:
                ir = direct + voices[i].short[:, :n]
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
            irs = self._irs([poses[i] for i in todo], full, [self.voices[i] for i in todo])
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
                block: int = 512, tail: bool = True, gain: float = REF_GAIN,
                stats: dict | None = None, alloc: Callable[[int, int], np.ndarray] | None = None,
                release: Callable[[np.ndarray, int, int], None] | None = None) -> np.ndarray:
    """Offline render of mono ``x`` (n,) along ``path`` -> (2, n [+ IR length when tail]). A
    stereo source (2, n) is the point source of its channels' mean, downmixed block by block as
    it is read (a film's track then needs no mono copy on disk).

    A static path (``path.static``: one keyframe, or keyframes that do not move) is one field
    query and one FFT convolution per ear for the whole signal (overlap-add, ``_overlap_add``);
    the result equals the partitioned convolver's for that filter (float rounding). A moving
    path is rendered by :func:`_render_moving`: the block renderer's filters and cross-fades,
    the field queried in batches at anchors along the path (``stats``, when given, is filled
    with the counts: blocks, filter updates, positions the network was run for, its runs).

    For long signals the caller may pass ``alloc(channels, n)``, which gives the zeroed output
    array (e.g. a disk-backed one), and ``release(array, a, b)``, called on frames of ``x`` and
    of the output that are done with as the render moves on (so a caller can hand their pages
    back); both are read and written in order, a block at a time, never whole."""
    x = np.asanyarray(x, np.float32)  # a memmap stays one: ``release`` needs it
    if getattr(path, "static", False):
        ir = brir(field, path(0.0), sample_rate, gain)
        n = x.shape[-1] + (ir.shape[-1] if tail else 0)
        out = _output(alloc, n)
        _overlap_add(x, ir, out, n, release)
        return out
    n = x.shape[-1] + (int(round(field.room.ir_s * sample_rate)) if tail else 0)
    return _render_moving(field, x, int(sample_rate), path, int(block), n, gain, stats=stats,
                          alloc=alloc, release=release)


def _overlap_add(x: np.ndarray, ir: np.ndarray, out: np.ndarray, n: int, release=None) -> None:
    """Adds mono ``x`` convolved with the (2, L) ``ir`` into ``out[:, :n]``: overlap-add over
    ``STATIC_BLOCK`` frames of the source, one FFT size throughout, the filter's spectrum made
    once. Written out rather than ``scipy.signal.oaconvolve`` per block, which transforms the
    filter again in every call (two of its five FFTs; a two-hour film's still source is 1,318
    blocks). The sums are within float32 rounding of one whole-signal convolution (tested)."""
    from scipy import fft

    size = fft.next_fast_len(STATIC_BLOCK + ir.shape[-1] - 1, real=True)
    spectrum = fft.rfft(ir, size, axis=-1)
    for a in range(0, x.shape[-1], STATIC_BLOCK):
        seg = _mono(x[..., a:a + STATIC_BLOCK])
        if np.any(seg):  # silence adds nothing (a part that rests for minutes)
            y = fft.irfft(fft.rfft(seg, size) * spectrum, size, axis=-1)
            m = min(n - a, len(seg) + ir.shape[-1] - 1)
            out[:, a:a + m] += y[:, :m]
        if release is not None:  # nothing later adds before ``a``
            release(x, a, a + STATIC_BLOCK)
            release(out, a - STATIC_BLOCK, a)


def _output(alloc, n: int) -> np.ndarray:
    """A zeroed (2, n) float32 output array: the caller's ``alloc`` or an ordinary one."""
    return np.zeros((2, n), np.float32) if alloc is None else alloc(2, n)


def _mono(seg: np.ndarray) -> np.ndarray:
    """A block of the source as mono float32: a stereo block's channel mean."""
    seg = np.asarray(seg, np.float32)
    return seg if seg.ndim == 1 else seg.mean(axis=0)


def _span(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Frames ``lo:hi`` of the source as mono float32 (``_mono``), zeros where the range falls
    outside it."""
    n = x.shape[-1]
    if 0 <= lo and hi <= n:
        return _mono(x[..., lo:hi])
    seg = np.zeros(hi - lo, np.float32)
    a, b = max(lo, 0), min(hi, n)
    if b > a:
        seg[a - lo:b - lo] = _mono(x[..., a:b])
    return seg


STATIC_BLOCK = 1 << 18  # source frames per overlap-add block of a still source's convolution
RELEASE_FRAMES = 1 << 20  # a moving render hands its finished frames back this many at a time
ANCHOR_M = 0.04  # offline: the field is queried at most this far apart along a moving path (m)
QUERY_CHUNK = 32  # positions per batched field query (ONNX runs cost least per position here)
BLOCK_CHUNK = 64  # filter updates assembled and transformed together


def _poses(path, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source (N, 3), listener (N, 3), yaw (N,) of ``path`` at the times ``t`` (vectorised for
    a :class:`KeyframePath`: the same np.interp values as calling it at each time)."""
    if isinstance(path, KeyframePath):
        n = len(t)
        if len(path.times) == 1:
            src = np.repeat(path.positions[:1], n, axis=0)
        else:
            src = np.stack([np.interp(t, path.times, path.positions[:, k]) for k in range(3)], axis=-1)
        return src, np.repeat(path.listener[None], n, axis=0), np.full(n, float(path.yaw))
    poses = [path(float(tk)) for tk in t]
    return (np.stack([np.asarray(p[0], np.float64) for p in poses]),
            np.stack([np.asarray(p[1], np.float64) for p in poses]),
            np.array([float(p[2]) for p in poses]))


def _anchors(s: np.ndarray, ends: np.ndarray, spacing: float) -> np.ndarray:
    """Indices into the update sequence where the field is queried: the first, every run's last
    (where the source comes to rest, so a held source has its exact filter) and in between as
    few as keep consecutive ones at most ``spacing`` apart along the path (``s``: cumulative
    path length; a single step longer than that gets its own query)."""
    out, j, m = [0], 0, len(s)
    while j < m - 1:
        k = max(j + 1, int(np.searchsorted(s, s[j] + spacing, side="right")) - 1)
        e = ends[int(np.searchsorted(ends, j + 1))]  # the next run end (ends holds m - 1)
        j = min(k, e)
        out.append(j)
    return np.asarray(out)


def _moved(anchor: Pose, src: np.ndarray, lis: np.ndarray, yaw: float, dist: float) -> float:
    """How far a pose is from ``anchor`` in the anchors' measure: source + listener movement +
    distance x head turn (m)."""
    turn = abs(math.remainder(float(yaw) - float(anchor[2]), 2 * math.pi))
    return float(np.linalg.norm(src - anchor[0]) + np.linalg.norm(lis - anchor[1])) + float(dist) * turn


def _field_hrirs(field, src, lis, yaw) -> np.ndarray:
    """The direct path's HRIRs (N, 2, taps): the field's cheap lookup when it has one."""
    lookup = getattr(field, "hrirs", None)
    return lookup(src, lis, yaw) if lookup is not None else field.raw(src, lis, yaw)[2]


class _ChunkConvolver:
    """The offline renderer's body filter: uniformly partitioned convolution in chunks of Q
    samples with few, long partitions, kept partition-major so the sum over partitions is one
    vectorised multiply-add each (for 7 x 8193 bins ~4x faster than a batched matmul); a change
    is cross-faded with ``fade`` (Q,) between the outputs of the old and new filters."""

    def __init__(self, H: np.ndarray, fade: np.ndarray) -> None:
        self.H = np.ascontiguousarray(H.transpose(2, 1, 0))  # (P, 2, F) from (F, 2, P)
        self.P, _, F = self.H.shape
        self.Q = F - 1  # FFT size 2Q
        self._fdl2 = np.zeros((2 * self.P, F), np.complex64)
        self._h = 0
        self.buf = np.zeros(2 * self.Q, np.float32)
        self.fade = fade
        self._pending: np.ndarray | None = None

    def set_spectra(self, H: np.ndarray) -> None:
        self._pending = np.ascontiguousarray(H.transpose(2, 1, 0))

    def _sum(self, H: np.ndarray, line: np.ndarray) -> np.ndarray:
        Y = H[0] * line[0]
        for p in range(1, self.P):
            Y += H[p] * line[p]
        return Y

    def process(self, x: np.ndarray) -> np.ndarray:
        Q = self.Q
        self.buf[:Q] = self.buf[Q:]
        self.buf[Q:] = x
        self._h = (self._h - 1) % self.P
        X = _fft.rfft(self.buf)
        self._fdl2[self._h] = X
        self._fdl2[self._h + self.P] = X
        line = self._fdl2[self._h:self._h + self.P]
        Y = self._sum(self.H, line)
        if self._pending is None:
            return _fft.irfft(Y, axis=-1)[:, Q:]
        Hn, self._pending = self._pending, None
        y = _fft.irfft(np.stack([Y, self._sum(Hn, line)]), axis=-1)[:, :, Q:]
        self.H = Hn
        return y[0] + (y[1] - y[0]) * self.fade


def _render_moving(field, x: np.ndarray, sr: int, path, block: int, n: int, gain: float,
                   spacing: float = ANCHOR_M, stats: dict | None = None, alloc=None,
                   release=None) -> np.ndarray:
    """Offline render of a moving source: the filters of the block-by-block
    :class:`MultiRenderer` (same blocks, same early / tail update schedule, same cross-fades),
    with the field queried in batches and only at anchors at most ``spacing`` apart along the
    path; between anchors the field's early part and tail parameters are interpolated linearly
    by path length (the direct path, which is geometric, is exact at every block)."""
    r = MultiRenderer(field, [path], sr, block, gain=gain)
    nb = -(-n // r.B)
    out = _output(alloc, n)
    if nb == 0:
        return out
    plan = _MovingPlan(field, r, path, nb, spacing)
    plan.convolve(x, out, release)
    if stats is not None:
        stats.update(blocks=nb, updates=len(plan.U), queried=plan.queried, runs=r.queries)
    return out


class _MovingPlan:
    """One moving source's offline render: where its filter changes (``U``), the poses there,
    the anchors where the field is queried (``A``), the filters' spectra (:meth:`updates`) and
    the convolution (:meth:`convolve`)."""

    def __init__(self, field, r: MultiRenderer, path, nb: int, spacing: float) -> None:
        self.field, self.r, self.nb = field, r, nb
        B, sr = r.B, r.sr
        t = r.start_s + (np.arange(nb) + 0.5) * B / sr
        moves, moves_in = getattr(path, "moves", None), getattr(path, "moves_in", None)
        upd = np.ones(nb, bool)
        if moves_in is not None:  # every block at once (a film's Foley path: 675,000 blocks)
            upd[1:] = moves_in(t[1:] - B / sr, t[1:])
        elif moves is not None:
            upd[1:] = [moves(tk - B / sr, tk) for tk in t[1:]]
        self.U = U = np.flatnonzero(upd)  # the blocks whose filter changes (U[0] = 0: the first)
        src, lis, self.yaw = _poses(path, t[U])
        self.src, self.lis = field.room.clip(src), field.room.clip(lis)
        self.dist = np.linalg.norm(self.src - self.lis, axis=-1)
        self.s = self._path_length()
        ends = np.append(np.flatnonzero(np.diff(U) != 1), len(U) - 1)
        self.A = _anchors(self.s, ends, spacing)
        self.full = U % r.tail_every == 0  # the late tail's schedule of MultiRenderer (one voice)
        self.e48 = int(math.ceil(r.early_parts * B * dsp.IR_RATE / sr)) + 64
        # the filter in two parts (exactly the same sum): a head of G partitions of B samples
        # (the early updates, every block while it moves) and a body from D = G B on, which
        # only changes with the late tail, every tail_every blocks: convolved in chunks of
        # Q = tail_every B samples (7 partitions of 8192 for the hall instead of 103 of 512),
        # its cross-fade over the chunk's first block, as the block convolver's
        te = r.tail_every
        G = te * -(-r.early_parts // te)
        self.Q, self.D, self.g = te * B, G * B, G // te
        self.Pb = max(0, -(-(r.n_ir - self.D) // self.Q))
        self.G = min(G, -(-r.n_ir // B))
        self.cache: dict[int, tuple] = {}  # anchor -> early part (48 kHz), tail params, early region
        self.queried = 0

    def _path_length(self) -> np.ndarray:
        """Cumulative path length over the updates: source + listener movement + distance x
        head turn."""
        step = np.zeros(len(self.U))
        if len(self.U) > 1:
            turn = np.abs(np.angle(np.exp(1j * np.diff(self.yaw))))
            step[1:] = (np.linalg.norm(np.diff(self.src, axis=0), axis=-1)
                        + np.linalg.norm(np.diff(self.lis, axis=0), axis=-1) + self.dist[1:] * turn)
        return np.cumsum(step)

    def fetch(self, js: np.ndarray) -> None:
        """Query the field at the anchors ``js`` not cached yet, in batches."""
        miss = [int(j) for j in js if int(j) not in self.cache]
        for c in range(0, len(miss), QUERY_CHUNK):
            sel = miss[c:c + QUERY_CHUNK]
            early, tails, _ = self.field.raw(self.src[sel], self.lis[sel], self.yaw[sel])
            self.r.queries += 1
            self.queried += len(sel)
            early48 = dsp.early_to_ir_rate(early, self.e48)  # batched; zero from 100 ms on
            short = early48 + dsp.tail(tails, self.e48)
            for q, j in enumerate(sel):
                self.cache[j] = (early48[q], tails[q], short[q])

    def updates(self):
        """(block, head spectra, body spectra or None) for every block whose filter changes, in
        order: an early update changes the head's first early_parts partitions, a full one
        (every tail_every blocks) the whole head and the body."""
        A, s = self.A, self.s
        for c0 in range(0, len(self.U), BLOCK_CHUNK):
            js = np.arange(c0, min(len(self.U), c0 + BLOCK_CHUNK))
            ia = A[np.searchsorted(A, js, side="right") - 1]  # the anchors either side
            ib = A[np.minimum(np.searchsorted(A, js, side="left"), len(A) - 1)]
            for j in [j for j in self.cache if j < ia[0]]:
                del self.cache[j]
            self.fetch(np.unique(np.concatenate([ia, ib])))
            span = s[ib] - s[ia]
            w = np.where(span > 0, (s[js] - s[ia]) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
            hrir = _field_hrirs(self.field, self.src[js], self.lis[js], self.yaw[js])
            rows = np.flatnonzero(~self.full[js])
            early = dict(zip(rows.tolist(), self._early(js[rows], ia[rows], ib[rows], w[rows], hrir[rows])))
            for q, j in enumerate(js):
                if self.full[j]:
                    yield (int(self.U[j]),) + self._full(int(j), ia[q], ib[q], w[q], hrir[q])
                else:
                    yield int(self.U[j]), early[q], None

    def _early(self, js, ia, ib, w, hrir) -> np.ndarray:
        """(K, F, 2, early_parts) spectra of early updates: the direct path + the anchors'
        early regions, interpolated."""
        if not len(js):
            return np.zeros((0,))
        r, c = self.r, self.cache
        e = np.stack([(1 - w[q]) * c[ia[q]][2] + w[q] * c[ib[q]][2] for q in range(len(js))])
        for q in range(len(js)):
            e[q] += dsp.place_direct(hrir[q], self.dist[js[q]], self.e48)
        return partition_spectra(_resample(e * r.gain, r.sr), r.B, 0, r.early_parts)

    def _full(self, j: int, ia: int, ib: int, w: float, hrir: np.ndarray) -> tuple:
        """The head's (F, 2, G) and the body's spectra (None without a body) of a full update."""
        r, a, b, n48 = self.r, self.cache[ia], self.cache[ib], self.field.n
        ir = dsp.place_direct(hrir, self.dist[j], n48) + dsp.tail((1 - w) * a[1] + w * b[1], n48)
        m = min(self.e48, n48)
        ir[:, :m] += (1 - w) * a[0][:, :m] + w * b[0][:, :m]
        ir = _resample(ir * r.gain, r.sr)[:, :r.n_ir]
        body = partition_spectra(ir[None, :, self.D:], self.Q, 0, self.Pb)[0] if self.Pb else None
        return partition_spectra(ir[None], r.B, 0, self.G)[0], body

    def convolve(self, x: np.ndarray, out: np.ndarray, release=None) -> None:
        """Into ``out`` (2, n <= nb B): the head block by block where its filter changes and in
        runs where it holds (:meth:`Convolver.process_run`), the body chunk by chunk, filters as
        they change; the source is read (zero beyond nb B) and ``release``d as it goes."""
        B, Q, te, nb = self.r.B, self.Q, self.r.tail_every, self.nb
        x = x[..., :nb * B]
        n = out.shape[1]
        fade = np.ones(Q, np.float32)
        fade[:B] = np.sin(0.5 * np.pi * (np.arange(B) + 0.5) / B) ** 2
        it = self.updates()
        nxt = next(it, None)
        head = body = None
        released = 0
        k = 0
        while k < nb:
            if nxt is not None and nxt[0] == k:
                if head is None:  # the first filter: no cross-fade
                    head = Convolver(np.zeros((2, self.G * B), np.float32), B)
                    head.H = nxt[1].copy()
                    body = _ChunkConvolver(nxt[2], fade) if self.Pb else None
                else:
                    head.set_spectra(nxt[1], 0)
                    if nxt[2] is not None:
                        body.set_spectra(nxt[2])
                nxt = next(it, None)
            # a segment: up to the next filter change or the body's next chunk, whichever first
            end = min(nb, (k // te + 1) * te, nxt[0] if nxt is not None else nb)
            if body is not None and k % te == 0:  # the body's output for this chunk: input up to g chunks ago
                c = k // te - self.g
                body_y = body.process(_span(x, c * Q, (c + 1) * Q) if c >= 0 else np.zeros(Q, np.float32))
            seg = _span(x, k * B, end * B)
            if head._pending is not None:  # the changed block, cross-faded, then the held rest
                y = head.process(seg[:B])
                if end - k > 1:
                    y = np.concatenate([y, head.process_run(seg[B:])], axis=1)
            else:
                y = head.process_run(seg)
            if body is not None:
                i = (k % te) * B
                y += body_y[:, i:i + y.shape[1]]
            m = min(end * B, n) - k * B
            if m > 0:
                out[:, k * B:k * B + m] = y[:, :m]
            k = end
            last = (k - 1) * B  # the start of the segment's last block, as block by block
            if release is not None and last - released >= RELEASE_FRAMES:
                release(out, released, last)
                release(x, released - (self.g + 1) * Q, last - (self.g + 1) * Q)  # the body reads g chunks back
                released = last


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

    def moves_in(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """:meth:`moves` for many intervals [t0[k], t1[k]] at once (the same answers)."""
        t0, t1 = np.asarray(t0, np.float64), np.asarray(t1, np.float64)
        j = np.searchsorted(self._ends, t0, side="right")
        out = j < len(self._starts)
        out[out] = self._starts[j[out]] < t1[out]
        return out

    def __call__(self, t: float) -> Pose:
        if len(self.times) == 1:
            return self.positions[0], self.listener, self.yaw
        p = np.array([np.interp(t, self.times, self.positions[:, k]) for k in range(3)])
        return p, self.listener, self.yaw


def keyframe_path(times: np.ndarray, positions: np.ndarray, listener: np.ndarray, yaw: float
                  ) -> KeyframePath:
    """Linear interpolation between keyframes (held before the first and after the last)."""
    return KeyframePath(times, positions, listener, yaw)
