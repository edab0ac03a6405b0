"""Training-time helpers shared by the engines' train/ scripts (torch; never imported at run
time): ONNX export with named inputs/outputs, a dynamic batch and metadata_props. Manifest
entries are written by ``engines.manifest``."""
from __future__ import annotations

import json
from pathlib import Path

import torch


def export_onnx(model: torch.nn.Module, args: tuple, path: Path, input_names: list[str],
                output_names: list[str], metadata: dict[str, str]) -> None:
    import onnx

    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    axes = {n: {0: "batch"} for n in input_names + output_names}
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

