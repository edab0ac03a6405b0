"""Edges of a region made again: inpainting against splicing in an independent generation.

    python -m engines.ambience.evaluate_seams [--conditions 8]

For each condition (a category word, steady motion 0.6-0.9): a 30 s track A (seed k); its
region 10-20 s made again by ``Ambience.inpaint`` (seed 100 + k), and, as the baseline, the same
region cut from a second track generated with that seed and spliced in (what a region edit of a
note track does). Measure: at each edge, the distance between the mean log-mel spectrum of the
0.25 s before and after it, divided by the median of the same distance everywhere else in that
track (1 = an edge is as abrupt as the track's own changes; a hard cut between two unrelated
sounds is several times that).
"""
from __future__ import annotations

import argparse
import json

import numpy as np

WORDS = (("water",), ("machine",), ("music",), ("gun", "explosion"), ("footsteps",), ("voice",), ("metal",),
         ("alert",))


def edge_ratios(y: np.ndarray, edges_s=(10.0, 20.0)) -> list[float]:
    import librosa

    hop = 1200  # 50 ms at 24 kHz
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=24000, n_fft=2048, hop_length=hop, n_mels=64),
                            ref=1.0, top_db=80)

    def jump(f: int) -> float:
        return float(np.linalg.norm(S[:, f - 5:f].mean(1) - S[:, f:f + 5].mean(1)) / np.sqrt(S.shape[0]))

    frames = [int(round(e * 24000 / hop)) for e in edges_s]
    typical = np.median([jump(f) for f in range(10, S.shape[1] - 10, 5) if min(abs(f - e) for e in frames) > 10])
    return [jump(f) / max(typical, 1e-9) for f in frames]


def evaluate(n: int = 8) -> dict:
    from engines.ambience.infer import Ambience

    amb = Ambience()
    rng = np.random.default_rng(0)
    out = {"inpaint": [], "splice": []}
    for k, words in enumerate(WORDS[:n]):
        rows = np.full((30, 5), 0.5, np.float32)
        rows[:, 0], rows[:, 4] = rng.uniform(0.6, 0.9, 30), 0.0
        a = amb.generate_tokens(30, rows, words, seed=k)
        b = amb.generate_tokens(30, rows, words, seed=100 + k)
        spliced = a.copy()
        spliced[:, 500:1000] = b[:, 500:1000]
        out["inpaint"] += edge_ratios(amb.decode(amb.inpaint(a, 10, 20, rows, words, seed=100 + k)))
        out["splice"] += edge_ratios(amb.decode(spliced))
    return {"edges": len(out["inpaint"]),
            **{f"{k}_edge_jump_median": round(float(np.median(v)), 3) for k, v in out.items()},
            **{f"{k}_edges_over_2x": int(np.sum(np.asarray(v) > 2)) for k, v in out.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conditions", type=int, default=len(WORDS))
    print(json.dumps(evaluate(max(1, min(len(WORDS), ap.parse_args(argv).conditions)))))


if __name__ == "__main__":
    main()
