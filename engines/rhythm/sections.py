"""The drums follow sections (e.g. the player's motion sections, engines/motion): a fill on the
last beat of the bar before each section, a crash and kick on its first step, and a groove
variation per kind of section, so the part changes where the picture's movement changes.

Pure numpy over the engine's NoteEvents (after ``RhythmEngine.generate`` and the accents), so the
bars before the first fill stay exactly what the model made. Sections alike (the same label)
get the same variation: 0 as generated, 1 "lift" (ride instead of the closed hi-hat, louder),
2 "pull back" (hi-hats on eighths only, softer).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engines.rhythm import vocab as V
from engines.rhythm.infer import NoteEvent
from engines.rhythm.video2rhythm import Bar

KICK, SNARE, CLOSED_HH, OPEN_HH, CRASH, RIDE = (V.VOICE_PITCH[V.VOICES.index(v)] for v in
                                                ("kick", "snare", "closed_hh", "open_hh", "crash", "ride"))
# the last beat's four 16ths, high to low
FILL_PITCHES = tuple(V.VOICE_PITCH[V.VOICES.index(v)] for v in ("snare", "high_tom", "mid_tom", "low_tom"))
FILL_VELOCITY = (78, 88, 98, 110)  # rising into the new section
N_VARIATIONS = 3


def section_bars(bars: tuple[Bar, ...], starts_s) -> list[int]:
    """For each section start (seconds, the first section's excluded), the index into ``bars`` of
    the full bar whose downbeat is nearest; repeated bars and the first full bar (no bar before
    it to fill) are dropped."""
    full = [k for k, b in enumerate(bars) if b.index >= 0]
    if len(full) < 2:
        return []
    downs = np.array([bars[k].start_s for k in full])
    out = []
    for t in starts_s:
        k = full[int(np.argmin(np.abs(downs - float(t))))]
        if k != full[0] and k not in out:
            out.append(k)
    return sorted(out)


def variation_of(label: str) -> int:
    """The groove variation of a section label ("A" 0, "B" 1, "C" 2, "D" 0, ...)."""
    return (ord(label[:1].upper() or "A") - ord("A")) % N_VARIATIONS if label else 0


def _bar_of(t: float, starts: np.ndarray) -> int:
    return int(np.searchsorted(starts, t + 1e-6, side="right")) - 1


def follow_sections(events: list[NoteEvent], bars: tuple[Bar, ...], boundary_bars: list[int],
                    labels: list[str] | None = None) -> list[NoteEvent]:
    """``events`` with the drums changed at ``boundary_bars`` (indices into ``bars``, from
    :func:`section_bars`); ``labels``: one per section (len(boundary_bars) + 1), default all
    different in turn. Bass and keys are left as they are."""
    if not boundary_bars or not bars:
        return list(events)
    labels = list(labels) if labels else [chr(ord("A") + i % 26) for i in range(len(boundary_bars) + 1)]
    starts = np.array([b.start_s for b in bars])
    section_at = np.searchsorted(np.asarray(boundary_bars), np.arange(len(bars)), side="right")
    fill_bars = {k - 1 for k in boundary_bars if not bars[k - 1].rest and bars[k - 1].steps >= 4}
    fill_from = {k: float(bars[k].step_times_s[-4]) - 0.25 * float(bars[k].step_dur_s[-4]) for k in fill_bars}
    out = []
    for e in events:
        if e.part != "drums":
            out.append(e)
            continue
        k = _bar_of(e.start_s, starts)
        if k in fill_from and e.start_s >= fill_from[k] and e.pitch != KICK:
            continue  # the fill takes the bar's last beat
        var = variation_of(labels[min(section_at[k], len(labels) - 1)]) if k >= 0 else 0
        e = _varied(e, var, bars[k] if k >= 0 else None)
        if e is not None:
            out.append(e)
    for k in sorted(fill_bars):
        b = bars[k]
        for i, (pitch, vel) in enumerate(zip(FILL_PITCHES, FILL_VELOCITY)):
            s = b.steps - 4 + i
            out.append(NoteEvent(float(b.step_times_s[s]), float(min(0.1, b.step_dur_s[s])), pitch, vel, "drums"))
    for k in boundary_bars:
        b = bars[k]
        if b.rest:
            continue
        t0, d0 = float(b.step_times_s[0]), float(min(0.1, b.step_dur_s[0]))
        out = [e for e in out
               if not (e.part == "drums" and e.pitch in (CRASH, KICK) and abs(e.start_s - t0) < 0.5 * d0)]
        out += [NoteEvent(t0, d0, CRASH, 100, "drums"), NoteEvent(t0, d0, KICK, 110, "drums")]
    return sorted(out, key=lambda e: (e.start_s, e.part, e.pitch))


def _varied(e: NoteEvent, variation: int, bar: Bar | None) -> NoteEvent | None:
    """One drum hit in a section of groove ``variation`` (module doc); None: left out."""
    if variation == 1:
        pitch = RIDE if e.pitch == CLOSED_HH else e.pitch
        return replace(e, pitch=pitch, velocity=int(min(127, round(e.velocity * 1.12))))
    if variation == 2:
        if e.pitch in (CLOSED_HH, OPEN_HH) and bar is not None:
            step = int(np.argmin(np.abs(bar.step_times_s - e.start_s)))
            if (bar.first_step + step) % 2:
                return None  # hats on the eighths only
        return replace(e, velocity=max(1, int(round(e.velocity * 0.85))))
    return e
