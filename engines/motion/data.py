"""Window sets from the synthetic generator (numpy only; used by training, evaluation and tests).

Seeds keep the splits apart: training sequences use seeds from ``TRAIN_SEED`` (0..), the
threshold calibration ``CALIB_SEED`` (500000..), the held-out evaluation ``TEST_SEED``
(900000..): every person, camera, tempo and noise draw of the held-out set is new.
"""
from __future__ import annotations

import numpy as np

from engines.motion import infer as M
from engines.motion import synth as S

TRAIN_SEED, CALIB_SEED, TEST_SEED = 0, 500_000, 900_000


def labelled_windows(n_per_class: int, seed0: int, seconds: float = 4.0, per_seq: int = 2):
    """Single-action sequences -> (windows (N, WINDOW, N_IN) float32, labels (N,) int): ``per_seq``
    windows at random offsets from each of ``n_per_class`` sequences per action."""
    X, y = [], []
    k = 0
    for c, action in enumerate(S.ACTIONS):
        for i in range(n_per_class):
            rng = np.random.default_rng(seed0 + k)
            kp, _, _ = S.synthesize([(action, seconds)], S.random_fps(rng), seed=seed0 + k)
            k += 1
            f = M.frames(kp)
            for a in rng.integers(0, max(1, len(f) - M.WINDOW + 1), per_seq):
                w = f[a:a + M.WINDOW]
                if len(w) == M.WINDOW:
                    X.append(w)
                    y.append(c)
    return np.stack(X).astype(np.float32), np.array(y, np.int64)


def sequences(n: int, seed0: int, **kw):
    """``n`` random multi-action sequences -> list of (Keypoints, boundaries_s, labels)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed0 + i)
        segs = S.random_segments(rng, **kw)
        out.append(S.synthesize(segs, S.random_fps(rng), seed=seed0 + i))
    return out


def sequence_windows(seqs, hop: int = 7):
    """All windows (every ``hop`` frames) of the sequences: unlabelled training data."""
    out = []
    for kp, _, _ in seqs:
        w, _ = M.windows(M.frames(kp), hop)
        out.append(w)
    return np.concatenate(out).astype(np.float32)
