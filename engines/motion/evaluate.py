"""Held-out evaluation of the motion encoder against the Predict & Cluster baselines, in one run.

    python -m engines.motion.evaluate [--models DIR] [--quick] [--no-write] [--out FILE]

Data (all synthetic, ``engines/motion/synth.py``; seeds never used in training):

* action recognition: ``--per-class`` single-action sequences per action -> 2 s windows. The
  gallery (labelled) is a second set drawn from the training seeds' range but not the training
  windows themselves (seeds ``CALIB_SEED``..); queries are the held-out windows.
  - ``nn_accuracy``: 1-nearest-neighbour (cosine) of each held-out window in the gallery;
  - ``cluster_accuracy``: k-means (k = number of actions, 10 k-means++ restarts, seed 0) on the
    held-out windows, clusters matched to actions by the Hungarian method
    (``scipy.optimize.linear_sum_assignment``), share of windows in their matched cluster;
  - features: ``encoder`` (the ONNX GRU encoder's final states), ``raw`` (the window's keypoints
    flattened: 30 frames x 40 coordinates, centred by the gallery mean), ``pca`` (the raw windows
    projected on the gallery's first principal components, as many as the encoder's feature
    size or fewer), ``chance`` (1 / number of actions, and the measured accuracy of random labels);
* sections: ``--sequences`` held-out multi-action sequences (2-5 actions of 3-8 s, one person,
  0.3 s cross-fades); change points from the encoder's features and from the raw windows with
  the same detector (``infer.change_curve``/``change_points``), each with its threshold calibrated
  on the same calibration sequences; boundary precision / recall / F within +-0.5 s.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from engines.motion import data as D
from engines.motion import infer as M
from engines.motion import synth as S

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def nn_accuracy(gallery, g_labels, queries, q_labels) -> float:
    sim = _unit(queries) @ _unit(gallery).T
    return float((g_labels[np.argmax(sim, 1)] == q_labels).mean())


def kmeans(x, k: int, seed: int = 0, restarts: int = 10, iters: int = 100) -> np.ndarray:
    """Plain k-means (k-means++ starts), the best of ``restarts`` by inertia -> labels."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float64)
    best, best_in = None, np.inf
    for _ in range(restarts):
        c = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d = np.min(((x[:, None] - np.array(c)[None]) ** 2).sum(-1), 1)
            c.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
        c = np.array(c)
        for _ in range(iters):
            d = ((x[:, None] - c[None]) ** 2).sum(-1)
            lab = d.argmin(1)
            new = np.array([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
            if np.allclose(new, c):
                break
            c = new
        inertia = float(((x - c[lab]) ** 2).sum())
        if inertia < best_in:
            best, best_in = lab, inertia
    return best


def cluster_accuracy(labels_true, labels_pred, k: int) -> float:
    cm = np.zeros((k, k))
    for t, p in zip(labels_true, labels_pred):
        cm[p, t] += 1
    r, c = linear_sum_assignment(-cm)
    return float(cm[r, c].sum() / len(labels_true))


def pca_fit(x, n: int):
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:n]


def recognition(feats: dict, g_y, q_y, k: int) -> dict:
    out = {}
    for name, (g, q) in feats.items():
        out[name] = {"nn_accuracy": round(nn_accuracy(g, g_y, q, q_y), 4),
                     "cluster_accuracy": round(cluster_accuracy(q_y, kmeans(_unit(q), k), k), 4)}
    rng = np.random.default_rng(0)
    out["chance"] = {"nn_accuracy": round(1.0 / k, 4), "cluster_accuracy": round(1.0 / k, 4),
                     "random_labels_cluster_accuracy": round(cluster_accuracy(q_y, rng.integers(0, k, len(q_y)), k), 4)}
    return out


def section_scores(seqs, feat_fn, threshold) -> dict:
    ps, rs, fs = [], [], []
    for kp, bounds, _ in seqs:
        f = feat_fn(kp)
        t, c = M.change_curve(f)
        p, r, fm = M.boundary_f(M.change_points(t, c, threshold), bounds)
        ps.append(p)
        rs.append(r)
        fs.append(fm)
    return {"precision": round(float(np.mean(ps)), 4), "recall": round(float(np.mean(rs)), 4),
            "f": round(float(np.mean(fs)), 4), "threshold": round(float(threshold), 4)}


def evaluate(models_dir: Path, per_class: int = 60, n_seq: int = 40, quick: bool = False) -> dict:
    from engines.runtime import clear_cache

    t0 = time.time()
    clear_cache()
    ms = M.MotionSections(models_dir)
    k = len(S.ACTIONS)
    g_x, g_y = D.labelled_windows(per_class, D.CALIB_SEED)
    q_x, q_y = D.labelled_windows(per_class, D.TEST_SEED)
    g_enc, q_enc = ms.features(g_x), ms.features(q_x)
    g_raw = M.raw_window_features(g_x)
    mean_raw = g_raw.mean(0)
    g_raw, q_raw = g_raw - mean_raw, M.raw_window_features(q_x, mean_raw)
    n_pc = min(g_enc.shape[1], 64, len(g_raw) - 1)
    pm, pv = pca_fit(g_raw, n_pc)
    feats = {"encoder": (g_enc, q_enc), "raw": (g_raw, q_raw), "pca": ((g_raw - pm) @ pv.T, (q_raw - pm) @ pv.T)}
    rec = recognition(feats, g_y, q_y, k)
    # sections
    calib = D.sequences(max(4, n_seq // 2), D.CALIB_SEED + 50_000)
    test = D.sequences(n_seq, D.TEST_SEED + 50_000)

    def enc_fn(kp):
        return ms.track_features(kp)[1]

    def raw_fn(kp):
        w, _ = M.windows(M.frames(kp))
        return M.raw_window_features(w, mean_raw)

    sec = {}
    for name, fn in (("encoder", enc_fn), ("raw", raw_fn)):
        curves = [M.change_curve(fn(kp)) for kp, _, _ in calib]
        th = M.calibrate_threshold(curves, [b for _, b, _ in calib])
        sec[name] = section_scores(test, fn, th)
    sec["encoder_shipped_threshold"] = section_scores(test, enc_fn, ms.threshold)
    # chance: the same number of boundaries as the truth, uniformly at random
    rng = np.random.default_rng(0)
    fr = [M.boundary_f(sorted(rng.uniform(0, kp.duration_s, len(b))), b)[2] for kp, b, _ in test]
    sec["chance_uniform"] = {"f": round(float(np.mean(fr)), 4)}
    return {"recognition": rec, "sections": sec,
            "data": {"actions": list(S.ACTIONS), "gallery_windows": len(g_y), "heldout_windows": len(q_y),
                     "heldout_sequences": len(test), "calibration_sequences": len(calib),
                     "boundaries": int(sum(len(b) for _, b, _ in test)), "tolerance_s": 0.5,
                     "feature_dim": int(g_enc.shape[1]), "pca_components": int(n_pc), "synthetic": True},
            "quick": quick, "seconds": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=str(MODELS_DIR))
    p.add_argument("--quick", action="store_true", help="small sets (seconds): 12 windows per action, 8 sequences")
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--sequences", type=int, default=40)
    p.add_argument("--no-write", action="store_true", help="do not write the metrics into the manifest")
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args(argv)
    models = Path(a.models)
    per_class, n_seq = (12, 8) if a.quick else (a.per_class, a.sequences)
    res = evaluate(models, per_class, n_seq, quick=a.quick)
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    if not a.no_write and not a.quick:
        from engines import manifest

        manifest.update(models / "manifest.json", {M.MODEL: {}},
                        prepare=lambda name, new, old: {**old, "metrics": res})
        rp = manifest.report_path(models, "motion", "motion_eval.json")
        rp.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
