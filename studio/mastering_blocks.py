"""The mastering stage block by block, for audio kept on disk (``studio.diskaudio``).

The same figures and samples as :mod:`studio.mastering`'s whole-array functions (the tests
compare them), computed in blocks of ``diskaudio.BLOCK_FRAMES`` so that memory does not grow with
the length: ``integrated_lufs`` (the K-weighting filters' state carried from block to block, the
100 ms energies summed per block), ``true_peak_dbtp`` (two passes: the sample peak, then the
interpolated level where it could beat it), the true-peak limiter ``tp_limit`` (the level on disk
only where it nears the ceiling, ``_Level``; the gain's look-ahead minimum, release and attack
ramp carried across blocks, segment by segment as ``mastering._limiter_gain_db`` computes them)
and ``master_mix`` (measure, then apply, as often as ``mastering.master_mix`` iterates). The
true-peak interpolator reaches 8 frames either side of a frame and decides per 1024-frame block,
so each block is read with one such block of context on either side.
"""
from __future__ import annotations

import math

import numpy as np

from studio import diskaudio as da
from studio import mastering as mst

__all__ = ["integrated_lufs", "true_peak_dbtp", "sample_peak", "tp_limit", "true_peak_limit", "master_mix",
           "scaled_copy", "stage_gain_db"]

_CTX = mst.BLOCK  # context frames read on either side of a block for the interpolator


def _step(sample_rate: int | None = None) -> int:
    """Block size: a whole number of interpolator blocks and (when a rate is given) of 100 ms steps."""
    size = da.BLOCK_FRAMES
    if sample_rate:
        unit = math.lcm(mst.lufs_hop(sample_rate), mst.BLOCK)
        size = unit * max(1, size // unit)
    return size


def _scaled(block: np.ndarray, scale: float) -> np.ndarray:
    """``block`` times ``scale`` as ``mastering.master_mix`` computes it (float32)."""
    return block if scale == 1.0 else (block * np.float32(scale)).astype(np.float32)


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """``mastering.integrated_lufs`` of (channels, n) audio, block by block."""
    from scipy.signal import sosfilt

    rate = int(sample_rate)
    C, n_in = audio.shape
    hop = mst.lufs_hop(rate)
    n = max(n_in, int(math.ceil(0.4 * rate)))
    n_hops = -(-n // hop)
    sos, gain = mst.k_weighting(rate)
    sos = sos.astype(np.float32)
    zi = np.zeros((sos.shape[0], C, 2), np.float32)
    hops, anything = [], False
    for a, b in da.chunks(n_hops * hop, _step(rate)):
        x = da.read(audio, a, min(b, n_in))
        anything = anything or bool(np.any(x))
        sq = np.zeros((C, b - a), np.float32)
        if x.shape[1]:
            y, zi = sosfilt(sos, x, axis=1, zi=zi)
            np.square(y, out=sq[:, :y.shape[1]])
        hops.append(sq.reshape(C, -1, hop).sum(axis=2, dtype=np.float64) * (gain * gain))
    if not anything:
        return float("-inf")
    return mst.lufs_of_hops(np.concatenate(hops, axis=1), n, rate)


def stage_gain_db(audio: np.ndarray, sample_rate: int, role: str, *,
                  ceiling_dbtp: float | None = mst.CEILING_DBTP) -> float:
    """``mastering.stage_gain_db`` measured block by block (no whole-length temporaries)."""
    target = mst.ROLE_LUFS.get(role)
    if target is None:
        return 0.0
    lufs = integrated_lufs(audio, sample_rate)
    if not math.isfinite(lufs):
        return 0.0
    gain = min(mst.STAGE_MAX_DB, max(-mst.STAGE_MAX_DB, target - lufs))
    if gain > 0 and ceiling_dbtp is not None:
        peak = sample_peak(audio)
        if peak > 0:
            gain = min(gain, max(0.0, ceiling_dbtp - 20.0 * math.log10(peak) + mst.STAGE_MAX_LIMIT_DB))
    return float(gain)


def sample_peak(audio: np.ndarray, scale: float = 1.0) -> float:
    """The largest |sample| of (channels, n) audio (scaled as ``master_mix`` scales it)."""
    peak = 0.0
    for a, b in da.chunks(audio.shape[1]):
        x = _scaled(da.read(audio, a, b), scale)
        if x.size:
            peak = max(peak, float(np.max(np.abs(x))))
    return peak


def _levels(audio: np.ndarray, threshold: float, scale: float = 1.0, level_scale=None):
    """(a, b, level of frames a:b) per block: ``mastering.intersample_level`` of the (scaled)
    audio with ``threshold``, multiplied by ``level_scale`` when given."""
    n = audio.shape[1]
    for a, b in da.chunks(n, _step()):
        c0 = max(0, a - _CTX)
        x = _scaled(da.read(audio, c0, b + _CTX), scale)
        level = mst.intersample_level(x, threshold)[a - c0:b - c0]
        if level_scale is not None:
            level = level * level_scale
        yield a, b, level


def true_peak_dbtp(audio: np.ndarray, scale: float = 1.0) -> float:
    """``mastering.true_peak_dbtp`` of (channels, n) audio (times ``scale``), in two passes."""
    if audio.size == 0:
        return float("-inf")
    peak = sample_peak(audio, scale)
    if peak == 0.0:
        return float("-inf")
    top = max(float(level.max()) for _, _, level in _levels(audio, peak, scale))
    return 20.0 * math.log10(top)


def scaled_copy(audio: np.ndarray, scale: float, out: np.ndarray) -> np.ndarray:
    """``out`` (a disk array) set to ``audio`` times ``scale``, block by block."""
    for a, b in da.chunks(audio.shape[1]):
        da.write(out, a, _scaled(da.read(audio, a, b), scale))
    return out


# ----------------------------------------------------------------------------- the limiter


LEVEL_KEPT_BELOW_DB = 1.0  # a chunk's level is kept where it comes this close to the limiter's target


class _Level:
    """The input's intersample level as the limiter reads it, kept on disk only for the chunks
    (of ``_step()`` frames, as ``_levels`` yields them) where it reaches ``keep``, and per
    1024-frame block its maximum everywhere. A stem under its ceiling (most of them) then
    writes none of it: at two hours that was 1.4 GB of disk pages per stem and per try of the
    mix. Exact for any target at or above ``keep``: a frame left out reads as 0, which no gain
    step tells from a level under the target (``_segments``, ``_gain_stretch``), and the
    output's worst level where the gain left it alone is taken per block, as ``_apply_gain``
    decides per block."""

    def __init__(self, n: int, keep: float) -> None:
        self.n, self.keep, self.step = n, float(keep), _step()
        self.block_max = np.zeros(-(-n // mst.BLOCK), np.float32)
        self.kept = np.zeros(-(-n // self.step), bool)
        self.disk: np.ndarray | None = None  # (1, n), made for the first chunk kept

    def add(self, a: int, b: int, level: np.ndarray) -> None:
        B = mst.BLOCK
        pad = np.zeros(-(-(b - a) // B) * B, np.float32)
        pad[:b - a] = level
        self.block_max[a // B:a // B + pad.size // B] = pad.reshape(-1, B).max(axis=1)
        if float(level.max()) >= self.keep:
            if self.disk is None:
                self.disk = da.disk_array(1, self.n)
            da.write(self.disk, a, level[None, :])
            self.kept[a // self.step] = True

    def read(self, a: int, b: int) -> np.ndarray:
        """Frames a:b (b clipped to the length): the level where kept, else 0."""
        b = min(b, self.n)
        out = np.zeros(max(0, b - a), np.float32)
        if self.disk is None:
            return out
        for k in np.flatnonzero(self.kept[a // self.step:-(-b // self.step)]) + a // self.step:
            lo, hi = max(a, k * self.step), min(b, (k + 1) * self.step)
            out[lo - a:hi - a] = da.read(self.disk, lo, hi)[0]
        return out

    def untouched_max(self, a: int, touched: np.ndarray) -> float:
        """The largest level of the 1024-frame blocks from frame ``a`` (a block boundary) on
        whose ``touched`` flag (one per block) is false."""
        m = self.block_max[a // mst.BLOCK:a // mst.BLOCK + touched.size][~touched]
        return float(m.max()) if m.size else 0.0


def _measured(levels, n: int, keep: float) -> _Level:
    level = _Level(n, keep)
    for a, b, lv in levels:
        level.add(a, b, lv)
    return level


def _held(level: _Level, a: int, b: int) -> np.ndarray:
    """``held`` of ``mastering._tp_limit`` for frames a:b: each frame's level or its successor's."""
    tp = level.read(a, b + 1)
    held = tp[:b - a].copy()
    k = min(b - a, tp.size - 1)
    held[:k] = np.maximum(held[:k], tp[1:k + 1])
    return held


def _segments(level: _Level, target: float, worst: float, la: int, rate: float) -> list[tuple[int, int]]:
    """The stretches ``mastering._limiter_gain_db`` computes a gain on: from 2 * la + 2 frames
    before a frame over ``target`` until the release can have recovered, merged where they touch."""
    n = level.n
    recover = int(math.ceil(worst / rate)) + 2 * la + 2
    segments: list[list[int]] = []
    for a, b in da.chunks(n, _step()):
        over = np.nonzero(_held(level, a, b) > target)[0] + a
        if over.size == 0:
            continue
        starts = np.maximum(0, over - 2 * la - 2)
        reach = np.maximum.accumulate(np.minimum(n, over + recover))
        if segments:
            reach = np.maximum(reach, segments[-1][1])
        before = np.concatenate(([segments[-1][1] if segments else -1], reach[:-1]))
        for i in np.nonzero(starts > before)[0]:  # nothing before reaches this start: a new stretch
            if segments:
                segments[-1][1] = int(before[i])
            segments.append([int(starts[i]), int(reach[i])])
        segments[-1][1] = int(reach[-1])
    return [(s, e) for s, e in segments]


def _gain_stretch(level: _Level, s: int, e: int, ceiling: float, la: int, rate: float, gain_db: np.ndarray) -> float:
    """``mastering._gain_segment`` of frames s:e written into ``gain_db`` block by block (the
    look-ahead minimum, the release's running minimum and the attack's running sum carried
    over); returns the lowest gain."""
    from scipy.ndimage import minimum_filter1d

    size = la + 1
    log_ceiling = math.log10(ceiling)
    run_min, run_sum = math.inf, 0.0
    tail = np.zeros(1)  # csum of the frames [max(0, k0 - la), k0]
    lowest = 0.0
    for c0, c1 in da.chunks(e - s, _step()):
        c0, c1 = c0 + s, c1 + s
        lo, hi = max(s, c0 - la), min(e, c1 + la)
        with np.errstate(divide="ignore"):
            need = np.minimum(0.0, 20.0 * (log_ceiling - np.log10(_held(level, lo, hi).astype(np.float64))))
        ahead = minimum_filter1d(need, size, origin=-(size // 2), mode="constant", cval=0.0)[c0 - lo:c1 - lo]
        ramp = rate * np.arange(c0 - s, c1 - s, dtype=np.float64)
        acc = np.minimum.accumulate(np.concatenate(([run_min], ahead - ramp)))
        run_min = float(acc[-1])
        released = np.minimum(acc[1:] + ramp, 0.0)
        cs = np.cumsum(np.concatenate(([run_sum], released)))
        run_sum = float(cs[-1])
        k0 = c0 - s
        base = max(0, k0 - la)
        full = np.concatenate((tail[:-1], cs))  # csum[base .. c1 - s]
        idx = np.arange(k0, c1 - s)
        lo_i = np.maximum(0, idx - la)
        out = (full[idx + 1 - base] - full[lo_i - base]) / (idx + 1 - lo_i)
        da.write(gain_db, c0, out[None, :])
        lowest = min(lowest, float(out.min()))
        keep = max(0, (c1 - s) - la)
        tail = full[keep - base:]
    return lowest


def _true_peak_linear(audio: np.ndarray, scale: float) -> float:
    peak = sample_peak(audio, scale)
    return max((float(level.max()) for _, _, level in _levels(audio, peak, scale)), default=0.0) if peak else 0.0


def _db(v: float) -> float:
    return 20.0 * math.log10(v) if v > 0 else float("-inf")


def _apply_gain(x: np.ndarray, scale: float, gain_db: np.ndarray, level: _Level, out: np.ndarray) -> float:
    """``out`` = the (scaled) input times the gain, block by block; returns the output's true
    level as ``mastering._tp_limit`` measures it (interpolated again only near changed frames)."""
    n, B = x.shape[1], mst.BLOCK
    worst = 0.0
    for a, b in da.chunks(n, _step()):
        c0, c1 = max(0, a - _CTX), min(n, b + _CTX)
        y = _scaled(da.read(x, c0, c1), scale)
        gdb = da.read(gain_db, c0, c1)[0]
        active = np.nonzero(gdb < 0.0)[0]
        gain = np.ones(c1 - c0, np.float32)
        gain[active] = (10.0 ** (gdb[active] / 20.0)).astype(np.float32)
        o = y * gain[None, :]
        hit = np.zeros(-(-(c1 - c0) // B), bool)
        hit[active // B] = True
        near = hit.copy()
        near[1:] |= hit[:-1]
        near[:-1] |= hit[1:]
        again = mst.intersample_level(o, 0.0, np.nonzero(near)[0])[a - c0:b - c0]
        mine = near[(a - c0) // B:(a - c0) // B + -(-(b - a) // B)]  # the blocks of a:b (a - c0 is 0 or B)
        touched = np.repeat(mine, B)[:b - a]
        worst = max(worst, float(again[touched].max()) if touched.any() else 0.0, level.untouched_max(a, mine))
        da.write(out, a, o[:, a - c0:b - c0])
    return worst


def tp_limit(x: np.ndarray, out: np.ndarray, sample_rate: int, ceiling_dbtp: float, *, scale: float = 1.0,
             level_threshold_x: float | None = None, level_threshold: float = 0.0, lookahead_ms: float = 5.0,
             release_db_per_s: float = mst.RELEASE_DB_PER_S,
             exact_peak: bool = True) -> tuple[np.ndarray, float, float, float]:
    """``mastering._tp_limit`` of ``x`` times ``scale``, written into ``out`` (a disk array of
    ``x``'s shape): (the result: ``x`` itself when it passes unchanged, else ``out``; reduction
    dB; true peak in; true peak out). ``level_threshold_x``: compute the level on ``x`` with this
    threshold and scale it (``master_mix``'s shortcut), else on the scaled input with the ceiling."""
    n = x.shape[1]
    if n == 0:
        return x, 0.0, float("-inf"), float("-inf")
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    if level_threshold_x is None:
        level_threshold = ceiling

        def levels():
            return _levels(x, ceiling, scale)
    else:
        def levels():
            return _levels(x, level_threshold_x, 1.0, np.float32(scale))
    target = ceiling * 10.0 ** (-0.02 / 20.0)  # as mastering._tp_limit
    level = _measured(levels(), n, target * 10.0 ** (-LEVEL_KEPT_BELOW_DB / 20.0))
    tp_in = float(level.block_max.max())
    if tp_in <= ceiling:
        if tp_in < level_threshold and exact_peak:  # the maximum lies where nothing was interpolated
            tp_in = _true_peak_linear(x, scale)
        return (x if scale == 1.0 else scaled_copy(x, scale, out)), 0.0, _db(tp_in), _db(tp_in)
    la = max(1, int(round(lookahead_ms * 1e-3 * sample_rate)))
    rate = release_db_per_s / sample_rate
    gain_db = None
    for _ in range(4):
        if target < level.keep:  # a retry's target under the first one's margin: keep every chunk
            level = _measured(levels(), n, 0.0)
        gain_db = da.disk_array(1, n, dtype=np.float64)
        worst_in = float(20.0 * (np.log10(np.float64(tp_in)) - math.log10(target)))
        lowest = 0.0
        for s, e in _segments(level, target, worst_in, la, rate):
            lowest = min(lowest, _gain_stretch(level, s, e, target, la, rate, gain_db))
        reduction = float(-lowest)
        worst = _apply_gain(x, scale, gain_db, level, out)
        if worst <= ceiling:
            break
        target *= ceiling / worst * 10.0 ** (-0.01 / 20.0)
    else:  # never seen; a last resort that still guarantees the ceiling
        factor = np.float32(ceiling / worst * 0.999)
        for a, b in da.chunks(n):
            da.write(out, a, (da.read(out, a, b) * factor).astype(np.float32))
        worst *= ceiling / worst * 0.999
    return out, reduction, _db(tp_in), _db(worst)


def true_peak_limit(x: np.ndarray, out: np.ndarray, sample_rate: int, *,
                    ceiling_dbtp: float = mst.CEILING_DBTP) -> tuple[np.ndarray, float]:
    """``mastering.true_peak_limit`` into ``out``: (the result, ``x`` itself when under the
    ceiling; the largest reduction dB)."""
    result, reduction, _, _ = tp_limit(x, out, sample_rate, ceiling_dbtp, exact_peak=False)
    return result, reduction


def master_mix(mix: np.ndarray, sample_rate: int, settings: mst.Mastering = mst.Mastering()
               ) -> tuple[np.ndarray, mst.MasterReport]:
    """``mastering.master_mix`` of a (channels, n) mix on disk: each try measured and applied
    block by block into a disk array (two, so the best try so far is kept); returns (the
    result, ``mix`` itself when nothing changed it; the report). The gain search is the same
    function (``mastering.loudness_search``)."""
    import time

    t0 = time.perf_counter()
    before = integrated_lufs(mix, sample_rate)
    if not math.isfinite(before):  # silence stays silence
        return mix, mst.MasterReport(before, before, 0.0, float("-inf"), float("-inf"))
    ceiling = settings.ceiling_dbtp
    room: list = [None]  # the gain the level's threshold was chosen for (mastering.master_mix's `room`)
    buffers: list[np.ndarray] = []
    best = [None]

    def run(g: float):
        scale = 10.0 ** (g / 20.0)
        free = [buf for buf in buffers if buf is not best[0]]
        dst = free[0] if free else da.disk_array(*mix.shape)
        if not any(dst is buf for buf in buffers):
            buffers.append(dst)
        if ceiling is None:
            y = mix if g == 0.0 else scaled_copy(mix, scale, dst)
            tp = true_peak_dbtp(y)
            return y, 0.0, tp, tp
        room[0] = g if room[0] is None else max(room[0], g)
        return tp_limit(mix, dst, sample_rate, ceiling, scale=scale,
                        level_threshold_x=10.0 ** ((ceiling - room[0]) / 20.0),
                        level_threshold=10.0 ** ((ceiling - room[0] + g) / 20.0))

    def keep(out: np.ndarray) -> None:
        best[0] = out

    out, reduction, tp_before, tp, gain, after, capped = mst.loudness_search(
        settings, before, run, lambda y: integrated_lufs(y, sample_rate), keep)
    return out, mst.MasterReport(before, after, gain, tp_before, tp, reduction, capped,
                                 {"mastering": time.perf_counter() - t0})
