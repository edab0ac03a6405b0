"""Edits of a track's notes: what the piano roll (ui/widgets/piano_roll) does, as pure functions.

No Qt and no undo here: each function takes the notes and the indices of the selected ones and
returns an :class:`Edit` (the new note list, sorted by start then pitch, and the indices of the
notes the edit touched there, to stay selected); the UI puts that list into the project as one
undo step, so playback, the MIDI port and export read the edited notes as any other.

The bounds hold for whatever the caller asks: pitch 0..127 (a group moved past an end stops there,
keeping its intervals), velocity 1..127, no start before 0 s (a group keeps its rhythm),
and an edited note lasts at least :data:`MIN_DUR_S`. Grid positions are in beats of the tempo
map (beat 0 = bar 1), so a snapped note lands on the same grid the ruler shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from studio.music import Note, TempoMap

MIN_DUR_S = 0.01  # an edited note never gets shorter (a zero-length note would not sound)
EPS = 1e-9  # beats: what rounding may leave of a position that is on the grid


@dataclass(frozen=True)
class Edit:
    notes: tuple[Note, ...]  # the track's new notes, by start then pitch
    selected: tuple[int, ...]  # indices into ``notes`` of the notes the edit made or changed


def step_beats(denominator: int, beat_unit: int = 4) -> float:
    """Beats of the tempo map in a 1/``denominator`` note (a 1/16 is 0.25 beat in x/4)."""
    return beat_unit / float(denominator)


def _line(tempo: TempoMap, t: float, step: float, how) -> float:
    """Beat of a grid line near ``t`` (``how``: round, floor or ceil of the step count)."""
    return how(tempo.beat_at(t) / step + (EPS if how is math.floor else -EPS if how is math.ceil else 0)) * step


def snap(tempo: TempoMap, t: float, step: float | None, how=round) -> float:
    """``t`` on the grid of ``step`` beats (None or 0: as it is); never before 0 s (the first
    line at or after 0 s then)."""
    if not step:
        return max(0.0, t)
    s = tempo.time_at(_line(tempo, t, step, how))
    return s if s >= 0.0 else max(0.0, tempo.time_at(_line(tempo, 0.0, step, math.ceil)))


def _sorted(notes: Sequence[Note], marked: Iterable[int]) -> Edit:
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start_s, notes[i].pitch))
    where = {old: new for new, old in enumerate(order)}
    return Edit(tuple(notes[i] for i in order), tuple(sorted(where[i] for i in set(marked))))


def _changed(notes: Sequence[Note], selected: Iterable[int], change) -> Edit:
    sel = {i for i in selected if 0 <= i < len(notes)}
    return _sorted([change(n) if i in sel else n for i, n in enumerate(notes)], sel)


def _pitch_shift(notes: Sequence[Note], sel: set[int], semitones: int) -> int:
    """``semitones`` cut so the selected notes all stay within 0..127."""
    if not sel:
        return 0
    pitches = [notes[i].pitch for i in sel]
    return max(-min(pitches), min(127 - max(pitches), int(semitones)))


def _valid(selected: Iterable[int], notes: Sequence[Note]) -> set[int]:
    return {i for i in selected if 0 <= i < len(notes)}


def move(notes: Sequence[Note], selected: Iterable[int], dt: float = 0.0, semitones: int = 0) -> Edit:
    """The selected notes ``dt`` seconds later and ``semitones`` higher, as a group."""
    sel = _valid(selected, notes)
    if sel:
        dt = max(float(dt), -min(notes[i].start_s for i in sel))
    k = _pitch_shift(notes, sel, semitones)
    return _changed(notes, sel, lambda n: replace(n, start_s=max(0.0, n.start_s + dt), pitch=n.pitch + k))


def transpose(notes: Sequence[Note], selected: Iterable[int], semitones: int) -> Edit:
    return move(notes, selected, 0.0, semitones)


def resize(notes: Sequence[Note], selected: Iterable[int], d_dur: float) -> Edit:
    """The selected notes ``d_dur`` seconds longer (shorter when negative), each at least MIN_DUR_S."""
    return _changed(notes, selected, lambda n: replace(n, dur_s=max(MIN_DUR_S, n.dur_s + float(d_dur))))


def set_velocity(notes: Sequence[Note], selected: Iterable[int], velocity: int) -> Edit:
    v = max(1, min(127, int(round(velocity))))
    return _changed(notes, selected, lambda n: replace(n, velocity=v))


def quantise(notes: Sequence[Note], selected: Iterable[int] | None, tempo: TempoMap, step: float,
             lengths: bool = False) -> Edit:
    """Starts (with ``lengths`` also ends, a note keeping at least one step) on the nearest line
    of the ``step``-beat grid; ``selected`` None: every note. Quantising twice changes nothing."""
    if not step > 0:
        raise ValueError("the quantise grid must be a positive number of beats")

    def q(n: Note) -> Note:
        start = snap(tempo, n.start_s, step)
        if not lengths:
            return replace(n, start_s=start)
        b0 = tempo.beat_at(start)
        b1 = max(round(tempo.beat_at(n.end_s) / step) * step, b0 + step)
        return replace(n, start_s=start, dur_s=max(MIN_DUR_S, tempo.time_at(b1) - start))

    return _changed(notes, range(len(notes)) if selected is None else selected, q)


def delete(notes: Sequence[Note], selected: Iterable[int]) -> Edit:
    sel = set(selected)
    return _sorted([n for i, n in enumerate(notes) if i not in sel], ())


def add(notes: Sequence[Note], note: Note) -> Edit:
    """``note`` added (bounded: start >= 0, at least MIN_DUR_S); it is the one selected."""
    note = replace(note, start_s=max(0.0, note.start_s), dur_s=max(MIN_DUR_S, note.dur_s))
    return _sorted([*notes, note], (len(notes),))


def copy(notes: Sequence[Note], selected: Iterable[int]) -> tuple[Note, ...]:
    """The selected notes for :func:`paste`: times from the first one's start."""
    chosen = [notes[i] for i in sorted(_valid(selected, notes))]
    if not chosen:
        return ()
    t0 = min(n.start_s for n in chosen)
    return tuple(replace(n, start_s=n.start_s - t0) for n in chosen)


def paste(notes: Sequence[Note], clip: Sequence[Note], at_s: float, channel: int | None = None) -> Edit:
    """The copied notes from ``at_s`` on (on ``channel`` when given); the pasted ones selected."""
    at = max(0.0, float(at_s))
    pasted = [replace(n, start_s=at + n.start_s, **({} if channel is None else {"channel": channel}))
              for n in clip]
    return _sorted([*notes, *pasted], range(len(notes), len(notes) + len(pasted)))


def duplicate(notes: Sequence[Note], selected: Iterable[int], tempo: TempoMap, step: float | None) -> Edit:
    """A copy of the selected notes right after them: moved by their span (first start to last
    end) rounded up to whole grid steps (``step`` beats; None: whole beats). The copies are the
    ones selected afterwards, so Duplicate again continues the run."""
    sel = sorted(_valid(selected, notes))
    if not sel:
        return _sorted(notes, ())
    step = step or 1.0
    first = tempo.beat_at(min(notes[i].start_s for i in sel))
    last = tempo.beat_at(max(notes[i].end_s for i in sel))
    shift = max(1, math.ceil((last - first) / step - 1e-6)) * step
    copies = []
    for i in sel:
        n = notes[i]
        start = tempo.time_at(tempo.beat_at(n.start_s) + shift)
        end = tempo.time_at(tempo.beat_at(n.end_s) + shift)
        copies.append(replace(n, start_s=start, dur_s=max(0.0, end - start)))
    return _sorted([*notes, *copies], range(len(notes), len(notes) + len(copies)))

