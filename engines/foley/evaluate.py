"""Model-card evaluation of the Foley diffusion model (as Physics-Diff evaluates it).

    python -m engines.foley.evaluate [--models-dir DIR] [--update-manifest]

1. An *audio* material classifier is trained on renders of held-out DSP-preset hits (preset
   seeds from ``data.EVAL_SEED``, never used to train the diffusion model): features are the
   STFT power in 24 log-spaced bands x 8 log-spaced time segments over the first second, in dB
   re the hit's loudest cell (so level/strength alone does not give the material away), a
   2-layer MLP on them.
2. It then classifies fresh hits of random (material, size, strength): DSP-preset hits of yet
   other seeds (its ceiling on this data) and hits whose physics the diffusion model sampled for
   the same conditions, with and without the visual descriptor of a held-out procedural patch.
3. Spread: for 9 materials x 4 (size, strength) conditions, 16 samples each, the mean pairwise
   distance between samples of one condition (packed vectors; audio features in dB; the lowest
   mode in cents), for generated and for preset hits; and the smallest pairwise vector distance
   (0 would mean identical copies).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engines.foley.dsp import synthesize
from engines.foley.materials import preset
from engines.foley.params import pack, unpack
from engines.foley.train.data import EVAL_SEED
from engines.foley.train.textures import MATERIAL_NAMES, patches
from engines.foley.visual import descriptors
from engines.runtime import MODELS_DIR

SR = 22_050
DUR_S = 1.0
N_BANDS, N_SEGS = 24, 8


def _feature_bins():
    n_fft, hop = 512, 128
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    edges = np.geomspace(50, SR / 2, N_BANDS + 1)
    band = np.clip(np.searchsorted(edges, freqs) - 1, -1, N_BANDS)
    t_frames = (np.arange(int(DUR_S * SR) // hop) * hop + n_fft / 2) / SR
    t_edges = np.concatenate([[0], np.geomspace(0.012, DUR_S, N_SEGS)])
    seg = np.clip(np.searchsorted(t_edges, t_frames) - 1, 0, N_SEGS - 1)
    return n_fft, hop, band, seg


_BINS = _feature_bins()


def audio_features(y: np.ndarray) -> np.ndarray:
    n_fft, hop, band, seg = _BINS
    n = int(DUR_S * SR)
    x = np.zeros(n + n_fft, np.float32)
    x[:min(n, y.size)] = y[:n]
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][: n // hop] * np.hanning(n_fft)
    pw = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    m = np.zeros((N_SEGS, N_BANDS))
    ok = (band >= 0) & (band < N_BANDS)
    for s in range(N_SEGS):
        rows = pw[seg == s]
        if rows.size:
            m[s] = np.bincount(band[ok], rows[:, ok].mean(0), minlength=N_BANDS)[:N_BANDS]
    db = 10 * np.log10(m + 1e-12)
    return np.maximum(db - db.max(), -100.0).ravel().astype(np.float32)


def render(params, seed: int) -> np.ndarray:
    return synthesize(params, SR, DUR_S, seed=seed)


def preset_set(n_per: int, seed0: int, rng) -> tuple[np.ndarray, np.ndarray, list]:
    feats, labels, conds = [], [], []
    k = 0
    for mi, m in enumerate(MATERIAL_NAMES):
        for _ in range(n_per):
            s, g = float(rng.uniform()), float(rng.uniform())
            feats.append(audio_features(render(preset(m, s, g, rng=seed0 + k), k)))
            labels.append(mi)
            conds.append((mi, s, g))
            k += 1
    return np.stack(feats), np.array(labels), conds


def train_audio_classifier(x, y, steps=3000, seed=0):
    import torch

    torch.manual_seed(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-3
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.SiLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(128, 128), torch.nn.SiLU(), torch.nn.Linear(128, len(MATERIAL_NAMES)))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    X, Y = torch.from_numpy((x - mu) / sd).float(), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(Y), (128,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()

    def predict(f):
        with torch.no_grad():
            return net(torch.from_numpy((f - mu) / sd).float()).argmax(1).numpy()
    return predict


def _pairwise_mean(a: np.ndarray) -> tuple[float, float]:
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    iu = np.triu_indices(len(a), 1)
    return float(d[iu].mean()), float(d[iu].min())


def evaluate(models_dir: Path = MODELS_DIR, n_train: int = 300, n_test: int = 100, n_spread: int = 16,
             clf_steps: int = 3000, log=print) -> dict:
    import torch

    from engines.foley.infer import ParamSampler

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    sampler = ParamSampler(models_dir)
    rng = np.random.default_rng(EVAL_SEED)
    x_tr, y_tr, _ = preset_set(n_train, EVAL_SEED, rng)
    log(f"audio classifier data: {len(y_tr)} preset renders ({time.perf_counter() - t0:.0f} s)")
    predict = train_audio_classifier(x_tr, y_tr, clf_steps)
    x_te, y_te, conds = preset_set(n_test, EVAL_SEED + 500_000, rng)
    acc_preset = float((predict(x_te) == y_te).mean())
    pool = [descriptors(patches(m, 64, 777)) for m in MATERIAL_NAMES]  # held-out patch seeds
    mats = [c[0] for c in conds]
    sizes = [c[1] for c in conds]
    strengths = [c[2] for c in conds]
    seeds = list(range(50_000, 50_000 + len(conds)))
    vis = np.stack([pool[m][i % 64] for i, m in enumerate(mats)])
    results = {}
    for name, v in (("generated_with_visual", vis), ("generated_no_visual", None)):
        vecs = sampler.sample(mats, sizes, strengths, seeds, v)
        f = np.stack([audio_features(render(unpack(x), i)) for i, x in enumerate(vecs)])
        pred = predict(f)
        results[name] = float((pred == y_te).mean())
        results[name + "_per_material"] = {m: round(float((pred[y_te == i] == i).mean()), 3)
                                            for i, m in enumerate(MATERIAL_NAMES)}
    pred_p = predict(x_te)
    per_preset = {m: round(float((pred_p[y_te == i] == i).mean()), 3) for i, m in enumerate(MATERIAL_NAMES)}
    log(f"accuracy: preset {acc_preset:.3f}, generated {results['generated_with_visual']:.3f} "
        f"(no visual {results['generated_no_visual']:.3f})")
    # spread between samples of one condition
    rows = []
    for mi, m in enumerate(MATERIAL_NAMES):
        for s in (0.3, 0.7):
            for g in (0.3, 0.7):
                seeds_c = list(range(70_000, 70_000 + n_spread))
                gen = sampler.sample([mi] * n_spread, [s] * n_spread, [g] * n_spread, seeds_c)
                gp = [unpack(x) for x in gen]
                pp = [preset(m, s, g, rng=EVAL_SEED + 800_000 + k) for k in range(n_spread)]
                pv = np.stack([pack(p) for p in pp])
                gen_v = np.stack([pack(p) for p in gp])  # re-packed: the vector the sound is made from
                fa = np.stack([audio_features(render(p, k)) for k, p in enumerate(gp)])
                fb = np.stack([audio_features(render(p, k)) for k, p in enumerate(pp)])
                f1g = 1200 * np.log2([p.freqs_hz[0] if p.n_modes else np.nan for p in gp])
                f1p = 1200 * np.log2([p.freqs_hz[0] for p in pp])
                rows.append({"material": m, "size": s, "strength": g,
                             "vec_gen": _pairwise_mean(gen_v), "vec_pre": _pairwise_mean(pv),
                             "feat_gen": _pairwise_mean(fa)[0] / np.sqrt(fa.shape[1]),
                             "feat_pre": _pairwise_mean(fb)[0] / np.sqrt(fb.shape[1]),
                             "f1_cents_gen": float(np.nanstd(f1g)), "f1_cents_pre": float(np.std(f1p)),
                             "modes_gen": float(np.mean([p.n_modes for p in gp])),
                             "modes_pre": float(np.mean([p.n_modes for p in pp]))})
    spread = {
        "vector_pairwise_mean_generated": round(float(np.mean([r["vec_gen"][0] for r in rows])), 3),
        "vector_pairwise_mean_preset": round(float(np.mean([r["vec_pre"][0] for r in rows])), 3),
        "vector_pairwise_min_generated": round(float(np.min([r["vec_gen"][1] for r in rows])), 3),
        "audio_feature_rms_db_generated": round(float(np.mean([r["feat_gen"] for r in rows])), 2),
        "audio_feature_rms_db_preset": round(float(np.mean([r["feat_pre"] for r in rows])), 2),
        "f1_std_cents_generated": round(float(np.nanmean([r["f1_cents_gen"] for r in rows])), 1),
        "f1_std_cents_preset": round(float(np.mean([r["f1_cents_pre"] for r in rows])), 1),
        "modes_mean_generated": round(float(np.mean([r["modes_gen"] for r in rows])), 2),
        "modes_mean_preset": round(float(np.mean([r["modes_pre"] for r in rows])), 2),
        "per_material_f1_std_cents": {m: [round(float(np.mean([r["f1_cents_gen"] for r in rows if r["material"] == m])), 1),
                                          round(float(np.mean([r["f1_cents_pre"] for r in rows if r["material"] == m])), 1)]
                                      for m in MATERIAL_NAMES},
        "samples_per_condition": n_spread, "conditions": len(rows),
    }
    spread["vector_spread_ratio"] = round(spread["vector_pairwise_mean_generated"] / spread["vector_pairwise_mean_preset"], 3)
    out = {"audio_classifier_train_renders": int(len(y_tr)), "test_hits": int(len(y_te)),
           "accuracy_preset": round(acc_preset, 4),
           "accuracy_generated": round(results["generated_with_visual"], 4),
           "accuracy_generated_no_visual": round(results["generated_no_visual"], 4),
           "per_material_accuracy_preset": per_preset,
           "per_material_accuracy_generated": results["generated_with_visual_per_material"],
           "chance": round(1 / len(MATERIAL_NAMES), 4), "sample_steps": sampler.default_steps,
           "spread": spread, "eval_wall_s": round(time.perf_counter() - t0, 1)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    ap.add_argument("--update-manifest", action="store_true", help="store the numbers as the model's metrics")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    a = ap.parse_args(argv)
    res = evaluate(a.models_dir)
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    if a.update_manifest:
        from engines import manifest

        metrics = {k: v for k, v in res.items() if k != "eval_wall_s"}
        manifest.update(a.models_dir / "manifest.json", {"foley_diffusion": {}},
                        prepare=lambda name, new, old: {**old, "metrics": metrics})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
