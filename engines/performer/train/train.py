"""Train the performer model (one model for all instruments) and export it to ONNX.

    python -m engines.performer.train.train                 # shipped models (engines/models)
    python -m engines.performer.train.train --smoke --out /tmp/p   # CI: a few steps

Training pairs: real performances (``data``) -> keypoints synthesised by the kinematic gesture
models (``engines.performer.gestures``, random performer / camera / noise per performance) ->
4 s windows at 30 fps with the MIDI event tokens of the notes starting in the window.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engines.performer import gestures as G
from engines.performer import vocab as V
from engines.performer.keypoints import N_JOINTS, adjacency, resample

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CARD = "engines/performer/README.md"
CKPT = Path(__file__).resolve().parent / "checkpoints" / "performer.pt"  # git-ignored
LICENCE = ("weights: trained here; data: keypoints synthesised from Hydrogen demo drum patterns (Debian "
           "hydrogen-data, GPL-2+) and public-domain scores of the music21 corpus (BSD-3-clause package)")
DATA = ("synthetic keypoints (engines/performer/gestures.py kinematic models) of performances of: Hydrogen demo "
        "drum songs (rhythm engine loader, its held-out songs kept out), first-violin parts of Mozart/Haydn/"
        "Beethoven quartets, Bach chorales strummed as chords (guitar) and as keyboard parts, corpus keyboard "
        "works (piano); every 7th piece held out")


def window_pool(instrument: str, pieces, rng, n_perf: int, seconds: float = 24.0, seed0: int = 0):
    """Performances -> (features (N, 120, J, V.N_FEAT) float16, tokens list)."""
    from engines.performer.train import data as D

    feats, toks = [], []
    for k, notes in enumerate(D.performances(instrument, pieces, rng, seconds, n_perf)):
        lead = float(rng.uniform(0, 2.0))
        notes = [(s + lead, d, p, v) for s, d, p, v in notes]
        fps = float(rng.choice([24.0, 25.0, 30.0, 30.0, 50.0, 60.0]))
        kp = G.synthesize(notes, instrument, fps, duration_s=seconds + lead, seed=seed0 + k,
                          realism=float(rng.uniform(0.5, 1.3)))
        g_on = G.gesture_onsets(kp, instrument)  # on the keypoints as the camera gave them
        kp = resample(kp, V.FPS)
        f = V.frame_features(kp.xy, kp.conf, onsets=g_on)
        starts = np.arange(0, kp.n_frames - V.WINDOW_FRAMES, V.WINDOW_FRAMES) + int(rng.integers(0, 30))
        for a in starts:
            if a + V.WINDOW_FRAMES > kp.n_frames:
                continue
            t = V.notes_to_tokens(notes, instrument, a / V.FPS)
            if len(t) > V.MAX_LEN:
                continue
            feats.append(f[a:a + V.WINDOW_FRAMES].astype(np.float16))
            toks.append(t)
    return feats, toks


def build(smoke: bool, rng, n_perf: int):
    from engines.performer.train import data as D

    scores = D.load_scores(smoke=smoke)
    drums_tr, _ = D.drum_songs(smoke=smoke)
    X, T, I = [], [], []
    for i, ins in enumerate(V.INSTRUMENTS):
        pieces = drums_tr if ins == "drums" else {k: scores[ins][k] for k in D.split(list(scores[ins]))[0]}
        f, t = window_pool(ins, pieces, rng, n_perf, seed0=1000 * i)
        X += f
        T += t
        I += [i] * len(t)
    return np.stack(X), T, np.array(I, np.int64)


def batch(X, T, I, idx):
    import torch

    toks = [T[i] for i in idx]
    L = max(len(t) for t in toks)
    tk = np.full((len(idx), L), V.PAD, np.int64)
    for r, t in enumerate(toks):
        tk[r, :len(t)] = t
    clk = np.stack([V.clocks(r) for r in tk])
    src = torch.from_numpy(X[idx].astype(np.float32))
    return src, torch.from_numpy(I[idx][:, None]), torch.from_numpy(tk), torch.from_numpy(clk)


def main(argv=None) -> int:
    import torch

    from engines.performer.train.models import PerformerNet, export, n_params

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(MODELS_DIR))
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--perf", type=int, default=400, help="performances per instrument")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--minutes", type=float, default=25.0,
                   help="training time budget: the LR schedule follows elapsed time, stops when spent (0: by steps)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--init-onnx", default=None,
                   help="fine-tune: start from the exported performer_encoder/decoder.onnx in this folder "
                        "(input channels the graphs lack start with zero weights)")
    p.add_argument("--init-ckpt", default=None, help="resume from a torch checkpoint (--ckpt of an earlier run)")
    p.add_argument("--ckpt", default=str(CKPT), help="where the torch state_dict is saved (git-ignored); '' : not")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    shipped = out.resolve() == MODELS_DIR.resolve()
    if a.smoke and shipped:
        raise SystemExit("--smoke writes only into another --out folder (never over the shipped models)")
    steps = 3 if a.smoke and a.steps == 100000 else a.steps
    if a.smoke:
        a.minutes = 0.0
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    X, T, I = build(a.smoke, rng, 6 if a.smoke else a.perf)
    print(f"{len(T)} windows ({time.time() - t0:.0f} s)", flush=True)
    cfg = {"d": 32, "gc": 8, "dec_layers": 1} if a.smoke else {"d": 96, "gc": 24, "dec_layers": 2}
    model = PerformerNet(adjacency(), N_JOINTS, V.VOCAB, len(V.INSTRUMENTS), V.MAX_LEN, cin=V.N_FEAT, **cfg)
    stage0 = None
    if a.init_onnx:
        import onnx

        from engines.performer.train.models import load_onnx_weights, widen_inputs

        init = Path(a.init_onnx)
        enc_p = init / "performer_encoder.onnx"
        cin0 = int(onnx.load(str(enc_p)).graph.input[0].type.tensor_type.shape.dim[3].dim_value)
        old = PerformerNet(adjacency(), N_JOINTS, V.VOCAB, len(V.INSTRUMENTS), V.MAX_LEN, cin=cin0, **cfg)
        load_onnx_weights(old, enc_p, init / "performer_decoder.onnx")
        widen_inputs(old, model)
        man = init / "manifest.json"
        if man.exists():
            stage0 = json.loads(man.read_text()).get("performer_decoder", {}).get("training")
    if a.init_ckpt:
        ck = torch.load(a.init_ckpt, map_location="cpu")
        model.load_state_dict(ck["model"])
        stage0 = ck.get("training")
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    from engines.rhythm.train.common import schedule

    sched = schedule(opt, steps)
    model.train()
    done = 0
    t_train = time.time()
    for step in range(steps):
        if a.minutes:  # the schedule follows elapsed time when a time budget is given
            frac = max(step / steps, (time.time() - t_train) / (a.minutes * 60))
            if frac >= 1.0:
                print(f"time budget spent: stopping at step {step}", flush=True)
                break
            w = 0.05
            f = frac / w if frac < w else 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (frac - w) / (1 - w)))
            for g in opt.param_groups:
                g["lr"] = a.lr * f
        idx = rng.integers(0, len(T), a.batch if not a.smoke else 4)
        src, ins, tk, clk = batch(X, T, I, idx)
        src = src + torch.randn_like(src) * 0.01
        logits = model.decode(tk[:, :-1], clk[:, :-1], model.encode(src, ins))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V.VOCAB), tk[:, 1:].reshape(-1),
                                                 ignore_index=V.PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if not a.minutes:
            sched.step()
        done = step + 1
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    if a.ckpt and not a.smoke:
        Path(a.ckpt).parent.mkdir(parents=True, exist_ok=True)
    src, ins, _, _ = batch(X, T, I, np.arange(min(2, len(T))))
    meta = {"engine": "performer", "vocab": str(V.VOCAB), "fps": str(V.FPS), "window_s": str(V.WINDOW_S),
            "instruments": ",".join(V.INSTRUMENTS)}
    export(model, src, ins, out, meta)
    import sys

    args = sys.argv[1:] if argv is None else list(argv)
    training = {"command": " ".join(["python -m engines.performer.train.train"] + args),
                "data": DATA, "params": n_params(model), "seed": a.seed, "steps": done,
                "windows": len(T), "seconds": round(time.time() - t0)}
    if stage0:  # a fine-tuning run: the record covers both runs
        training = {"command": stage0["command"] + " && " + training["command"], "data": DATA,
                    "params": training["params"], "seed": a.seed, "steps": stage0["steps"] + done,
                    "windows": training["windows"], "seconds": stage0.get("seconds", 0) + training["seconds"],
                    "stages": [{k: v for k, v in stage0.items() if k != "stages"}, training]}
    write_manifest(out, training)
    if a.ckpt and not a.smoke:  # resumable: --init-ckpt
        torch.save({"model": model.state_dict(), "config": {**cfg, "cin": V.N_FEAT}, "training": training}, a.ckpt)
    print(json.dumps(training), flush=True)
    return 0


def write_manifest(out: Path, training: dict) -> None:
    from engines import manifest
    from engines.performer.train.models import DEC_INPUTS, DEC_OUTPUTS, ENC_INPUTS, ENC_OUTPUTS
    from engines.runtime import sha256_of

    entries = {}
    for name, ins, outs in (("performer_encoder", ENC_INPUTS, ENC_OUTPUTS), ("performer_decoder", DEC_INPUTS, DEC_OUTPUTS)):
        f = out / f"{name}.onnx"
        entries[name] = {"file": f.name, "sha256": sha256_of(f), "bytes": f.stat().st_size, "inputs": ins,
                         "outputs": outs, "licence": LICENCE, "model_card": CARD, "training": training}
    # the metrics (written by the evaluation) stay as they were; a new folder starts with none
    manifest.update(out / "manifest.json", entries,
                    prepare=lambda name, new, old: {**new, "metrics": old.get("metrics", {})})


if __name__ == "__main__":
    raise SystemExit(main())
