"""Held-out evaluation of the separation engine; writes the metrics into the manifest entries.

    python -m engines.separate.evaluate [--models DIR] [--n 40] [--no-write]

Held-out rendered mixtures (``data.mixtures``, seeds 900000+: notes, programs, players, cameras
and levels never seen in training) of 2 and 3 sources of different instruments, 4 s each at
11025 Hz mono. Every source of every mixture is separated by each system and scored with
``mir_eval.separation.bss_eval_sources`` (SDR / SIR / SAR in dB, mean over sources and mixtures),
all systems in the same run on the same mixtures:

* ``player``: the shipped model, asked once per source with that source's player's keypoints
  (no permutation: its outputs must land on the player asked for);
* ``audio_only``: the same network without the visual condition (``separate_audio_only``,
  3 masks, trained permutation-invariantly). It cannot know which player is asked for, so its
  masks are assigned to the sources by the oracle: the assignment whose masks are closest to
  the ideal ratio masks (magnitude-weighted squared error) — this favours it;
* ``irm``: the ideal ratio mask |S_k| / sum_j |S_j| on the mixture (upper bound of any mask
  with the mixture's phase);
* ``mixture``: the mixture itself as every source's estimate (lower bound).

``2_same_sources``: the same for 2 players of one instrument (own notes, program, player and
camera each), a kind of mixture the models never saw in training: only the motion can tell the
players apart there, not the instrument's sound or its gesture style. ``2_timgm6mb_sources``:
2 different instruments rendered with another soundfont (TimGM6mb, Debian ``timgm6mb-soundfont``)
than the training's Fluid R3: other samples of the same GM programs.

Speed: seconds of processing per minute of audio for ``Separator.separate`` (mask, STFTs,
resampling) on 60 s of held-out mixture, mono at 11025 Hz and stereo at 48 kHz.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from engines.separate import data as D
from engines.separate import dsp
from engines.separate import infer as I

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
SYSTEMS = ("player", "audio_only", "irm", "mixture")


def _bss(refs, ests, perm: bool = False):
    import warnings

    import mir_eval

    with warnings.catch_warnings():  # bss_eval_sources is deprecated in mir_eval 0.8, still the reference
        warnings.simplefilter("ignore", FutureWarning)
        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(refs, ests, compute_permutation=perm)
    return np.stack([sdr, sir, sar], 1)  # (n_src, 3)


def oracle_assignment(masks: np.ndarray, irm: np.ndarray, mag: np.ndarray) -> tuple[int, ...]:
    """The outputs (one per source, in source order) of ``masks`` (K, F, T) closest to the ideal
    masks (n, F, T), weighted by the mixture magnitude."""
    n = len(irm)
    best, best_err = None, np.inf
    for p in itertools.permutations(range(len(masks)), n):
        err = sum(float((mag * (masks[p[k]] - irm[k]) ** 2).sum()) for k in range(n))
        if err < best_err:
            best, best_err = p, err
    return best


def score_mixture(sep: I.Separator, srcs, gains, models_dir: Path) -> dict[str, np.ndarray]:
    """One mixture -> system -> (n_src, 3) SDR, SIR, SAR."""
    refs = np.stack([g * s.audio for s, g in zip(srcs, gains)]).astype(np.float32)
    x = refs.sum(0)
    X = dsp.stft(x)
    mag = np.abs(X)
    smag = np.abs(dsp.stft(refs))
    irm = smag / np.maximum(smag.sum(0, keepdims=True), 1e-8)
    lm = dsp.log_magnitude(X)
    t = lm.shape[1]
    motion = np.stack([dsp.motion_features(s.kp, t) for s in srcs])
    pm = sep.window_masks(np.repeat(lm[None], len(srcs), 0), motion)
    ao = I.audio_only_masks(lm[None], models_dir)[0]
    ao = ao[list(oracle_assignment(ao, irm, mag))]
    out = {}
    for name, masks in (("player", pm), ("audio_only", ao), ("irm", irm)):
        out[name] = _bss(refs, dsp.istft(X[None] * masks, len(x)))
    out["mixture"] = _bss(refs, np.repeat(x[None], len(srcs), 0))
    return out


def speed(sep: I.Separator, mixes) -> dict[str, float]:
    """Seconds per minute of audio (60 s of held-out mixture), mono 11025 Hz and stereo 48 kHz."""
    from scipy.signal import resample_poly

    x = np.concatenate([sum(g * s.audio for s, g in zip(srcs, gains)) for srcs, gains in mixes])
    x = np.resize(x, 60 * dsp.SR).astype(np.float32)
    kp = mixes[0][0][0].kp
    out = {}
    for label, audio, sr in (("mono_11025", x, dsp.SR),
                             ("stereo_48000", None, 48000)):
        if audio is None:
            y = resample_poly(x, 640, 147).astype(np.float32)
            audio = np.stack([y, 0.8 * y])
        sep.separate(audio[..., : sr], sr, kp)  # warm-up
        t0 = time.perf_counter()
        sep.separate(audio, sr, kp)
        out[label] = round(time.perf_counter() - t0, 3)
    return out


# condition -> (sources per mixture, one instrument, soundfont); "2_sources" etc. are the figures
CONDITIONS = {"2": (2, False, D.SOUNDFONTS[0]), "3": (3, False, D.SOUNDFONTS[0]),
              "2_same": (2, True, D.SOUNDFONTS[0]), "2_timgm6mb": (2, False, D.SOUNDFONTS[1])}


def evaluate(models_dir: Path = MODELS_DIR, n: int = 40, conditions=tuple(CONDITIONS), timing: bool = True) -> dict:
    t0 = time.time()
    sep = I.Separator(models_dir)
    renderers: dict[str, D.Renderer] = {}
    res: dict = {"data": {"mixtures_per_count": n, "seconds_per_mixture": dsp.CLIP_S, "sample_rate": dsp.SR,
                          "seed0": D.TEST_SEED, "synthetic": True,
                          "audio_only_assignment": "oracle (closest to the ideal masks)"}}
    mixes_all = []
    for c in conditions:
        n_src, same, font = CONDITIONS[c]
        if not Path(font).exists():
            continue
        renderer = renderers.setdefault(font, D.Renderer(font))
        mixes = D.mixtures(n, n_src, renderer=renderer, same_instrument=same)
        mixes_all += mixes
        scores = {k: [] for k in SYSTEMS}
        for srcs, gains in mixes:
            for k, v in score_mixture(sep, srcs, gains, models_dir).items():
                scores[k].append(v)
        res[f"{c}_sources"] = {k: dict(zip(("sdr", "sir", "sar"), np.round(np.concatenate(v).mean(0), 2).tolist()))
                               for k, v in scores.items()}
        for k, v in scores.items():
            res[f"{c}_sources"][k]["sdr_median"] = round(float(np.median(np.concatenate(v)[:, 0])), 2)
    if timing:
        res["seconds_per_minute"] = speed(sep, mixes_all[:15])
    res["seconds"] = round(time.time() - t0, 1)
    return res


def main(argv=None) -> int:
    from engines import manifest

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=str(MODELS_DIR))
    p.add_argument("--n", type=int, default=40, help="held-out mixtures per source count")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    models = Path(a.models)
    res = evaluate(models, a.n)
    print(json.dumps(res, indent=1))
    if not a.no_write:
        entries = manifest.update(models / "manifest.json", {})
        upd = {I.PLAYER: {**entries[I.PLAYER], "metrics": res}}
        if I.AUDIO_ONLY in entries:
            base = {k: {"audio_only": v["audio_only"]} for k, v in res.items() if k.endswith("_sources")}
            upd[I.AUDIO_ONLY] = {**entries[I.AUDIO_ONLY], "metrics": {**base, "data": res["data"]}}
        manifest.update(models / "manifest.json", upd)
        manifest.report_path(models, "separate", "separate_eval.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
