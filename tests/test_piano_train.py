"""Smoke runs of the piano training scripts: a few steps on tiny rendered data, exported into
tmp (the shipped models are never touched); the exported graphs load and run in onnxruntime."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("music21")

from engines.runtime import MODELS_DIR  # noqa: E402


def _shipped_state():
    return {p.name: p.stat().st_mtime_ns for p in MODELS_DIR.glob("*")}


def test_heldout_split_is_by_piece_name():
    from engines.piano.train import data

    tr, ho = data.split(30)
    assert ho and tr and not set(tr) & set(ho)
    assert "mozart/k545/movement1_exposition.mxl" in ho
    assert data.split(30) == (tr, ho)


def test_smoke_training_exports_runnable_models(tmp_path):
    import onnxruntime as ort

    from engines.piano.train import train_roll2midi, train_video2roll

    before = _shipped_state()
    assert train_video2roll.main(["--smoke", "--out", str(tmp_path)]) == 0
    assert train_roll2midi.main(["--smoke", "--out", str(tmp_path),
                                 "--video2roll", str(tmp_path / "piano_video2roll.onnx")]) == 0
    v = ort.InferenceSession(str(tmp_path / "piano_video2roll.onnx"))
    logits, vel = v.run(None, {"frames": np.zeros((3, 5, 48, 624), np.float32)})
    assert logits.shape == vel.shape == (3, 88)
    r = ort.InferenceSession(str(tmp_path / "piano_roll2midi.onnx"))
    frame, onset = r.run(None, {"probs": np.zeros((2, 64, 88), np.float32)})
    assert frame.shape == onset.shape == (2, 64, 88) and (frame >= 0).all() and (frame <= 1).all()
    assert json.loads((tmp_path / "piano_video2roll_train.json").read_text())["params"] > 0
    assert _shipped_state() == before


def test_small_keyboard_augmentation_keeps_size_and_blurs():
    from engines.piano.train.synth_video import render_rectified, scale_and_chord
    from engines.piano.train.train_video2roll import small_keyboard

    f, _, _ = render_rectified(scale_and_chord(), 30, (624, 48), seed=3, n_frames=8)
    s = small_keyboard(f, 261, 36)
    assert s.shape == f.shape and s.dtype == np.uint8
    # less fine detail than the full-size frame (the blur of a small keyboard)
    assert np.abs(np.diff(s.astype(float), axis=2)).mean() < np.abs(np.diff(f.astype(float), axis=2)).mean()


def test_warm_start_from_the_shipped_onnx_reproduces_it():
    import onnxruntime as ort
    import torch

    from engines.piano.train.model import Video2Roll
    from engines.piano.train.train_video2roll import load_onnx_weights

    m = Video2Roll()
    load_onnx_weights(m, MODELS_DIR / "piano_video2roll.onnx")
    m.eval()
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 48, 624)).astype(np.float32)
    with torch.no_grad():
        a = m(torch.from_numpy(x))[0].numpy()
    b = ort.InferenceSession(str(MODELS_DIR / "piano_video2roll.onnx")).run(None, {"frames": x})[0]
    assert np.abs(a - b).max() < 1e-3
