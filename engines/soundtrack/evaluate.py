"""Model-card numbers on held-out pairs (pieces never seen in training), from the shipped ONNX files.

    .venv/bin/python -m engines.soundtrack.evaluate [--models DIR] [--baseline DIR] [--out FILE]

* token accuracy / perplexity of masked tokens (masking ratio 0.7 and 1.0, fixed masks; the
  chord level masked per half bar, as in training) with the video
  condition, with the null condition (same weights), and of a separately trained unconditional
  model (``--baseline``: a folder made by ``train --unconditional --prefix soundtrack``);
* generation on held-out arrangements (MaskGIT, default settings): tempo agreement, beat
  alignment, section changes at scene cuts vs. elsewhere, drum-energy correlation with the
  plan, major-chord share for bright/major vs dark/minor videos, chord-tone share of melody;
* retrieval recall@1/5/10 both directions on non-overlapping held-out windows, chance k/N;
* sweeps over steps, guidance scale, temperature and Gumbel noise.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engines.runtime import MODELS_DIR
from engines.soundtrack.infer import SoundtrackModel
from engines.soundtrack.sampler import DecodeSettings
from engines.soundtrack.tokens import CRASH, STEPS_PER_BAR, STEPS_PER_BEAT, chord_pitches
from engines.soundtrack.train.data import arrange, build_windows, load_chorales, split_pieces, synthetic_visuals


def token_metrics(model: SoundtrackModel, data: dict, keep: float, ratio: float = 0.7, seed: int = 7,
                  batch: int = 64) -> dict:
    rng = np.random.default_rng(seed)
    vocab = np.array(model.levels.vocab_sizes)
    nll = {n: [] for n in model.levels.names}
    hit = {n: [] for n in model.levels.names}
    for a in range(0, len(data["grid"]), batch):
        g = data["grid"][a:a + batch]
        m = rng.random(g.shape) < ratio
        for lvl, k in enumerate(model.levels.token_rates):  # grouped levels are masked per token
            if k > 1:
                m[..., lvl] = np.repeat(rng.random((len(g), g.shape[1] // k)) < ratio, k, axis=1)
        tok = np.where(m, vocab[None, None], g)
        b = len(g)
        out = model.logits(tok, data["visual"][a:a + batch], data["style"][a:a + batch],
                           np.full(b, keep, np.float32))
        for lvl, name in enumerate(model.levels.names):
            lg = out[lvl].astype(np.float64)
            lg = lg - lg.max(-1, keepdims=True)
            logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
            sel = m[..., lvl]
            tgt = g[..., lvl]
            lp = np.take_along_axis(logp, tgt[..., None], -1)[..., 0]
            nll[name].append(-lp[sel])
            hit[name].append((lg.argmax(-1) == tgt)[sel])
    res = {}
    for name in model.levels.names:
        x, h = np.concatenate(nll[name]), np.concatenate(hit[name])
        res[name] = {"accuracy": round(float(h.mean()), 4), "perplexity": round(float(np.exp(x.mean())), 3)}
    allx = np.concatenate([np.concatenate(v) for v in nll.values()])
    allh = np.concatenate([np.concatenate(v) for v in hit.values()])
    res["all"] = {"accuracy": round(float(allh.mean()), 4), "perplexity": round(float(np.exp(allx.mean())), 3)}
    return res


def _bar_changes(grid: np.ndarray) -> np.ndarray:
    """(n_bars,) bool: a generated section change at this bar (crash on its first step, or a
    drum pattern differing from the previous bar's in at least 4 of 16 steps)."""
    n_bars = len(grid) // STEPS_PER_BAR
    d = grid[:n_bars * STEPS_PER_BAR, 3].reshape(n_bars, STEPS_PER_BAR)
    out = np.zeros(n_bars, bool)
    for b in range(1, n_bars):
        out[b] = bool(d[b, 0] & CRASH) or int((d[b] != d[b - 1]).sum()) >= 4
    return out


def _onset_tempo(grid: np.ndarray, levels, bpm: float) -> float:
    import librosa

    spb = 60.0 / bpm / STEPS_PER_BEAT
    env = np.zeros(int(len(grid) * spb * 100) + 200)
    for name, notes in levels.decode(grid).items():
        w = 1.0 if name == "drums" else 0.5
        for n in notes:
            env[int(round(n.start_beat * 60.0 / bpm * 100))] += w
    env = np.convolve(env, np.hanning(7), mode="same")
    return float(librosa.feature.tempo(onset_envelope=env, sr=100, hop_length=1, start_bpm=110)[0])


def generation_metrics(model: SoundtrackModel, pairs: list, settings: DecodeSettings,
                       reference: bool = False) -> dict:
    """Metrics of generated grids (or, with ``reference``, of the held-out arrangements themselves)."""
    changes_cut, changes_other, energy_g, energy_p, drum_match, ct, tempo_ok, tempo_ok_oct = ([] for _ in range(8))
    major_share = {True: [], False: []}
    downbeat_ok, chord_changes = [], []
    music_s = 0.0
    wall = 0.0
    for arr, feats, cut in pairs:
        if reference:
            grid = arr.grid[:len(feats) * STEPS_PER_BEAT]
        else:
            t = time.perf_counter()
            grid = model.generate(feats, int(arr.style), settings)
            wall += time.perf_counter() - t
        music_s += len(feats) * 60.0 / arr.bpm
        n_bars = len(grid) // STEPS_PER_BAR
        ch = _bar_changes(grid)
        cut_bar = np.zeros(n_bars, bool)
        for b in np.flatnonzero(cut):
            nb = int(round(b / 4))
            if 1 <= nb < n_bars and abs(b - 4 * nb) <= 1:
                cut_bar[nb] = True
        changes_cut += ch[1:][cut_bar[1:]].tolist()
        changes_other += ch[1:][~cut_bar[1:]].tolist()
        d = grid[:n_bars * STEPS_PER_BAR, 3].reshape(n_bars, -1)
        energy_g += [sum(bin(int(x)).count("1") for x in row) for row in d]
        energy_p += arr.energy[::4][:n_bars].tolist()
        drum_match.append(float((grid[:, 3] == arr.grid[:len(grid), 3]).mean()))
        chords = grid[:, 0]
        chord_changes.append(float(np.sum(chords[1:] != chords[:-1]) / n_bars))
        major_share[bool(arr.major)].append(float(np.mean([(c - 1) % 2 == 0 for c in chords if c > 0] or [0.5])))
        mel_on = np.flatnonzero(grid[:, 2] >= 2)
        if mel_on.size:
            pcs = [(int(grid[s, 2]) - 2 + 55) % 12 in {p % 12 for p in chord_pitches(int(chords[s]))} for s in mel_on]
            ct.append(float(np.mean(pcs)))
        est = _onset_tempo(grid, model.levels, arr.bpm)
        tempo_ok.append(abs(est / arr.bpm - 1) <= 0.04)
        tempo_ok_oct.append(min(abs(est * f / arr.bpm - 1) for f in (0.5, 1.0, 2.0)) <= 0.04)
        # downbeats: bar starts with an onset on any level; visual beats at k * 60 / bpm
        beat_s = 60.0 / arr.bpm
        for b in range(n_bars):
            s = b * STEPS_PER_BAR
            if grid[s, 3] or grid[s, 1] >= 2 or grid[s, 2] >= 2:
                t = s / STEPS_PER_BEAT * beat_s
                downbeat_ok.append(abs(t - round(t / beat_s) * beat_s) <= 0.07)
    return {
        "pairs": len(pairs),
        "section_change_rate_at_cuts": round(float(np.mean(changes_cut)), 4) if changes_cut else None,
        "section_change_rate_elsewhere": round(float(np.mean(changes_other)), 4) if changes_other else None,
        "cut_bars": len(changes_cut),
        "drum_density_energy_corr": round(float(np.corrcoef(energy_g, energy_p)[0, 1]), 4),
        "drum_match_reference": round(float(np.mean(drum_match)), 4),
        "major_chord_share_major_videos": round(float(np.mean(major_share[True])), 4) if major_share[True] else None,
        "major_chord_share_minor_videos": round(float(np.mean(major_share[False])), 4) if major_share[False] else None,
        "melody_chord_tone_share": round(float(np.mean(ct)), 4) if ct else None,
        "chord_changes_per_bar": round(float(np.mean(chord_changes)), 4),
        "tempo_agreement_4pct": round(float(np.mean(tempo_ok)), 4),
        "tempo_agreement_4pct_octave": round(float(np.mean(tempo_ok_oct)), 4),
        "downbeats_within_70ms_of_visual_beat": round(float(np.mean(downbeat_ok)), 4),
        "wall_s_per_10s_music": round(wall / max(1e-9, music_s) * 10.0, 4),
    }


def retrieval_metrics(model: SoundtrackModel, data: dict, batch: int = 64) -> dict:
    vs, ms = [], []
    for a in range(0, len(data["grid"]), batch):
        v, m = model.embed_session.run(None, {"tokens": data["grid"][a:a + batch],
                                              "visual": data["visual"][a:a + batch]})
        vs.append(v)
        ms.append(m)
    v, m = np.concatenate(vs), np.concatenate(ms)
    sim = v @ m.T
    n = len(sim)
    out = {"pairs": n}
    for name, s in (("video_to_music", sim), ("music_to_video", sim.T)):
        rank = (s > s[np.arange(n), np.arange(n)][:, None]).sum(1)  # 0 = best
        out[name] = {f"recall@{k}": round(float((rank < k).mean()), 4) for k in (1, 5, 10)}
    out["chance"] = {f"recall@{k}": round(k / n, 4) for k in (1, 5, 10)}
    return out


def held_out_pairs(test_pieces, n_arr: int, seed: int) -> list:
    from engines.soundtrack.train.data import allowed_styles

    rng = np.random.default_rng(seed)
    pairs = []
    for piece in test_pieces:
        for _ in range(n_arr):
            style = int(rng.choice(allowed_styles(piece.major)))
            arr = arrange(piece, style, rng, int(rng.integers(-5, 7)), float(rng.uniform(70, 150)))
            feats, cut = synthetic_visuals(arr, rng)
            pairs.append((arr, feats, cut))
    return pairs


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=MODELS_DIR)
    ap.add_argument("--baseline", type=Path, default=None, help="folder with an unconditional soundtrack model")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "train" / "eval.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="fewer pairs and sweep points")
    args = ap.parse_args(argv)
    t0 = time.time()
    pieces = load_chorales()
    _, test_p = split_pieces(pieces, 0.1, args.seed)  # the same split as training
    model = SoundtrackModel(models_dir=args.models)
    windows = build_windows(test_p, 2, args.seed + 1000)
    res: dict = {"held_out_pieces": len(test_p), "held_out_windows": int(len(windows["grid"]))}
    base = SoundtrackModel(models_dir=args.baseline) if args.baseline else None
    for ratio in (0.7, 1.0):
        r = {"video": token_metrics(model, windows, 1.0, ratio),
             "null_condition": token_metrics(model, windows, 0.0, ratio)}
        if base is not None:
            r["unconditional_model"] = token_metrics(base, windows, 0.0, ratio)
        res[f"tokens_mask_{ratio}"] = r
    print(json.dumps({k: v for k, v in res.items() if k.startswith("tokens")}), flush=True)
    ret = build_windows(test_p, 8 if not args.quick else 3, args.seed + 2000, hop_bars=4)
    res["retrieval"] = retrieval_metrics(model, ret)
    print(json.dumps(res["retrieval"]), flush=True)
    pairs = held_out_pairs(test_p, 2 if not args.quick else 1, args.seed + 3000)
    res["reference_arrangements"] = generation_metrics(model, pairs, DecodeSettings(), reference=True)
    print(json.dumps(res["reference_arrangements"]), flush=True)
    res["generation"] = generation_metrics(model, pairs, DecodeSettings(seed=1))
    print(json.dumps(res["generation"]), flush=True)
    sweep_pairs = pairs[: (12 if not args.quick else 4)]
    sweeps = {"steps": [1, 2, 4, 8, 16, 32], "cfg": [0.0, 1.0, 2.0, 3.0, 5.0, 8.0],
              "temperature": [0.7, 1.0, 1.3], "gumbel": [0.0, 2.0, 4.5]}
    if args.quick:
        sweeps = {"steps": [1, 16], "cfg": [0.0, 3.0]}
    res["sweeps"] = {}
    keys = ("drum_match_reference", "drum_density_energy_corr", "section_change_rate_at_cuts",
            "section_change_rate_elsewhere", "melody_chord_tone_share", "chord_changes_per_bar",
            "wall_s_per_10s_music")
    for name, values in sweeps.items():
        rows = []
        for v in values:
            s = DecodeSettings(seed=1, **{name: v})
            g = generation_metrics(model, sweep_pairs, s)
            rows.append({name: v, **{k: g[k] for k in keys}})
            print(name, rows[-1], flush=True)
        res["sweeps"][name] = rows
    res["eval_wall_s"] = round(time.time() - t0, 1)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
