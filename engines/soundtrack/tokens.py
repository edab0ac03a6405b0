"""The token grid: music as parallel levels of discrete tokens on a 16th-note step grid.

A grid is an int array ``(T, L)``: T steps (``STEPS_PER_BEAT`` per beat, beat 0 = a downbeat),
L parallel levels, like the codebook levels of a neural codec in VAB. A :class:`LevelSet` turns
MIDI-like parts into its levels and back; :class:`SymbolicLevels` is the one shipped here
(chord, bass, melody, drum pattern: voices the GM soundfont plays well). A learned audio-codec
tokenizer would be another ``LevelSet`` (its ``encode`` taking audio instead of parts); the
model and sampler only see ``names`` and ``vocab_sizes``.

Times inside this module are beats (float, 0 = first downbeat of the grid); the caller maps
beats to seconds with the tempo map, so the grid sits on the video's beat grid.

Levels (token ids; the model's MASK id for a level is ``vocab_sizes[level]``):

* chord: 0 = no chord, 1 + 2*root + q (root 0..11 = C..B, q 0 major / 1 minor) -> 25 ids.
  Decoded as a sustained triad ("Keys/Pad") re-struck at every chord change and bar line.
* bass: 0 rest, 1 hold, 2 + (pitch - 28) onset of MIDI pitch 28..59 -> 34 ids.
* melody: 0 rest, 1 hold, 2 + (pitch - 55) onset of MIDI pitch 55..86 -> 34 ids.
* drums: a 5-bit pattern per step: kick 36, snare 38 (toms fold here), closed hat 42 (ride
  folds here), open hat 46, crash 49 -> 32 ids (0 = silence).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

STEPS_PER_BEAT = 4  # 16th notes
BEATS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR

REST, HOLD = 0, 1
BASS_LO, BASS_HI = 28, 59
MEL_LO, MEL_HI = 55, 86
DRUM_PITCHES = (36, 38, 42, 46, 49)  # bit order: kick, snare, closed hat, open hat, crash
DRUM_FOLD = {35: 36, 36: 36, 37: 38, 38: 38, 39: 38, 40: 38, 41: 38, 43: 38, 45: 38, 47: 38, 48: 38,
             50: 38, 42: 42, 44: 42, 51: 42, 53: 42, 59: 42, 46: 46, 49: 49, 52: 49, 55: 49, 57: 49}
DRUM_VELOCITY = {36: 104, 38: 96, 42: 64, 46: 72, 49: 96}
KICK, SNARE, CHH, OHH, CRASH = (1 << i for i in range(5))


@dataclass(frozen=True)
class PartNote:
    """A note in beats (the tokenizer's unit; seconds come from the tempo map)."""

    start_beat: float
    dur_beats: float
    pitch: int
    velocity: int = 90


class LevelSet(Protocol):
    """What the model needs from a tokenizer (a codec tokenizer would implement the same)."""

    names: tuple[str, ...]
    vocab_sizes: tuple[int, ...]

    def encode(self, parts: dict[str, list[PartNote]], n_steps: int) -> np.ndarray: ...

    def decode(self, grid: np.ndarray) -> dict[str, list[PartNote]]: ...


# ----------------------------------------------------------------------------- chords

# one row per chord token - 1 (major, minor for each root): 1 on the triad's pitch classes
CHORD_TEMPLATES = np.zeros((24, 12), np.float32)
for _r in range(12):
    for _q, _iv in enumerate(((0, 4, 7), (0, 3, 7))):
        for _i in _iv:
            CHORD_TEMPLATES[2 * _r + _q, (_r + _i) % 12] = 1.0


def chord_from_pitch_classes(weights: np.ndarray, min_weight: float = 1e-6) -> int:
    """Best-matching major/minor triad (token id) for a 12-bin pitch-class weight vector.

    Score = template match minus pitch classes outside the chord, a small bonus when the root
    is also the lowest weighted class's root; 0 when there is nothing to match."""
    w = np.asarray(weights, np.float32)
    if w.sum() <= min_weight:
        return 0
    w = w / w.sum()
    score = CHORD_TEMPLATES @ w - 0.5 * ((1.0 - CHORD_TEMPLATES) @ w)
    return int(np.argmax(score)) + 1


def chord_pitches(token: int, low: int = 52) -> tuple[int, ...]:
    """Close triad voicing of a chord token with its lowest note at or above ``low``."""
    if token <= 0:
        return ()
    root, q = divmod(token - 1, 2)
    ivs = (0, 4, 7) if q == 0 else (0, 3, 7)
    base = low + ((root - low) % 12)
    pcs = sorted(base + i for i in ivs)
    # keep the voicing compact: fold notes above low+12 down an octave (inversions)
    return tuple(sorted(p - 12 if p >= low + 12 else p for p in pcs))


# ----------------------------------------------------------------------------- monophonic lines


def _fold(pitch: int, lo: int, hi: int) -> int:
    while pitch < lo:
        pitch += 12
    while pitch > hi:
        pitch -= 12
    return pitch


def encode_line(notes: list[PartNote], n_steps: int, lo: int, hi: int, *, pick: str) -> np.ndarray:
    """Monophonic line -> tokens. Overlapping notes: at each onset step the highest (melody,
    ``pick='high'``) or lowest (bass) onset wins; a later onset ends the sounding note."""
    out = np.full(n_steps, REST, np.int64)
    onsets: dict[int, tuple[int, int]] = {}  # step -> (pitch, end step)
    for n in notes:
        s = int(round(n.start_beat * STEPS_PER_BEAT))
        if not 0 <= s < n_steps:
            continue
        e = max(s + 1, int(round((n.start_beat + n.dur_beats) * STEPS_PER_BEAT)))
        p = _fold(int(n.pitch), lo, hi)
        if s in onsets:
            q = onsets[s][0]
            if (pick == "high" and p <= q) or (pick == "low" and p >= q):
                continue
        onsets[s] = (p, e)
    steps = sorted(onsets)
    for i, s in enumerate(steps):
        p, e = onsets[s]
        end = min(e, n_steps, steps[i + 1] if i + 1 < len(steps) else n_steps)
        out[s] = 2 + p - lo
        out[s + 1:end] = HOLD
    return out


def decode_line(tokens: np.ndarray, lo: int, velocity: int) -> list[PartNote]:
    notes: list[PartNote] = []
    cur: list | None = None
    for s, t in enumerate(np.asarray(tokens).tolist()):
        if t >= 2:
            if cur:
                notes.append(PartNote(cur[0] / STEPS_PER_BEAT, (s - cur[0]) / STEPS_PER_BEAT, cur[1], velocity))
            cur = [s, lo + t - 2]
        elif t == REST and cur:
            notes.append(PartNote(cur[0] / STEPS_PER_BEAT, (s - cur[0]) / STEPS_PER_BEAT, cur[1], velocity))
            cur = None
        # HOLD continues; a HOLD without a sounding note is a rest
    if cur:
        n = len(tokens)
        notes.append(PartNote(cur[0] / STEPS_PER_BEAT, (n - cur[0]) / STEPS_PER_BEAT, cur[1], velocity))
    return notes


def clean_line(tokens: np.ndarray) -> np.ndarray:
    """HOLD without a sounding note -> REST (what decode+encode gives back)."""
    t = np.asarray(tokens).copy()
    sounding = False
    for i, v in enumerate(t.tolist()):
        if v >= 2:
            sounding = True
        elif v == REST:
            sounding = False
        elif not sounding:
            t[i] = REST
    return t


# ----------------------------------------------------------------------------- the level set


class SymbolicLevels:
    """chord / bass / melody / drums levels (see the module doc)."""

    names = ("chord", "bass", "melody", "drums")
    vocab_sizes = (25, 2 + BASS_HI - BASS_LO + 1, 2 + MEL_HI - MEL_LO + 1, 32)
    # steps per token when generating: the chord level changes at most every half bar (the
    # harmonic rhythm of the training arrangements); the other levels every 16th
    token_rates = (STEPS_PER_BAR // 2, 1, 1, 1)
    part_names = ("keys", "bass", "melody", "drums")

    def encode(self, parts: dict[str, list[PartNote]], n_steps: int) -> np.ndarray:
        """``parts`` keyed by ``part_names``; missing parts are silent. Chords come from the
        ``keys`` part when it has notes, else from every pitched part (step by step)."""
        grid = np.zeros((n_steps, 4), np.int64)
        grid[:, 1] = encode_line(parts.get("bass", []), n_steps, BASS_LO, BASS_HI, pick="low")
        grid[:, 2] = encode_line(parts.get("melody", []), n_steps, MEL_LO, MEL_HI, pick="high")
        grid[:, 3] = encode_drums(parts.get("drums", []), n_steps)
        source = parts.get("keys") or [n for k in ("bass", "melody", "other") for n in parts.get(k, [])]
        grid[:, 0] = encode_chords(source, n_steps)
        return grid

    def decode(self, grid: np.ndarray) -> dict[str, list[PartNote]]:
        grid = np.asarray(grid)
        return {
            "keys": decode_chords(grid[:, 0]),
            "bass": decode_line(grid[:, 1], BASS_LO, 92),
            "melody": decode_line(grid[:, 2], MEL_LO, 84),
            "drums": decode_drums(grid[:, 3]),
        }

    def canonical(self, grid: np.ndarray) -> np.ndarray:
        """The grid as decode -> encode returns it (holds after rests become rests)."""
        g = np.asarray(grid).copy()
        g[:, 1] = clean_line(g[:, 1])
        g[:, 2] = clean_line(g[:, 2])
        return g


def pitch_class_steps(notes: list[PartNote], n_steps: int) -> np.ndarray:
    """(n_steps, 12) sounding duration of each pitch class per step."""
    pc = np.zeros((n_steps, 12), np.float32)
    for n in notes:
        s = n.start_beat * STEPS_PER_BEAT
        e = (n.start_beat + n.dur_beats) * STEPS_PER_BEAT
        a, b = max(0, int(np.floor(s))), min(n_steps, int(np.ceil(e)))
        for i in range(a, b):
            pc[i, n.pitch % 12] += max(0.0, min(e, i + 1) - max(s, i))
    return pc


def encode_chords(notes: list[PartNote], n_steps: int, smooth_steps: int = 1) -> np.ndarray:
    pc = pitch_class_steps(notes, n_steps)
    if smooth_steps > 1:  # analysis over a window (e.g. a beat) for dense textures
        k = np.ones(smooth_steps, np.float32)
        pc = np.stack([np.convolve(pc[:, j], k, mode="same") for j in range(12)], axis=1)
    return np.array([chord_from_pitch_classes(pc[i]) for i in range(n_steps)], np.int64)


def decode_chords(tokens: np.ndarray, velocity: int = 62) -> list[PartNote]:
    notes: list[PartNote] = []
    tokens = np.asarray(tokens).tolist()
    s = 0
    while s < len(tokens):
        e = s + 1
        while e < len(tokens) and tokens[e] == tokens[s] and e % STEPS_PER_BAR != 0:
            e += 1
        for p in chord_pitches(tokens[s]):
            notes.append(PartNote(s / STEPS_PER_BEAT, (e - s) / STEPS_PER_BEAT, p, velocity))
        s = e
    return notes


def encode_drums(notes: list[PartNote], n_steps: int) -> np.ndarray:
    out = np.zeros(n_steps, np.int64)
    for n in notes:
        s = int(round(n.start_beat * STEPS_PER_BEAT))
        p = DRUM_FOLD.get(int(n.pitch))
        if p is not None and 0 <= s < n_steps:
            out[s] |= 1 << DRUM_PITCHES.index(p)
    return out


def decode_drums(tokens: np.ndarray) -> list[PartNote]:
    notes = []
    for s, t in enumerate(np.asarray(tokens).tolist()):
        for bit, p in enumerate(DRUM_PITCHES):
            if t >> bit & 1:
                accent = 1.0 if s % STEPS_PER_BEAT == 0 else 0.82
                notes.append(PartNote(s / STEPS_PER_BEAT, 0.25, p, max(1, int(round(DRUM_VELOCITY[p] * accent)))))
    return notes
