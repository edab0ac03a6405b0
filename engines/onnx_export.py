"""Training-time helpers shared by the engines' train/ scripts (torch; never imported at run
time): ONNX export with named inputs/outputs, a dynamic batch and metadata_props; the
time-budgeted learning-rate schedule. Manifest entries are written by ``engines.manifest``."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch


def export_onnx(model: torch.nn.Module, args: tuple, path: Path, input_names: list[str],
                output_names: list[str], metadata: dict[str, str], time_axis: bool = False) -> None:
    """``time_axis``: axis 2 of every input and output, all (batch, channels, time), is dynamic
    too (streams of any length)."""
    import onnx

    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    axes = {n: {0: "batch"} for n in input_names + output_names}
    if time_axis:
        axes = {n: {0: "batch", 2: "time"} for n in input_names + output_names}
    torch.onnx.export(model, args, str(tmp), input_names=input_names, output_names=output_names,
                      dynamic_axes=axes, opset_version=17, dynamo=False)
    m = onnx.load(str(tmp))
    onnx.checker.check_model(m)
    del m.metadata_props[:]
    for k, v in metadata.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v if isinstance(v, str) else json.dumps(v)
    onnx.save(m, str(tmp))
    tmp.replace(path)



def budget_steps(steps: int, minutes: float, lr: float, warmup: int = 100):
    """The steps of a training loop under a time budget: yields (step, learning rate): linear
    warm-up over ``warmup`` steps, then a cosine decay to 5 % of ``lr``, where the run's progress
    is the larger of step / ``steps`` and the time spent / ``minutes``; stops (with a line on
    stdout) when the time is spent. ``minutes`` 0: by steps only."""
    t0 = time.time()
    for step in range(steps):
        frac = step / steps
        if minutes:
            frac = max(frac, (time.time() - t0) / (minutes * 60))
            if frac >= 1.0:
                print(f"time budget spent: stopping at step {step}", flush=True)
                return
        yield step, lr * min(1.0, (step + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
