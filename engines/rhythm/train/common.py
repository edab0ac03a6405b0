"""Shared training helpers: argument parsing, seeding, manifest entries (read-modify-write)."""
from __future__ import annotations

import argparse
import json
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

    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)


def is_shipped(out: str | os.PathLike) -> bool:
    return Path(out).resolve() == MODELS_DIR.resolve()


def update_manifest(entries: dict[str, dict]) -> None:
    """Replace only our own entries in engines/models/manifest.json (re-read right before writing)."""
    from engines.runtime import sha256_of

    path = MODELS_DIR / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    for name, e in entries.items():
        e = dict(e)
        e["sha256"] = sha256_of(MODELS_DIR / e["file"])
        e["bytes"] = (MODELS_DIR / e["file"]).stat().st_size
        e["model_card"] = CARD
        old = manifest.get(name, {})
        for keep in ("metrics", "licence"):  # written by the evaluation / by hand
            if keep in old and keep not in e:
                e[keep] = old[keep]
        manifest[name] = e
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def seq2seq_entries(name: str, cond_input: str, training: dict) -> dict[str, dict]:
    """Manifest entries of an exported encoder + decoder-step pair (``<name>_encoder/_decoder``)."""
    return {
        f"{name}_encoder": {"file": f"{name}_encoder.onnx", "inputs": ["src", cond_input],
                            "outputs": ["memory"], "training": training},
        f"{name}_decoder": {"file": f"{name}_decoder.onnx",
                            "inputs": ["token", "pos", "memory", "past_k", "past_v"],
                            "outputs": ["logits", "present_k", "present_v"], "training": training},
    }


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
