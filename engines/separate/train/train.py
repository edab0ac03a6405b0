"""Train the separation network by mix-and-separate on rendered performances and export it to ONNX.

    python -m engines.separate.train.train                   # the player model (engines/models)
    python -m engines.separate.train.train --audio-only      # the audio-only baseline, same recipe
    python -m engines.separate.train.train --smoke --out /tmp/s   # CI: a few steps, seconds

Mix-and-separate (H. Zhao et al., *The Sound of Pixels*, ECCV 2018; C. Gan et al., *Music
Gesture for Visual Sound Separation*, CVPR 2020, whose condition is the player's body keypoints):
sources are rendered performances (``engines.separate.data``: notes -> FluidSynth audio, the
same notes -> the performer engine's player keypoints); each step mixes 2 or 3 sources of
different instruments at random levels (dynamic mixing: new mixtures every step) and the network
recovers the first one's magnitude from the mixture's, told which player by its keypoints.

Network (both models, ``build_model``): the mixture's log-magnitude STFT (257 bins as channels)
-> 1x1 conv -> ``blocks`` residual blocks (group norm, dilated temporal conv k=3, dilations
1, 2, 4, 8, ..., GELU, 1x1 conv) -> 1x1 conv -> sigmoid mask per bin and frame. Player model: a
motion encoder (two temporal convs over the keypoint features at the STFT frame rate) is added
to the input and modulates every block (FiLM: h * (1 + gamma) + beta). Audio-only baseline: no
motion branch; it cannot know which player is asked for, so it outputs ``MAX_SOURCES`` masks and
is trained permutation-invariantly (the best assignment of its masks to the sources, silent
targets for absent sources). Loss: L1 between mask x mixture magnitude and the source's
magnitude, divided by the mixture's mean magnitude.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CARD = "engines/separate/README.md"
LICENCE = ("weights and data: made here (random notes rendered with Fluid R3 GM, MIT licence; "
           "synthetic player keypoints from engines/performer/gestures.py); same licence as the studio")
DATA = ("synthetic mix-and-separate: 4 s performances of random notes (drums, guitar, violin, piano; "
        "GM programs of Fluid R3 GM via FluidSynth, 11025 Hz mono) with the performer engine's "
        "keypoints of a player playing those notes; 2 or 3 sources of different instruments mixed "
        "at +-5 dB, new mixtures every step; source seeds 0..")
PLAYER, AUDIO_ONLY = "separate_player", "separate_audio_only"
MAX_SOURCES = 3


def build_model(width: int, blocks: int, cond: bool, n_out: int, stats: dict):
    import torch
    from torch import nn

    from engines.separate import dsp

    class Block(nn.Module):
        def __init__(self, dil):
            super().__init__()
            self.norm = nn.GroupNorm(1, width)
            self.conv = nn.Conv1d(width, width, 3, padding=dil, dilation=dil)
            self.mix = nn.Conv1d(width, width, 1)

        def forward(self, x):
            return self.mix(nn.functional.gelu(self.conv(self.norm(x))))

    class SepNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.cond = cond
            self.register_buffer("mu", torch.tensor(stats["mag_mean"], dtype=torch.float32))
            self.register_buffer("sd", torch.tensor(stats["mag_std"], dtype=torch.float32))
            self.inp = nn.Conv1d(dsp.N_BINS, width, 1)
            self.blocks = nn.ModuleList([Block(2 ** (i % 4)) for i in range(blocks)])
            self.out = nn.Conv1d(width, n_out * dsp.N_BINS, 1)
            if cond:
                self.register_buffer("m_mu", torch.tensor(stats["motion_mean"], dtype=torch.float32))
                self.register_buffer("m_sd", torch.tensor(stats["motion_std"], dtype=torch.float32))
                self.menc = nn.Sequential(nn.Conv1d(dsp.MOTION_DIM, 64, 5, padding=2), nn.GELU(),
                                          nn.Conv1d(64, 64, 5, padding=4, dilation=2), nn.GELU())
                self.mproj = nn.Conv1d(64, width, 1)
                self.films = nn.ModuleList([nn.Conv1d(64, 2 * width, 1) for _ in range(blocks)])

        def forward(self, mixture, motion=None):  # (B, F, T) log-magnitude, (B, T, MOTION_DIM)
            x = self.inp((mixture - self.mu) / self.sd)
            m = None
            if self.cond:
                m = self.menc(((motion - self.m_mu) / self.m_sd).transpose(1, 2))
                x = x + self.mproj(m)
            for i, b in enumerate(self.blocks):
                h = b(x)
                if m is not None:
                    g, beta = self.films[i](m).chunk(2, 1)
                    h = h * (1 + g) + beta
                x = x + h
            y = torch.sigmoid(self.out(x))
            return y.reshape(x.shape[0], n_out, dsp.N_BINS, -1)

    return SepNet()


class Bank:
    """Training sources as complex STFTs and motion features, grouped by instrument; draws
    batches of mixtures (dynamic mixing)."""

    def __init__(self, srcs, rng, same_instrument: float = 0.0):
        from engines.separate import data as D
        from engines.separate import dsp

        self.rng, self.same = rng, same_instrument
        self.spec = np.stack([dsp.stft(s.audio) for s in srcs])  # (N, F, T) complex64
        t = self.spec.shape[-1]
        self.motion = np.stack([dsp.motion_features(s.kp, t) for s in srcs])  # (N, T, D)
        self.by_inst = [np.array([i for i, s in enumerate(srcs) if s.instrument == name])
                        for name in D.INSTRUMENTS]

    def batch(self, size: int):
        """(mixture log-mag (B, F, T), mixture mag, source mags (B, MAX_SOURCES, F, T) with the
        chosen player first and silent rows for absent sources, the player's motion (B, T, D))."""
        from engines.separate import dsp

        B, (_, F, T) = size, self.spec.shape
        mix = np.zeros((B, F, T), np.complex64)
        mags = np.zeros((B, MAX_SOURCES, F, T), np.float32)
        motion = np.zeros((B, T, self.motion.shape[-1]), np.float32)
        for b in range(B):
            n = int(self.rng.integers(2, MAX_SOURCES + 1))
            inst = self.rng.permutation(len(self.by_inst))[:n]
            if self.rng.random() < self.same:  # players of one instrument: only the motion tells them apart
                inst = np.full(n, inst[0])
            idx = [int(i) for i in self.rng.choice(self.by_inst[inst[0]], n, replace=False)] \
                if self.same and len(set(inst.tolist())) == 1 else [int(self.rng.choice(self.by_inst[i])) for i in inst]
            gains = 10 ** (self.rng.uniform(-5, 5, n) / 20)
            for k, (i, g) in enumerate(zip(idx, gains)):
                s = self.spec[i] * np.float32(g)
                mix[b] += s
                mags[b, k] = np.abs(s)
            motion[b] = self.motion[idx[0]]
        return dsp.log_magnitude(mix), np.abs(mix), mags, motion


def stats_of(bank: Bank) -> dict:
    from engines.separate import dsp

    lm, _, _, _ = bank.batch(64)
    m = bank.motion.reshape(-1, bank.motion.shape[-1])
    return {"mag_mean": float(lm.mean()), "mag_std": float(lm.std()),
            "motion_mean": m.mean(0).astype(np.float32), "motion_std": (m.std(0) + 1e-2).astype(np.float32),
            "frames": int(bank.spec.shape[-1]), "bins": dsp.N_BINS}


def loss_fn(masks, mix_mag, mags, pit: bool):
    """L1 of mask x mixture magnitude against the source magnitude / mean mixture magnitude.
    ``pit``: masks (B, K, F, T) against all K sources under the best permutation; else mask 0
    against source 0 (the chosen player)."""
    import torch

    scale = mix_mag.mean(dim=(1, 2)).clamp_min(1e-4)[:, None]
    est = masks * mix_mag[:, None]
    if not pit:
        return ((est[:, 0] - mags[:, 0]).abs().mean(dim=(1, 2)) / scale[:, 0]).mean()
    pair = (est[:, :, None] - mags[:, None]).abs().mean(dim=(3, 4)) / scale[:, :, None]  # (B, out, src)
    k = mags.shape[1]
    per = torch.stack([sum(pair[:, p[j], j] for j in range(k)) / k for p in itertools.permutations(range(k))], 1)
    return per.min(1).values.mean()


def main(argv=None) -> int:
    import torch

    from engines import manifest
    from engines.onnx_export import budget_steps, export_onnx
    from engines.runtime import sha256_of
    from engines.separate import data as D
    from engines.separate import dsp

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(MODELS_DIR))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--audio-only", action="store_true", help="the baseline: no visual condition, PIT")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sources", type=int, default=4000, help="rendered training performances")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--blocks", type=int, default=8)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--minutes", type=float, default=6.0, help="stop when this time is spent (0: by steps)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--same-instrument", type=float, default=0.0, metavar="P",
                   help="share of training mixtures whose players play one instrument (default 0)")
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.smoke and out.resolve() == MODELS_DIR.resolve():
        raise SystemExit("--smoke writes only into another --out folder (never over the shipped models)")
    if a.smoke:
        a.sources, a.steps, a.minutes, a.width, a.blocks, a.batch = 12, 3, 0.0, 16, 2, 4
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    bank = Bank(D.sources(a.sources, D.TRAIN_SEED + a.seed * 100_000), rng, a.same_instrument)
    stats = stats_of(bank)
    print(f"{a.sources} training sources rendered ({time.time() - t0:.0f} s)", flush=True)
    cond = not a.audio_only
    name = PLAYER if cond else AUDIO_ONLY
    model = build_model(a.width, a.blocks, cond, 1 if cond else MAX_SOURCES, stats)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    t_train = time.time()
    done, loss_v, ema = 0, float("nan"), None
    for step, lr in budget_steps(a.steps, a.minutes, a.lr):
        for g in opt.param_groups:
            g["lr"] = lr
        lm, mm, mags, motion = (torch.from_numpy(x) for x in bank.batch(a.batch))
        masks = model(lm, motion if cond else None)
        loss = loss_fn(masks, mm, mags, pit=not cond)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done, loss_v = step + 1, float(loss.item())
        ema = loss_v if ema is None else 0.98 * ema + 0.02 * loss_v
        if step % 100 == 0:
            print(f"step {step} loss {loss_v:.4f} (avg {ema:.4f}) ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    T = stats["frames"]
    f = out / f"{name}.onnx"
    inputs = ["mixture", "motion"] if cond else ["mixture"]
    outputs = ["mask"] if cond else ["masks"]
    ex = (torch.zeros(1, dsp.N_BINS, T), torch.zeros(1, T, dsp.MOTION_DIM)) if cond else (torch.zeros(1, dsp.N_BINS, T),)
    meta = {"engine": "separate", "sample_rate": str(dsp.SR), "n_fft": str(dsp.N_FFT), "hop": str(dsp.HOP),
            "frames": str(T), "outputs": str(1 if cond else MAX_SOURCES), "condition": "keypoints" if cond else "none"}
    export_onnx(model, ex, f, inputs, outputs, meta)
    n_params = sum(q.numel() for q in model.parameters())
    args = sys.argv[1:] if argv is None else list(argv)
    training = {"command": " ".join(["python -m engines.separate.train.train"] + args), "data": DATA,
                "soundfont": Path(D.soundfont()).name, "params": int(n_params), "seed": a.seed, "steps": done,
                "sources": a.sources, "same_instrument": a.same_instrument, "batch": a.batch, "width": a.width, "blocks": a.blocks,
                "final_loss_avg": round(float(ema), 4) if ema is not None else None,
                "train_seconds": round(time.time() - t_train), "seconds": round(time.time() - t0)}
    entry = {"file": f.name, "sha256": sha256_of(f), "bytes": f.stat().st_size, "inputs": inputs,
             "outputs": outputs, "licence": LICENCE, "model_card": CARD, "training": training}
    manifest.update(out / "manifest.json", {name: entry},
                    prepare=lambda n, new, old: {**new, "metrics": old.get("metrics", {})})
    manifest.report_path(out, "separate", f"{name}_train.json").write_text(json.dumps(training, indent=1) + "\n")
    print(json.dumps(training), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
