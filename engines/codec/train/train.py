"""Train the neural audio codec on recorded sound from Debian packages and export it to ONNX.

    python -m engines.codec.train --minutes 35        # the shipped codec (engines/models)
    python -m engines.codec.train --smoke --out /tmp/c   # CI: a few steps on a few files, seconds

Data (``engines.codec.data``): the training files of every installed package, music tracks cut
to ``--max-seconds`` in 10 s excerpts spread over the track, effects whole. Each step draws
``--batch`` 1 s segments at 24 kHz: music with probability 0.6, otherwise an effect / alert /
voice file (there are far fewer of them), a file by its length, a random offset (nearly silent
draws are drawn again), at a random loudness (RMS -35 to -15 dBFS, peak kept under 1).
Loss: multi-resolution STFT + log-mel L1 on the decoded waveform + 0.25 x the commitment loss
(model: ``engines.codec.train.model``). Adam, warm-up then cosine decay over the time budget.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from engines.codec import data as D
from engines.codec import dsp

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CARD = "engines/codec/README.md"
ENCODER, DECODER = "codec_encoder", "codec_decoder"
SEG = dsp.SR  # 1 s training segments (a multiple of TOKEN_HOP)


class Bank:
    def __init__(self, files, max_seconds: float, rng):
        self.rng = rng
        self.clips = {"music": [], "other": []}
        for f in files:
            x = D.decode(f.path, max_seconds)
            if len(x) >= SEG // 4:
                self.clips["music" if f.category == "music" else "other"].append(x)
        self.all = [c for v in self.clips.values() for c in v]

    def segment(self) -> np.ndarray:
        group = self.clips["music"] if (self.rng.random() < 0.6 or not self.clips["other"]) else self.clips["other"]
        if not group:
            group = self.all
        lens = np.array([len(c) for c in group], float)
        for _ in range(10):
            c = group[int(self.rng.choice(len(group), p=lens / lens.sum()))]
            if len(c) < SEG:
                c = np.pad(c, (0, SEG - len(c)))
            s = int(self.rng.integers(0, len(c) - SEG + 1))
            x = c[s:s + SEG].astype(np.float32)
            rms = float(np.sqrt(np.mean(x ** 2)))
            if rms > 1e-3:
                break
        gain = 10 ** (self.rng.uniform(-35, -15) / 20) / max(rms, 1e-4)
        gain = min(gain, 0.99 / max(float(np.abs(x).max()), 1e-6))
        return x * np.float32(gain)

    def batch(self, n: int) -> np.ndarray:
        return np.stack([self.segment() for _ in range(n)])


def export(codec, out: Path, meta: dict) -> dict:
    import torch

    from engines.codec.train.model import DecodeGraph, EncodeGraph
    from engines.onnx_export import export_onnx
    from engines.runtime import sha256_of

    codec.eval()
    T = 50
    specs = {ENCODER: (EncodeGraph(codec), (torch.zeros(1, dsp.FEATURES, 2 * T),), ["features"], ["codes"]),
             DECODER: (DecodeGraph(codec), (torch.zeros(1, codec.rvq.n_q, T, dtype=torch.int64),), ["codes"],
                       ["real", "imag"])}
    entries = {}
    for name, (graph, ex, ins, outs) in specs.items():
        f = out / f"{name}.onnx"
        export_onnx(graph, ex, f, ins, outs, {**meta, "graph": name}, time_axis=True)
        entries[name] = {"file": f.name, "sha256": sha256_of(f), "bytes": f.stat().st_size,
                         "inputs": ins, "outputs": outs, "model_card": CARD}
    return entries


def main(argv=None) -> int:
    import torch

    from engines import manifest
    from engines.codec.train.model import Codec, Losses, torch_features, torch_istft
    from engines.onnx_export import budget_steps

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(MODELS_DIR))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=35.0, help="stop when this time is spent (0: by steps)")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--codebooks", type=int, default=8)
    p.add_argument("--entries", type=int, default=1024)
    p.add_argument("--max-seconds", type=float, default=60.0, help="per training file")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.smoke and manifest.is_shipped(out):
        raise SystemExit("--smoke writes only into another --out folder (never over the shipped models)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    found, missing = D.files(D.TEST_PACKAGES if a.smoke else None)
    train = [f for f in found if not f.held_out]
    if a.smoke:
        train = [f for f in train if f.category != "music"][:3] + [f for f in train if f.category == "music"][:1]
        a.steps, a.minutes, a.width, a.dim, a.blocks, a.batch, a.entries, a.max_seconds = 3, 0.0, 32, 16, 1, 2, 16, 5.0
    if not train:
        raise SystemExit(f"no training sound found; install: {', '.join(missing)} (packaging/debian-deps.sh --train)")
    bank = Bank(train, a.max_seconds, rng)
    hours = D.hours(bank.all)
    print(f"{len(bank.all)} training files, {hours:.2f} h decoded ({time.time() - t0:.0f} s); missing: {missing}", flush=True)
    codec = Codec(a.width, a.dim, a.blocks, a.codebooks, a.entries)
    losses = Losses()
    opt = torch.optim.AdamW([q for q in codec.parameters()], lr=a.lr, weight_decay=1e-4)
    t_train, done, ema, log = time.time(), 0, None, []
    for step, lr in budget_steps(a.steps, a.minutes, a.lr, warmup=200):
        for g in opt.param_groups:
            g["lr"] = lr
        x = torch.from_numpy(bank.batch(a.batch))
        zq, commit, restarts = codec.rvq(codec.enc(torch_features(x)))
        y = torch_istft(*codec.dec(zq), SEG)
        mr, mel = losses(x, y)
        loss = mr + mel + 0.25 * commit
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        done, v = step + 1, float(loss.item())
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        if step % 100 == 0:
            row = {"step": step, "loss": round(v, 4), "avg": round(ema, 4), "mr_stft": round(mr.item(), 4),
                   "mel": round(mel.item(), 4), "commit": round(float(commit.item()), 5), "restarts": restarts,
                   "s": round(time.time() - t0)}
            log.append(row)
            print(json.dumps(row), flush=True)
    bitrate = a.codebooks * np.log2(a.entries) * dsp.SR / dsp.TOKEN_HOP
    meta = {"engine": "codec", "sample_rate": str(dsp.SR), "n_fft": str(dsp.N_FFT), "hop": str(dsp.HOP),
            "token_hop": str(dsp.TOKEN_HOP), "codebooks": str(a.codebooks), "entries": str(a.entries)}
    entries = export(codec, out, meta)
    args = sys.argv[1:] if argv is None else list(argv)
    training = {"command": " ".join(["python -m engines.codec.train"] + args), "seed": a.seed, "steps": done,
                "batch": a.batch, "segment_s": SEG / dsp.SR, "width": a.width, "dim": a.dim, "blocks": a.blocks,
                "codebooks": a.codebooks, "entries": a.entries, "bitrate_bps": float(bitrate),
                "params": int(sum(q.numel() for q in codec.parameters())),
                "train_files": len(bank.all), "train_hours": round(hours, 3),
                "packages": sorted({f.package for f in train}), "missing_packages": missing,
                "final_loss_avg": round(float(ema), 4) if ema is not None else None,
                "train_seconds": round(time.time() - t_train), "seconds": round(time.time() - t0)}
    licence = ("weights: made here, trained on " + "; ".join(f"{k} ({D.PACKAGES[k][1]})" for k in training["packages"])
               + "; same licence as the studio")
    for e in entries.values():
        e.update(licence=licence, training=training)
    manifest.update(out / "manifest.json", entries, prepare=lambda n, new, old: {**new, "metrics": old.get("metrics", {})})
    manifest.report_path(out, "codec", "codec_train.json").write_text(json.dumps({**training, "log": log}, indent=1) + "\n")
    print(json.dumps(training), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
