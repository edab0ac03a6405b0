"""Token vocabularies shared by training and run time (no torch here).

Drums (Rhythm2Drum): one bar of 4/4 = 16 steps x 9 GM drum voices. A hit is the token
``HIT0 + step * 9 + voice``; a bar is BOS, its hits sorted by (step, voice), EOS. Sampling is
masked so tokens strictly increase (each voice hits at most once per step).

Music (Drum2Music), REMI-like and key-normalised (tonic C; the mode goes to the encoder):
BOS CHORD (POS (BASS_PITCH | KEYS_PITCH) DUR ...)* EOS. CHORD is root pitch class x
{major, minor}; POS is the 16th step of an onset; DUR is a length in 16ths (1..16).
"""
from __future__ import annotations

import numpy as np

STEPS = 16  # 16ths in a 4/4 bar
# GM drum classes of the groove literature (DESIGN.md), in this order
VOICES = ("kick", "snare", "closed_hh", "open_hh", "low_tom", "mid_tom", "high_tom", "crash", "ride")
VOICE_PITCH = (36, 38, 42, 46, 45, 48, 50, 49, 51)
N_VOICES = len(VOICES)
STYLES = ("rock", "funk", "hip-hop", "electronic", "latin", "jazz")

# GM drum pitches folded into the 9 classes (Magenta GrooVAE mapping, same idea)
_FOLD = {
    35: 0, 36: 0,
    37: 1, 38: 1, 39: 1, 40: 1,
    42: 2, 44: 2, 22: 2, 54: 2, 69: 2, 70: 2, 82: 2,
    46: 3, 26: 3,
    41: 4, 43: 4, 58: 4, 64: 4,
    45: 5, 47: 5, 63: 5, 62: 5,
    48: 6, 50: 6, 60: 6, 61: 6, 65: 6, 66: 6, 76: 6, 77: 6,
    49: 7, 52: 7, 55: 7, 57: 7, 56: 7,
    51: 8, 53: 8, 59: 8, 67: 8, 68: 8, 80: 8, 81: 8,
}


def fold_pitch(pitch: int) -> int | None:
    """Voice index of a GM drum pitch (None for pitches outside the kit)."""
    return _FOLD.get(int(pitch))


# -- drum tokens -------------------------------------------------------------------------
D_PAD, D_BOS, D_EOS = 0, 1, 2
D_HIT0 = 3
D_VOCAB = D_HIT0 + STEPS * N_VOICES  # 147
D_MAXLEN = 48  # BOS + up to 46 hits + EOS


def grid_to_tokens(hits: np.ndarray) -> list[int]:
    """(9, 16) bool/float grid -> [BOS, hits..., EOS] (sorted by step then voice)."""
    toks = [D_BOS]
    for s in range(STEPS):
        for v in range(N_VOICES):
            if hits[v, s] > 0:
                toks.append(D_HIT0 + s * N_VOICES + v)
    toks = toks[:D_MAXLEN - 1]
    return toks + [D_EOS]


def tokens_to_grid(tokens) -> np.ndarray:
    grid = np.zeros((N_VOICES, STEPS), np.float32)
    for t in tokens:
        t = int(t)
        if t >= D_HIT0:
            s, v = divmod(t - D_HIT0, N_VOICES)
            grid[v, s] = 1.0
    return grid


# -- music tokens ------------------------------------------------------------------------
M_PAD, M_BOS, M_EOS = 0, 1, 2
M_CHORD0 = 3  # 24: root * 2 + (0 major, 1 minor)
M_POS0 = M_CHORD0 + 24  # 16
BASS_LO, BASS_HI = 28, 55  # E1..G3
KEYS_LO, KEYS_HI = 48, 84  # C3..C6
M_BASS0 = M_POS0 + STEPS
M_KEYS0 = M_BASS0 + (BASS_HI - BASS_LO + 1)
M_DUR0 = M_KEYS0 + (KEYS_HI - KEYS_LO + 1)
M_VOCAB = M_DUR0 + 16
M_MAXLEN = 72
SCALE_PCS = {0: (0, 2, 4, 5, 7, 9, 11), 1: (0, 2, 3, 5, 7, 8, 10, 11)}  # minor: natural + raised 7th
# diatonic triads (root pc, minor?) per mode: the chords sampling may choose
DIATONIC = {0: ((0, 0), (2, 1), (4, 1), (5, 0), (7, 0), (9, 1)),
            1: ((0, 1), (3, 0), (5, 1), (7, 0), (7, 1), (8, 0), (10, 0))}
N_HIST = 4  # previous bars' chords the encoder sees


def chord_token(root: int, minor: int) -> int:
    return M_CHORD0 + (int(root) % 12) * 2 + int(bool(minor))


def kind(tok: int) -> str:
    if tok < M_CHORD0:
        return ("pad", "bos", "eos")[tok]
    if tok < M_POS0:
        return "chord"
    if tok < M_BASS0:
        return "pos"
    if tok < M_KEYS0:
        return "bass"
    if tok < M_DUR0:
        return "keys"
    return "dur"


def notes_to_tokens(chord: int, notes: list[tuple[int, int, int, int]]) -> list[int]:
    """notes: (step, track 0 bass / 1 keys, pitch, dur_steps) -> tokens (key-normalised)."""
    toks = [M_BOS, chord]
    last = -1
    for step, track, pitch, dur in sorted(notes, key=lambda n: (n[0], n[1], n[2])):
        if len(toks) >= M_MAXLEN - 4:
            break
        if step != last:
            toks.append(M_POS0 + step)
            last = step
        if track == 0:
            p = int(np.clip(pitch, BASS_LO, BASS_HI))
            toks.append(M_BASS0 + p - BASS_LO)
        else:
            p = int(np.clip(pitch, KEYS_LO, KEYS_HI))
            toks.append(M_KEYS0 + p - KEYS_LO)
        toks.append(M_DUR0 + int(np.clip(dur, 1, 16)) - 1)
    return toks + [M_EOS]


def tokens_to_notes(tokens) -> tuple[int | None, list[tuple[int, int, int, int]]]:
    """Inverse of notes_to_tokens (ignores malformed fragments)."""
    chord, notes, step, pending = None, [], 0, None
    for t in tokens:
        t = int(t)
        k = kind(t)
        if k == "chord":
            chord = t
        elif k == "pos":
            step = t - M_POS0
        elif k == "bass":
            pending = (0, BASS_LO + t - M_BASS0)
        elif k == "keys":
            pending = (1, KEYS_LO + t - M_KEYS0)
        elif k == "dur" and pending is not None:
            notes.append((step, pending[0], pending[1], t - M_DUR0 + 1))
            pending = None
        elif k == "eos":
            break
    return chord, notes


def chord_of(token: int) -> tuple[int, int]:
    r, m = divmod(int(token) - M_CHORD0, 2)
    return r, m
