"""Train Video2Roll (5 rectified frames -> 88 pressed keys of the middle frame) and export it.

    python -m engines.piano.train.train_video2roll            # ships engines/models/piano_video2roll.onnx
    python -m engines.piano.train.train_video2roll --smoke --out /tmp/x   # CI: a few steps

Data: synthetic top-down videos rendered here (engines/piano/synth_video.py) directly at the
rectified size, with a per-video keyboard-box misalignment, from the training pieces of
engines/piano/train/data.py; each clip goes through libx264 at a random crf 18..34. On a real
paired dataset (video + aligned MIDI, e.g. the Audeo YouTube set), replace ``render_set`` by a
loader that rectifies each video's frames with engines.piano.keyboard.rectify and takes the roll
from the MIDI with synth_video.roll_of; everything else is unchanged.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from engines.piano.synth_video import compress_gray, render_rectified
from engines.piano.train import data
from engines.piano.train.model import RECT_H, RECT_W, STACK, Video2Roll

VERSION = "1"
FPS = 30


def render_set(names, n_clips, dur_s, seed, log=print, misalign=1.0):
    """Rendered, compressed clips: frames (N, H, W) uint8, roll (N, 88) bool, vel (N, 88)
    uint8, clip starts (n_clips + 1,)."""
    rng = np.random.default_rng(seed)
    fr, ro, ve, starts = [], [], [], [0]
    t0 = time.perf_counter()
    for i, (nm, st, notes) in enumerate(data.clips(names, n_clips, dur_s, seed)):
        n = int(dur_s * FPS)
        f, r, v = render_rectified(notes, FPS, (RECT_W, RECT_H), seed=seed * 100_003 + i, n_frames=n,
                                   misalign=misalign)
        f = compress_gray(f, int(rng.integers(18, 35)), FPS)
        fr.append(f), ro.append(r), ve.append(v)
        starts.append(starts[-1] + n)
    log(f"rendered {n_clips} clips, {starts[-1]} frames in {time.perf_counter() - t0:.1f} s")
    return np.concatenate(fr), np.concatenate(ro), np.concatenate(ve), np.array(starts)


def stack_index(starts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t), STACK) frame indices around each t, clamped to t's clip."""
    c = np.searchsorted(starts, t, side="right") - 1
    off = np.arange(STACK) - STACK // 2
    return np.clip(t[:, None] + off, starts[c][:, None], starts[c + 1][:, None] - 1)


def frame_metrics(prob: np.ndarray, roll: np.ndarray, thr: float = 0.4) -> dict:
    """Audeo Table 3.1 frame-level measures over all (frame, key) cells."""
    p = prob >= thr
    tp = float(np.sum(p & roll))
    fp = float(np.sum(p & ~roll))
    fn = float(np.sum(~p & roll))
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)
    return {"precision": round(prec, 4), "recall": round(rec, 4),
            "accuracy": round(tp / max(tp + fp + fn, 1), 4),
            "f1": round(2 * prec * rec / max(prec + rec, 1e-9), 4)}


def predict(model, frames, starts, batch=128):
    model.eval()
    out = np.zeros((len(frames), 88), np.float32)
    vel = np.zeros((len(frames), 88), np.float32)
    with torch.no_grad():
        for a in range(0, len(frames), batch):
            t = np.arange(a, min(a + batch, len(frames)))
            x = torch.from_numpy(frames[stack_index(starts, t)].astype(np.float32))
            lg, v = model(x)
            out[t], vel[t] = torch.sigmoid(lg).numpy(), v.numpy()
    return out, vel


def train(args, log=print):
    torch.manual_seed(args.seed)
    tr, ho = data.split(args.chorales)
    t0 = time.perf_counter()
    X, R, V, S = render_set(tr, args.clips, args.clip_s, args.seed + 1, log)
    Xv, Rv, Vv, Sv = render_set(ho, args.val_clips, args.clip_s, args.seed + 7, log)
    model = Video2Roll()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    rng = np.random.default_rng(args.seed)
    Rt, Vt = torch.from_numpy(R.astype(np.float32)), torch.from_numpy(V.astype(np.float32) / 127.0)
    model.train()
    t1 = time.perf_counter()
    for step in range(args.steps):
        # oversample frames with notes (silent frames are easy)
        t = rng.integers(0, len(X), args.batch)
        x = torch.from_numpy(X[stack_index(S, t)].astype(np.float32))
        # photometric augmentation per sample: gain, offset; random +-2 px horizontal shift
        g = torch.from_numpy(rng.uniform(0.75, 1.2, (len(t), 1, 1, 1)).astype(np.float32))
        o = torch.from_numpy(rng.uniform(-25, 25, (len(t), 1, 1, 1)).astype(np.float32))
        x = (x * g + o).clamp(0, 255)
        sh = int(rng.integers(-2, 3))
        if sh:
            x = torch.roll(x, sh, 3)
        y, yv = Rt[t], Vt[t]
        lg, v = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(lg, y, pos_weight=torch.tensor(2.0))
        loss = loss + 2.0 * ((v - yv) ** 2 * y).sum() / y.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            log(f"step {step} loss {loss.item():.4f} ({(time.perf_counter() - t1) / (step + 1):.3f} s/step)")
    prob, vel = predict(model, Xv, Sv)
    m = frame_metrics(prob, Rv)
    vm = Rv.astype(bool)
    m["velocity_mae"] = round(float(np.abs(vel[vm] * 127 - Vv[vm]).mean()) if vm.any() else 0.0, 2)
    info = {"train_frames": int(len(X)), "val_frames": int(len(Xv)), "steps": args.steps,
            "val_rectified": m, "train_wall_s": round(time.perf_counter() - t0, 1),
            "train_pieces": len(tr), "heldout_pieces": len(ho)}
    log(f"held-out rectified frames: {m}")
    return model, info


def main(argv=None) -> int:
    from engines.onnx_export import export_onnx, update_manifest
    from engines.runtime import MODELS_DIR, sha256_of

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="folder for piano_video2roll.onnx")
    ap.add_argument("--smoke", action="store_true", help="a few steps on tiny data (CI)")
    ap.add_argument("--steps", type=int, default=1300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--clips", type=int, default=160)
    ap.add_argument("--val-clips", type=int, default=12)
    ap.add_argument("--clip-s", type=float, default=6.0)
    ap.add_argument("--chorales", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.smoke:
        a.steps, a.clips, a.val_clips, a.clip_s, a.chorales, a.batch = min(a.steps, 3), 2, 1, 1.0, 7, 8
        if a.out.resolve() == MODELS_DIR.resolve():
            raise SystemExit("--smoke needs --out DIR (it never overwrites the shipped model)")
    model, info = train(a)
    out = a.out / "piano_video2roll.onnx"
    n_params = sum(p.numel() for p in model.parameters())
    meta = {"version": VERSION, "producer": "engines.piano.train.train_video2roll",
            "config": json.dumps({"rect_w": RECT_W, "rect_h": RECT_H, "stack": STACK, "fps": FPS, **info})}
    export_onnx(model, (torch.zeros(2, STACK, RECT_H, RECT_W),), out, ["frames"], ["logits", "velocity"], meta)
    (a.out / "piano_video2roll_train.json").write_text(json.dumps({"params": n_params, **info}, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e3:.1f} kB, {n_params} parameters)")
    if a.out.resolve() == MODELS_DIR.resolve():
        update_manifest("piano_video2roll", {
            "file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
            "inputs": ["frames"], "outputs": ["logits", "velocity"],
            "licence": "weights: trained here (MIT); data: synthetic videos rendered here from "
                       "public-domain scores of the music21 corpus (BSD-3-clause package)",
            "model_card": "engines/piano/README.md",
            "metrics": {"val_rectified_threshold_0.4": info["val_rectified"],
                        "note": "full-pipeline numbers: python -m engines.piano.train.evaluate"},
            "training": {"command": "python -m engines.piano.train.train_video2roll",
                         "data": "synthetic top-down piano videos (engines/piano/synth_video.py) of music21 "
                                 "corpus pieces, rendered at the rectified size, libx264 crf 18..34; "
                                 "held-out pieces by name (engines/piano/train/data.py)",
                         "params": n_params, "seed": a.seed, "steps": a.steps},
        }, MODELS_DIR / "manifest.json")
        print("updated manifest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
