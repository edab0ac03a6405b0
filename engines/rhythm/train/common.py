"""Shared training helpers: argument parsing, seeding, manifest entries (through engines.manifest)."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CARD = "engines/rhythm/README.md"


def parser(description: str, steps: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=str(MODELS_DIR), help="folder for the .onnx files (default: the shipped models)")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="a few steps on a small data set (tests)")
    p.add_argument("--threads", type=int, default=1)
    return p


def setup(args) -> None:
    import torch

    if getattr(args, "smoke", False) and is_shipped(args.out):
        raise SystemExit("--smoke needs --out DIR (it never overwrites the shipped models)")
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)


def is_shipped(out: str | os.PathLike) -> bool:
    from engines import manifest

    return manifest.is_shipped(out)


def update_manifest(entries: dict[str, dict]) -> None:
    """Replace only our own entries in engines/models/manifest.json (``engines.manifest.update``:
    locked, atomic), keeping the metrics and licence the evaluation / a person wrote."""
    from engines import manifest
    from engines.runtime import sha256_of

    out = {}
    for name, e in entries.items():
        e = dict(e)
        e["sha256"] = sha256_of(MODELS_DIR / e["file"])
        e["bytes"] = (MODELS_DIR / e["file"]).stat().st_size
        e["model_card"] = CARD
        out[name] = e
    manifest.update(MODELS_DIR / "manifest.json", out, keep=("metrics", "licence"))


def seq2seq_entries(name: str, cond_input: str, training: dict) -> dict[str, dict]:
    """Manifest entries of an exported encoder + decoder-step pair (``<name>_encoder/_decoder``,
    just written to the models folder); their inputs and outputs as the files have them (the
    encoder's cross-attention keys and values, the step's caches: one per decoder layer)."""
    import onnx

    def entry(part: str) -> dict:
        graph = onnx.load(str(MODELS_DIR / f"{name}_{part}.onnx")).graph
        return {"file": f"{name}_{part}.onnx", "inputs": [i.name for i in graph.input],
                "outputs": [o.name for o in graph.output], "training": training}

    entries = {f"{name}_{part}": entry(part) for part in ("encoder", "decoder")}
    if entries[f"{name}_encoder"]["inputs"] != ["src", cond_input]:
        raise RuntimeError(f"{name}_encoder.onnx has inputs {entries[f'{name}_encoder']['inputs']}")
    return entries


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def s(self) -> float:
        return round(time.perf_counter() - self.t0, 1)


def schedule(opt, steps: int, warmup: float = 0.05):
    """Linear warm-up then cosine decay to 5 % (works for any number of steps, even 1)."""
    import math

    import torch

    w = max(1, int(steps * warmup))

    def f(i):
        if i < w:
            return (i + 1) / w
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - w) / max(1, steps - w))))

    return torch.optim.lr_scheduler.LambdaLR(opt, f)
