"""Training-time helpers shared by the engines' train/ scripts (torch; never imported at run
time): ONNX export with named inputs/outputs, a dynamic batch and metadata_props, and the
read-modify-write of one manifest entry."""
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


def update_manifest(name: str, entry: dict, manifest: Path) -> None:
    """Read-modify-write of one entry (other engineers own the other entries), under an
    exclusive lock so two training scripts finishing together cannot drop each other's entry."""
    import fcntl

    manifest = Path(manifest)
    with open(manifest.with_name(manifest.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
        data[name] = entry
        tmp = manifest.with_name(f"{manifest.name}.{name}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(manifest)
