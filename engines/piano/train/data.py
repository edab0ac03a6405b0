"""Training pieces: real scores from the music21 corpus turned into piano note lists.

Piano/keyboard works (Joplin, Mozart K.545, C.P.E. Bach, Chopin, Beethoven/Haydn/Mozart
quartets and Bach chorales reduced to the piano range 21..108: every part is played by the
"pianist"). Tempo: the score's first metronome mark, else a per-piece seeded 70..120 bpm.
Velocity: from the score's dynamics (pp..ff -> 35..115) plus per-note humanisation; onsets get
+-10 ms jitter; a note is released 40 ms before the next note of the same pitch (so a
repeated key is visibly released). Held-out pieces are chosen by name (deterministic):
every 7th chorale in sorted order plus the pieces in HELD_OUT.

Note lists are cached as .npy under ~/.cache/studio-piano (parsing is slow).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from engines.piano.train.synth_video import Note

CACHE = Path(os.environ.get("STUDIO_PIANO_CACHE", Path.home() / ".cache" / "studio-piano"))

PIECES = [
    "joplin/maple_leaf_rag.mxl", "mozart/k545/movement1_exposition.mxl", "cpebach/h186.mxl",
    "chopin/mazurka06-2.krn", "schubert/Lindenbaum.xml", "handel/rinaldo/Lascia_chio_pianga.mxl",
    "mozart/k155/movement1.mxl", "mozart/k156/movement2.mxl", "mozart/k458/movement2.mxl",
    "beethoven/opus18no1/movement2.mxl", "beethoven/opus18no1/movement3.mxl",
    "haydn/opus1no1/movement1.mxl", "haydn/opus1no1/movement3.mxl", "haydn/opus74no1/movement2.mxl",
]
HELD_OUT = {"mozart/k545/movement1_exposition.mxl", "haydn/opus1no1/movement3.mxl",
            "beethoven/opus18no1/movement3.mxl", "chopin/mazurka06-2.krn"}
_DYN = {"ppp": 25, "pp": 35, "p": 50, "mp": 62, "mf": 75, "f": 92, "ff": 108, "fff": 118}


def chorale_names(n: int = 80) -> list[str]:
    from music21 import corpus

    names = sorted({str(p).split("/corpus/")[1] for p in corpus.getPaths()
                    if "/corpus/bach/bwv" in str(p) and str(p).endswith(".mxl")})
    return names[:n]


def is_held_out(name: str) -> bool:
    if name in HELD_OUT:
        return True
    if name.startswith("bach/bwv"):
        return chorale_names(10_000).index(name) % 7 == 0 if name in chorale_names(10_000) else False
    return False


def split(n_chorales: int = 60) -> tuple[list[str], list[str]]:
    names = PIECES + chorale_names(n_chorales)
    return [n for n in names if not is_held_out(n)], [n for n in names if is_held_out(n)]


def _seed_of(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def _parse(name: str) -> np.ndarray:
    """(n, 4) float array start_s, dur_s, pitch, velocity."""
    from music21 import corpus, dynamics, tempo

    rng = np.random.default_rng(_seed_of(name))
    s = corpus.parse(name)
    bpm = None
    for mm in s.recurse().getElementsByClass(tempo.MetronomeMark):
        if mm.number:
            bpm = float(mm.getQuarterBPM() or mm.number)
            break
    if bpm is None or not 40 <= bpm <= 200:
        bpm = float(rng.uniform(70, 120))
    spq = 60.0 / bpm
    rows = []
    for part in s.parts:
        dyn = []
        for d in part.recurse().getElementsByClass(dynamics.Dynamic):
            if d.value in _DYN:
                dyn.append((float(d.getOffsetInHierarchy(s)), _DYN[d.value]))
        dyn.sort()
        base = float(rng.uniform(60, 90))
        for n in part.recurse().notes:
            off = float(n.getOffsetInHierarchy(s))
            ql = float(n.duration.quarterLength)
            if ql <= 0:
                continue
            v = base
            for o, dv in dyn:
                if o <= off + 1e-6:
                    v = dv
            pitches = [p.midi for p in n.pitches]
            for m in pitches:
                while m < 21:
                    m += 12
                while m > 108:
                    m -= 12
                rows.append((off * spq, ql * spq, m, v))
    a = np.array(rows, np.float64).reshape(-1, 4)
    if len(a) == 0:
        return a
    a = a[np.lexsort((a[:, 2], a[:, 0]))]
    # humanise
    a[:, 0] += rng.normal(0, 0.01, len(a))
    a[:, 3] = np.clip(a[:, 3] + rng.normal(0, 8, len(a)), 20, 127)
    a[:, 0] -= a[:, 0].min()
    # merge unisons (two parts on one key) and release before a repeated key
    out = []
    last: dict[int, int] = {}
    for row in a:
        p = int(row[2])
        j = last.get(p)
        if j is not None:
            prev = out[j]
            if row[0] - prev[0] < 0.06:          # same key struck twice at once: one note
                prev[1] = max(prev[1], row[0] + row[1] - prev[0])
                continue
            if prev[0] + prev[1] > row[0] - 0.04:
                prev[1] = max(0.05, row[0] - 0.04 - prev[0])
        last[p] = len(out)
        out.append(list(row))
    out = np.array(out)
    out[:, 1] = np.maximum(out[:, 1] - 0.02, 0.05)
    return out


def piece_notes(name: str) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / (name.replace("/", "_") + ".v1.npy")
    if f.exists():
        return np.load(f)
    a = _parse(name)
    np.save(f, a)
    return a


def clip(notes: np.ndarray, start_s: float, dur_s: float) -> list[Note]:
    """Notes sounding in [start, start + dur), shifted to start at 0 and cut at the end."""
    out = []
    for s, d, p, v in notes:
        if s + d <= start_s or s >= start_s + dur_s:
            continue
        s0 = max(s, start_s) - start_s
        e0 = min(s + d, start_s + dur_s) - start_s
        if e0 - s0 > 0.03:
            out.append(Note(float(s0), float(e0 - s0), int(p), int(v)))
    return out


def clips(names: list[str], n: int, dur_s: float, seed: int) -> list[tuple[str, float, list[Note]]]:
    """n clips (name, start_s, notes) drawn round-robin over the pieces, random start."""
    rng = np.random.default_rng(seed)
    out = []
    pieces = [(nm, piece_notes(nm)) for nm in names]
    pieces = [(nm, a) for nm, a in pieces if len(a)]
    for i in range(n):
        nm, a = pieces[i % len(pieces)]
        end = float((a[:, 0] + a[:, 1]).max())
        st = float(rng.uniform(0, max(0.0, end - dur_s)))
        out.append((nm, st, clip(a, st, dur_s)))
    return out
