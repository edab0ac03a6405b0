"""Train Video2Roll (5 rectified frames -> 88 pressed keys of the middle frame) and export it.

    python -m engines.piano.train.train_video2roll            # ships engines/models/piano_video2roll.onnx
    python -m engines.piano.train.train_video2roll --smoke --out /tmp/x   # CI: a few steps

Data: synthetic top-down videos rendered here (engines/piano/train/synth_video.py) directly at the
rectified size, with a per-video keyboard-box misalignment, from the training pieces of
engines/piano/train/data.py; each clip goes through libx264 at a random crf 18..36, half of them
as a small keyboard (``small_keyboard``: downscaled to 260..624 px wide, compressed there, scaled
back). ``--init`` fine-tunes an exported model; ``--out DIR`` trains into a trial folder (with a
manifest there for evaluate(models_dir=DIR)) and ``--ship DIR`` installs it afterwards. On a real
paired dataset (video + aligned MIDI, e.g. the Audeo YouTube set), replace ``render_set`` by a
loader that rectifies each video's frames with engines.piano.keyboard.rectify and takes the roll
from the MIDI with synth_video.roll_of; everything else is unchanged.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from engines.piano.train.synth_video import compress_gray, render_rectified
from engines.piano.train import data
from engines.piano.train.model import RECT_H, RECT_W, STACK, Video2Roll

VERSION = "1"
FPS = 30


def small_keyboard(frames: np.ndarray, width: int, crf: int) -> np.ndarray:
    """The rectified view of a keyboard only ``width`` px wide in the video: area-downscaled to
    width x (48 * width / 624) (even sizes), compressed there with libx264 (the codec works on
    the small keyboard, as in a small / far-away video), then scaled back to 624x48 bilinearly
    (the blur that rectifying a small keyboard gives)."""
    n, H, W = frames.shape
    w = max(16, int(width) // 2 * 2)
    h = max(8, int(round(H * w / W / 2)) * 2)
    small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    small = compress_gray(small, crf, FPS)
    return np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in small])


def render_set(names, n_clips, dur_s, seed, log=print, misalign=1.0, small_share=0.0,
               small_width=(260, 624), crf=(18, 34)):
    """Rendered, compressed clips: frames (N, H, W) uint8, roll (N, 88) bool, vel (N, 88)
    uint8, clip starts (n_clips + 1,). A ``small_share`` of the clips shows a small keyboard
    (``small_keyboard`` at a random width in ``small_width``); crf uniform in ``crf``
    (inclusive)."""
    rng = np.random.default_rng(seed)
    fr, ro, ve, starts = [], [], [], [0]
    t0 = time.perf_counter()
    n_small = 0
    for i, (nm, st, notes) in enumerate(data.clips(names, n_clips, dur_s, seed)):
        n = int(dur_s * FPS)
        f, r, v = render_rectified(notes, FPS, (RECT_W, RECT_H), seed=seed * 100_003 + i, n_frames=n,
                                   misalign=misalign)
        q = int(rng.integers(crf[0], crf[1] + 1))
        if small_share > 0 and rng.random() < small_share:
            f = small_keyboard(f, int(rng.integers(small_width[0], small_width[1] + 1)), q)
            n_small += 1
        else:
            f = compress_gray(f, q, FPS)
        fr.append(f), ro.append(r), ve.append(v)
        starts.append(starts[-1] + n)
    log(f"rendered {n_clips} clips ({n_small} small keyboards), {starts[-1]} frames in {time.perf_counter() - t0:.1f} s")
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


def load_onnx_weights(model: Video2Roll, path) -> None:
    """Warm start from an exported Video2Roll: the export folds each BatchNorm into its conv, so
    the conv gets the folded weights and its BatchNorm becomes the identity (mean 0, var 1 - eps,
    gain 1, bias = the folded bias), to be kept in eval mode while fine-tuning."""
    import onnx
    from onnx import numpy_helper

    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
            for i in onnx.load(str(path)).graph.initializer}
    sd = model.state_dict()
    for k in list(sd):
        if k in init:
            sd[k] = init[k].reshape(sd[k].shape)
    folded = [k for k in init if k.startswith("onnx::Conv_")]
    folded.sort(key=lambda k: int(k.split("_")[-1]))
    for j, blk in enumerate(model.conv):
        w, b = init[folded[2 * j]], init[folded[2 * j + 1]]
        bn = blk[1]
        sd[f"conv.{j}.0.weight"] = w
        sd[f"conv.{j}.1.running_mean"] = torch.zeros_like(b)
        sd[f"conv.{j}.1.running_var"] = torch.full_like(b, 1.0 - bn.eps)
        sd[f"conv.{j}.1.weight"] = torch.ones_like(b)
        sd[f"conv.{j}.1.bias"] = b
    model.load_state_dict(sd)


def _bn_eval(model) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def train(args, log=print):
    torch.manual_seed(args.seed)
    tr, ho = data.split(args.chorales)
    t0 = time.perf_counter()
    X, R, V, S = render_set(tr, args.clips, args.clip_s, args.seed + 1, log, small_share=args.small_share,
                            crf=(18, args.crf_max))
    Xv, Rv, Vv, Sv = render_set(ho, args.val_clips, args.clip_s, args.seed + 7, log)
    model = Video2Roll()
    if args.init:
        load_onnx_weights(model, args.init)
        log(f"warm start from {args.init}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    rng = np.random.default_rng(args.seed)
    Rt, Vt = torch.from_numpy(R.astype(np.float32)), torch.from_numpy(V.astype(np.float32) / 127.0)
    model.train()
    if args.init:
        _bn_eval(model)
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
            "small_keyboard_share": args.small_share, "crf": f"18..{args.crf_max}",
            "init": Path(args.init).name if args.init else None,
            "val_rectified": m, "train_wall_s": round(time.perf_counter() - t0, 1),
            "train_pieces": len(tr), "heldout_pieces": len(ho)}
    log(f"held-out rectified frames: {m}")
    return model, info


def manifest_entry(out: Path, info: dict, n_params: int, seed: int, steps: int) -> dict:
    from engines.runtime import sha256_of

    crf = info.get("crf", "18..34")
    small = info.get("small_keyboard_share", 0.0)
    data_txt = ("synthetic top-down piano videos (engines/piano/train/synth_video.py) of music21 corpus pieces, "
                f"rendered at the rectified size, libx264 crf {crf}")
    if small:
        data_txt += (f"; {small:.0%} of the clips as small keyboards (260..624 px wide, compressed at that "
                     "size, scaled back to 624x48)")
    if info.get("init"):
        data_txt += f"; fine-tuned from the previous {info['init']}"
    return {
        "file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
        "inputs": ["frames"], "outputs": ["logits", "velocity"],
        "licence": "weights: trained here (MIT); data: synthetic videos rendered here from "
                   "public-domain scores of the music21 corpus (BSD-3-clause package)",
        "model_card": "engines/piano/README.md",
        "metrics": {"val_rectified_threshold_0.4": info["val_rectified"],
                    "note": "full-pipeline numbers: python -m engines.piano.evaluate"},
        "training": {"command": info.get("command", "python -m engines.piano.train.train_video2roll"),
                     "data": data_txt + "; held-out pieces by name (engines/piano/train/data.py)",
                     "params": n_params, "seed": seed, "steps": steps},
    }


def ship(src: Path) -> None:
    """Install a model trained with --out SRC (after it was evaluated there) into the shipped
    models folder: copy the model, its training report to engines/piano/train/reports/, then the
    manifest entry through engines.manifest."""
    import shutil

    from engines.manifest import report_path, update_entry
    from engines.runtime import MODELS_DIR

    tj = json.loads((src / "piano_video2roll_train.json").read_text())
    for f, dst in (("piano_video2roll.onnx", MODELS_DIR / "piano_video2roll.onnx"),
                   ("piano_video2roll_train.json", report_path(MODELS_DIR, "piano", "piano_video2roll_train.json"))):
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src / f, tmp)
        tmp.replace(dst)
    out = MODELS_DIR / "piano_video2roll.onnx"
    update_entry("piano_video2roll", manifest_entry(out, tj, tj["params"], tj.get("seed", 0), tj["steps"]),
                    MODELS_DIR / "manifest.json")
    print(f"shipped {out} from {src}; updated manifest")


def main(argv=None) -> int:
    from engines.manifest import report_path, update_entry
    from engines.onnx_export import export_onnx
    from engines.runtime import MODELS_DIR, load_manifest

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
    ap.add_argument("--small-share", type=float, default=0.5, help="share of clips rendered as small keyboards")
    ap.add_argument("--crf-max", type=int, default=36, help="training crf is uniform in 18..this")
    ap.add_argument("--init", type=Path, help="warm start from this exported piano_video2roll.onnx")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ship", type=Path, metavar="DIR",
                    help="install a model trained earlier with --out DIR into engines/models (no training)")
    a = ap.parse_args(argv)
    if a.ship:
        ship(a.ship)
        return 0
    torch.set_num_threads(a.threads)
    if a.smoke:
        a.steps, a.clips, a.val_clips, a.clip_s, a.chorales, a.batch = min(a.steps, 3), 2, 1, 1.0, 7, 8
        if a.out.resolve() == MODELS_DIR.resolve():
            raise SystemExit("--smoke needs --out DIR (it never overwrites the shipped model)")
    model, info = train(a)
    info["command"] = " ".join(["python -m engines.piano.train.train_video2roll",
                                *(str(v) for v in (sys.argv[1:] if argv is None else argv))])
    out = a.out / "piano_video2roll.onnx"
    n_params = sum(p.numel() for p in model.parameters())
    meta = {"version": VERSION, "producer": "engines.piano.train.train_video2roll",
            "config": json.dumps({"rect_w": RECT_W, "rect_h": RECT_H, "stack": STACK, "fps": FPS, **info})}
    export_onnx(model, (torch.zeros(2, STACK, RECT_H, RECT_W),), out, ["frames"], ["logits", "velocity"], meta)
    report_path(a.out, "piano", "piano_video2roll_train.json").write_text(
        json.dumps({"params": n_params, "seed": a.seed, **info}, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e3:.1f} kB, {n_params} parameters)")
    entry = manifest_entry(out, info, n_params, a.seed, a.steps)
    if a.out.resolve() == MODELS_DIR.resolve():
        update_entry("piano_video2roll", entry, MODELS_DIR / "manifest.json")
        print("updated manifest")
    else:
        # a trial folder: a manifest there with this model and the shipped Roll2Midi, so that
        # evaluate(models_dir=OUT) runs the whole pipeline with the candidate
        import shutil

        update_entry("piano_video2roll", entry, a.out / "manifest.json")
        r2m = load_manifest().get("piano_roll2midi")
        if r2m and not a.smoke and not (a.out / r2m["file"]).exists():
            shutil.copyfile(MODELS_DIR / r2m["file"], a.out / r2m["file"])
        if r2m and not a.smoke:
            update_entry("piano_roll2midi", r2m, a.out / "manifest.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
