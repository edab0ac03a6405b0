"""Real performances (note lists) for the performer engine's synthetic training pairs.

* drums: human drum bars of the Hydrogen demo songs (Debian ``hydrogen-data``, GPL-2+), read by
  the rhythm engine's loader; bars of one song are chained into a performance.
* violin: first-violin parts of the string quartets in the music21 corpus (Mozart, Haydn,
  Beethoven; public domain scores, music21 BSD-3-clause).
* guitar: Bach chorales (music21 corpus) chordified, strummed in a pattern per chord.
* piano: the corpus keyboard works (Bach BWV 846, Mozart K. 545, Joplin, Chopin, Schumann) and
  Bach chorales as four-part keyboard music.

Scores are read once into a JSON cache of (offset_ql, dur_ql, pitch) per piece. Performances
get a random tempo, velocities (piece level, metric accent, noise) and micro-timing. The
held-out split is by piece (every 7th piece of each instrument, drums: the rhythm engine's
held-out songs) and deterministic.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("PERFORMER_CACHE", Path.home() / ".cache" / "performer_scores.json"))
VIOLIN = ["mozart/k155", "mozart/k156", "mozart/k458", "haydn/opus1no1", "haydn/opus74no1",
          "beethoven/opus18no1", "mozart/k80", "mozart/k157", "mozart/k158", "mozart/k387", "mozart/k421"]
PIANO = ["bach/bwv846", "mozart/k545", "joplin/maple_leaf_rag", "chopin/mazurka06-2",
         "schumann_clara/polonaise_op1n1", "schumann_clara/polonaise_op1n2", "schumann_clara/polonaise_op1n3"]
N_CHORALES = 60


def _notes_of(stream) -> list[tuple[float, float, int]]:
    out = []
    for n in stream.flatten().notes:
        for p in (n.pitches if n.isChord else [n.pitch]):
            d = float(n.quarterLength)
            if d > 0:
                out.append((round(float(n.offset), 4), round(d, 4), int(p.midi)))
    out.sort()
    return out


def build_cache(path: Path = CACHE, smoke: bool = False) -> dict:
    from music21 import corpus

    data = {"violin": {}, "guitar": {}, "piano": {}}
    paths = [str(p) for p in corpus.getPaths()]
    vio = [p for p in paths if p.endswith(".mxl") and any(f"/{k}/" in p or f"/{k}." in p for k in VIOLIN)]
    for p in vio[:2] if smoke else vio:
        try:
            s = corpus.parse(p)
        except Exception:
            continue
        if not s.parts:
            continue
        notes = [(o, d, m) for o, d, m in _notes_of(s.parts[0]) if 55 <= m <= 100]
        if len(notes) > 50:
            data["violin"][p.split("/corpus/")[1]] = notes
    pia = [p for p in paths if any(k in p for k in PIANO) and p.endswith((".mxl", ".krn", ".xml"))]
    for p in pia[:1] if smoke else pia:
        try:
            s = corpus.parse(p)
        except Exception:
            continue
        notes = [(o, d, m) for o, d, m in _notes_of(s) if 21 <= m <= 108]
        if len(notes) > 50:
            data["piano"][p.split("/corpus/")[1]] = notes
    chorales = sorted(p for p in paths if "/bach/bwv" in p and p.endswith(".mxl") and "bwv846" not in p)
    for p in chorales[:3] if smoke else chorales[:N_CHORALES]:
        try:
            s = corpus.parse(p)
        except Exception:
            continue
        if len(s.parts) != 4:
            continue
        notes = _notes_of(s)
        key = p.split("/corpus/")[1]
        data["piano"]["chorale:" + key] = notes
        chords = []
        for c in s.chordify().flatten().getElementsByClass("Chord"):
            ps = sorted({int(x.midi) for x in c.pitches})
            if ps and float(c.quarterLength) > 0:
                chords.append((round(float(c.offset), 4), round(float(c.quarterLength), 4), ps))
        data["guitar"][key] = chords
    if not smoke:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    return data


def load_scores(smoke: bool = False) -> dict:
    if not smoke and CACHE.exists():
        return json.loads(CACHE.read_text())
    return build_cache(smoke=smoke)


def split(names: list[str]) -> tuple[list[str], list[str]]:
    names = sorted(names)
    held = [n for i, n in enumerate(names) if i % 7 == 3]
    return [n for n in names if n not in held], held


def drum_songs(smoke: bool = False) -> tuple[dict, dict]:
    """song -> list of bars (hits, vel, off); (train, held-out)."""
    from engines.rhythm.train.data_drums import hydrogen_bars, demo_song_files, is_held_out

    tr, ho = {}, {}
    files = demo_song_files(hydrogen=True, lmms=not smoke)
    for f in files[:3] if smoke else files:
        try:
            from engines.rhythm.train.data_drums import lmms_bars
            bars = hydrogen_bars(f) if f.endswith(".h2song") else lmms_bars(f)
        except Exception:
            continue
        if len(bars) < 2:
            continue
        (ho if is_held_out(f) else tr)[Path(f).name] = bars
    if smoke and not ho and tr:
        k = sorted(tr)[0]
        ho[k] = tr[k]
    return tr, ho


# -- performances ---------------------------------------------------------------------------
def _velocities(n: int, beats: np.ndarray, rng) -> np.ndarray:
    base = rng.uniform(55, 105)
    accent = np.where(np.isclose(beats % 1.0, 0.0, atol=1e-3), 8.0, 0.0)
    drift = np.cumsum(rng.normal(0, 1.5, n))
    drift -= np.linspace(drift[0], drift[-1], n) if n > 1 else 0
    return np.clip(base + accent + drift + rng.normal(0, 6, n), 15, 127)


def drum_performance(bars: list, rng, seconds: float) -> list[tuple[float, float, int, int]]:
    from engines.rhythm.vocab import VOICE_PITCH

    bpm = rng.uniform(75, 150)
    step = 15.0 / bpm
    notes, t0, k = [], 0.0, int(rng.integers(len(bars)))
    while t0 < seconds:
        b = bars[k % len(bars)]
        k += 1 if rng.random() < 0.7 else int(rng.integers(len(bars)))
        for v, s in zip(*np.nonzero(b["hits"])):
            t = t0 + (s + 0.6 * b["off"][v, s]) * step + rng.normal(0, 0.004)
            vel = np.clip(b["vel"][v, s] * 127 * rng.uniform(0.85, 1.1), 15, 127)
            if t < seconds:
                notes.append((max(0.0, float(t)), 0.1, VOICE_PITCH[v], int(vel)))
        t0 += 16 * step
    return sorted(notes)


def score_performance(notes: list, rng, seconds: float, instrument: str) -> list[tuple[float, float, int, int]]:
    """A stretch of a (offset_ql, dur_ql, pitch[s]) score played at a random tempo."""
    bpm = rng.uniform(60, 130) if instrument != "guitar" else rng.uniform(70, 140)
    qs = 60.0 / bpm
    span = seconds / qs
    offs = np.array([n[0] for n in notes])
    end = offs.max()
    start = float(rng.uniform(0, max(0.0, end - span))) if end > span else 0.0
    start = float(np.floor(start))
    out = []
    sel = [n for n in notes if start <= n[0] < start + span]
    if instrument == "guitar":  # strum patterns: each chord once per beat or per eighth
        per = rng.choice([1.0, 0.5, 2.0], p=[0.5, 0.35, 0.15])
        ev = []
        for o, d, ps in sel:
            t = o
            while t < o + d - 1e-6:
                ev.append((t, min(per, o + d - t), ps))
                t += per
        sel = ev
    beats = np.array([n[0] for n in sel]) if sel else np.zeros(0)
    vel = _velocities(len(sel), beats, rng)
    if instrument == "violin" and len(sel) > 3:
        rng.random()  # unused draw, kept: it fixes the random stream of the shipped training / held-out sets
    for (o, d, p), v in zip(sel, vel):
        t = (o - start) * qs + rng.normal(0, 0.008)
        dur = max(0.05, d * qs * rng.uniform(0.8, 0.98))
        if t >= seconds or t < 0:
            continue
        if instrument == "guitar":
            for q in sorted(p)[-6:]:
                out.append((float(t), float(dur), int(q), int(v)))  # one strum: one onset
        else:
            out.append((float(t), float(dur), int(p), int(v)))
    if instrument == "violin":  # monophonic bowing: one note at a time
        out.sort()
        mono = []
        for n in out:
            if mono and n[0] - mono[-1][0] < 0.06:
                continue
            mono.append(n)
        out = [(s, min(d, (mono[i + 1][0] - s) if i + 1 < len(mono) else d), p, v) for i, (s, d, p, v) in enumerate(mono)]
    return sorted(out)


def performances(instrument: str, pieces, rng, seconds: float, n: int, scores=None):
    """n random performances (note lists) of ``seconds`` from ``pieces`` (names -> data)."""
    names = sorted(pieces)
    out = []
    for _ in range(n):
        name = names[int(rng.integers(len(names)))]
        if instrument == "drums":
            out.append(drum_performance(pieces[name], rng, seconds))
        else:
            out.append(score_performance(pieces[name], rng, seconds, instrument))
    return out
