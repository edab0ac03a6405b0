"""Train the visual material classifier (descriptor of the impact region -> material) and export it.

    python -m engines.foley.train.train_material --out engines/models/foley_material.onnx
    python -m engines.foley.train.train_material --smoke --out /tmp/f/foley_material.onnx   # CI

Data: procedural patches per material family (``textures``; train seeds 1.., test on patches
of other seeds), their 14-d colour/texture descriptors (``engines.foley.visual``). A 2-layer
MLP (64 wide), Adam, cross-entropy. One thread, well under a minute.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from engines.manifest import update_entry
from engines.onnx_export import export_onnx
from engines.foley.train.model import MaterialNet
from engines.foley.train.textures import MATERIAL_NAMES, patches
from engines.foley.visual import DESCRIPTOR_DIM, descriptors
from engines.runtime import MODELS_DIR, sha256_of

VERSION = "1"
TRAIN_SEED, TEST_SEED = 101, 202


def dataset(per_material: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i, m in enumerate(MATERIAL_NAMES):
        xs.append(descriptors(patches(m, per_material, seed)))
        ys.append(np.full(per_material, i))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def train(per_material: int, test_per_material: int, steps: int, seed: int = 0, log=print):
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    x, y = dataset(per_material, TRAIN_SEED + seed)
    xt, yt = dataset(test_per_material, TEST_SEED + seed)
    log(f"data: {len(y)} train / {len(yt)} test patches in {time.perf_counter() - t0:.1f} s")
    model = MaterialNet(x.mean(0), np.maximum(x.std(0), 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    for k in range(steps):
        idx = torch.randint(0, len(Y), (256,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(xt)).argmax(1).numpy()
        train_acc = float((model(X).argmax(1).numpy() == y).mean())
    conf = np.zeros((len(MATERIAL_NAMES),) * 2, int)
    for a, b in zip(yt, pred):
        conf[a, b] += 1
    info = {"train_patches": int(len(y)), "test_patches": int(len(yt)), "steps": steps,
            "train_accuracy": round(train_acc, 4), "test_accuracy": round(float((pred == yt).mean()), 4),
            "per_material_test_accuracy": {m: round(float(conf[i, i] / conf[i].sum()), 3)
                                           for i, m in enumerate(MATERIAL_NAMES)},
            "confusion_test": conf.tolist(), "train_wall_s": round(time.perf_counter() - t0, 1)}
    log(f"test accuracy {info['test_accuracy']:.3f} (train {train_acc:.3f})")
    return model, info


def smoke_guard(a) -> None:
    """--smoke writes only outside the shipped models folder (``--out FILE`` and ``--manifest``)."""
    from engines.manifest import is_shipped

    if is_shipped(a.out.parent) or (a.manifest is not None and is_shipped(a.manifest.parent)):
        raise SystemExit("--smoke needs --out DIR/FILE.onnx outside engines/models (never the shipped models)")
    if a.manifest is None:
        a.manifest = a.out.parent / "manifest.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR / "foley_material.onnx")
    ap.add_argument("--per-material", type=int, default=1500)
    ap.add_argument("--test-per-material", type=int, default=300)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help="5 steps on 6 patches per material (tests); needs --out "
                    "outside engines/models, writes a manifest beside it")
    a = ap.parse_args(argv)
    if a.smoke:
        smoke_guard(a)
        a.per_material, a.test_per_material, a.steps = min(a.per_material, 6), min(a.test_per_material, 3), min(a.steps, 5)
    torch.set_num_threads(1)
    model, info = train(a.per_material, a.test_per_material, a.steps, a.seed)
    config = {"descriptor_dim": DESCRIPTOR_DIM, "materials": list(MATERIAL_NAMES), **{k: v for k, v in info.items() if k != "confusion_test"}}
    export_onnx(model, (torch.zeros(2, DESCRIPTOR_DIM),), a.out, ["features"], ["logits"],
                {"version": VERSION, "config": json.dumps(config), "producer": "engines.foley.train.train_material"})
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e3:.1f} kB, {n_params} parameters)")
    manifest = a.manifest or (a.out.parent / "manifest.json" if a.out.parent.resolve() == MODELS_DIR.resolve() else None)
    if manifest is not None:
        update_entry("foley_material", {
            "file": a.out.name, "sha256": sha256_of(a.out), "inputs": ["features"], "outputs": ["logits"],
            "version": VERSION, "parameters": n_params, "size_bytes": a.out.stat().st_size,
            "training_data": "procedural surface patches per material family drawn here from documented "
                             "appearance priors (engines/foley/train/textures.py); no photographs",
            "licence": "MIT (trained here from project-made data)",
            "rebuild": "python -m engines.foley.train.train_material --out engines/models/foley_material.onnx",
            "metrics": {"test_accuracy_procedural": info["test_accuracy"],
                        "per_material_test_accuracy": info["per_material_test_accuracy"],
                        "note": "on held-out procedural patches; accuracy on real video is not measured"},
        }, manifest)
        print(f"updated {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
