"""Evaluate the ambience model on held-out windows (the codec's held-out files, never trained on).

    python -m engines.ambience.evaluate [--windows 24] [--out engines/models]
    python -m engines.ambience.evaluate --only classifier  # the category figure alone (~5 min)
    python -m engines.ambience.evaluate --only retrieval   # the retrieval figure alone, both ways
    python -m engines.ambience.evaluate --match     # studio match --audio on the held-out files

Held-out windows: 10 s single-scene windows built from the held-out clips as in training
(``train.data.Windows``, no cuts), each with its words and its synthetic visual rows. For each,
tokens are generated with those words and rows (guided), by the unconditioned model (guidance
0: words and picture dropped) and drawn uniformly at random (baseline); generated tokens are
decoded to audio and encoded again, as any audio would be.

Embedding space: the codec's own quantised latent (the sum of the 8 code vectors of a frame,
128-d, the decoder's code tables read from codec_decoder.onnx). Figures:

* category recognition (:func:`category`): its own class-balanced held-out set, ``--per-class``
  windows (12) for each category of the held-out files (alert, effect+machine, explosion, gun,
  music, voice; a training file counts for the held-out category whose words it holds, e.g.
  "cannon, explosion" for explosion, "bell, alert" for alert). A logistic regression on clip
  vectors of the latent trained on real training-split windows (100 per class); the clip vector
  and C are chosen by 2-fold cross-validation on the *training* files only (each class's files
  split in two halves, windows of one half scored by a model of the other), never on held-out
  windows. Balanced accuracy (mean per-class recall), accuracy and per-class recall on real
  held-out windows and on generated ones (label = the words asked for), unconditioned and
  random, beside chance (1 / classes: the set is balanced, so also the majority class's share);
* Fréchet distance of per-second latent means, generated vs real held-out (and real training
  windows vs real held-out as the floor);
* visual following: correlation of the asked "motion" row with the loudness measured in the
  generated audio (``features.per_second``), guided vs unconditioned;
* diversity: share of tokens that differ between two seeds of the same condition, and the clip
  vector distance between seeds vs between different conditions.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from engines.ambience.features import WORDS, audio_frame_features, per_second


def codec_tables(models_dir) -> np.ndarray:
    """(8, 1024, 128) code vectors of the codec's decoder graph (its Gather tables, in order)."""
    import onnx

    from engines.runtime import model_info

    m = onnx.load(str(model_info("codec_decoder", models_dir).path))
    from onnx import numpy_helper

    tabs = [(i.name, numpy_helper.to_array(i)) for i in m.graph.initializer
            if len(i.dims) == 2 and tuple(i.dims) == (1024, 128)]
    tabs.sort(key=lambda t: int(t[0].rsplit("_", 1)[-1]) if t[0].rsplit("_", 1)[-1].isdigit() else t[0])
    return np.stack([t for _, t in tabs]).astype(np.float32)


def latent(codes: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """(8, T) codes -> (T, 128) quantised latent."""
    return sum(tables[lvl][codes[lvl]] for lvl in range(codes.shape[0]))


def clip_vector(codes, tables) -> np.ndarray:
    z = latent(codes, tables)
    return np.concatenate([z.mean(0), z.std(0)])


ACTIVE_DIST = 1.0  # a frame whose latent is further than this from silence's is "active"
FEATURES = ("mean_std", "active_mean_std_delta", "active_mean_std_delta_hist0")
C_GRID = (0.01, 0.1, 1.0, 10.0)


def category_vector(codes, tables, silence: np.ndarray, kind: str = "active_mean_std_delta") -> np.ndarray:
    """A window's clip vector for the category classifier, from (8, T) codes. ``mean_std``: mean and
    std of the latent over the window (``clip_vector``); ``active_mean_std_delta``: mean, std and mean
    |frame-to-frame change| of the latent over the window's active frames (not the codec's silence:
    event windows hold a random share of silence) and the active share; ``..._hist0``: also the
    first level's code histogram over those frames."""
    if kind == "mean_std":
        return clip_vector(codes, tables)
    z = latent(codes, tables)
    d = np.abs(np.diff(z, axis=0))
    act = np.linalg.norm(z - latent(np.asarray(silence).reshape(-1, 1), tables)[0], axis=1) > ACTIVE_DIST
    if act.sum() < 3:
        act = np.ones(len(z), bool)
    da = d[act[1:]] if act[1:].any() else d
    parts = [z[act].mean(0), z[act].std(0), da.mean(0), [act.mean()]]
    if kind.endswith("_hist0"):
        parts.append(np.bincount(np.asarray(codes)[0, act], minlength=tables.shape[1]) / act.sum())
    return np.concatenate(parts).astype(np.float32)


def second_means(codes, tables) -> np.ndarray:
    z = latent(codes, tables)
    S = len(z) // 50
    return z[:S * 50].reshape(S, 50, -1).mean(1)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(ca @ cb)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * covmean))


def windows(codec, held_out: bool, n: int, seed: int):
    """n single-scene 10 s windows: (tokens (500, 8), visual (500, 5), words multi-hot, label)."""
    from engines.ambience.train.data import Windows, encode_files, silence_tokens
    from engines.codec import data as D

    found, _ = D.files()
    clips = encode_files([f for f in found if f.held_out == held_out], codec)
    w = Windows(clips, silence_tokens(codec), np.random.default_rng(seed), cut_p=0.0)
    out = []
    for _ in range(n):
        tok, vis, mh = w.sample()
        out.append((tok, vis, mh, ", ".join(WORDS[i] for i in np.flatnonzero(mh))))
    return out


def _regen(amb, codes):
    """Generated codes -> audio -> codes (as any audio is measured), and the audio."""
    y = amb.decode(codes)
    return amb.codec.encode(y, 24000)[:, :codes.shape[1]], y


def _generate_all(amb, held, steps, cfg, seed2: int = 8):
    rng = np.random.default_rng(123)
    res = {"guided": [], "unconditioned": [], "random": [], "seed2": [], "times": []}
    for k, (tok, vis, mh, label) in enumerate(held):
        words = label.split(", ") if label else []
        v = vis[::50]
        t0 = time.perf_counter()
        g = amb.generate_tokens(10.0, v, words, seed=k, steps=steps, cfg=cfg)
        res["times"].append(time.perf_counter() - t0)
        res["guided"].append(_regen(amb, g) + (g,))
        u = amb.generate_tokens(10.0, v, words, seed=k, steps=steps, cfg=0.0)
        res["unconditioned"].append(_regen(amb, u) + (u,))
        r = rng.integers(0, 1024, g.shape)
        res["random"].append(_regen(amb, r) + (r,))
        if k < seed2:
            res["seed2"].append(amb.generate_tokens(10.0, v, words, seed=1000 + k, steps=steps, cfg=cfg))
        print(f"window {k}: {label} {res['times'][-1]:.2f} s", flush=True)
    return res


def _motion_corr(held, gen) -> float:
    asked, got = [], []
    for (tok, vis, mh, label), (codes, y, raw) in zip(held, gen):
        asked.append(vis[::50, 0])
        got.append(per_second(audio_frame_features(y))[:10, 0])
    a, b = np.concatenate(asked), np.concatenate(got)
    return float(np.corrcoef(a, b)[0, 1])


def _class_of(words, classes):
    """The held-out category (tuple of words) whose words a clip holds, if exactly one."""
    m = [k for k in classes if set(k) <= set(words)]
    return m[0] if len(m) == 1 else None


def category_windows(clips, classes, per_class: int, seed: int, silence):
    """``per_class`` single-scene 10 s windows of each class (tokens (500, 8), visual (500, 5),
    words multi-hot, label), each built by ``Windows`` from that class's clips alone."""
    from dataclasses import replace

    from engines.ambience.train.data import Windows

    rng, out = np.random.default_rng(seed), []
    for k in classes:
        own = [replace(c, words=k) for c in clips if _class_of(c.words, classes) == k]
        w = Windows(own, silence, rng, cut_p=0.0)
        for _ in range(per_class):
            tok, vis, mh = w.sample()
            out.append((tok, vis, mh, ", ".join(k)))
    return out


def _fit(X, y, C):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=C, class_weight="balanced")).fit(X, y)


def _scores(y, p, labels) -> dict:
    y, p = np.asarray(y), np.asarray(p)
    rec = {k: round(float(np.mean(p[y == k] == k)), 4) for k in labels}
    return {"balanced_accuracy": round(float(np.mean(list(rec.values()))), 4),
            "accuracy": round(float(np.mean(p == y)), 4), "recall": rec,
            "predicted": {k: int((p == k).sum()) for k in sorted(set(p.tolist()))}}


def category_classifier(train_clips, classes, tables, silence, per_class: int = 100, seed: int = 8):
    """The classifier and its choice: clip vector kind and C by 2-fold cross-validation over the
    training files (each class's files sorted by path, alternately in halves A and B; windows of
    one half scored by a model fitted on the other's; mean balanced accuracy), then fitted on
    ``per_class`` windows per class of all training files. No held-out window is seen."""
    from sklearn.metrics import balanced_accuracy_score

    count: dict = {}
    halves: list[list] = [[], []]
    for c in sorted(train_clips, key=lambda c: c.path):
        k = _class_of(c.words, classes)
        if k is not None:
            halves[count.get(k, 0) % 2].append(c)
            count[k] = count.get(k, 0) + 1
    folds = [category_windows(h, classes, per_class, seed + 1 + i, silence) for i, h in enumerate(halves)]
    full = category_windows(train_clips, classes, per_class, seed, silence)
    cv = {}
    for kind in FEATURES:
        X = [np.stack([category_vector(t.T, tables, silence, kind) for t, _, _, _ in f]) for f in folds]
        y = [[lab for _, _, _, lab in f] for f in folds]
        for C in C_GRID:
            cv[(kind, C)] = float(np.mean([balanced_accuracy_score(y[1 - i], _fit(X[i], y[i], C).predict(X[1 - i]))
                                           for i in (0, 1)]))
    kind, C = max(cv, key=lambda k: (cv[k], -FEATURES.index(k[0]), -k[1]))
    X = np.stack([category_vector(t.T, tables, silence, kind) for t, _, _, _ in full])
    clf = _fit(X, [lab for _, _, _, lab in full], C)
    info = {"clip_vector": kind, "C": C, "train_windows_per_class": per_class,
            "train_files_per_class": {", ".join(k): v for k, v in sorted(count.items())},
            "cv_balanced_accuracy": {f"{k}/C={c:g}": round(v, 4) for (k, c), v in cv.items()}}
    return clf, kind, info


def category(amb, per_class: int = 12, n_train: int = 100, steps=None, cfg=None, tables=None) -> dict:
    """The category figure: real held-out, guided, unconditioned and random windows of a
    class-balanced held-out set, classified by :func:`category_classifier`."""
    from engines.ambience.infer import DEFAULT_CFG, DEFAULT_STEPS
    from engines.ambience.train.data import encode_files, silence_tokens
    from engines.codec import data as D

    steps, cfg = steps or DEFAULT_STEPS, DEFAULT_CFG if cfg is None else cfg
    tables = codec_tables(amb.codec.models_dir) if tables is None else tables
    t0 = time.perf_counter()
    silence = silence_tokens(amb.codec)
    found, _ = D.files()
    held_clips = encode_files([f for f in found if f.held_out], amb.codec)
    train_clips = encode_files([f for f in found if not f.held_out], amb.codec)
    classes = sorted({c.words for c in held_clips if c.words})
    clf, kind, info = category_classifier(train_clips, classes, tables, silence, n_train)
    held = category_windows(held_clips, classes, per_class, 17, silence)
    labels = [lab for _, _, _, lab in held]
    names = [", ".join(k) for k in classes]
    out = {"classes": names, "windows_per_class": per_class, "windows": len(held),
           "held_out_files_per_class": {", ".join(k): sum(_class_of(c.words, classes) == k for c in held_clips)
                                        for k in classes},
           "chance": {"balanced_accuracy": round(1 / len(classes), 4), "accuracy_majority_class": round(
               max(labels.count(x) for x in names) / len(labels), 4), "per_class_recall": round(1 / len(classes), 4)},
           "classifier": info}
    out["real_held_out"] = _scores(labels, clf.predict(np.stack([category_vector(t.T, tables, silence, kind)
                                                                 for t, _, _, _ in held])), names)
    res = _generate_all(amb, held, steps, cfg, seed2=0)
    for g in ("guided", "unconditioned", "random"):
        vec = np.stack([category_vector(c, tables, silence, kind) for c, _, _ in res[g]])
        out[g] = _scores(labels, clf.predict(vec), names)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print("category", json.dumps(out), flush=True)
    return out


def evaluate(amb, n: int = 24, steps: int | None = None, cfg: float | None = None, per_class: int = 12) -> dict:
    from engines.ambience.infer import DEFAULT_CFG, DEFAULT_STEPS

    steps, cfg = steps or DEFAULT_STEPS, DEFAULT_CFG if cfg is None else cfg
    tables = codec_tables(amb.codec.models_dir)
    held = windows(amb.codec, True, n, seed=7)
    train = windows(amb.codec, False, n, seed=8)
    labels = [lab for _, _, _, lab in held]
    res = _generate_all(amb, held, steps, cfg)
    real_sec = np.concatenate([second_means(t.T, tables) for t, _, _, _ in held])
    train_sec = np.concatenate([second_means(t.T, tables) for t, _, _, _ in train[:n]])
    out = {"windows": n, "steps": steps, "cfg": cfg, "labels": sorted(set(labels)),
           "frechet": {"real_train_vs_real_held_out": round(frechet(train_sec, real_sec), 3)}}
    for kind in ("guided", "unconditioned", "random"):
        sec = np.concatenate([second_means(c, tables) for c, _, _ in res[kind]])
        out["frechet"][kind] = round(frechet(sec, real_sec), 3)
    out["motion_loudness_corr"] = {k: round(_motion_corr(held, res[k]), 4) for k in ("guided", "unconditioned")}
    same = [float(np.mean(a != g[2])) for a, g in zip(res["seed2"], res["guided"])]
    vecs = np.stack([clip_vector(g[2], tables) for g in res["guided"][:len(res["seed2"])]])
    vecs2 = np.stack([clip_vector(a, tables) for a in res["seed2"]])
    between = np.mean([np.linalg.norm(vecs[i] - vecs[j]) for i in range(len(vecs)) for j in range(len(vecs)) if i != j])
    out["diversity"] = {"token_difference_between_seeds": round(float(np.mean(same)), 4),
                        "clip_vector_distance_between_seeds": round(float(np.linalg.norm(vecs - vecs2, axis=1).mean()), 3),
                        "clip_vector_distance_between_conditions": round(float(between), 3)}
    out["seconds_per_10s_window"] = round(float(np.median(res["times"])), 3)
    out["retrieval"] = retrieval(amb, held)
    out["category"] = category(amb, per_class, steps=steps, cfg=cfg, tables=tables)
    out["_audio"] = res  # for figures (dropped before writing)
    return out


def match_library(amb, seconds: float = 10.0) -> dict:
    """``studio match --audio``'s scoring (``match.score_codes``) on a library of the held-out
    files (never trained on): each file's first ``seconds`` (a shorter one padded with silence,
    as the adapter pads) is a library entry, and the same seconds give a query's "video" rows
    (``features.per_second`` of its audio: the training's synthetic pairs), without words and
    with the file's category words. Rank of each query's own file among all (0 = first)."""
    from engines.ambience.features import audio_frame_features
    from engines.ambience.match import score_codes
    from engines.codec import data as D

    found, _ = D.files()
    held = sorted((f for f in found if f.held_out), key=lambda f: f.path)
    n = int(seconds * 24000)
    audio = [np.pad(x[:n], (0, max(0, n - len(x)))) for x in (D.decode(f.path) for f in held)]
    codes = [amb.codec.encode(y, 24000) for y in audio]
    rows = [per_second(audio_frame_features(y)) for y in audio]
    out = {"files": len(held), "seconds": seconds,
           "chance": {"recall@1": round(1 / len(held), 4), "recall@5": round(5 / len(held), 4),
                      "mean_rank": (len(held) + 1) / 2}}
    for name, words in (("no_words", lambda f: ()), ("category_words", lambda f: f.category.split(", "))):
        t0 = time.perf_counter()
        score = np.array([[score_codes(amb, c, rows[j], words(q)) for c in codes] for j, q in enumerate(held)])
        rank = np.array([int((score[j] > score[j, j]).sum()) for j in range(len(held))])
        out[name] = {"recall@1": round(float(np.mean(rank < 1)), 4), "recall@5": round(float(np.mean(rank < 5)), 4),
                     "mean_rank": round(float(rank.mean() + 1), 2), "ranks": rank.tolist(),
                     "s_per_file": round((time.perf_counter() - t0) / score.size, 3)}
        print(name, out[name], flush=True)
    return out


def main(argv=None) -> int:
    from engines import manifest
    from engines.ambience.infer import Ambience
    from engines.runtime import MODELS_DIR

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=24)
    p.add_argument("--out", default=str(MODELS_DIR))
    p.add_argument("--figures", default="engines/ambience/figures", help="folder of the spectrogram PNGs")
    p.add_argument("--per-class", type=int, default=12, help="held-out windows per category (the category figure)")
    p.add_argument("--only", choices=("classifier", "retrieval"), help="run only the category figure (or the "
                   "retrieval figure) and update its part of the report and of the manifest's metrics, leaving "
                   "the other figures as they are")
    p.add_argument("--match", action="store_true", help="only the library figure of studio match --audio "
                   "(held-out files; train/reports/ambience_match.json)")
    a = p.parse_args(argv)
    amb = Ambience(a.out)
    if a.match:
        r = match_library(amb)
        manifest.report_path(a.out, "ambience", "ambience_match.json").write_text(json.dumps(r, indent=1) + "\n")
        return 0
    report = manifest.report_path(a.out, "ambience", "ambience_eval.json")
    stale = ("category_accuracy", "chance_majority")  # the earlier classifier's keys
    if a.only:
        part = ({"category": category(amb, a.per_class)} if a.only == "classifier"
                else {"retrieval": retrieval(amb, windows(amb.codec, True, a.windows, seed=7))})
        r = {k: v for k, v in (json.loads(report.read_text()) if report.exists() else {}).items() if k not in stale}
        r.update(part)

        def prepare(n, new, old):
            return {**old, "metrics": {**{k: v for k, v in old.get("metrics", {}).items() if k not in stale}, **part}}
    else:
        print(figures(amb, a.figures), flush=True)
        r = evaluate(amb, a.windows, per_class=a.per_class)
        r.pop("_audio")

        def prepare(n, new, old):
            return {**old, "metrics": r}
    print(json.dumps(r, indent=1), flush=True)
    report.write_text(json.dumps(r, indent=1) + "\n")
    manifest.update(f"{a.out}/manifest.json", {"ambience": {}}, prepare=prepare)
    return 0



def figures(amb, folder, seed: int = 0) -> list[str]:
    """Log-spectrogram PNGs of two contrasting generated clips (10 s each, same colour scale), rows
    made as the adapter makes them from a video (``features.from_video``): calm water (little
    motion, no impacts, dark) and a busy battle (motion rising, 2.5 impacts/s, a cut at 5 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    from engines.ambience.features import from_video

    calm = from_video(10.0, np.full(10, 0.02), np.full(10, 0.3), np.full(10, 0.4), np.zeros(10), [])
    busy = from_video(10.0, np.linspace(0.1, 0.6, 10), np.full(10, 0.6), np.full(10, 0.3), np.eye(10)[5],
                      np.sort(np.random.default_rng(0).uniform(0, 10, 25)))
    out = []
    for name, rows, words in (("calm_water", calm, "water"), ("busy_battle", busy, "gun, explosion")):
        y = amb.generate(10.0, rows, words, seed=seed)
        f, t = np.fft.rfftfreq(1024, 1 / 24000), np.arange(0, len(y) - 1024, 256) / 24000
        frames = np.lib.stride_tricks.sliding_window_view(y, 1024)[::256][:len(t)] * np.hanning(1024)
        S = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
        fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
        ax.pcolormesh(t, f / 1000, S, vmin=-80, vmax=40, shading="auto", cmap="magma")
        ax.set(xlabel="s", ylabel="kHz", title=f"{name}: words '{words}', motion {rows[0, 0]:.2f}->{rows[-1, 0]:.2f}")
        fig.tight_layout()
        p = Path(folder) / f"ambience_{name}.png"
        fig.savefig(p)
        plt.close(fig)
        out.append(str(p))
    return out


def retrieval(amb, held, mask_rate: float = 0.5, seed: int = 0) -> dict:
    """Rank the held-out windows' real tokens for each window's conditions (its visual rows and
    words): score = mean log-likelihood of a fixed half of the tokens, masked, given the others,
    under the query's conditions minus under no conditions (so a clip that is easy to predict
    anyway does not win every query). Recall@k of the window's own clip vs chance k / n. The
    same measure ranks audio files for a video (``match.score_codes``, ``studio match --audio``)."""
    from engines.ambience.features import word_mask
    from engines.ambience.match import token_logprob

    n = len(held)
    rng = np.random.default_rng(seed)
    toks = np.stack([t for t, _, _, _ in held])
    mask = rng.random(toks.shape) < mask_rate
    inp = np.where(mask, amb.vocab, toks)
    styles = np.array([word_mask(lab.split(", ") if lab else []) for _, _, _, lab in held], np.int64)

    def loglik(clips, vis, style, keep, chunk=6):
        out = []
        for a in range(0, len(clips), chunk):
            c = clips[a:a + chunk]
            got = token_logprob(amb, inp[c], toks[c], vis[a:a + chunk], style[a:a + chunk], keep[a:a + chunk])
            out.append((got * mask[c]).sum((1, 2)) / mask[c].sum((1, 2)))
        return np.concatenate(out)

    idx = np.arange(n)
    base = loglik(idx, np.stack([v for _, v, _, _ in held]), styles, np.zeros(n, np.float32))
    score = np.zeros((n, n))
    for j, (_, vis, _, _) in enumerate(held):
        score[j] = loglik(idx, np.repeat(vis[None], n, 0), np.repeat(styles[j:j + 1], n),
                          np.ones(n, np.float32)) - base
    rank = np.array([int((score[j] > score[j, j]).sum()) for j in range(n)])
    # the other way (VAB retrieves both ways): for each clip's audio, its own conditions among all
    # the windows' (a column of the same scores; the unconditioned term is the clip's, so it cancels)
    back = np.array([int((score[:, i] > score[i, i]).sum()) for i in range(n)])
    return {"pairs": n, **{f"recall@{k}": round(float(np.mean(rank < k)), 4) for k in (1, 5)},
            "audio_to_video": {f"recall@{k}": round(float(np.mean(back < k)), 4) for k in (1, 5)},
            "chance": {f"recall@{k}": round(k / n, 4) for k in (1, 5)}}


if __name__ == "__main__":
    raise SystemExit(main())
