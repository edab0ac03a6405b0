"""The piano roll's mapping (time <-> x, pitch <-> y), its beat-grid lines and a per-track index
of the notes for painting and hit-testing only what is in view (a track may hold thousands)."""
from __future__ import annotations

import math
import weakref

import numpy as np

RULER_H = 20  # the bar numbers above the rows
KEY_W = 52  # the keyboard column
VEL_H = 80  # the velocity lane
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BLACK = {1, 3, 6, 8, 10}
GRIDS = {"1/4": 4, "1/8": 8, "1/16": 16, "1/32": 32, "off": None}  # the snap combo: note values


def note_name(pitch: int) -> str:
    """'C4' for 60 (middle C, as most DAWs name it)."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


class RollView:
    """Horizontal: ``offset_s`` at x 0, ``px_per_s``; vertical: ``row_h`` px per semitone, pitch
    127 at the top, ``v_offset`` px scrolled down (rows start under the ruler)."""

    def __init__(self) -> None:
        self.px_per_s, self.offset_s = 120.0, 0.0
        self.row_h, self.v_offset = 12, 0

    def x_of(self, t):
        return (t - self.offset_s) * self.px_per_s

    def t_of(self, x: float) -> float:
        return self.offset_s + x / self.px_per_s

    def y_of(self, pitch):
        """Top of the row of ``pitch``."""
        return RULER_H + (127 - pitch) * self.row_h - self.v_offset

    def pitch_of(self, y: float) -> int:
        return int(max(0, min(127, 127 - math.floor((y - RULER_H + self.v_offset) / self.row_h))))

    def pitches_in(self, height: int) -> tuple[int, int]:
        """(lowest, highest) pitch with a row in view."""
        return self.pitch_of(height), self.pitch_of(RULER_H)

    def zoom(self, factor: float, anchor_x: float) -> None:
        t = self.t_of(anchor_x)
        self.px_per_s = float(np.clip(self.px_per_s * factor, 2.0, 4000.0))
        self.offset_s = max(0.0, t - anchor_x / self.px_per_s)

    def centre_on(self, pitch: float, height: int) -> None:
        self.v_offset = int(max(0, (127 - pitch) * self.row_h - (height - RULER_H) / 2))


def grid_lines(tempo, t0: float, t1: float, step: float | None, px_per_s: float) -> list[tuple[float, int]]:
    """(time, weight) of the grid lines in [t0, t1]: 2 bar, 1 beat, 0 a step of the snap grid;
    lines closer than a few pixels are left out (beats, then steps)."""
    bpb = tempo.beats_per_bar
    px_per_beat = px_per_s * 60.0 / tempo.bpm_at(max(t0, tempo.downbeat_s))
    unit = step if step and step * px_per_beat >= 6 else 1.0
    if px_per_beat < 5:  # beats too close: bars, every 2nd, 4th ... bar when those are too
        unit = float(bpb)
        while unit * px_per_beat < 6:
            unit *= 2
    b0, b1 = tempo.beat_at(t0), tempo.beat_at(t1)
    out = []
    for k in range(math.ceil(b0 / unit - 1e-9), math.floor(b1 / unit + 1e-9) + 1):
        b = k * unit
        whole = abs(b - round(b)) < 1e-9
        weight = 2 if whole and round(b) % bpb == 0 else 1 if whole else 0
        out.append((tempo.time_at(b), weight))
    return out


class NoteIndex:
    """Arrays of a Track's notes (in ``track.notes`` order) and their start order: visible notes
    by binary search. Cached per Track object: an edit replaces the Track, never changes it."""

    _cache: dict[int, tuple[weakref.ref, "NoteIndex"]] = {}

    def __init__(self, notes) -> None:
        self.start = np.array([n.start_s for n in notes], float)
        self.end = np.array([n.end_s for n in notes], float)
        self.pitch = np.array([n.pitch for n in notes], int)
        self.velocity = np.array([n.velocity for n in notes], int)
        self.order = np.argsort(self.start, kind="stable")
        self.sorted_start = self.start[self.order]
        self.max_dur = float((self.end - self.start).max()) if len(notes) else 0.0

    @classmethod
    def of(cls, track) -> "NoteIndex":
        hit = cls._cache.get(id(track))
        if hit is not None and hit[0]() is track:
            return hit[1]
        index = cls(track.notes)
        cls._cache = {k: v for k, v in cls._cache.items() if v[0]() is not None}
        cls._cache[id(track)] = (weakref.ref(track), index)
        return index

    def visible(self, t0: float, t1: float, lo: int = 0, hi: int = 127) -> np.ndarray:
        """Indices of the notes that overlap [t0, t1] with a pitch within lo..hi."""
        i = np.searchsorted(self.sorted_start, t0 - self.max_dur, side="left")
        j = np.searchsorted(self.sorted_start, t1, side="right")
        idx = self.order[i:j]
        keep = (self.end[idx] >= t0) & (self.pitch[idx] >= lo) & (self.pitch[idx] <= hi)
        return idx[keep]
