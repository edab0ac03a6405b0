"""Performer training: a smoke run writes loadable ONNX graphs and a manifest; shipped entries match."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.performer import vocab as V
from engines.runtime import sha256_of

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "engines" / "models"


def test_smoke_training_writes_loadable_models(tmp_path):
    from engines.performer.infer import Performer
    from engines.performer.train.train import main

    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    enc = ort.InferenceSession(str(tmp_path / "performer_encoder.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(tmp_path / "performer_decoder.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in enc.get_inputs()] == manifest["performer_encoder"]["inputs"]
    assert [i.name for i in dec.get_inputs()] == manifest["performer_decoder"]["inputs"]
    src = np.zeros((2, V.WINDOW_FRAMES, 20, V.N_FEAT), np.float32)
    mem = enc.run(None, {"src": src, "instrument": np.array([[0], [3]], np.int64)})[0]
    assert mem.shape[:2] == (2, V.WINDOW_FRAMES)
    for name in ("performer_encoder", "performer_decoder"):
        assert manifest[name]["sha256"] == sha256_of(tmp_path / manifest[name]["file"])
        assert manifest[name]["training"]["steps"] == 3
    from engines.performer import gestures as G

    kp = G.synthesize([(0.5, 0.3, 60, 80), (1.0, 0.3, 64, 80)], "piano", 30.0, seed=1)
    notes = Performer(tmp_path).generate(kp, "piano", seed=0)
    assert all(21 <= n.pitch <= 108 for n in notes)


def test_smoke_refuses_the_shipped_folder():
    import pytest

    from engines.performer.train.train import main

    with pytest.raises(SystemExit):
        main(["--smoke", "--out", str(MODELS)])


def test_shipped_entries_match_the_files():
    manifest = json.loads((MODELS / "manifest.json").read_text())
    for name in ("performer_encoder", "performer_decoder"):
        e = manifest[name]
        f = MODELS / e["file"]
        assert f.stat().st_size < 5 * 1024 * 1024 and e["bytes"] == f.stat().st_size
        assert e["sha256"] == sha256_of(f)
        assert e["model_card"] == "engines/performer/README.md" and e["licence"]
        assert {"command", "data", "params", "seed", "steps"} <= set(e["training"])
        s = e["metrics"]["summary"]
        assert set(s) == set(V.INSTRUMENTS) and all("gesture_share" in v for v in s.values())
