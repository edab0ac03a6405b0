"""Musical value types shared by every engine: notes and the tempo map.

Times are seconds; beats and ticks exist only where music needs them (grid, MIDI export).
The tempo map is piecewise constant: each change holds from its time to the next one. Beat 0
is the first downbeat (``downbeat_s``), so a DAW that opens our MIDI sees bar 1 on the first
visual beat; time before it is a pickup at the first tempo (negative beats).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

PPQ = 480  # MIDI ticks per quarter note, everywhere in the project
DRUM_CHANNEL = 9  # GM channel 10, 0-based


@dataclass(frozen=True)
class Note:
    start_s: float
    dur_s: float
    pitch: int  # MIDI 0..127
    velocity: int  # 1..127
    channel: int = 0  # 0..15; 9 is GM drums

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch {self.pitch} outside MIDI range 0..127")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity} outside 1..127")
        if not 0 <= self.channel <= 15:
            raise ValueError(f"channel {self.channel} outside 0..15")
        if self.dur_s < 0:
            raise ValueError("note duration must be >= 0")

    @property
    def end_s(self) -> float:
        return self.start_s + self.dur_s


@dataclass(frozen=True)
class TempoChange:
    time_s: float
    bpm: float


@dataclass(frozen=True)
class TempoMap:
    """Tempo changes (sorted, first at ``downbeat_s``) and the time signature."""

    changes: tuple[TempoChange, ...] = (TempoChange(0.0, 120.0),)
    beats_per_bar: int = 4
    beat_unit: int = 4
    # cached for the lookups, which bisect them (a two-hour drifting map has ~1,700 changes, and
    # a list rebuilt per call made an export's per-note lookups quadratic in the film's length)
    _beats_at_change: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)
    _change_times: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.changes:
            raise ValueError("a tempo map needs at least one tempo")
        if any(c.bpm <= 0 or not np.isfinite(c.bpm) for c in self.changes):
            raise ValueError("tempi must be positive")
        times = [c.time_s for c in self.changes]
        if times != sorted(times):
            raise ValueError("tempo changes must be sorted by time")
        if self.beats_per_bar < 1 or self.beat_unit not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"unsupported time signature {self.beats_per_bar}/{self.beat_unit}")
        beats = [0.0]
        for a, b in zip(self.changes, self.changes[1:]):
            beats.append(beats[-1] + (b.time_s - a.time_s) * a.bpm / 60.0)
        object.__setattr__(self, "_beats_at_change", tuple(beats))
        object.__setattr__(self, "_change_times", tuple(times))

    @classmethod
    def constant(cls, bpm: float, downbeat_s: float = 0.0, beats_per_bar: int = 4) -> "TempoMap":
        return cls((TempoChange(downbeat_s, bpm),), beats_per_bar)

    @classmethod
    def from_beats(cls, beat_times_s, beats_per_bar: int = 4, max_error_s: float = 0.004) -> "TempoMap":
        """A tempo map whose beats land on the given beat times (e.g. from visual analysis).

        A change is written only where the running tempo would put a beat more than
        ``max_error_s`` from where it was seen (the error never accumulates, however long the
        video), so a steady video gives a clean single-tempo map and a drifting one a change
        wherever it is needed. Changes sit on beats.
        """
        beats = np.asarray(beat_times_s, dtype=float)
        if beats.size < 2:
            return cls.constant(120.0, float(beats[0]) if beats.size else 0.0, beats_per_bar)
        changes = [TempoChange(float(beats[0]), 60.0 / float(beats[1] - beats[0]))]
        k_change = 0
        for k in range(2, len(beats)):
            c = changes[-1]
            predicted = c.time_s + (k - k_change) * 60.0 / c.bpm
            if abs(predicted - beats[k]) > max_error_s:
                changes.append(TempoChange(float(beats[k - 1]), 60.0 / float(beats[k] - beats[k - 1])))
                k_change = k - 1
        return cls(tuple(changes), beats_per_bar)

    @property
    def downbeat_s(self) -> float:
        return self.changes[0].time_s

    def bpm_at(self, time_s: float) -> float:
        i = max(0, bisect.bisect_right(self._change_times, time_s) - 1)
        return self.changes[i].bpm

    def beat_at(self, time_s: float) -> float:
        """Beat position (0 = first downbeat; negative in the pickup) of a time in seconds."""
        i = max(0, bisect.bisect_right(self._change_times, time_s) - 1)
        c = self.changes[i]
        return self._beats_at_change[i] + (time_s - c.time_s) * c.bpm / 60.0

    def time_at(self, beat: float) -> float:
        """Seconds of a beat position; inverse of ``beat_at``."""
        i = max(0, bisect.bisect_right(self._beats_at_change, beat) - 1)
        c = self.changes[i]
        return c.time_s + (beat - self._beats_at_change[i]) * 60.0 / c.bpm

    def beat_times(self, end_s: float, start_s: float = 0.0) -> np.ndarray:
        """All whole-beat times in [start_s, end_s)."""
        first = int(np.ceil(self.beat_at(start_s) - 1e-9))
        last = int(np.ceil(self.beat_at(end_s) - 1e-9))
        return np.array([self.time_at(b) for b in range(first, last)])

    def to_dict(self) -> dict:
        return {
            "changes": [[c.time_s, c.bpm] for c in self.changes],
            "beats_per_bar": self.beats_per_bar,
            "beat_unit": self.beat_unit,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TempoMap":
        return cls(
            tuple(TempoChange(float(t), float(b)) for t, b in d["changes"]),
            int(d.get("beats_per_bar", 4)),
            int(d.get("beat_unit", 4)),
        )
