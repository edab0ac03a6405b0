"""Evaluation measures of the model card (numpy only).

* NDB (number of statistically different bins, Richardson & Weiss 2018, as used by
  RhythmicNet): k-means (k bins) on the training bars' 144-d hit vectors; a bin is different
  when a two-proportion z-test between real held-out and generated bars rejects at p < 0.05
  (|z| > 1.96). Reported as NDB/k (0 best).
* velocity / offset MSE over the true hits (velocity 0..1, offset in 16ths).
* music statistics per bar (pitch count, mean |pitch interval|, mean inter-onset interval in
  16ths) and their histogram overlap (overlapping area of two normalised histograms, 1 = same),
  pooled pitch-class and note-length histogram overlaps.
* beat hit rate: fraction of reference beats with a kick or snare within a tolerance.
"""
from __future__ import annotations

import numpy as np


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)].astype(np.float64)
    for _ in range(iters):
        lab = np.argmin(((x[:, None] - c[None]) ** 2).sum(-1), axis=1)
        new = np.array([x[lab == j].mean(0) if np.any(lab == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def ndb(train: np.ndarray, real: np.ndarray, gen: np.ndarray, k: int = 10, seed: int = 0) -> dict:
    tr = train.reshape(len(train), -1).astype(np.float64)
    c = kmeans(tr, k, seed)

    def props(x):
        lab = np.argmin(((x.reshape(len(x), -1)[:, None] - c[None]) ** 2).sum(-1), axis=1)
        return np.bincount(lab, minlength=k) / len(x)

    p, q = props(real), props(gen)
    n1, n2 = len(real), len(gen)
    pooled = (p * n1 + q * n2) / (n1 + n2)
    se = np.sqrt(np.maximum(pooled * (1 - pooled) * (1 / n1 + 1 / n2), 1e-12))
    z = (p - q) / se
    different = int(np.sum(np.abs(z) > 1.96))
    return {"ndb": different, "k": k, "ndb_over_k": round(different / k, 3), "n_real": n1, "n_generated": n2}


def masked_mse(pred: np.ndarray, true: np.ndarray, hits: np.ndarray) -> float:
    m = hits > 0
    return float(np.mean((pred[m] - true[m]) ** 2)) if m.any() else float("nan")


def overlap(a, b, bins) -> float:
    ha, _ = np.histogram(a, bins=bins)
    hb, _ = np.histogram(b, bins=bins)
    if ha.sum() == 0 or hb.sum() == 0:
        return 0.0
    return float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())


def bar_stats(notes) -> dict | None:
    """notes: (step, track, pitch, dur) of one bar (all parts together)."""
    if not notes:
        return None
    notes = sorted(notes)
    pitches = [n[2] for n in notes]
    onsets = sorted({n[0] for n in notes})
    melody = [max(n[2] for n in notes if n[0] == s) for s in onsets]  # top line
    return {
        "pitch_count": len(set(pitches)),
        "pitch_interval": float(np.mean(np.abs(np.diff(melody)))) if len(melody) > 1 else 0.0,
        "ioi": float(np.mean(np.diff(onsets))) if len(onsets) > 1 else 16.0,
        "pcs": [p % 12 for p in pitches],
        "lengths": [n[3] for n in notes],
    }


def music_report(real_bars, gen_bars) -> dict:
    r = [s for s in map(bar_stats, real_bars) if s]
    g = [s for s in map(bar_stats, gen_bars) if s]
    out = {}
    specs = {"pitch_count": np.arange(0.5, 20.5, 1), "pitch_interval": np.arange(0, 13, 0.5),
             "ioi": np.arange(0, 17, 0.5)}
    for key, bins in specs.items():
        a = [s[key] for s in r]
        b = [s[key] for s in g]
        out[key] = {"real_mean": round(float(np.mean(a)), 3), "generated_mean": round(float(np.mean(b)), 3),
                    "overlap": round(overlap(a, b, bins), 3)}
    out["pitch_class_overlap"] = round(overlap(sum((s["pcs"] for s in r), []), sum((s["pcs"] for s in g), []),
                                               np.arange(-0.5, 12.5, 1)), 3)
    out["note_length_overlap"] = round(overlap(sum((s["lengths"] for s in r), []),
                                               sum((s["lengths"] for s in g), []), np.arange(0.5, 17.5, 1)), 3)
    out["bars_real"], out["bars_generated"] = len(r), len(g)
    return out


def beat_hit_rate(beats_s, drum_notes, tol_s: float = 0.05, pitches=(36, 38)) -> float:
    """Fraction of beats with a kick or snare (GM 36/38) within ``tol_s``."""
    hits = np.array(sorted(n.start_s for n in drum_notes if n.pitch in pitches))
    beats = np.asarray(beats_s, float)
    if len(beats) == 0:
        return float("nan")
    if len(hits) == 0:
        return 0.0
    idx = np.clip(np.searchsorted(hits, beats), 1, len(hits) - 1) if len(hits) > 1 else np.zeros(len(beats), int)
    near = np.minimum(np.abs(hits[idx] - beats), np.abs(hits[np.maximum(idx - 1, 0)] - beats))
    return float(np.mean(near <= tol_s))
