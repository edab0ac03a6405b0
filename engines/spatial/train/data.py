"""Teacher data for one room: random source / listener / head-yaw triples and what the field
must learn from each (the early part at 16 kHz without the direct path, and the tail params).

``python -m engines.spatial.train.data ROOM OUT.npz [--n 400] [--test 64] [--seed 0] [--add-to NPZ]``
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from engines.spatial import dsp
ANCHOR_S = 0.08  # the tail level matches the teacher's energy over its first 80 ms
FIT_DB = 25.0  # the tail slope is fitted down to 25 dB below its first frame

from engines.spatial.rooms import WALL_MARGIN_M, Room, room as get_room


def positions(r: Room, n: int, seed: int) -> np.ndarray:
    """(n, 7): source xyz, listener xyz, head yaw (rad); at least 0.5 m apart."""
    rng = np.random.default_rng(seed)
    lo, hi = np.full(3, WALL_MARGIN_M), np.asarray(r.dims) - WALL_MARGIN_M
    out = []
    while len(out) < n:
        s = rng.uniform(lo, hi)
        s[2] = rng.uniform(0.5, min(2.5, hi[2]))
        l = rng.uniform(lo, hi)
        l[2] = rng.uniform(1.0, min(1.8, hi[2]))
        if np.linalg.norm(s - l) < 0.5:
            continue
        out.append(np.concatenate([s, l, [rng.uniform(-math.pi, math.pi)]]))
    return np.asarray(out)


def fit_tail(rev: np.ndarray, fs: int = dsp.IR_RATE, frame_s: float = 0.01) -> np.ndarray:
    """(2, n) reverberant IR (no direct path) -> tail params (2, bands, 2): per-sample energy
    level (dB) at EARLY_S and slope (dB/s): a least-squares line through the band's energy
    envelope in dB (10 ms frames) from EARLY_S down to FIT_DB below its first frame."""
    start = int(round(dsp.EARLY_S * fs))
    bands = dsp.band_split(rev.astype(np.float64), fs)[..., start:]  # (2, B, m)
    hop = int(round(frame_s * fs))
    nf = bands.shape[-1] // hop
    env = (bands[..., :nf * hop] ** 2).reshape(2, dsp.N_BANDS, nf, hop).mean(-1)
    env_db = 10 * np.log10(np.maximum(env, 1e-30))
    t = (np.arange(nf) + 0.5) * frame_s
    out = np.zeros((2, dsp.N_BANDS, 2), np.float32)
    for e in range(2):
        for b in range(dsp.N_BANDS):
            y = env_db[e, b]
            if y.max() < -280:
                out[e, b] = (-200.0, -60.0)
                continue
            ref = y[:3].max()
            below = np.flatnonzero(y < ref - FIT_DB)
            k = int(below[0]) if len(below) else nf
            k = max(k, 3)
            slope = min(-3.0, max(-1500.0, float(np.polyfit(t[:k], y[:k], 1)[0])))
            # level: the line's energy over the first ANCHOR_S of the tail equals the band's
            m = min(int(round(ANCHOR_S / frame_s)), nf)
            line = 10.0 ** (slope * t[:m] / 10)
            level = 10 * np.log10(max(env[e, b, :m].sum(), 1e-30) / line.sum())
            out[e, b] = (level, slope)
    return out


def early_part(rev: np.ndarray, fs: int = dsp.IR_RATE) -> np.ndarray:
    from scipy.signal import resample_poly

    g = math.gcd(fs, dsp.FIELD_RATE)
    n = int(round(dsp.EARLY_S * dsp.FIELD_RATE))
    y = resample_poly(rev.astype(np.float64), dsp.FIELD_RATE // g, fs // g, axis=-1)
    return y[:, :n].astype(np.float32)


def make(room_name: str, n: int, n_test: int, seed: int = 0, keep_full_test: bool = True,
         log=print) -> dict:
    from engines.spatial import teacher

    r = get_room(room_name)
    pos = positions(r, n + n_test, seed)
    early, tails, full, times = [], [], [], []
    for i, p in enumerate(pos):
        t0 = time.perf_counter()
        ir = teacher.brir(r, p[0:3], p[3:6], float(p[6]))
        times.append(time.perf_counter() - t0)
        rev = ir.ir - ir.direct
        early.append(early_part(rev))
        tails.append(fit_tail(rev))
        if keep_full_test and i >= n:
            full.append(ir.ir)
        if log and (i + 1) % 50 == 0:
            log(f"{room_name}: {i + 1}/{len(pos)} teacher IRs, {np.mean(times) * 1000:.0f} ms each")
    return {"room": r.name, "pos": pos.astype(np.float32), "early": np.stack(early),
            "tail": np.stack(tails), "n_train": n, "test_full": np.stack(full) if full else np.zeros(0),
            "teacher_ms": np.asarray(times) * 1000}


def merge(base: dict, more: dict) -> dict:
    """``base`` with ``more``'s training positions appended (``base``'s held-out set kept)."""
    n = int(base["n_train"])
    cat = lambda k: np.concatenate([base[k][:n], more[k][:int(more["n_train"])], base[k][n:]])  # noqa: E731
    return {"room": base["room"], "n_train": n + int(more["n_train"]), "pos": cat("pos"),
            "early": cat("early"), "tail": cat("tail"), "test_full": base["test_full"],
            "teacher_ms": np.concatenate([base["teacher_ms"], more["teacher_ms"]])}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("room")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--test", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--add-to", metavar="NPZ", help="append the new training positions to this data set")
    a = ap.parse_args(argv)
    d = make(a.room, a.n, a.test, a.seed)
    if a.add_to:
        d = merge(dict(np.load(a.add_to)), d)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **d)


if __name__ == "__main__":
    main()
