"""Tempo, beats and downbeats from the visual onset envelope.

Tempo: the autocorrelation peak of the envelope within [tempo_min_bpm, tempo_max_bpm]. Beats:
a dynamic-programming tracker in the manner of Ellis (2007) with a fractional period, each beat
then refined to the envelope peak by parabolic interpolation. Plain numpy: librosa's versions
give the same beats here but cost seconds of numba compilation per process.
Downbeats: every ``beats_per_bar``-th beat, the phase whose beats carry the most onset energy.
"""
from __future__ import annotations

import numpy as np

from studio.analysis.timeline import AnalysisParams

TIGHTNESS = 100.0  # DP penalty weight on log(interval / period)^2 (Ellis 2007; librosa's default)


def estimate_tempo(env: np.ndarray, rate_hz: float, params: AnalysisParams) -> float:
    """Tempo in BPM from the autocorrelation of the envelope (0.0 when too short or flat).

    The biased autocorrelation (sum over the overlap, not divided by it) decays slowly with the
    lag, so of the equally periodic candidates (P, 2P, ...) the shortest period wins; weaker
    off-beat pulses make P/2 score lower than P. The peak lag is refined by parabolic fit.
    """
    n = len(env)
    if n < rate_hz * 1.5 or float(np.max(env, initial=0.0)) <= 0:
        return 0.0
    x = env - env.mean()
    lo = max(1, int(np.floor(60.0 * rate_hz / params.tempo_max_bpm)))
    hi = min(n - 2, int(np.ceil(60.0 * rate_hz / params.tempo_min_bpm)))
    if hi <= lo:
        return 0.0
    ac = np.correlate(x, x, mode="full")[n - 1:n - 1 + hi + 2]
    if ac[0] <= 0:
        return 0.0
    lags = np.arange(lo, hi + 1)
    best = int(lags[np.argmax(ac[lo:hi + 1])])
    if ac[best] <= 0.05 * ac[0]:
        return 0.0
    a, b, c = ac[best - 1], ac[best], ac[best + 1]
    den = a - 2 * b + c
    lag = best + (0.5 * (a - c) / den if den < 0 else 0.0)
    bpm = 60.0 * rate_hz / lag
    return float(np.clip(bpm, params.tempo_min_bpm, params.tempo_max_bpm))


def track_beats(env: np.ndarray, rate_hz: float, tempo_bpm: float) -> np.ndarray:
    """Beat times (s) at about ``tempo_bpm`` by dynamic programming: each beat maximises the
    envelope plus the best previous beat's score minus a penalty on how far the interval is
    from the beat period; weak beats at either end are trimmed; times refined to the peak."""
    n = len(env)
    if tempo_bpm <= 0 or n < 3:
        return np.zeros(0)
    period = 60.0 * rate_hz / tempo_bpm
    local = env / max(1e-9, float(env.std()))
    score = local.copy()
    back = np.full(n, -1)
    lo_off, hi_off = max(1, int(round(period / 2))), int(round(2 * period))
    offsets = np.arange(hi_off, lo_off - 1, -1)
    penalty = -TIGHTNESS * np.log(offsets / period) ** 2
    for t in range(lo_off, n):
        prev = t - offsets
        ok = prev >= 0
        cand = score[prev[ok]] + penalty[ok]
        i = int(np.argmax(cand))
        if cand[i] > 0:
            score[t] = local[t] + cand[i]
            back[t] = prev[ok][i]
    # the last beat: the best score within the final period, then follow the links back
    tail = max(0, n - int(np.ceil(period)))
    t = tail + int(np.argmax(score[tail:]))
    frames = []
    while t >= 0:
        frames.append(t)
        t = back[t]
    frames = np.array(frames[::-1])
    frames = _trim(frames, local)
    return np.array([_refine(env, float(f)) / rate_hz for f in frames])


def _trim(frames: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Drop beats at the start and end whose onset strength is far below the typical beat."""
    if len(frames) < 3:
        return frames
    strength = local[frames]
    floor = 0.25 * float(np.median(strength))
    keep = np.nonzero(strength >= floor)[0]
    if len(keep) == 0:
        return frames
    return frames[keep[0]:keep[-1] + 1]


def _refine(env: np.ndarray, pos: float) -> float:
    """The envelope peak within a frame of ``pos`` (grid units), with parabolic interpolation."""
    i = int(round(pos))
    lo, hi = max(0, i - 1), min(len(env) - 1, i + 1)
    j = lo + int(np.argmax(env[lo:hi + 1]))
    if 0 < j < len(env) - 1:
        a, b, c = env[j - 1], env[j], env[j + 1]
        den = a - 2 * b + c
        if den < 0:
            return j + float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return float(j)


def downbeats(beats_s: np.ndarray, env: np.ndarray, energy: np.ndarray, rate_hz: float,
              beats_per_bar: int) -> np.ndarray:
    """Every ``beats_per_bar``-th beat starting at the phase with the strongest accents
    (onset strength plus motion energy around the beat)."""
    if len(beats_s) == 0 or beats_per_bar <= 1:
        return np.asarray(beats_s, dtype=np.float64)
    idx = np.clip(np.round(np.asarray(beats_s) * rate_hz).astype(int), 0, len(env) - 1)
    e = energy / max(1e-9, float(np.max(energy))) if len(energy) else np.zeros(len(env))
    accent = np.array([env[max(0, i - 1):i + 2].max() + e[max(0, i - 2):i + 3].max() for i in idx])
    scores = [accent[p::beats_per_bar].mean() if len(accent[p::beats_per_bar]) else -1.0
              for p in range(beats_per_bar)]
    phase = int(np.argmax(scores))
    return np.asarray(beats_s, dtype=np.float64)[phase::beats_per_bar]
