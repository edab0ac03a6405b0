"""The beat grid every engine writes on: one tempo map from the analysis and the user's corrections.

The analysis finds the visual beats (on the contacts, smoothed within each shot) and the first
downbeat; the map steadies them shot by shot (:func:`steady`) and carries the tempo on past
the first and last beat. The user may correct them: a tempo of their own (typed or
tapped: a constant grid), double or half time, bar 1 on another beat or at another moment.
:func:`tempo_map` turns the analysis plus those corrections into the project's TempoMap; the
rhythm and soundtrack engines read their beats back from that map (:func:`grid_beats`), so the
engines, the ruler, the tempo box and the exported MIDI file all show the same grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio.errors import StudioError
from studio.music import TempoChange, TempoMap

MIN_BPM, MAX_BPM = 20.0, 300.0  # what a user may ask for (the analysis stays within 60..200)
# how hard the map resists a change of tempo from one beat to the next (Whittaker smoother,
# beat times in seconds against beat number). Chosen on `studio bench sync` against the true
# beats: 30 keeps the largest beat-to-beat change within a clip at p95 1.3 % (3.6 % for the
# +-8 beat local quadratic fit it replaces; target 2 %) and follows the suite's rubato (a swell
# of 2-4 % over 12-20 beats: the map's beats within 25 ms of the true ones F 0.93-1.00, where 100
# smooths it away, F 0.68-0.96, and 10 lets the frame wobble back in)
STEADY_LAMBDA = 30.0
STEADY_OUTLIER = 0.12  # a beat this far (share of a beat) from the steadied curve is on something else:
# no weight (tighter, the swell of a rubato the smoother leaves out would count as strays)


@dataclass(frozen=True)
class GridCorrection:
    """What the user changed about the detected grid (all optional)."""

    bpm: float | None = None  # one constant tempo instead of the visual beats
    factor: float = 1.0  # 2: double time, 0.5: half time (applied to the visual beats)
    downbeat_s: float | None = None  # bar 1 starts here (on the nearest beat, else exactly here)

    def __post_init__(self) -> None:
        if self.bpm is not None and not (MIN_BPM <= float(self.bpm) <= MAX_BPM):
            raise StudioError(f"tempo {self.bpm} BPM is outside {MIN_BPM:.0f}..{MAX_BPM:.0f}")
        if self.factor not in (0.5, 1.0, 2.0):
            raise StudioError(f"tempo factor {self.factor} is not 0.5 (half), 1 or 2 (double)")
        if self.downbeat_s is not None and not (math.isfinite(self.downbeat_s) and self.downbeat_s >= 0):
            raise StudioError(f"downbeat {self.downbeat_s} s must be a time within the video")

    @classmethod
    def from_options(cls, options: dict | None) -> "GridCorrection":
        """The correction named in generate options (``bpm``, ``tempo_factor``, ``downbeat_s``)."""
        o = options or {}
        try:
            bpm = None if o.get("bpm") is None else float(o["bpm"])
            factor = float(o.get("tempo_factor", 1.0))
            down = None if o.get("downbeat_s") is None else float(o["downbeat_s"])
        except (TypeError, ValueError) as exc:
            raise StudioError(f"invalid tempo setting: {exc}") from None
        return cls(bpm, factor, down)


def detected_beats(timeline) -> tuple[np.ndarray, int]:
    """The analysis' beats and the index of the first downbeat among them."""
    beats = np.asarray(timeline.beat_times_s, float)
    downs = np.asarray(timeline.downbeat_times_s, float)
    first = int(np.argmin(np.abs(beats - downs[0]))) if len(beats) and len(downs) else 0
    return beats, first


def tempo_map(timeline, correction: GridCorrection | None = None, beats_per_bar: int | None = None) -> TempoMap:
    """The project's tempo map for an analysed video, with the user's corrections applied."""
    c = correction or GridCorrection()
    bpb = int(beats_per_bar or timeline.params.beats_per_bar)
    beats, first = detected_beats(timeline)
    if c.bpm is not None or len(beats) < 2:
        bpm = float(c.bpm or timeline.tempo_bpm or 100.0)
        start = c.downbeat_s if c.downbeat_s is not None else (float(beats[first]) if len(beats) else 0.0)
        return TempoMap.constant(bpm, start, bpb)
    if c.factor == 2.0:
        mids = 0.5 * (beats[:-1] + beats[1:])
        beats = np.sort(np.concatenate([beats, mids]))
        first *= 2
    elif c.factor == 0.5:
        beats = beats[first % 2::2]
        first //= 2
    if c.downbeat_s is not None:
        beats, first = _on_downbeat(beats, c.downbeat_s)
    return TempoMap.from_beats(steady(beats, timeline.cuts_s)[first:], beats_per_bar=bpb)


def steady(beats: np.ndarray, cuts_s=()) -> np.ndarray:
    """The beats with a steadier tempo for the map, shot by shot (a cut may change the tempo):
    the analysis keeps each beat on its contact, to a few milliseconds; a tempo map that
    followed every such wobble would change tempo on every beat (a DAW's tempo track as a
    saw-tooth, the soundtrack's grid jittering). Within a shot the beat times are smoothed as a
    whole (:func:`whittaker`), which still follows a drifting tempo; the drums land on the
    contacts themselves (engines.rhythm.accents)."""
    beats = np.asarray(beats, float)
    if len(beats) < 5:
        return beats
    edges = np.searchsorted(beats, sorted(cuts_s))
    parts = np.split(beats, edges)
    out = np.concatenate([whittaker(p) if len(p) >= 5 else p for p in parts])
    return out if np.all(np.diff(out) > 0) else beats


def whittaker(beats: np.ndarray, lam: float = STEADY_LAMBDA, outlier: float = STEADY_OUTLIER) -> np.ndarray:
    """Beat times z minimising sum w_k (b_k - z_k)^2 + lam * sum (z_{k+1} - 2 z_k + z_{k-1})^2:
    the second difference is the change of the beat period, so ``lam`` prices a change of tempo
    (Whittaker-Eilers smoothing). Robust: beats more than ``outlier`` of a beat off the smoothed
    curve lose their weight and are refitted (a few rounds). One banded solve per round (scipy),
    so a film's thousands of beats cost milliseconds; unlike a moving-window fit, no beat
    entering or leaving a window makes the tempo jump."""
    from scipy.linalg import solveh_banded

    b = np.asarray(beats, float)
    n = len(b)
    if n < 3:
        return b.copy()
    period = float(np.median(np.diff(b)))
    # lam * D'D for the second-difference operator D, as the upper bands of a symmetric matrix
    dtd = np.zeros((3, n))
    dtd[2] = 6.0
    dtd[2, [0, -1]] = 1.0
    dtd[2, [1, -2]] = 5.0 if n > 3 else 4.0
    dtd[1, 1:] = -4.0
    dtd[1, [1, -1]] = -2.0
    dtd[0, 2:] = 1.0
    w = np.ones(n)
    z = b
    for _ in range(4):
        bands = lam * dtd
        bands[2] += w
        z = solveh_banded(bands, w * b)
        new = (np.abs(b - z) < outlier * period).astype(float)
        if np.array_equal(new, w) or new.sum() < 3:
            break
        w = new
    return z


def _on_downbeat(beats: np.ndarray, downbeat_s: float) -> tuple[np.ndarray, int]:
    """Bar 1 on the beat nearest ``downbeat_s``; when that beat is more than an eighth of a beat
    away the whole grid moves so that a beat lands exactly there (the user knows better)."""
    i = int(np.argmin(np.abs(beats - downbeat_s)))
    period = float(np.median(np.diff(beats)))
    if abs(beats[i] - downbeat_s) > period / 8:
        beats = beats + (downbeat_s - beats[i])
    return beats, i


def rescaled(tempo: TempoMap, factor: float) -> TempoMap:
    """The same grid at double (2) or half (0.5) time; bar 1 stays where it is."""
    if not factor > 0:
        raise StudioError(f"tempo factor {factor} must be positive")
    changes = tuple(TempoChange(ch.time_s, ch.bpm * factor) for ch in tempo.changes)
    if any(not MIN_BPM <= ch.bpm <= MAX_BPM for ch in changes):
        raise StudioError(f"the tempo would leave {MIN_BPM:.0f}..{MAX_BPM:.0f} BPM")
    return TempoMap(changes, tempo.beats_per_bar, tempo.beat_unit)


def with_downbeat(tempo: TempoMap, downbeat_s: float, duration_s: float) -> TempoMap:
    """The grid with bar 1 at ``downbeat_s``: re-counted from the nearest beat, or moved so a
    beat lands there when none is within an eighth of a beat."""
    beats, _ = grid_beats(tempo, duration_s, margin_beats=2)
    if len(beats) < 2:
        return TempoMap.constant(tempo.changes[0].bpm, downbeat_s, tempo.beats_per_bar)
    beats, first = _on_downbeat(beats, float(downbeat_s))
    return TempoMap.from_beats(beats[first:], beats_per_bar=tempo.beats_per_bar)


def tap_bpm(tap_times_s) -> float:
    """The tempo of tapped beats (at least two taps): median interval, robust to one stray tap."""
    t = np.sort(np.asarray(tap_times_s, float))
    if len(t) < 2:
        raise StudioError("tap at least twice to set a tempo")
    bpm = 60.0 / float(np.median(np.diff(t)))
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise StudioError(f"tapped tempo {bpm:.1f} BPM is outside {MIN_BPM:.0f}..{MAX_BPM:.0f}")
    return bpm


def grid_beats(tempo: TempoMap, duration_s: float, margin_beats: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(times, beat numbers) of every whole beat of ``tempo`` within 0 .. ``duration_s`` (beat 0
    is bar 1's downbeat; negative numbers are the pickup), ``margin_beats`` more each side."""
    lo = int(math.ceil(tempo.beat_at(0.0) - 1e-9)) - margin_beats
    hi = int(math.ceil(tempo.beat_at(float(duration_s)) - 1e-9)) + margin_beats
    numbers = np.arange(lo, max(lo, hi))
    return np.array([tempo.time_at(float(b)) for b in numbers]), numbers
