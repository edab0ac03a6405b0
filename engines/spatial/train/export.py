"""ONNX export of the spatial engine's models and their manifest entries (training side)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

KEMAR_CREDIT = ("MIT KEMAR HRTF measurements (Gardner & Martin 1994, MIT Media Lab), normal pinna, "
                "from Debian libmysofa1 /usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa; "
                "licence: free with no restrictions on use provided the authors are cited")

HRIR_DESCRIPTION = ("nearest-direction HRIR lookup (head frame x front, y left, z up) for the direct path, "
                    "48 kHz, 128 taps, onsets aligned, diffuse-field equalised (engines/spatial/hrtf.py: "
                    "solid-angle weighted power average over directions and ears, 1/3-octave smoothed, "
                    "regularised minimum-phase inverse)")


def save_onnx_atomic(model, path: Path) -> None:
    """Write an ONNX model so that ``path`` is the old file or the whole new one, never a part."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_hrir_onnx(path: Path, sample_rate: int = 48000, taps: int = 128) -> dict:
    """``spatial_hrir``: head-frame direction (N, 3) -> HRIR (N, 2, taps) of the nearest measured
    direction (MatMul with the unit directions, ArgMax, Gather from the table)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from engines.spatial.hrtf import default_hrtf

    h = default_hrtf(sample_rate, taps)
    dirs_t = numpy_helper.from_array(h.dirs.T.astype(np.float32), "dirs_t")
    table = numpy_helper.from_array(h.ir.astype(np.float32), "table")
    nodes = [helper.make_node("MatMul", ["dir", "dirs_t"], ["score"]),
             helper.make_node("ArgMax", ["score"], ["idx"], axis=1, keepdims=0),
             helper.make_node("Gather", ["table", "idx"], ["hrir"], axis=0)]
    graph = helper.make_graph(nodes, "spatial_hrir",
                              [helper.make_tensor_value_info("dir", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("hrir", TensorProto.FLOAT, ["N", 2, taps])],
                              [dirs_t, table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="engines.spatial.train.export")
    model.ir_version = 8
    for k, v in {"sample_rate": str(sample_rate), "taps": str(taps), "hrtf": h.source,
                 "equalised": "diffuse-field" if h.equalised else "none"}.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    save_onnx_atomic(model, path)
    return {"directions": int(len(h.dirs)), "sample_rate": sample_rate, "taps": taps, "hrtf": h.source,
            "equalised": "diffuse-field" if h.equalised else "none"}


def export_field(model, path: Path, metadata: dict) -> None:
    import onnx
    import torch

    model.eval()
    src = torch.tensor([[1.0, 1.0, 1.5], [2.0, 1.5, 1.2]])
    lis = torch.tensor([[2.0, 2.0, 1.5], [1.0, 2.5, 1.6]])
    yaw = torch.tensor([[0.3], [-1.0]])
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        torch.onnx.export(model, (src, lis, yaw), tmp, input_names=["src", "lis", "yaw"],
                          output_names=["early", "tail"], opset_version=17, dynamo=False,
                          dynamic_axes={"src": {0: "N"}, "lis": {0: "N"}, "yaw": {0: "N"},
                                        "early": {0: "N"}, "tail": {0: "N"}})
        m = onnx.load(tmp)
        for k, v in metadata.items():
            m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
        onnx.save(m, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def update_manifest(models_dir: Path, entries: dict) -> None:
    """Only the given entries of ``models_dir/manifest.json`` change (``engines.manifest.update``)."""
    from engines.runtime import sha256_of

    from engines import manifest

    out = {}
    for name, e in entries.items():
        e = dict(e)
        e["sha256"] = sha256_of(models_dir / e["file"])
        e["bytes"] = (models_dir / e["file"]).stat().st_size
        e.setdefault("model_card", "engines/spatial/README.md")
        out[name] = e
    manifest.update(Path(models_dir) / "manifest.json", out)
