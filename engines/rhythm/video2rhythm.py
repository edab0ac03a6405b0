"""Video2Rhythm: tempo, beat/downbeat grid and per-16th rhythm activation from a feature timeline.

Input is any object with the fields of ``studio.analysis.AnalysisTimeline`` that are used here
(``duration_s, rate_hz, times_s, onset_envelope, motion_energy, tempo_bpm, beat_times_s,
downbeat_times_s, cuts_s``); the engine does not import studio.

Grid
    * follow (default): the visual beats, smoothed by a local robust line fit (+-6 beats; takes
      out frame jitter and stray beats); gaps longer than 1.5 median beats are filled, the grid
      is extended to the end of the video with the last beat period. Bar 1 starts at the first
      visual downbeat (the first visual beat when no downbeats were found); earlier beats are a
      pickup bar.
    * lock (``lock=True`` or a user ``bpm``): a constant-tempo grid (user tempo, else the visual
      tempo) whose first beat is the first visual beat.
    Each beat is split into 4 sixteenth steps (linear between beats, so tempo changes follow).
Activation
    The onset envelope's maximum within +-half a step of each step, divided by the 95th
    percentile of the steps that move at all, clipped to 0..1.
Pauses
    A bar whose motion stays below 15 % of the video's median motion and whose activation
    never reaches 0.2 is a rest (held picture: no groove). A scene cut marks the step nearest
    to it (the drums add a crash there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEPS_PER_BEAT = 4


@dataclass(frozen=True)
class Bar:
    index: int  # 0 = first full bar; -1 = the pickup before it
    start_s: float
    step_times_s: np.ndarray  # (steps,) start of each 16th
    step_dur_s: np.ndarray  # (steps,)
    activation: np.ndarray  # (steps,) 0..1
    rest: bool
    cut_steps: tuple[int, ...]
    first_step: int = 0  # a pickup bar starts part-way into the bar

    @property
    def steps(self) -> int:
        return len(self.step_times_s)


@dataclass(frozen=True)
class RhythmGrid:
    tempo_bpm: float
    beats_per_bar: int
    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray
    step_times_s: np.ndarray
    activation: np.ndarray
    bars: tuple[Bar, ...]
    locked: bool

    @property
    def first_downbeat_s(self) -> float:
        return float(self.downbeat_times_s[0]) if len(self.downbeat_times_s) else 0.0


def _fill_gaps(beats: np.ndarray) -> np.ndarray:
    if len(beats) < 3:
        return beats
    med = float(np.median(np.diff(beats)))
    out = [beats[0]]
    for b in beats[1:]:
        gap = b - out[-1]
        n = int(round(gap / med))
        if gap > 1.5 * med and n >= 2:
            out += list(out[-1] + gap * np.arange(1, n) / n)
        out.append(b)
    return np.asarray(out, float)


def smooth_beats(beats: np.ndarray, half: int = 6, outlier: float = 0.05) -> np.ndarray:
    """Local robust linear fit of beat time against beat number (+-``half`` beats): removes
    the frame-quantisation jitter of tracked beats and pulls stray ones (e.g. a first beat
    found early) onto the grid of their neighbours; beats off by more than ``outlier`` beats
    get no weight in their neighbours' fits."""
    n = len(beats)
    if n < 4:
        return beats
    k = np.arange(n, dtype=float)
    out = beats.copy()
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        kk, bb = k[lo:hi], beats[lo:hi]
        w = np.ones(len(kk))
        for _ in range(3):
            a = np.stack([np.ones(len(kk)), kk], 1) * w[:, None]
            c0, c1 = np.linalg.lstsq(a, bb * w, rcond=None)[0]
            new_w = (np.abs(bb - (c0 + c1 * kk)) < outlier * c1).astype(float)
            if new_w.sum() < 3:
                break
            w = new_w
        out[i] = c0 + c1 * i
    return out if np.all(np.diff(out) > 0) else beats


def beat_grid(tl, *, bpm: float | None = None, lock: bool = False, beats_per_bar: int = 4):
    """(beats, index of the first downbeat in beats, tempo, locked)."""
    vis = np.asarray(tl.beat_times_s, float)
    dur = float(tl.duration_s)
    locked = bool(lock or bpm)
    tempo = float(bpm or tl.tempo_bpm or 120.0)
    if not np.isfinite(tempo) or tempo <= 0:
        tempo = 120.0
    if locked or len(vis) < 2:
        period = 60.0 / tempo
        start = float(vis[0]) if len(vis) else 0.0
        beats = start + period * np.arange(0, max(1, int(np.ceil((dur - start) / period))))
        first_db = 0
    else:
        beats = smooth_beats(_fill_gaps(vis))
        period = float(np.median(np.diff(beats[-8:])))
        extra = beats[-1] + period * np.arange(1, max(1, int(np.ceil((dur - beats[-1]) / period))) + 1)
        beats = np.concatenate([beats, extra[extra < dur]])
        dbs = np.asarray(tl.downbeat_times_s, float)
        first_db = int(np.argmin(np.abs(beats - dbs[0]))) % beats_per_bar if len(dbs) else 0
        tempo = 60.0 / float(np.median(np.diff(beats)))
    return beats[beats < dur], first_db, tempo, locked


def step_activation(tl, step_times: np.ndarray, step_dur: np.ndarray) -> np.ndarray:
    env = np.asarray(tl.onset_envelope, float)
    if len(env) == 0:
        return np.zeros(len(step_times), np.float32)
    rate = float(tl.rate_hz)
    lo = np.clip(np.floor((step_times - 0.5 * step_dur) * rate + 0.5).astype(int), 0, len(env) - 1)
    hi = np.clip(np.floor((step_times + 0.5 * step_dur) * rate + 0.5).astype(int), 0, len(env) - 1)
    vals = np.array([env[a:b + 1].max() for a, b in zip(lo, hi)])
    moving = vals[vals > 1e-6]
    scale = float(np.percentile(moving, 95)) if len(moving) else 1.0
    return np.clip(vals / max(scale, 1e-6), 0.0, 1.0).astype(np.float32)


def video_to_rhythm(tl, *, bpm: float | None = None, lock: bool = False,
                    beats_per_bar: int = 4, pause_on_still: bool = True,
                    beats: np.ndarray | None = None, first_downbeat: int = 0) -> RhythmGrid:
    """The rhythm grid of a feature timeline (see the module doc). ``beats`` (with the index of
    the first downbeat among them) gives the grid explicitly, e.g. the project's tempo map, so
    that every engine writes on the same beats."""
    if not 1 <= int(beats_per_bar) <= 12:
        raise ValueError(f"beats_per_bar {beats_per_bar} outside 1..12")
    if beats is not None:
        beats = np.asarray(beats, float)
        beats = beats[beats < float(tl.duration_s)]
        first_db = int(first_downbeat) % beats_per_bar if len(beats) else 0
        iv = np.diff(beats)
        tempo = 60.0 / float(np.median(iv)) if len(iv) else float(bpm or 120.0)
        locked = bool(len(iv) and np.ptp(iv) < 1e-6)
    else:
        beats, first_db, tempo, locked = beat_grid(tl, bpm=bpm, lock=lock, beats_per_bar=beats_per_bar)
    dur = float(tl.duration_s)
    if len(beats) == 0:
        empty = np.zeros(0)
        return RhythmGrid(tempo, beats_per_bar, empty, empty, empty, empty.astype(np.float32), (), locked)
    period = np.diff(np.concatenate([beats, [beats[-1] + (beats[-1] - beats[-2] if len(beats) > 1 else 60 / tempo)]]))
    frac = np.arange(STEPS_PER_BEAT) / STEPS_PER_BEAT
    step_times = (beats[:, None] + period[:, None] * frac[None]).ravel()
    step_dur = np.repeat(period / STEPS_PER_BEAT, STEPS_PER_BEAT)
    act = step_activation(tl, step_times, step_dur)
    motion = np.asarray(tl.motion_energy, float)
    med_motion = float(np.median(motion)) if len(motion) else 0.0
    cuts = np.asarray(tl.cuts_s, float)

    spb = STEPS_PER_BEAT * beats_per_bar
    bars = []
    first_step = first_db * STEPS_PER_BEAT
    starts = ([0] if first_step > 0 else []) + list(range(first_step, len(step_times), spb))
    for j, s0 in enumerate(starts):
        pickup = first_step > 0 and j == 0
        s1 = first_step if pickup else min(s0 + spb, len(step_times))
        t = step_times[s0:s1]
        d = step_dur[s0:s1]
        a = act[s0:s1]
        t_end = t[-1] + d[-1]
        if len(motion):
            k0, k1 = int(t[0] * tl.rate_hz), max(int(t[0] * tl.rate_hz) + 1, int(t_end * tl.rate_hz))
            m = float(np.mean(motion[k0:k1])) if k0 < len(motion) else 0.0
        else:
            m = 0.0
        rest = bool(pause_on_still and m < 0.15 * med_motion and a.max(initial=0) < 0.2)
        cut_steps = tuple(int(np.argmin(np.abs(t - c))) for c in cuts if t[0] - 0.5 * d[0] <= c < t_end)
        index = -1 if pickup else j - (1 if first_step > 0 else 0)
        bars.append(Bar(index, float(t[0]), t, d, a, rest, cut_steps, spb - (s1 - s0) if pickup else 0))
    downbeats = step_times[first_step::spb]
    return RhythmGrid(float(tempo), int(beats_per_bar), beats, downbeats[downbeats < dur], step_times, act,
                      tuple(bars), locked)
