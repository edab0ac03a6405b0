"""Held-out evaluation of the shipped rhythm models against the baselines (model-card numbers).

    python -m engines.rhythm.evaluate [--models DIR] [--json FILE] [--samples 5]

Rhythm2Drum: every held-out demo-song bar gives its rhythm (activation of its own hits, as
RhythmicNet takes the rhythm of the drum track) and style; the model and the baselines make
``--samples`` bars from it. NDB/k (k = 10 k-means bins of the training bars). Groove U-Net:
velocity / offset MSE over the true hits of the held-out bars, against the per-voice training
mean velocity with zero offset. Drum2Music: held-out chorales generated bar by bar, free
running (its own previous bars as memory), drum bars made as in training; statistics and
histogram overlaps against the real bars, and the share of keys notes that are chord tones.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

import numpy as np

from engines.rhythm import baseline, metrics
from engines.rhythm import vocab as V
from engines.rhythm.train import data_drums as dd, data_music as dm
from engines.rhythm.train.genre_library import library_bars


def chord_tone_share(chord: int, notes) -> float:
    r, m = V.chord_of(chord)
    tones = {r % 12, (r + (3 if m else 4)) % 12, (r + 7) % 12}
    keys = [(p, d) for s, tr, p, d in notes if tr == 1]
    tot = sum(d for _, d in keys)
    return sum(d for p, d in keys if p % 12 in tones) / tot if tot else float("nan")


def eval_drums(eng, samples: int, seed: int = 0) -> dict:
    real = dd.load_bars()
    train = [b for b in real if not dd.is_held_out(b["source"])] + library_bars()
    test = [b for b in real if dd.is_held_out(b["source"])]
    tr_h = np.stack([b["hits"] for b in train])
    te_h = np.stack([b["hits"] for b in test])
    acts = np.stack([dd.activation_of(b["hits"], b["vel"]) for b in test])
    gen = []
    for s in range(samples):
        for style in sorted({b["style"] for b in test}):
            idx = [i for i, b in enumerate(test) if b["style"] == style]
            st = eng.start(style, seed=seed + s)
            h, _, _ = eng.drum_bars(acts[idx], st, idx)
            gen.append(h)
    gen = np.concatenate(gen)
    # baselines
    vp = np.zeros((4, V.N_VOICES))
    for b in train:
        for s in range(V.STEPS):
            vp[s % 4] += b["hits"][:, s]
    vp = (vp + 1e-3) / (vp + 1e-3).sum(1, keepdims=True)
    rng = np.random.default_rng(seed)
    rand = np.concatenate([baseline.random_on_rhythm(acts, vp, rng)[0] for _ in range(samples)])
    fixed = baseline.fixed_pattern(len(test) * samples)[0]
    mean_vel = np.array([np.mean([b["vel"][v][b["hits"][v] > 0].mean() for b in train if b["hits"][v].any()])
                         for v in range(V.N_VOICES)], np.float32)
    # groove
    te_v = np.stack([b["vel"] for b in test])
    te_o = np.stack([b["off"] for b in test])
    pv, po = [], []
    for style in sorted({b["style"] for b in test}):
        idx = [i for i, b in enumerate(test) if b["style"] == style]
        a, b_ = eng.groove(te_h[idx], acts[idx], style)
        pv.append((idx, a))
        po.append((idx, b_))
    pred_v, pred_o = np.zeros_like(te_v), np.zeros_like(te_o)
    for (idx, a), (_, b_) in zip(pv, po):
        pred_v[idx], pred_o[idx] = a, b_
    base_v = np.broadcast_to(mean_vel[None, :, None], te_v.shape)
    kick_snare = lambda h: float(np.mean(h[:, :2].sum((1, 2))))  # noqa: E731
    return {
        "heldout_bars": len(test), "train_bars": len(train), "samples_per_bar": samples,
        "ndb_k10": {"rhythm2drum": metrics.ndb(tr_h, te_h, gen, k=10),
                    "random_on_rhythm": metrics.ndb(tr_h, te_h, rand, k=10),
                    "fixed_pattern": metrics.ndb(tr_h, te_h, fixed, k=10)},
        "hits_per_bar": {"real": round(float(te_h.sum((1, 2)).mean()), 2),
                         "rhythm2drum": round(float(gen.sum((1, 2)).mean()), 2),
                         "random_on_rhythm": round(float(rand.sum((1, 2)).mean()), 2)},
        "kick_snare_per_bar": {"real": round(kick_snare(te_h), 2), "rhythm2drum": round(kick_snare(gen), 2)},
        "velocity_mse": {"groove_unet": round(metrics.masked_mse(pred_v, te_v, te_h), 4),
                         "mean_velocity_baseline": round(metrics.masked_mse(base_v, te_v, te_h), 4)},
        "offset_mse": {"groove_unet": round(metrics.masked_mse(pred_o, te_o, te_h), 4),
                       "zero_offset_baseline": round(metrics.masked_mse(np.zeros_like(te_o), te_o, te_h), 4)},
        "mean_velocity_per_voice": [round(float(x), 3) for x in mean_vel],
        "heldout_offsets_nonzero_share": round(float((np.abs(te_o[te_h > 0]) > 0.01).mean()), 3),
    }


def eval_music(eng, seed: int = 0, max_pieces: int | None = None) -> dict:
    pieces = dm.build_cache()
    _, test = dm.split(pieces)
    test = test[:max_pieces] if max_pieces else test
    drum_bars = [b for b in dd.load_bars() if not dd.is_held_out(b["source"])] + library_bars()
    rng = np.random.default_rng(seed)
    real, gen, base = [], [], []
    ct = {"real": [], "drum2music": [], "rule_baseline": []}
    for pi, piece in enumerate(test):
        mode = piece[0]["mode"]
        st = replace(eng.start("rock", seed=seed + pi), mode=mode, key_root=0)
        for j, bar in enumerate(piece):
            notes = [tuple(n) for n in bar["notes"]]
            drums = dm.synth_drums(notes, drum_bars, rng)
            chord, g = eng.music_bar(drums, st)
            st = replace(st, bar_index=st.bar_index + 1, chords=st.chords + (chord,), prev_notes=tuple(g))
            bchord, b = baseline.rule_music(drums, j, mode)
            real.append(notes)
            gen.append(g)
            base.append(b)
            ct["real"].append(chord_tone_share(V.M_CHORD0 + bar["chord"], notes))
            ct["drum2music"].append(chord_tone_share(chord, g))
            ct["rule_baseline"].append(chord_tone_share(bchord, b))
    return {"heldout_pieces": len(test), "heldout_bars": len(real),
            "drum2music": metrics.music_report(real, gen), "rule_baseline": metrics.music_report(real, base),
            "keys_chord_tone_share": {k: round(float(np.nanmean(v)), 3) for k, v in ct.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--max-pieces", type=int, default=None)
    args = p.parse_args(argv)
    from engines.rhythm import RhythmEngine

    eng = RhythmEngine(models_dir=args.models)
    out = {"drums": eval_drums(eng, args.samples), "music": eval_music(eng, max_pieces=args.max_pieces)}
    text = json.dumps(out, indent=1)
    if args.json:
        open(args.json, "w").write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
