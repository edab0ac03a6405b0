"""Harmony and bass from the music21 corpus (Bach chorales), as key-normalised bars.

Each 4/4 chorale is transposed so its tonic is C (major or minor from music21's key
analysis). Per complete bar: the bass voice an octave down (bass guitar range), the three
upper voices as the chordal (keys) part, and the bar's chord from pitch-class durations matched
against the 24 major/minor triads. Bars go to a cache file (parsing takes minutes).

The music21 corpus files are public-domain scores (Bach chorales, encoded by the music21
project, BSD-3-clause package). The drum bar each training bar is paired with is synthesised
(the chorales have no drums): kick on the bass onsets plus a style pattern from the training
drum data, so the model learns to put bass notes where the kick is.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engines.rhythm import vocab as V

HOLD_OUT_EVERY = 10  # every 10th chorale (by corpus order) is held out


def cache_path() -> Path:
    root = os.environ.get("STUDIO_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "video-sound-studio"
    return base / "rhythm" / "chorale_bars_v1.json"


TRIADS = np.zeros((24, 12), np.float32)
for r in range(12):
    TRIADS[2 * r, [r, (r + 4) % 12, (r + 7) % 12]] = [1.2, 1.0, 1.0]
    TRIADS[2 * r + 1, [r, (r + 3) % 12, (r + 7) % 12]] = [1.2, 1.0, 1.0]


def chord_index(pc_weight: np.ndarray, bass_pc: int | None = None) -> int:
    w = pc_weight.copy()
    if bass_pc is not None:
        w[bass_pc] += 0.5 * w.max()
    score = TRIADS @ w - 0.4 * (1 - TRIADS.astype(bool)) @ w  # penalise notes outside the triad
    return int(np.argmax(score))


def _fit(pitch: int, lo: int, hi: int) -> int:
    while pitch < lo:
        pitch += 12
    while pitch > hi:
        pitch -= 12
    return pitch


def chorale_bars(score) -> list[dict]:
    from music21 import interval, pitch as m21pitch

    tss = list(score.recurse().getElementsByClass("TimeSignature"))
    if not tss or any(ts.ratioString != "4/4" for ts in tss) or len(score.parts) != 4:
        return []
    key = score.analyze("key")
    mode = 1 if key.mode == "minor" else 0
    score = score.transpose(interval.Interval(key.tonic, m21pitch.Pitch("C")))
    parts = [p.getElementsByClass("Measure") for p in score.parts]
    bars = []
    for mi in range(min(len(p) for p in parts)):
        notes, pcw, bass_first = [], np.zeros(12, np.float32), None
        ok = True
        for pi, part in enumerate(parts):
            m = part[mi]
            if abs(m.duration.quarterLength - 4.0) > 1e-6:
                ok = False
                break
            for n in m.notesAndRests:
                if not n.isNote:
                    continue
                step = int(round(float(n.offset) * 4))
                dur = max(1, min(V.STEPS - step, int(round(float(n.quarterLength) * 4))))
                if step >= V.STEPS:
                    continue
                p = int(n.pitch.midi)
                pcw[p % 12] += dur
                if pi == 3:
                    notes.append((step, 0, _fit(p - 12, V.BASS_LO, V.BASS_HI), dur))
                    if step == 0:
                        bass_first = p % 12
                else:
                    notes.append((step, 1, _fit(p, V.KEYS_LO, V.KEYS_HI), dur))
        if not ok or not notes:
            continue
        bars.append({"mode": mode, "chord": chord_index(pcw, bass_first), "notes": notes, "bar": mi})
    return bars


def build_cache(limit: int | None = None, path: Path | None = None) -> list[list[dict]]:
    """Parse the chorales (all, or the first ``limit``): a list of pieces, each a list of bars."""
    from music21 import corpus

    path = path or cache_path()
    if path.exists():
        data = json.loads(path.read_text())
        if limit is None or len(data) >= limit:
            return data[:limit] if limit else data
    pieces = []
    for i, p in enumerate(corpus.getComposer("bach")):
        if limit is not None and len(pieces) >= limit:
            break
        if "riemenschneider" in str(p).lower() or not str(p).endswith((".mxl", ".xml", ".krn")):
            continue
        try:
            bars = chorale_bars(corpus.parse(p))
        except Exception:  # a few corpus files are not 4-part chorales
            continue
        if len(bars) >= 4:
            pieces.append(bars)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pieces))
    os.replace(tmp, path)
    return pieces


def split(pieces):
    train = [p for i, p in enumerate(pieces) if i % HOLD_OUT_EVERY != 0]
    test = [p for i, p in enumerate(pieces) if i % HOLD_OUT_EVERY == 0]
    return train, test


# -- encoder features -------------------------------------------------------------------------
COND_MODE0, COND_CHORD0, COND_NONE, COND_PHRASE0 = 0, 2, 26, 27
N_COND = 31
N_COND_TOKENS = 2 + V.N_HIST  # mode, phrase position, previous chords
SRC_DIM = V.N_VOICES + 24


def sounding_pcs(notes, track: int) -> np.ndarray:
    """(16, 12): which pitch classes of a track sound on each step."""
    r = np.zeros((V.STEPS, 12), np.float32)
    for step, tr, pitch, dur in notes:
        if tr == track:
            r[step:step + dur, pitch % 12] = 1.0
    return r


def src_of(drums: np.ndarray, prev_notes) -> np.ndarray:
    """drums (9, 16) + previous bar notes -> (16, 33)."""
    prev_notes = prev_notes or []
    return np.concatenate([drums.T.astype(np.float32), sounding_pcs(prev_notes, 0),
                           sounding_pcs(prev_notes, 1)], axis=1)


def cond_of(mode: int, bar_index: int, prev_chords: list[int]) -> np.ndarray:
    """prev_chords: chord tokens (M_CHORD0-based) of earlier bars, most recent last."""
    hist = [COND_CHORD0 + (c - V.M_CHORD0) for c in prev_chords[-V.N_HIST:]]
    hist = [COND_NONE] * (V.N_HIST - len(hist)) + hist
    return np.array([COND_MODE0 + mode, COND_PHRASE0 + bar_index % 4] + hist, np.int64)


def synth_drums(notes, drum_bars, rng) -> np.ndarray:
    """A drum bar for a music bar: a random training drum bar, kick moved to the bass onsets."""
    d = drum_bars[rng.integers(len(drum_bars))]["hits"].copy()
    onsets = sorted({s for s, tr, _, _ in notes if tr == 0})
    keep = d[0] * (rng.random(V.STEPS) < 0.3)
    d[0] = 0
    d[0, onsets] = 1.0
    d[0] = np.maximum(d[0], keep)
    return d
