"""Train the groove U-Net (hits + activation + style -> velocity and micro-timing offset per
hit) and export ``rhythm_groove.onnx``.

    python -m engines.rhythm.train.train_groove               # rebuilds the shipped model
    python -m engines.rhythm.train.train_groove --smoke --out /tmp/groove
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from engines.manifest import report_path
from engines.rhythm import vocab as V
from engines.rhythm.train import common, data_drums as dd
from engines.rhythm.train.train_rhythm2drum import DATA, split

C_IN = V.N_VOICES + 1 + len(V.STYLES)
CFG = dict(c_in=C_IN, c=32, voices=V.N_VOICES)


def unet_input(hits: np.ndarray, act: np.ndarray, style: np.ndarray) -> np.ndarray:
    """hits (B, 9, 16), act (B, 16), style (B,) int -> (B, 16 channels, 16) float32."""
    b = hits.shape[0]
    sty = np.zeros((b, len(V.STYLES), V.STEPS), np.float32)
    sty[np.arange(b), np.asarray(style, int)] = 1.0
    return np.concatenate([hits.astype(np.float32), act[:, None].astype(np.float32), sty], axis=1)


def batch(bars, rng, n, aug=True):
    hits, act, sty, vel, off = [], [], [], [], []
    idx = rng.integers(0, len(bars), n) if aug else np.arange(len(bars))
    for i in idx:
        b = dd.augment(bars[i], rng) if aug else bars[i]
        a = dd.activation_of(b["hits"], b["vel"])
        hits.append(b["hits"])
        act.append(dd.noisy_activation(a, rng) if aug else a)
        sty.append(V.STYLES.index(b["style"]))
        vel.append(b["vel"])
        off.append(b["off"])
    hits = np.stack(hits)
    return unet_input(hits, np.stack(act), np.array(sty)), hits, np.stack(vel), np.stack(off)


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0], steps=3000).parse_args(argv)
    common.setup(args)
    import torch

    from engines.rhythm.train.models import GrooveUNet, export_onnx, n_params

    timer = common.Timer()
    train, test = split(args.smoke)
    rng = np.random.default_rng(args.seed)
    model = GrooveUNet(**CFG)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    sched = common.schedule(opt, args.steps)
    tx, th, tv, to = (torch.from_numpy(x) for x in batch(test or train, rng, 0, aug=False))
    log = []

    def loss_of(x, h, v, o):
        pv, po = model(x)
        n = h.sum().clamp(min=1)
        return ((pv - v) ** 2 * h).sum() / n, ((po - o) ** 2 * h).sum() / n

    for step in range(args.steps):
        model.train()
        x, h, v, o = (torch.from_numpy(a) for a in batch(train, rng, 64))
        lv, lo = loss_of(x, h, v, o)
        loss = lv + lo
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            model.eval()
            with torch.no_grad():
                hv, ho = loss_of(tx, th, tv, to)
            log.append({"step": step, "train_vel_mse": round(lv.item(), 5), "train_off_mse": round(lo.item(), 5),
                        "heldout_vel_mse": round(hv.item(), 5), "heldout_off_mse": round(ho.item(), 5),
                        "wall_s": timer.s()})
            print(json.dumps(log[-1]), file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"engine": "rhythm", "model": "rhythm_groove", "config": json.dumps(CFG), "steps": args.steps}
    export_onnx(model, (tx[:2],), out / "rhythm_groove.onnx", ["x"], ["velocity", "offset"],
                {"x": {0: "batch"}, "velocity": {0: "batch"}, "offset": {0: "batch"}}, meta)
    info = {"params": n_params(model), "heldout_bars": len(test), "log": log, "wall_s": timer.s()}
    report_path(out, "rhythm", "rhythm_groove_train.json").write_text(json.dumps(info, indent=1))
    if common.is_shipped(out):
        common.update_manifest({"rhythm_groove": {
            "file": "rhythm_groove.onnx", "inputs": ["x"], "outputs": ["velocity", "offset"],
            "training": {"data": DATA, "steps": args.steps, "seed": args.seed, "params": info["params"],
                         "command": "python -m engines.rhythm.train.train_groove"}}})
    print(json.dumps({k: v for k, v in info.items() if k != "log"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
