"""Training data: music21 corpus chorales arranged into the token grid, and synthetic video features.

Music: the Bach chorales of the music21 corpus (BSD-licensed corpus files; the chorales
themselves are public domain) in 4/4, soprano -> melody, bass -> bass, the harmony of all four
voices -> one major/minor triad per beat. The harmony is then
re-read at the arrangement's harmonic rhythm (one chord per bar in quiet sections, per half bar
otherwise). Each piece is arranged several times, each time with
a random style word, transposition (-5..+6 semitones), tempo (70-150 BPM) and a section plan
(sections of 2, 4 or 8 bars, each with an energy level 0/1/2 drawn from the style's
distribution). The arrangement makes the drum part (a pattern per style and energy, a crash on
the first step of every section with energy > 0, a snare fill before a change), reshapes the
bass (half-note roots at energy 0, the chorale bass at 1, 8th-note roots at 2 for driving styles)
and drops the melody in some quiet sections of some styles.

Video: **synthetic** per-beat visual features made from the same plan, the way a cut-to-music
video behaves: a scene cut at each section start (90 %; a quarter of them a beat early or
late; 1 % spurious cuts per beat), motion energy and its variance growing with the section's
energy, a visual onset on each beat, brightness and warm colours for major keys and dark, cool
colours for minor keys, and the tempo. These are *not* real video-music pairs; a user with a
real paired data set trains with the same script on them (``train --pairs FILE.npz``, see
``train.load_pairs``: visual windows from ``engines.soundtrack.features.beat_features``).
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.soundtrack.features import N_FEATURES
from engines.soundtrack.styles import STYLES
from engines.soundtrack.tokens import (BASS_HI, BASS_LO, CHH, CHORD_TEMPLATES, CRASH, KICK, MEL_HI, MEL_LO, OHH,
                                       SNARE, STEPS_PER_BAR, STEPS_PER_BEAT, PartNote, chord_from_pitch_classes,
                                       encode_line, pitch_class_steps)

CACHE_VERSION = 1


@dataclass
class Piece:
    name: str
    n_beats: int
    melody: list[PartNote]
    bass: list[PartNote]
    chords: np.ndarray  # (n_beats,) chord token per beat
    major: bool


def cache_dir() -> Path:
    root = os.environ.get("STUDIO_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "video-sound-studio"
    return base / "soundtrack"


def _part_notes(part) -> list[PartNote]:
    out = []
    for n in part.flatten().notes:
        ps = [p.midi for p in n.pitches]
        if not ps:
            continue
        out.append(PartNote(float(n.offset), float(n.quarterLength), int(max(ps))))
    return out


def load_chorales(limit: int | None = None, progress=None) -> list[Piece]:
    """4/4 four-part chorales of the music21 corpus, bar-aligned (cached on disk)."""
    path = cache_dir() / f"chorales-v{CACHE_VERSION}.pkl"
    if path.exists():
        pieces = pickle.loads(path.read_bytes())
        return pieces[:limit] if limit else pieces
    from music21 import corpus

    pieces: list[Piece] = []
    paths = sorted(corpus.getComposer("bach"), key=lambda p: p.name)
    paths = [p for p in paths if p.suffix in (".mxl", ".xml", ".krn")]
    for i, p in enumerate(paths):
        if progress:
            progress(i, len(paths))
        if limit and len(pieces) >= limit:
            break
        try:
            piece = _piece_from_score(corpus.parse(p).stripTies(), p.stem)
        except Exception:  # a corpus file music21 cannot read cleanly: skip it
            piece = None
        if piece is not None:
            pieces.append(piece)
    if not limit:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(pieces))
        tmp.replace(path)
    return pieces


def _piece_from_score(s, name: str) -> Piece | None:
    parts = list(s.parts)
    if len(parts) != 4:
        return None
    sigs = {t.ratioString for t in s.recurse().getElementsByClass("TimeSignature")}
    if sigs != {"4/4"}:
        return None
    measures = list(parts[0].getElementsByClass("Measure"))
    if len(measures) < 4:
        return None
    lengths = [float(m.duration.quarterLength) for m in measures]
    if any(abs(x - 4.0) > 1e-6 for x in lengths[1:-1]):
        return None  # irregular bars in the middle: the bar grid would drift
    shift = 4.0 - lengths[0] if lengths[0] < 4.0 else 0.0  # pickup ends bar 0
    voices = [[PartNote(n.start_beat + shift, n.dur_beats, n.pitch) for n in _part_notes(p)] for p in parts]
    if not all(voices):
        return None
    end = max(n.start_beat + n.dur_beats for v in voices for n in v)
    n_beats = int(np.ceil(end / 4.0)) * 4
    steps = n_beats * STEPS_PER_BEAT
    pc = pitch_class_steps([n for v in voices for n in v], steps)
    pc += 0.5 * pitch_class_steps(voices[3], steps)  # the bass note weighs more (roots)
    per_beat = pc.reshape(n_beats, STEPS_PER_BEAT, 12).sum(1)
    chords = np.array([chord_from_pitch_classes(w) for w in per_beat], np.int64)
    key = s.analyze("key")
    return Piece(name, n_beats, voices[0], voices[3], chords, key.mode == "major")


# ----------------------------------------------------------------------------- arrangement

# energy distribution per style (levels 0, 1, 2)
ENERGY_P = {"calm": (0.5, 0.4, 0.1), "tense": (0.2, 0.4, 0.4), "happy": (0.2, 0.5, 0.3),
            "dark": (0.4, 0.4, 0.2), "epic": (0.2, 0.3, 0.5), "lo-fi": (0.2, 0.6, 0.2),
            "rock": (0.1, 0.4, 0.5), "orchestral": (0.4, 0.35, 0.25), "electronic": (0.15, 0.4, 0.45)}
DRIVING = {"rock", "electronic", "epic", "tense"}


def _pat(**hits) -> np.ndarray:
    bits = {"k": KICK, "s": SNARE, "h": CHH, "o": OHH, "c": CRASH}
    out = np.zeros(STEPS_PER_BAR, np.int64)
    for name, steps in hits.items():
        for st in steps:
            out[st] |= bits[name]
    return out


E8, E16, Q = tuple(range(0, 16, 2)), tuple(range(16)), (0, 4, 8, 12)
PATTERNS = {
    "rock": (_pat(k=(0,), h=Q), _pat(k=(0, 8), s=(4, 12), h=E8), _pat(k=(0, 6, 8, 10), s=(4, 12), h=E8[:-1], o=(14,))),
    "electronic": (_pat(h=(2, 6, 10, 14)), _pat(k=Q, o=(2, 6, 10, 14)), _pat(k=Q, s=(4, 12), h=E16, o=(2, 6, 10, 14))),
    "lo-fi": (_pat(k=(0,), h=E8), _pat(k=(0, 7, 10), s=(4, 12), h=E8), _pat(k=(0, 3, 7, 10), s=(4, 12), h=E8[:-1], o=(14,))),
    "epic": (_pat(), _pat(k=(0, 8), s=(12,)), _pat(k=(0, 3, 6, 8, 11, 14), s=(4, 12, 13, 14, 15))),
    "orchestral": (_pat(), _pat(k=(0, 8)), _pat(k=(0, 6, 8), s=(4, 12, 14, 15))),
    "calm": (_pat(), _pat(k=(0,), h=(4, 12)), _pat(k=(0, 8), s=(12,), h=E8)),
    "tense": (_pat(k=(0,)), _pat(k=(0, 10), h=E16), _pat(k=(0, 3, 8, 10), s=(4, 12), h=E16)),
    "happy": (_pat(h=Q), _pat(k=(0, 8), s=(4, 12), h=E8), _pat(k=(0, 8, 10), s=(4, 12), h=E8, o=(6, 14))),
    "dark": (_pat(), _pat(k=(0,), s=(8,), h=Q), _pat(k=(0, 3, 10), s=(8,), h=E8)),
}
FILL = _pat(s=(12, 13, 14, 15))


@dataclass
class Arrangement:
    grid: np.ndarray  # (n_steps, 4)
    energy: np.ndarray  # (n_beats,) 0..2
    section_start: np.ndarray  # (n_beats,) bool
    major: bool
    style: int
    bpm: float


def _sections(n_bars: int, style: str, rng) -> list[tuple[int, int, int]]:
    """(first bar, n bars, energy) covering the piece; neighbouring energies differ."""
    out, bar, prev = [], 0, -1
    p = np.array(ENERGY_P[style])
    while bar < n_bars:
        length = int(rng.choice((2, 4, 4, 8)))
        q = p.copy()
        if prev >= 0:
            q[prev] = 0.0
        e = int(rng.choice(3, p=q / q.sum()))
        out.append((bar, min(length, n_bars - bar), e))
        bar += length
        prev = e
    return out


def _roots(chords: np.ndarray, lo: int) -> np.ndarray:
    """Bass pitch of each beat's chord root in [lo, lo + 11] (0 where no chord)."""
    out = np.zeros(len(chords), np.int64)
    for i, c in enumerate(chords):
        if c > 0:
            r = (c - 1) // 2
            out[i] = lo + (r - lo) % 12
    return out


def _span_chord(beat_chords: np.ndarray, pc: np.ndarray) -> int:
    """One triad for a span of beats: the beats' own chords (the first weighing most) plus the
    pitch classes sounding in the span."""
    w = pc.sum(0) * 0.5
    for i, c in enumerate(beat_chords):
        if c > 0:
            w = w + (1.0 if i == 0 else 0.7) * CHORD_TEMPLATES[c - 1]
    return chord_from_pitch_classes(w)


def harmonic_rhythm(chords: np.ndarray, notes: list[PartNote], span_beats: np.ndarray) -> np.ndarray:
    """Per-beat chords -> one chord per span (``span_beats[b]`` = span length at beat b: 2 for
    half-bar, 4 for whole-bar harmony), spans starting at bar or half-bar lines."""
    n_beats = len(chords)
    pc = pitch_class_steps(notes, n_beats * STEPS_PER_BEAT).reshape(n_beats, STEPS_PER_BEAT, 12).sum(1)
    out = chords.copy()
    b = 0
    while b < n_beats:
        span = int(span_beats[b])
        out[b:b + span] = _span_chord(chords[b:b + span], pc[b:b + span])
        b += span
    return out


def arrange(piece: Piece, style_id: int, rng, transpose: int = 0, bpm: float = 110.0) -> Arrangement:
    style = STYLES[style_id]
    n_beats = piece.n_beats
    n_steps = n_beats * STEPS_PER_BEAT
    beat_chords = np.where(piece.chords > 0, (piece.chords - 1 + 2 * transpose) % 24 + 1, 0)
    grid = np.zeros((n_steps, 4), np.int64)
    energy = np.zeros(n_beats, np.int64)
    start = np.zeros(n_beats, bool)
    mel = [PartNote(n.start_beat, n.dur_beats, n.pitch + transpose) for n in piece.melody]
    bass_orig = [PartNote(n.start_beat, n.dur_beats, n.pitch + transpose) for n in piece.bass]
    mel_tok = encode_line(mel, n_steps, MEL_LO, MEL_HI, pick="high")
    bass_tok = encode_line(bass_orig, n_steps, BASS_LO, BASS_HI, pick="low")
    sections = _sections(n_beats // 4, style, rng)
    # harmonic rhythm: a chord per bar in quiet sections, per half bar otherwise
    span = np.full(n_beats, 2, np.int64)
    for bar0, nbars, e in sections:
        if e == 0:
            span[bar0 * 4:(bar0 + nbars) * 4] = 4
    chords = harmonic_rhythm(beat_chords, mel + bass_orig, span)
    grid[:, 0] = np.repeat(chords, STEPS_PER_BEAT)
    roots = _roots(chords, 36)
    for k, (bar0, nbars, e) in enumerate(sections):
        b0, b1 = bar0 * 4, (bar0 + nbars) * 4
        s0, s1 = b0 * STEPS_PER_BEAT, b1 * STEPS_PER_BEAT
        energy[b0:b1] = e
        start[b0] = True
        # melody: quiet sections of some styles leave it to the pad
        if e == 0 and style in ("epic", "electronic", "lo-fi", "rock") and rng.random() < 0.6:
            grid[s0:s1, 2] = 0
        else:
            seg = mel_tok[s0:s1].copy()
            if seg.size and seg[0] == 1:
                seg[0] = 0  # a hold across the section start becomes a rest (no dangling hold)
            grid[s0:s1, 2] = seg
        # bass
        if e == 0:
            notes = [PartNote(b, 2.0, int(roots[b])) for b in range(b0, b1, 2) if roots[b] > 0]
            grid[s0:s1, 1] = encode_line([PartNote(n.start_beat - b0, n.dur_beats, n.pitch) for n in notes],
                                         s1 - s0, BASS_LO, BASS_HI, pick="low")
        elif e == 2 and style in DRIVING:
            notes = [PartNote(h / 2, 0.5, int(roots[int(b0 + h // 2)])) for h in range(0, 2 * (b1 - b0))
                     if roots[int(b0 + h // 2)] > 0]
            grid[s0:s1, 1] = encode_line(notes, s1 - s0, BASS_LO, BASS_HI, pick="low")
        else:
            seg = bass_tok[s0:s1].copy()
            if seg.size and seg[0] == 1:
                seg[0] = 0
            grid[s0:s1, 1] = seg
        # drums
        pat = PATTERNS[style][e]
        for bar in range(nbars):
            a = s0 + bar * STEPS_PER_BAR
            grid[a:a + STEPS_PER_BAR, 3] = pat
        last_bar = s1 - STEPS_PER_BAR
        if k + 1 < len(sections) and e >= 1 and sections[k + 1][2] > e:
            grid[last_bar:s1, 3] |= FILL  # a fill into a louder section
        if e >= 1 and style != "calm":
            grid[s0, 3] |= CRASH | KICK
    return Arrangement(grid, energy, start, piece.major, style_id, float(bpm))


def synthetic_visuals(arr: Arrangement, rng) -> tuple[np.ndarray, np.ndarray]:
    """(n_beats, N_FEATURES) features and the cut flags the plan implies (see the module doc)."""
    n = len(arr.energy)
    feats = np.zeros((n, N_FEATURES), np.float32)
    cut = np.zeros(n, bool)
    for b in np.flatnonzero(arr.section_start):
        if b == 0 and rng.random() < 0.5:
            continue  # a piece often starts without a cut
        if rng.random() < 0.9:
            j = b + (int(rng.choice((-1, 1))) if rng.random() < 0.25 else 0)
            cut[int(np.clip(j, 0, n - 1))] = True
    cut |= rng.random(n) < 0.01
    warm = 1.0 if arr.major else -1.0
    scene_start = np.flatnonzero(cut | (np.arange(n) == 0))
    motion = np.zeros(n)
    for i, a in enumerate(scene_start):
        b = scene_start[i + 1] if i + 1 < len(scene_start) else n
        br = float(np.clip(rng.normal(0.5 if arr.major else 0.3, 0.09), 0.03, 0.95))
        sat = float(np.clip(rng.normal(0.45, 0.12), 0.02, 0.95))
        hue = rng.normal(0, 0.04, 3) + np.array([0.08 * warm, 0.0, -0.08 * warm])
        gain = float(np.exp(rng.normal(0, 0.3)))
        for j in range(a, b):
            feats[j, 0] = np.clip(br + rng.normal(0, 0.015), 0, 1)
            feats[j, 1] = np.clip(sat + rng.normal(0, 0.015), 0, 1)
            feats[j, 2:5] = np.clip(br + hue + rng.normal(0, 0.01, 3), 0, 1)
            motion[j] = max(0.005, (0.04 + 0.09 * arr.energy[j]) * gain + rng.normal(0, 0.02))
            feats[j, 7] = np.clip(max(0.0, 0.01 + 0.02 * arr.energy[j] + rng.normal(0, 0.008)) / 0.05, 0, 3)
    feats[:, 5] = np.clip(motion / 0.2, 0, 3)
    feats[:, 6] = np.clip((motion - motion.mean()) / 0.1, -2, 2)
    feats[:, 8] = cut
    feats[:, 9] = np.clip(0.3 + 0.3 * arr.energy + rng.normal(0, 0.2, n), 0, 1)
    feats[:, 10] = (arr.bpm - 110.0) / 40.0
    return feats, cut


# ----------------------------------------------------------------------------- data set


def allowed_styles(major: bool) -> list[int]:
    """The style ids a piece in a major (or minor) key may be labelled with."""
    bad = ("dark", "tense") if major else ("happy",)
    return [i for i, s in enumerate(STYLES) if s not in bad]


def build_windows(pieces: list[Piece], arrangements_per_piece: int, seed: int, window_beats: int = 16,
                  hop_bars: int = 1) -> dict[str, np.ndarray]:
    """Arrange every piece several times and cut bar-aligned windows of ``window_beats``."""
    rng = np.random.default_rng(seed)
    grids, vis, styles, energy, starts, cuts, major, pid = [], [], [], [], [], [], [], []
    steps_w = window_beats * STEPS_PER_BEAT
    for pi, piece in enumerate(pieces):
        for _ in range(arrangements_per_piece):
            style = int(rng.choice(allowed_styles(piece.major)))
            tr = int(rng.integers(-5, 7))
            bpm = float(rng.uniform(70, 150))
            arr = arrange(piece, style, rng, tr, bpm)
            feats, cut = synthetic_visuals(arr, rng)
            for b0 in range(0, piece.n_beats - window_beats + 1, 4 * hop_bars):
                s0 = b0 * STEPS_PER_BEAT
                g = arr.grid[s0:s0 + steps_w].copy()
                for lvl in (1, 2):  # no dangling hold at a window start
                    if g[0, lvl] == 1:
                        g[0, lvl] = 0
                grids.append(g)
                vis.append(feats[b0:b0 + window_beats])
                styles.append(style)
                energy.append(arr.energy[b0:b0 + window_beats])
                starts.append(arr.section_start[b0:b0 + window_beats])
                cuts.append(cut[b0:b0 + window_beats])
                major.append(arr.major)
                pid.append(pi)
    return {"grid": np.array(grids, np.int64), "visual": np.array(vis, np.float32),
            "style": np.array(styles, np.int64), "energy": np.array(energy, np.int64),
            "section_start": np.array(starts, bool), "cut": np.array(cuts, bool),
            "major": np.array(major, bool), "piece": np.array(pid, np.int64)}


def split_pieces(pieces: list[Piece], held_out_fraction: float = 0.1, seed: int = 0):
    """Train / held-out split by piece (no piece is in both)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pieces))
    n_test = max(1, int(round(held_out_fraction * len(pieces))))
    test = sorted(order[:n_test].tolist())
    train = sorted(order[n_test:].tolist())
    return [pieces[i] for i in train], [pieces[i] for i in test]
