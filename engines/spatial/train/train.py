"""Train one room's neural acoustic field from teacher data, export it to ONNX, evaluate it on
held-out positions and write its manifest entry.

    python -m engines.spatial.train.train ROOM [--data NPZ] [--out DIR] [--minutes M] [--steps N]
    python -m engines.spatial.train.train studio --smoke --out /tmp/s   # CI: 6 + 2 positions, 3 steps

``--out`` defaults to ``engines/models`` (the shipped fields); tests pass a temporary folder.
Without ``--data`` the teacher data is simulated first (``data.make``). Single-threaded torch.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from engines.spatial import dsp
from engines.spatial.rooms import bounce_points, room as get_room
from engines.spatial.train import export

N_BOUNCE = 48
# waveform MSE weight next to the multi-resolution STFT loss (weight 1): the early part's fine
# structure is only partly predictable, and a large MSE weight shrinks its level
MSE_WEIGHT = 0.02


def _teacher_equalised() -> bool:
    from engines.spatial.hrtf import default_hrtf

    return default_hrtf().equalised


def _metrics(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Mean absolute errors of C50 (dB), T60 (%), EDT (s) over IRs (M, 2, n) and both ears."""
    c50, t60, edt = [], [], []
    for p, r in zip(pred, ref):
        for e in range(2):
            c50.append(abs(dsp.c50_db(p[e]) - dsp.c50_db(r[e])))
            tr, tp = dsp.t60_s(r[e]), dsp.t60_s(p[e])
            if np.isfinite(tr) and np.isfinite(tp):
                t60.append(abs(tp - tr) / tr * 100)
            er, ep = dsp.edt_s(r[e]), dsp.edt_s(p[e])
            if np.isfinite(er) and np.isfinite(ep):
                edt.append(abs(ep - er))
    return {"c50_error_db": float(np.mean(c50)), "t60_error_pct": float(np.mean(t60)),
            "edt_error_s": float(np.mean(edt))}


def evaluate(onnx_path: Path, hrir_path: Path, data: dict) -> dict:
    """Field vs teacher on the held-out positions, plus the representation's ceiling (teacher
    early part and fitted tail through the same assembly) and the query time."""
    from engines.runtime import open_session
    from engines.spatial.infer import assemble, head_vectors

    sess = open_session(onnx_path, intra_threads=1)
    hs = open_session(hrir_path, intra_threads=1)
    n_train = int(data["n_train"])
    pos = data["pos"][n_train:]
    full = data["test_full"]
    n = full.shape[-1]
    src, lis, yaw = pos[:, 0:3], pos[:, 3:6], pos[:, 6:7]
    early, tail = sess.run(None, {"src": src, "lis": lis, "yaw": yaw})
    hrir = hs.run(None, {"dir": head_vectors(src, lis, yaw).astype(np.float32)})[0]
    dist = np.linalg.norm(src - lis, axis=-1)
    pred = np.stack([assemble(early[i], tail[i], hrir[i], dist[i], n) for i in range(len(pos))])
    ceil = np.stack([assemble(data["early"][n_train + i], data["tail"][n_train + i], hrir[i], dist[i], n)
                     for i in range(len(pos))])
    out = {"field": _metrics(pred, full), "ceiling": _metrics(ceil, full)}
    # query time: one position at a time, ONNX runs + assembly, median of 50
    times = []
    for i in range(50):
        j = i % len(pos)
        t0 = time.perf_counter()
        e, t = sess.run(None, {"src": src[j:j + 1], "lis": lis[j:j + 1], "yaw": yaw[j:j + 1]})
        h = hs.run(None, {"dir": head_vectors(src[j:j + 1], lis[j:j + 1], yaw[j:j + 1]).astype(np.float32)})[0]
        assemble(e[0], t[0], h[0], dist[j], n)
        times.append(time.perf_counter() - t0)
    out["query_ms"] = float(np.median(times) * 1000)
    out["n_test"] = int(len(pos))
    return out


def train(room_name: str, data: dict, out_dir: Path, *, steps: int = 3000, minutes: float = 12.0,
          batch: int = 24, lr: float = 2e-3, seed: int = 0, mse_weight: float = MSE_WEIGHT,
          hidden: int = 256, n_basis: int = 128, feat: int = 64, log=print) -> dict:
    import torch

    from engines.spatial.train.model import INRAS, envelope_loss, mrstft_loss

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    r = get_room(room_name)
    n_train = int(data["n_train"])
    pos = torch.as_tensor(data["pos"][:n_train])
    early = np.asarray(data["early"][:n_train], np.float32)
    tail = np.asarray(data["tail"][:n_train], np.float32)
    tail = np.maximum(tail, np.array([-160.0, -1500.0], np.float32))
    scale = float(early.std()) or 1.0
    t_mean, t_std = tail.mean(0), tail.std(0) + np.array([1.0, 5.0], np.float32)
    T = early.shape[-1]
    model = INRAS(r.dims, bounce_points(r, N_BOUNCE), T, dsp.N_BANDS, feat=feat, hidden=hidden,
                  n_basis=n_basis, early_scale=scale, tail_mean=t_mean, tail_std=t_std)
    n_params = int(sum(p.numel() for p in model.parameters()))
    e_t = torch.as_tensor(early / scale)
    tl_t = torch.as_tensor((tail - t_mean) / t_std)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    deadline = t0 + 60 * minutes
    done = 0
    history = []
    for step in range(steps):
        # cosine decay over whichever budget (steps or minutes) runs out first
        frac = min(1.0, max(step / max(1, steps - 1), (time.perf_counter() - t0) / (60 * minutes)))
        for g in opt.param_groups:
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        idx = torch.as_tensor(rng.choice(n_train, size=min(batch, n_train), replace=False))
        p = pos[idx]
        pe, pt = model.normalised(p[:, 0:3], p[:, 3:6], p[:, 6:7])
        mse = torch.mean((pe - e_t[idx]) ** 2)
        stft = mrstft_loss(pe, e_t[idx], sizes=(128, 256, 512))
        tl = torch.mean((pt - tl_t[idx]) ** 2)
        env = envelope_loss(pe, e_t[idx])
        loss = mse_weight * mse + stft + env + tl
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = step + 1
        if step % 100 == 0 or step == steps - 1:
            history.append([step, mse.item(), stft.item(), env.item(), tl.item()])
            if log:
                log(f"{room_name} step {step}: mse {mse.item():.4f} stft {stft.item():.4f} env {env.item():.4f} "
                    f"tail {tl.item():.4f} "
                    f"({time.perf_counter() - t0:.0f} s)")
        if time.perf_counter() > deadline:
            break
    train_s = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"spatial_{r.name}"
    onnx_path = out_dir / f"{name}.onnx"
    meta = {"room": r.name, "dims_m": json.dumps(list(r.dims)), "field_rate": dsp.FIELD_RATE,
            "early_s": dsp.EARLY_S, "ir_rate": dsp.IR_RATE, "ir_s": r.ir_s, "bounce_points": N_BOUNCE,
            "version": "1", "hrtf_eq": "diffuse-field (teacher)" if _teacher_equalised() else "none"}
    export.export_field(model, onnx_path, meta)
    hrir_path = out_dir / "spatial_hrir.onnx"
    hrir_info = export.build_hrir_onnx(hrir_path)
    ev = evaluate(onnx_path, hrir_path, data)
    n_ir = int(data["test_full"].shape[-1])
    table_mb = n_train * 2 * n_ir * 4 / 1e6
    metrics = {**{k: round(v, 4) for k, v in ev["field"].items()},
               "ceiling": {k: round(v, 4) for k, v in ev["ceiling"].items()},
               "params": n_params, "storage_mb": round(onnx_path.stat().st_size / 1e6, 3),
               "query_ms": round(ev["query_ms"], 3),
               "teacher_ms": round(float(np.mean(data["teacher_ms"])), 1),
               "raw_ir_table_mb": round(table_mb, 1), "n_train": n_train, "n_test": ev["n_test"],
               "steps": done, "train_s": round(train_s, 1), "final_losses": history[-1][1:],
               "model_options": {"hidden": hidden, "n_basis": n_basis, "feat": feat, "mse_weight": mse_weight,
                                 "batch": batch, "lr": lr, "seed": seed}}
    entry = {
        "file": onnx_path.name, "inputs": ["src", "lis", "yaw"], "outputs": ["early", "tail"],
        "engine": "spatial", "room": r.name,
        "description": (f"INRAS-style neural acoustic field of the '{r.name}' preset room "
                        f"({r.description}): early binaural IR at {dsp.FIELD_RATE} Hz "
                        f"(0-{int(dsp.EARLY_S * 1000)} ms, direct path excluded) + late-tail "
                        f"parameters per ear and octave band"),
        "training_data": (f"{n_train} source/listener/head-yaw triples simulated by "
                          f"engines/spatial/teacher.py (pyroomacoustics image sources, order "
                          f"{r.max_order}, its absorption tables, MIT licence; each image through "
                          f"the KEMAR HRIR of its direction). {export.KEMAR_CREDIT}"),
        "licence": "MIT (project); KEMAR data: cite Gardner & Martin 1994",
        "rebuild": f"python -m engines.spatial.train.train {r.name}",
        "metrics": metrics,
    }
    hrir_entry = {
        "file": hrir_path.name, "inputs": ["dir"], "outputs": ["hrir"], "engine": "spatial",
        "description": export.HRIR_DESCRIPTION,
        "training_data": export.KEMAR_CREDIT, "licence": "KEMAR data: cite Gardner & Martin 1994",
        "rebuild": "python -m engines.spatial.train.train ROOM (any room writes it)",
        "metrics": hrir_info,
    }
    export.update_manifest(out_dir, {name: entry, "spatial_hrir": hrir_entry})
    if log:
        log(json.dumps(metrics))
    return metrics


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("room")
    ap.add_argument("--data", help="teacher data .npz (from engines.spatial.train.data); simulated when absent")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "models"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--test", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mse-weight", type=float, default=MSE_WEIGHT)
    ap.add_argument("--hidden", type=int, default=256, help="listener module width")
    ap.add_argument("--basis", type=int, default=128, help="time-basis functions")
    ap.add_argument("--feat", type=int, default=64, help="scatter/gather/bounce feature width")
    ap.add_argument("--smoke", action="store_true", help="3 steps on 6 training + 2 held-out teacher positions, "
                    "batch 4 (tests); needs --out DIR, never the shipped models")
    a = ap.parse_args(argv)
    batch = 24
    if a.smoke:
        from engines.manifest import is_shipped

        if is_shipped(a.out):
            raise SystemExit("--smoke needs --out DIR (it never overwrites the shipped models)")
        a.n, a.test, a.steps, a.minutes, batch, a.data = min(a.n, 6), min(a.test, 2), min(a.steps, 3), 1.0, 4, None
    from engines.spatial.train import data as data_mod

    if a.data and Path(a.data).exists():
        d = dict(np.load(a.data))
    else:
        d = data_mod.make(a.room, a.n, a.test, a.seed, log=None if a.smoke else print)
        if a.data:
            np.savez_compressed(a.data, **d)
    return train(a.room, d, Path(a.out), steps=a.steps, minutes=a.minutes, batch=batch, seed=a.seed,
                 mse_weight=a.mse_weight, hidden=a.hidden, n_basis=a.basis, feat=a.feat)


if __name__ == "__main__":
    main()
