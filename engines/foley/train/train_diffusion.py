"""Train the Physics-Diff style parameter denoiser and export it to ONNX.

    python -m engines.foley.train.train_diffusion --out engines/models/foley_diffusion.onnx
    python -m engines.foley.train.train_diffusion --smoke --out /tmp/f/foley_diffusion.onnx   # CI

rebuilds the shipped model (CPU, one thread, ~10 min) and its manifest entry. DDPM with the
cosine schedule (``engines.foley.schedule``), epsilon prediction, L1 loss, on packed parameter
vectors standardised per dimension; conditioned on material (embedding), size, strength and the
visual descriptor of the impact region, which is dropped (has_visual = 0) for 30 % of the
examples so the model also samples without a picture. Weights are an exponential moving average
(0.999) of the trained ones. Data: ``engines.foley.train.data`` (DSP presets, made here).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from engines.foley.params import VECTOR_DIM
from engines.foley.schedule import SAMPLE_T_MAX, T_STEPS, alpha_bar
from engines.foley.train import data as fdata
from engines.manifest import update_entry
from engines.onnx_export import export_onnx
from engines.foley.train.model import COND_DIM, Denoiser
from engines.foley.train.textures import MATERIAL_NAMES
from engines.runtime import MODELS_DIR, sha256_of

VERSION = "1"
DEFAULT_SAMPLE_STEPS = 8
VISUAL_DROPOUT = 0.3


def train(per_material: int, steps: int, batch: int, width: int, depth: int, seed: int,
          lr: float = 2e-3, patches: int = 200, log=print):
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    ds = fdata.make(per_material, fdata.TRAIN_SEED + seed, patches)
    log(f"data: {len(ds)} preset vectors in {time.perf_counter() - t0:.1f} s")
    x_mean = ds.x0.mean(0)
    x_std = np.maximum(ds.x0.std(0), 0.05)
    v_mean, v_std = ds.visual.mean(0), np.maximum(ds.visual.std(0), 1e-3)
    xs = torch.from_numpy((ds.x0 - x_mean) / x_std)
    mat = torch.from_numpy(ds.material)
    cond = torch.from_numpy(np.concatenate([ds.size[:, None], ds.strength[:, None],
                                            np.ones((len(ds), 1), np.float32), ds.visual], 1))
    ab = torch.from_numpy(alpha_bar().astype(np.float32))
    model = Denoiser(width, depth, v_mean, v_std)
    ema = Denoiser(width, depth, v_mean, v_std)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / 200) * (0.005 + 0.995 * 0.5 * (1 + math.cos(math.pi * k / steps))))
    g = torch.Generator().manual_seed(seed)
    n = len(ds)
    losses = []
    t1 = time.perf_counter()
    for k in range(steps):
        idx = torch.randint(0, n, (batch,), generator=g)
        x0, c = xs[idx], cond[idx].clone()
        drop = torch.rand(batch, generator=g) < VISUAL_DROPOUT
        c[drop, 2:] = 0.0
        t = torch.randint(0, T_STEPS, (batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = ab[t][:, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        loss = (model(x_t, t.float(), mat[idx], c) - eps).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            d = min(0.999, (1 + k) / (10 + k))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        losses.append(loss.item())
        if (k + 1) % max(1, steps // 10) == 0:
            log(f"step {k + 1}/{steps}  L1 {np.mean(losses[-200:]):.4f}  {time.perf_counter() - t1:.0f} s")
    info = {"examples": len(ds), "per_material": per_material, "steps": steps, "batch": batch,
            "final_l1": round(float(np.mean(losses[-200:])), 4),
            "train_wall_s": round(time.perf_counter() - t0, 1)}
    return ema.eval(), x_mean, x_std, ds.x0.min(0) - 0.05, ds.x0.max(0) + 0.05, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR / "foley_diffusion.onnx")
    ap.add_argument("--per-material", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--manifest", type=Path, default=None,
                    help="manifest to update (default: the one beside --out when --out is in engines/models)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--patches", type=int, default=200, help="procedural patches per material for the visual condition")
    ap.add_argument("--smoke", action="store_true", help="3 steps on 4 presets per material, batch 16 (tests); "
                    "needs --out outside engines/models, writes a manifest beside it")
    a = ap.parse_args(argv)
    if a.smoke:
        from engines.foley.train.train_material import smoke_guard

        smoke_guard(a)
        a.per_material, a.steps, a.batch, a.patches = min(a.per_material, 4), min(a.steps, 3), min(a.batch, 16), 3
    torch.set_num_threads(a.threads)
    model, x_mean, x_std, x_min, x_max, info = train(a.per_material, a.steps, a.batch, a.width, a.depth, a.seed,
                                                     patches=a.patches)
    config = {"vector_dim": VECTOR_DIM, "cond_dim": COND_DIM, "width": a.width, "depth": a.depth,
              "t_steps": T_STEPS, "schedule": "cosine s=0.008", "prediction": "epsilon", "loss": "L1",
              "sample_steps": DEFAULT_SAMPLE_STEPS, "materials": list(MATERIAL_NAMES),
              "x_mean": [round(float(v), 6) for v in x_mean], "x_std": [round(float(v), 6) for v in x_std],
              "x_min": [round(float(v), 6) for v in x_min], "x_max": [round(float(v), 6) for v in x_max],
              "sample_t_max": SAMPLE_T_MAX,
              "visual_dropout": VISUAL_DROPOUT, "seed": a.seed, **info}
    b = 4
    args = (torch.zeros(b, VECTOR_DIM), torch.full((b,), 10.0), torch.zeros(b, dtype=torch.int64),
            torch.full((b, COND_DIM), 0.5))
    export_onnx(model, args, a.out, ["x_t", "t", "material", "cond"], ["eps"],
                {"version": VERSION, "config": json.dumps(config), "producer": "engines.foley.train.train_diffusion"})
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB, {n_params} parameters)")
    manifest = a.manifest or (a.out.parent / "manifest.json" if a.out.parent.resolve() == MODELS_DIR.resolve() else None)
    if manifest is not None:
        update_entry("foley_diffusion", {
            "file": a.out.name, "sha256": sha256_of(a.out), "inputs": ["x_t", "t", "material", "cond"],
            "outputs": ["eps"], "version": VERSION, "parameters": n_params,
            "size_bytes": a.out.stat().st_size,
            "training_data": f"{info['examples']} physics-parameter vectors sampled here from the Foley DSP "
                             "material presets (engines/foley/materials.py, random size/strength/seed), "
                             "visual descriptors of procedural texture patches (engines/foley/train/textures.py); "
                             "made by this project, MIT like the code",
            "licence": "MIT (trained here from project-made data)",
            "rebuild": "python -m engines.foley.train.train_diffusion --out engines/models/foley_diffusion.onnx",
            "training": info,
        }, manifest, keep=("metrics",))
        print(f"updated {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
