"""Train Roll2Midi (Video2Roll probabilities over 64 frames -> cleaned roll + onsets), export it.

    python -m engines.piano.train.train_roll2midi             # needs the shipped Video2Roll
    python -m engines.piano.train.train_roll2midi --smoke --out /tmp/x --video2roll /tmp/x/piano_video2roll.onnx

Inputs: the real Video2Roll (ONNX) run over freshly rendered clips of the training pieces
(seeds Video2Roll never saw), so the model learns the errors Video2Roll really makes; half of
the windows get extra corruption of the kinds Video2Roll makes on harder video (flicker:
isolated cells flipped; dropped frames: 1-3 frame gaps in a pressed key; false presses: short
bursts; a blur of the probabilities). Targets: the exact roll and its onsets (0 -> 1 frames).
On a real paired dataset the same holds: run Video2Roll over its training videos.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from engines.piano.train import data
from engines.piano.train.model import STACK, WINDOW, Roll2Midi
from engines.piano.train.train_video2roll import FPS, frame_metrics, render_set, stack_index

VERSION = "1"


def video2roll_probs(onnx_path: Path, frames, starts, batch=64):
    from engines.runtime import open_session

    s = open_session(onnx_path, intra_threads=1)
    out = np.zeros((len(frames), 88), np.float32)
    for a in range(0, len(frames), batch):
        t = np.arange(a, min(a + batch, len(frames)))
        lg, _ = s.run(None, {"frames": frames[stack_index(starts, t)].astype(np.float32)})
        out[t] = 1 / (1 + np.exp(-lg))
    return out


def onsets_of(roll: np.ndarray, starts: np.ndarray) -> np.ndarray:
    on = np.zeros_like(roll)
    for a, b in zip(starts[:-1], starts[1:]):
        r = roll[a:b]
        on[a:b][0] = r[0]
        on[a + 1:b] = r[1:] & ~r[:-1]
    return on


def corrupt(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = p.copy()
    T, K = p.shape
    flick = rng.random(p.shape) < rng.uniform(0, 0.01)
    p[flick] = 1 - p[flick]
    for _ in range(int(rng.integers(0, 6))):           # dropped frames in pressed keys
        t, k = int(rng.integers(0, T)), int(rng.integers(0, K))
        p[t:t + int(rng.integers(1, 4)), k] *= rng.uniform(0, 0.4)
    for _ in range(int(rng.integers(0, 4))):           # false presses
        t, k, n = int(rng.integers(0, T)), int(rng.integers(0, K)), int(rng.integers(1, 5))
        p[t:t + n, k] = np.maximum(p[t:t + n, k], rng.uniform(0.4, 1))
    if rng.random() < 0.3:
        p = (p + np.roll(p, 1, 0) + np.roll(p, -1, 0)) / 3
    return np.clip(p + rng.normal(0, 0.03, p.shape), 0, 1).astype(np.float32)


def windows(starts):
    w = []
    for a, b in zip(starts[:-1], starts[1:]):
        for s in range(a, b - WINDOW + 1, 8):
            w.append(s)
    return np.array(w)


def train(args, log=print):
    torch.manual_seed(args.seed)
    tr, ho = data.split(args.chorales)
    t0 = time.perf_counter()
    X, R, _, S = render_set(tr, args.clips, args.clip_s, args.seed + 11, log)
    P = video2roll_probs(args.video2roll, X, S)
    Xv, Rv, _, Sv = render_set(ho, args.val_clips, args.clip_s, args.seed + 17, log)
    Pv = video2roll_probs(args.video2roll, Xv, Sv)
    del X, Xv
    log(f"Video2Roll on {len(P)} + {len(Pv)} frames, {time.perf_counter() - t0:.1f} s; train frame {frame_metrics(P, R)}")
    O = onsets_of(R, S)
    W = windows(S)
    model = Roll2Midi(args.channels)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    rng = np.random.default_rng(args.seed)
    t1 = time.perf_counter()
    model.train()
    for step in range(args.steps):
        idx = W[rng.integers(0, len(W), args.batch)]
        xs = [P[i:i + WINDOW] for i in idx]
        xs = [corrupt(x, rng) if rng.random() < 0.5 else x for x in xs]
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack([R[i:i + WINDOW] for i in idx]).astype(np.float32))
        yo = torch.from_numpy(np.stack([O[i:i + WINDOW] for i in idx]).astype(np.float32))
        lf, lo = model.logits(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(lf, y) + \
            torch.nn.functional.binary_cross_entropy_with_logits(lo, yo, pos_weight=torch.tensor(4.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            log(f"step {step} loss {loss.item():.4f} ({(time.perf_counter() - t1) / (step + 1):.3f} s/step)")
    model.eval()
    with torch.no_grad():
        fr = np.zeros_like(Pv)
        for a, b in zip(Sv[:-1], Sv[1:]):
            f, _ = model(torch.from_numpy(Pv[a:b][None]))
            fr[a:b] = f[0].numpy()
    before, after = frame_metrics(Pv, Rv), frame_metrics(fr, Rv)
    log(f"held-out rectified frames: Video2Roll {before} -> Roll2Midi {after}")
    info = {"train_frames": int(len(P)), "val_frames": int(len(Pv)), "steps": args.steps,
            "val_video2roll": before, "val_roll2midi": after, "train_wall_s": round(time.perf_counter() - t0, 1)}
    return model, info


def main(argv=None) -> int:
    from engines.manifest import report_path, update_entry
    from engines.onnx_export import export_onnx
    from engines.runtime import MODELS_DIR, sha256_of

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="folder for piano_roll2midi.onnx")
    ap.add_argument("--video2roll", type=Path, default=None, help="Video2Roll ONNX (default: the shipped one)")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--steps", type=int, default=350)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--val-clips", type=int, default=8)
    ap.add_argument("--clip-s", type=float, default=10.0)
    ap.add_argument("--chorales", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.video2roll is None:
        a.video2roll = MODELS_DIR / "piano_video2roll.onnx"
    if a.smoke:
        a.steps, a.clips, a.val_clips, a.clip_s, a.chorales, a.batch = min(a.steps, 3), 1, 1, 2.2, 7, 4
        if a.out.resolve() == MODELS_DIR.resolve():
            raise SystemExit("--smoke needs --out DIR (it never overwrites the shipped model)")
    model, info = train(a)
    out = a.out / "piano_roll2midi.onnx"
    n_params = sum(p.numel() for p in model.parameters())
    meta = {"version": VERSION, "producer": "engines.piano.train.train_roll2midi",
            "config": json.dumps({"window": WINDOW, "fps": FPS, "stack": STACK, **info})}
    export_onnx(model, (torch.zeros(2, WINDOW, 88),), out, ["probs"], ["frame", "onset"], meta)
    report_path(a.out, "piano", "piano_roll2midi_train.json").write_text(json.dumps({"params": n_params, **info}, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e3:.1f} kB, {n_params} parameters)")
    if a.out.resolve() == MODELS_DIR.resolve():
        update_entry("piano_roll2midi", {
            "file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
            "inputs": ["probs"], "outputs": ["frame", "onset"],
            "licence": "weights: trained here (MIT); data: synthetic videos rendered here from "
                       "public-domain scores of the music21 corpus (BSD-3-clause package)",
            "model_card": "engines/piano/README.md",
            "metrics": {"val_rectified_threshold_0.4": {"video2roll": info["val_video2roll"],
                                                        "roll2midi": info["val_roll2midi"]},
                        "note": "full-pipeline numbers: python -m engines.piano.evaluate"},
            "training": {"command": "python -m engines.piano.train.train_roll2midi",
                         "data": "Video2Roll probabilities on fresh synthetic clips of the training pieces "
                                 "(+ flicker/drop/false-press corruption on half the windows); targets: "
                                 "exact roll and onsets",
                         "params": n_params, "seed": a.seed, "steps": a.steps},
        }, MODELS_DIR / "manifest.json")
        print("updated manifest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
