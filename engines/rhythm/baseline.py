"""Simple baselines the learned models are measured against (numpy only).

Drums
    * ``fixed_pattern``: a rock backbeat regardless of the picture (kick 1 and 3, snare 2 and
      4, closed hi-hat on 8ths), velocities the per-voice training means, no micro-timing.
    * ``random_on_rhythm``: on each step, with probability = the step's activation, one voice
      drawn from the training data's voice distribution at that position in the beat; velocity
      the voice's training mean, offset 0.
Music
    * ``rule_music``: chords I-V-vi-IV (major) or i-VI-III-VII (minor) one per bar; bass plays
      the chord root on every kick (held to the next kick), keys a root-position triad on beats
      1 and 3.
"""
from __future__ import annotations

import numpy as np

from engines.rhythm import vocab as V

# per-voice mean velocity of the training drum bars (train/data_drums.py, written by evaluate)
MEAN_VELOCITY = np.array([0.78, 0.74, 0.6, 0.62, 0.72, 0.72, 0.72, 0.8, 0.62], np.float32)


def fixed_pattern(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h = np.zeros((n, V.N_VOICES, V.STEPS), np.float32)
    h[:, 0, [0, 8]] = 1
    h[:, 1, [4, 12]] = 1
    h[:, 2, ::2] = 1
    return h, h * MEAN_VELOCITY[None, :, None], np.zeros_like(h)


def random_on_rhythm(acts: np.ndarray, voice_prob: np.ndarray, rng: np.random.Generator,
                     mean_velocity: np.ndarray = MEAN_VELOCITY):
    """acts (B, 16); voice_prob (4, 9): voice distribution per position in the beat."""
    acts = np.asarray(acts, np.float32).reshape(-1, V.STEPS)
    h = np.zeros((len(acts), V.N_VOICES, V.STEPS), np.float32)
    for b, a in enumerate(acts):
        for s in range(V.STEPS):
            if rng.random() < a[s]:
                h[b, rng.choice(V.N_VOICES, p=voice_prob[s % 4]), s] = 1.0
    return h, h * mean_velocity[None, :, None], np.zeros_like(h)


PROGRESSIONS = {0: ((0, 0), (7, 0), (9, 1), (5, 0)), 1: ((0, 1), (8, 0), (3, 0), (10, 0))}


def rule_music(drums: np.ndarray, bar_index: int, mode: int) -> tuple[int, list[tuple[int, int, int, int]]]:
    root, minor = PROGRESSIONS[mode][bar_index % 4]
    kicks = [int(s) for s in np.flatnonzero(drums[0] > 0)] or [0]
    notes = []
    bass = 36 + root if 36 + root <= V.BASS_HI else 24 + root
    for i, s in enumerate(kicks):
        e = kicks[i + 1] if i + 1 < len(kicks) else V.STEPS
        notes.append((s, 0, bass, e - s))
    base = 60 + root if root < 6 else 48 + root
    for s in (0, 8):
        for p in (base, base + (3 if minor else 4), base + 7):
            notes.append((s, 1, p, 8))
    return V.chord_token(root, minor), notes
