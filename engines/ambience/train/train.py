"""Train the ambience token model on codec tokens of recorded sound and export it to ONNX.

    python -m engines.ambience.train --minutes 30            # the shipped model (engines/models)
    python -m engines.ambience.train --smoke --out /tmp/a    # CI: 2 tiny steps on 4 files, seconds

Data: ``engines.ambience.train.data`` (the codec's training files, tokens from the shipped codec,
synthetic visual rows from the audio itself). MaskGIT objective (``model.masked_loss``), AdamW,
warm-up then cosine decay over the time budget; condition dropout (visual 15 %, words 15 %, both
10 % more) so one network is both the conditioned and the unconditioned model (guidance).
Writes ``ambience.onnx`` with its manifest entry, and checks torch against onnxruntime.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from engines.runtime import MODELS_DIR

NAME = "ambience"
CARD = "engines/ambience/README.md"


def export(net, out: Path, meta: dict) -> dict:
    """ambience.onnx (tokens, visual, words, keep -> logits) and the torch/onnxruntime parity."""
    import torch

    from engines.ambience.train.model import Graph
    from engines.onnx_export import export_onnx
    from engines.runtime import open_session, sha256_of

    g = Graph(net).eval()
    T, L, V = net.config["max_frames"], net.levels, net.vocab
    rng = np.random.default_rng(1)
    ex = (torch.from_numpy(rng.integers(0, V + 1, (2, T, L))), torch.from_numpy(rng.random((2, T, 5), np.float32)),
          torch.from_numpy((rng.random((2, net.words.in_features)) < 0.2).astype(np.float32)),
          torch.tensor([1.0, 0.0]))
    f = out / f"{NAME}.onnx"
    ins, outs = ["tokens", "visual", "words", "keep"], ["logits"]
    export_onnx(g, ex, f, ins, outs, meta)
    with torch.no_grad():
        ref = g(*ex).numpy()
    sess = open_session(f)
    got = sess.run(None, {n: t.numpy() for n, t in zip(ins, ex)})[0]
    parity = float(np.abs(ref - got).max())
    return {"file": f.name, "sha256": sha256_of(f), "bytes": f.stat().st_size, "inputs": ins, "outputs": outs,
            "model_card": CARD, "onnx_parity_max_abs": parity}


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(MODELS_DIR))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=30.0, help="stop when this time is spent (0: by steps)")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--emb", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def _data(a, codec, rng):
    from engines.ambience.train.data import Windows, encode_files, silence_tokens
    from engines.codec import data as D

    found, missing = D.files(D.TEST_PACKAGES if a.smoke else None)
    train = [f for f in found if not f.held_out]
    if a.smoke:
        train = [f for f in train if f.category != "music"][:3] + [f for f in train if f.category == "music"][:1]
    if not train:
        raise SystemExit(f"no training sound found; install: {', '.join(missing)} (packaging/debian-deps.sh --train)")
    clips = encode_files(train, codec, max_seconds=20.0 if a.smoke else 60.0, cache=not a.smoke)
    return Windows(clips, silence_tokens(codec), rng), clips, sorted({f.package for f in train}), missing


def main(argv=None) -> int:
    import torch

    from engines import manifest
    from engines.ambience.train.model import AmbienceNet, masked_loss
    from engines.codec import data as D
    from engines.codec.infer import Codec
    from engines.onnx_export import budget_steps

    a = _args(argv)
    out = Path(a.out)
    if a.smoke and manifest.is_shipped(out):
        raise SystemExit("--smoke writes only into another --out folder (never over the shipped models)")
    if a.smoke:
        a.steps, a.minutes, a.batch, a.d, a.emb, a.layers, a.ffn = 2, 0.0, 2, 32, 16, 1, 64
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng, gen = np.random.default_rng(a.seed), torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    windows, clips, packages, missing = _data(a, Codec(), rng)
    hours = sum(c.tokens.shape[1] for c in clips) / 50 / 3600
    print(f"{len(clips)} training clips, {hours:.2f} h of tokens ({time.time() - t0:.0f} s)", flush=True)
    net = AmbienceNet(d=a.d, emb=a.emb, layers=a.layers, ffn=a.ffn, heads=4 if a.d >= 64 else 2)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=0.01)
    t_train, done, ema, log = time.time(), 0, None, []
    for step, lr in budget_steps(a.steps, a.minutes, a.lr, warmup=40):
        for g in opt.param_groups:
            g["lr"] = lr
        tok, vis, words = (torch.from_numpy(x) for x in windows.batch(a.batch))
        drop_both = torch.rand(a.batch, generator=gen) < 0.1
        keep_v = ((torch.rand(a.batch, generator=gen) > 0.15) & ~drop_both).float()
        keep_w = ((torch.rand(a.batch, generator=gen) > 0.15) & ~drop_both).float()
        net.train()
        loss, acc = masked_loss(net, tok, vis, words, keep_v, keep_w, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        done, v = step + 1, float(loss.item())
        ema = v if ema is None else 0.95 * ema + 0.05 * v
        if step % 20 == 0:
            row = {"step": step, "loss": round(v, 4), "avg": round(ema, 4), "acc": round(float(acc), 4),
                   "lr": round(lr, 6), "s": round(time.time() - t0)}
            log.append(row)
            print(json.dumps(row), flush=True)
    train_s = time.time() - t_train
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"config": net.config, "state": net.state_dict()}, out / f"{NAME}.pt") if a.smoke else None
    meta = {"engine": NAME, "window_frames": str(net.config["max_frames"]), "levels": str(net.levels),
            "vocab": str(net.vocab)}
    entry = export(net, out, meta)
    args = sys.argv[1:] if argv is None else list(argv)
    training = {"command": " ".join(["python -m engines.ambience.train"] + args), "seed": a.seed, "steps": done,
                "batch": a.batch, "window_s": 10.0, **net.config,
                "params": int(sum(q.numel() for q in net.parameters())), "train_clips": len(clips),
                "train_hours_tokens": round(hours, 3), "packages": packages, "missing_packages": missing,
                "final_loss_avg": round(float(ema), 4) if ema is not None else None,
                "train_seconds": round(train_s), "seconds": round(time.time() - t0)}
    entry["licence"] = ("weights: made here, trained on codec tokens of " + "; ".join(
        f"{k} ({D.PACKAGES[k][1]})" for k in packages) + "; same licence as the studio")
    entry["training"] = training
    entry["training_data"] = ("codec tokens of the codec's training split (engines/codec/data.py); visual side: "
                              "SYNTHETIC per-second features derived from each window's own audio (no real video pairs)")
    manifest.update(out / "manifest.json", {NAME: entry}, prepare=lambda n, new, old: {**new, "metrics": old.get("metrics", {})})
    if not a.smoke:
        torch.save({"config": net.config, "state": net.state_dict()}, Path("/tmp") / f"{NAME}_weights.pt")
    manifest.report_path(out, NAME, f"{NAME}_train.json").write_text(json.dumps({**training, "log": log}, indent=1) + "\n")
    print(json.dumps({**training, "onnx_parity_max_abs": entry["onnx_parity_max_abs"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
