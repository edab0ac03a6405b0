"""Train the motion encoder (Predict & Cluster: a seq2seq GRU autoencoder with a fixed-weight
decoder) on synthetic keypoint windows, without labels, and export the encoder to ONNX.

    python -m engines.motion.train.train                      # shipped model (engines/models)
    python -m engines.motion.train.train --smoke --out /tmp/m  # CI: a few steps, seconds

Model (K. Su, X. Liu, E. Shlizerman, *Predict & Cluster: Unsupervised Skeleton Based Action
Recognition*, CVPR 2020, scaled down): encoder = 2-layer bidirectional GRU over 2 s windows
(30 frames at 15 fps, 20 joints x 2 coordinates, standardised inside the graph); its feature =
the final hidden states of both layers and directions concatenated (4 x hidden). Decoder = a GRU
whose hidden state starts at that feature and whose input is its own previous output (no
teacher forcing; zeros at the first step), with its weights FIXED at their random initialisation (the paper's FW strategy): only
a linear read-out after it is trained, so the encoder's final state has to carry the whole
window. Loss: mean squared error of the reconstructed (standardised) window.

Unsupervised: the training windows come from random multi-action sequences (every 7 frames,
windows across transitions included) and their labels are never used for training. The labels
are used after training only for the metadata the run time reads: each action's mean feature
(``prototypes``: the nearest-neighbour action hint) on separate labelled windows, and the change
threshold calibrated on separate multi-action sequences.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CARD = "engines/motion/README.md"
LICENCE = "weights and data: made here (synthetic keypoints from engines/motion/synth.py); same licence as the studio"
DATA = ("synthetic 2-D body keypoints (engines/motion/synth.py kinematic actions: still, walk, side_step, jump, "
        "wave, clap, drum, spin; random person, tempo, amplitude, camera, noise, dropped joints), "
        "random multi-action sequences with seeds 0.., unlabelled")
INPUTS, OUTPUTS = ["windows"], ["feature"]


def build_model(hidden: int, mean: np.ndarray, std: np.ndarray):
    import torch
    from torch import nn

    from engines.motion import infer as M

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mu", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("sd", torch.tensor(std, dtype=torch.float32))
            self.gru = nn.GRU(M.N_IN, hidden, num_layers=2, bidirectional=True, batch_first=True)

        def norm(self, x):
            return (x - self.mu) / self.sd

        def forward(self, x):  # (B, T, N_IN) -> (B, 4 * hidden)
            _, h = self.gru(self.norm(x))
            return h.permute(1, 0, 2).reshape(x.shape[0], -1)

    class FWDecoder(nn.Module):
        """GRU cell with fixed random weights fed its own previous output (no teacher forcing;
        zeros at the first step), hidden state starting at the encoder's feature; trainable
        linear read-out."""

        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(M.N_IN, 4 * hidden)
            for p in self.cell.parameters():
                p.requires_grad_(False)
            self.out = nn.Linear(4 * hidden, M.N_IN)

        def forward(self, h, steps):
            y = h.new_zeros(h.shape[0], M.N_IN)
            h = torch.tanh(h)
            outs = []
            for _ in range(steps):
                h = self.cell(y, h)
                y = self.out(h)
                outs.append(y)
            return torch.stack(outs, 1)

    return Encoder(), FWDecoder()


class Exported:
    """Builds the export wrapper: encoder + feature standardisation (training windows' stats)."""

    @staticmethod
    def wrap(enc, f_mean, f_std):
        import torch
        from torch import nn

        class Wrapped(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = enc
                self.register_buffer("fm", torch.tensor(f_mean, dtype=torch.float32))
                self.register_buffer("fs", torch.tensor(f_std, dtype=torch.float32))

            def forward(self, windows):
                return (self.enc(windows) - self.fm) / self.fs

        return Wrapped()


def encode(enc, x, batch: int = 512) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([enc(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])


def main(argv=None) -> int:
    import torch

    from engines.motion import data as D
    from engines.motion import infer as M
    from engines.motion import synth as S
    from engines.onnx_export import budget_steps, export_onnx

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(MODELS_DIR))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sequences", type=int, default=600, help="random multi-action training sequences")
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--minutes", type=float, default=5.0, help="stop when this time is spent (0: by steps)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.smoke and out.resolve() == MODELS_DIR.resolve():
        raise SystemExit("--smoke writes only into another --out folder (never over the shipped models)")
    if a.smoke:
        a.sequences, a.steps, a.minutes, a.hidden = 6, 3, 0.0, 16
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    seqs = D.sequences(a.sequences, D.TRAIN_SEED + a.seed * 100_000)
    X = D.sequence_windows(seqs)
    frames_all = X.reshape(-1, M.N_IN)
    mean, std = frames_all.mean(0), frames_all.std(0) + 1e-3
    print(f"{len(X)} training windows from {len(seqs)} sequences ({time.time() - t0:.0f} s)", flush=True)
    enc, dec = build_model(a.hidden, mean, std)
    params = [q for q in list(enc.parameters()) + list(dec.parameters()) if q.requires_grad]
    opt = torch.optim.Adam(params, lr=a.lr)
    Xt = torch.from_numpy(X)
    done, loss_v = 0, float("nan")
    for step, lr in budget_steps(a.steps, a.minutes, a.lr):
        for g in opt.param_groups:
            g["lr"] = lr
        x = Xt[rng.integers(0, len(X), a.batch if not a.smoke else 4)]
        target = enc.norm(x)
        rec = dec(enc(x + 0.01 * torch.randn_like(x)), M.WINDOW)
        loss = torch.nn.functional.mse_loss(rec, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        done, loss_v = step + 1, float(loss.item())
        if step % 200 == 0:
            print(f"step {step} loss {loss_v:.4f} ({time.time() - t0:.0f} s)", flush=True)
    enc.eval()
    # feature standardisation, prototypes (labelled windows) and the change threshold (calibration sequences)
    f_train = encode(enc, X)
    f_mean, f_std = f_train.mean(0), f_train.std(0) + 1e-4
    model = Exported.wrap(enc, f_mean, f_std).eval()
    lx, ly = D.labelled_windows(2 if a.smoke else 40, D.TRAIN_SEED + 700_000)
    lf = (encode(enc, lx) - f_mean) / f_std
    protos = {act: np.round(lf[ly == c].mean(0), 4).tolist() for c, act in enumerate(S.ACTIONS)}
    calib = D.sequences(3 if a.smoke else 60, D.TRAIN_SEED + 800_000)
    curves = []
    for kp, _, _ in calib:
        w, _ = M.windows(M.frames(kp))
        curves.append(M.change_curve((encode(enc, w) - f_mean) / f_std))
    threshold = M.calibrate_threshold(curves, [b for _, b, _ in calib])
    f = out / f"{M.MODEL}.onnx"
    meta = {"engine": "motion", "fps": str(M.FPS), "window": str(M.WINDOW), "threshold": f"{threshold:.5f}",
            "actions": ",".join(S.ACTIONS), "prototypes": json.dumps(protos), "decoder": "FW (fixed random weights)"}
    export_onnx(model, (torch.from_numpy(X[:2]),), f, INPUTS, OUTPUTS, meta)
    n_params = sum(q.numel() for q in enc.parameters())
    args = sys.argv[1:] if argv is None else list(argv)
    training = {"command": " ".join(["python -m engines.motion.train.train"] + args), "data": DATA,
                "params": int(n_params), "seed": a.seed, "steps": done, "windows": int(len(X)),
                "final_loss": round(loss_v, 4), "hidden": a.hidden, "threshold": round(threshold, 5),
                "seconds": round(time.time() - t0)}
    from engines import manifest
    from engines.runtime import sha256_of

    entry = {"file": f.name, "sha256": sha256_of(f), "bytes": f.stat().st_size, "inputs": INPUTS,
             "outputs": OUTPUTS, "licence": LICENCE, "model_card": CARD, "training": training}
    manifest.update(out / "manifest.json", {M.MODEL: entry},
                    prepare=lambda name, new, old: {**new, "metrics": old.get("metrics", {})})
    manifest.report_path(out, "motion", "motion_train.json").write_text(json.dumps(training, indent=1) + "\n")
    print(json.dumps(training), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
