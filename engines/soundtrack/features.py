"""Visual conditioning: the analysis timeline's per-second descriptors, read at each beat.

The model sees one visual vector per beat of the music grid (16 per window); each comes from
the per-second descriptors of the second that beat falls in (colour, brightness, saturation,
motion energy and its variance), plus what happens inside the beat (scene cut, visual onset
strength from the 30 Hz envelope) and the visual tempo. Plain numpy: the studio adapter passes
the timeline's arrays (engines never import studio).

Layout (``N_FEATURES`` = 11), every value roughly in [-2, 2]:

| i | feature | scaling |
|---|---|---|
| 0 | brightness | 0..1 |
| 1 | saturation | 0..1 |
| 2-4 | mean colour r, g, b | 0..1 |
| 5 | motion energy (frame heights / s) | m / 0.2, clipped to 3 |
| 6 | motion relative to the piece's mean | (m - mean) / 0.1, clipped to +-2 |
| 7 | motion variance within the second | sqrt(var) / 0.05, clipped to 3 |
| 8 | a scene cut inside this beat | 0 / 1 |
| 9 | visual onset strength at the beat (max of the envelope within +-70 ms) | 0..1 |
| 10 | visual tempo | (bpm - 110) / 40 |
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FEATURES = 11
FEATURE_NAMES = ("brightness", "saturation", "red", "green", "blue", "motion", "motion_rel",
                 "motion_var", "cut", "onset", "tempo")


@dataclass(frozen=True)
class VisualSeries:
    """The parts of an analysis timeline the soundtrack engine reads (plain arrays)."""

    duration_s: float
    tempo_bpm: float
    seconds_s: np.ndarray  # (M,) start of each second
    brightness: np.ndarray  # (M,)
    saturation: np.ndarray  # (M,)
    colour_rgb: np.ndarray  # (M, 3)
    motion_mean: np.ndarray  # (M,)
    motion_var: np.ndarray  # (M,)
    cuts_s: tuple[float, ...] = ()
    times_s: np.ndarray | None = None  # (N,) 30 Hz grid of the onset envelope
    onset_envelope: np.ndarray | None = None  # (N,)
    beat_times_s: np.ndarray | None = None  # visual beats (for evaluation / alignment)

    @classmethod
    def from_timeline(cls, tl) -> "VisualSeries":
        """From anything with the analysis timeline's attribute names."""
        return cls(float(tl.duration_s), float(tl.tempo_bpm), np.asarray(tl.seconds_s, float),
                   np.asarray(tl.brightness, float), np.asarray(tl.saturation, float),
                   np.asarray(tl.colour_rgb, float).reshape(-1, 3), np.asarray(tl.motion_mean, float),
                   np.asarray(tl.motion_var, float), tuple(float(c) for c in tl.cuts_s),
                   np.asarray(tl.times_s, float), np.asarray(tl.onset_envelope, float),
                   np.asarray(tl.beat_times_s, float))


def beat_features(series: VisualSeries, beat_times_s: np.ndarray, beat_len_s: np.ndarray | None = None,
                  ) -> np.ndarray:
    """(n_beats, N_FEATURES) float32 for beats starting at ``beat_times_s`` (seconds)."""
    bt = np.asarray(beat_times_s, float)
    n = len(bt)
    if beat_len_s is None:
        beat_len_s = np.full(n, 60.0 / max(1e-6, series.tempo_bpm))
    out = np.zeros((n, N_FEATURES), np.float32)
    m = len(series.seconds_s)
    if m == 0:
        out[:, 10] = (series.tempo_bpm - 110.0) / 40.0
        return out
    mid = np.clip(bt + 0.5 * beat_len_s, 0.0, max(0.0, series.duration_s - 1e-6))
    idx = np.clip(np.searchsorted(series.seconds_s, mid, side="right") - 1, 0, m - 1)
    motion = np.asarray(series.motion_mean, float)
    out[:, 0] = np.asarray(series.brightness, float)[idx]
    out[:, 1] = np.asarray(series.saturation, float)[idx]
    out[:, 2:5] = np.asarray(series.colour_rgb, float)[idx]
    out[:, 5] = np.clip(motion[idx] / 0.2, 0.0, 3.0)
    out[:, 6] = np.clip((motion[idx] - motion.mean()) / 0.1, -2.0, 2.0)
    out[:, 7] = np.clip(np.sqrt(np.maximum(np.asarray(series.motion_var, float)[idx], 0.0)) / 0.05, 0.0, 3.0)
    cuts = np.asarray(series.cuts_s, float)
    if cuts.size:
        # a cut belongs to the beat it is nearest to the start of (cuts slightly before a beat
        # start the new section there)
        half = 0.5 * beat_len_s
        for c in cuts:
            j = int(np.argmin(np.abs(bt - c)))
            if abs(bt[j] - c) <= half[j] + 1e-9:
                out[j, 8] = 1.0
    if series.times_s is not None and series.onset_envelope is not None and len(series.times_s):
        env = np.asarray(series.onset_envelope, float)
        ts = np.asarray(series.times_s, float)
        lo = np.searchsorted(ts, bt - 0.07)
        hi = np.searchsorted(ts, bt + 0.07, side="right")
        out[:, 9] = [float(env[a:b].max()) if b > a else 0.0 for a, b in zip(lo, hi)]
    out[:, 10] = (series.tempo_bpm - 110.0) / 40.0
    return out
