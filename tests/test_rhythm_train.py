"""Smoke runs of the rhythm training scripts: a few steps on small data, exported to tmp (the
shipped models are never touched), and the exported graphs load and run in onnxruntime."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from engines.rhythm.train import common, data_drums  # noqa: E402

need_hydrogen = pytest.mark.skipif(not Path(data_drums.HYDROGEN_DIR).is_dir(),
                                   reason="Debian hydrogen-data is not installed (packaging/debian-deps.sh)")


def _shipped_state():
    d = common.MODELS_DIR
    return {p.name: p.stat().st_mtime_ns for p in d.glob("*")}


@need_hydrogen
def test_drum_data_parses_and_holds_out_songs():
    bars = data_drums.load_bars(lmms=False)
    assert len(bars) > 50
    assert {b["style"] for b in bars} >= {"rock", "jazz", "funk"}
    held = [b for b in bars if data_drums.is_held_out(b["source"])]
    assert 0 < len(held) < len(bars)
    for b in bars[:20]:
        assert b["hits"].shape == (9, 16) and ((b["vel"] > 0) == (b["hits"] > 0)).all()
        assert np.abs(b["off"]).max() <= 0.5


@need_hydrogen
def test_smoke_training_exports_runnable_models(tmp_path, monkeypatch):
    import onnxruntime as ort

    from engines.rhythm.train import train_groove, train_rhythm2drum
    from engines.rhythm.train.step_graph import decode_steps, encode

    before = _shipped_state()
    assert train_rhythm2drum.main(["--smoke", "--steps", "2", "--out", str(tmp_path)]) == 0
    assert train_groove.main(["--smoke", "--steps", "2", "--out", str(tmp_path)]) == 0
    enc = ort.InferenceSession(str(tmp_path / "rhythm2drum_encoder.onnx"))
    dec = ort.InferenceSession(str(tmp_path / "rhythm2drum_decoder.onnx"))
    src = np.zeros((3, 16, 5), np.float32)
    encoded = encode(enc, {"src": src, "style": np.zeros((3, 1), np.int64)})
    assert encoded["memory"].shape == (3, 17, 64)  # 16 steps and the style
    assert all(encoded[f"cross_{t}{i}"].shape == (3, 4, 17, 16) for i in range(2) for t in "kv")
    feed = {n: x for n, x in encoded.items() if n.startswith("cross_")}
    feed.update({f"past_{t}{i}": np.zeros((3, 4, 0, 16), np.float32) for i in range(2) for t in "kv"})
    logits, *present = dec.run(None, {**feed, "token": np.ones((3, 1), np.int64), "pos": np.array([0], np.int64)})
    assert logits.shape == (3, 147) and len(present) == 4 and all(x.shape == (3, 4, 1, 16) for x in present)
    assert decode_steps(dec, encoded, np.ones((3, 5), np.int64)).shape == (3, 5, 147)
    g = ort.InferenceSession(str(tmp_path / "rhythm_groove.onnx"))
    vel, off = g.run(None, {"x": np.zeros((2, 16, 16), np.float32)})
    assert vel.shape == off.shape == (2, 9, 16) and (np.abs(off) <= 0.5).all()
    assert json.loads((tmp_path / "rhythm2drum_train.json").read_text())["params"] > 0
    assert _shipped_state() == before


@need_hydrogen
def test_smoke_drum2music_training(tmp_path):
    pytest.importorskip("music21")
    import onnxruntime as ort

    from engines.rhythm.train import train_drum2music

    before = _shipped_state()
    assert train_drum2music.main(["--smoke", "--steps", "2", "--out", str(tmp_path)]) == 0
    enc = ort.InferenceSession(str(tmp_path / "drum2music_encoder.onnx"))
    mem = enc.run(None, {"src": np.zeros((1, 16, 33), np.float32), "cond": np.zeros((1, 6), np.int64)})[0]
    assert mem.shape[0] == 1
    assert _shipped_state() == before


def test_manifest_entries_of_the_encoder_decoder_pairs_match_the_shipped_files():
    import json

    from engines.rhythm.train import common
    from engines.runtime import MODELS_DIR

    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())
    for name, cond in (("rhythm2drum", "style"), ("drum2music", "cond")):
        for key, entry in common.seq2seq_entries(name, cond, {}).items():
            shipped = manifest[key]
            assert (shipped["file"], shipped["inputs"], shipped["outputs"]) == \
                (entry["file"], entry["inputs"], entry["outputs"])


def test_cached_decoder_step_matches_the_full_causal_decode():
    """The key/value-cache step the decoder graphs are exported from (rhythm and performer share
    it) gives the logits of the full causal decode at every position."""
    import torch

    from engines.rhythm.train.models import Seq2Seq

    torch.manual_seed(0)
    m = Seq2Seq(src_dim=6, n_cond=5, n_cond_tokens=2, vocab=20, max_len=12).eval()
    src, cond = torch.randn(2, 16, 6), torch.randint(0, 5, (2, 2))
    tokens = torch.randint(0, 20, (2, 7))
    with torch.no_grad():
        memory = m.encode(src, cond)
        full = m.decode(tokens, memory)
        heads, dh = m.dec[0].sa.h, m.dec[0].sa.dh
        pk = pv = torch.zeros(len(m.dec), 2, heads, 0, dh)
        for t in range(tokens.shape[1]):
            logits, pk, pv = m.step(tokens[:, t:t + 1], torch.tensor([t]), memory, pk, pv)
            assert torch.allclose(logits, full[:, t], atol=1e-5)
    assert pk.shape == (len(m.dec), 2, heads, tokens.shape[1], dh)


def test_lean_step_graph_matches_the_torch_step_and_reads_back_from_a_torchscript_export(tmp_path):
    """``step_graph`` writes the decoder step with onnxruntime's fused attention, the encoder
    giving each layer's cross-attention keys and values: the same logits and caches as
    ``Seq2Seq.step`` (batch 3, from an empty cache). The weights read back from those files, and
    from a TorchScript export of the step (how the shipped files were first converted), are the
    model's own; and the TorchScript pair (the step reading the memory, one stacked cache)
    decodes the same as the new pair."""
    import onnx
    import torch

    from engines.rhythm.train.models import Seq2Seq, export_onnx, export_seq2seq
    from engines.rhythm.train.step_graph import (decode_steps, encode, max_difference, weights_of_lean,
                                                 weights_of_model, weights_of_onnx)
    from engines.runtime import open_session

    class _Step(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, token, pos, memory, past_k, past_v):
            return self.m.step(token, pos, memory, past_k, past_v)

    torch.manual_seed(1)
    m = Seq2Seq(src_dim=6, n_cond=5, n_cond_tokens=2, vocab=20, max_len=30, dec_layers=3).eval()
    src, cond = torch.randn(3, 16, 6), torch.randint(0, 5, (3, 2))
    with torch.no_grad():
        for p in m.parameters():  # as after training: no two norms alike (the exporter merges equal constants)
            p.add_(0.1 * torch.randn_like(p))
        memory = m.encode(src, cond)
    heads, dh, layers = m.dec[0].sa.h, m.dec[0].sa.dh, len(m.dec)
    export_seq2seq(m, src, cond, tmp_path, "t", "cond", {"model": "test"})
    enc, dec = tmp_path / "t_encoder.onnx", tmp_path / "t_decoder.onnx"
    assert any(o.domain == "com.microsoft" for o in onnx.load(str(dec)).opset_import)
    assert "memory" not in [i.name for i in onnx.load(str(dec)).graph.input]
    sess = open_session(dec, single_thread=True)
    feed = {n: x for n, x in encode(open_session(enc), {"src": src.numpy(), "cond": cond.numpy()}).items()
            if n.startswith("cross_")}
    assert len(feed) == 2 * layers
    tokens = torch.randint(0, 20, (3, 9))
    pk = pv = torch.zeros(layers, 3, heads, 0, dh)
    feed.update({f"past_{t}{i}": np.zeros((3, heads, 0, dh), np.float32) for i in range(layers) for t in "kv"})
    for t in range(tokens.shape[1]):
        with torch.no_grad():
            want, pk, pv = m.step(tokens[:, t:t + 1], torch.tensor([t]), memory, pk, pv)
        got, *present = sess.run(None, {**feed, "token": tokens[:, t:t + 1].numpy(), "pos": np.array([t], np.int64)})
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4)
        for i in range(layers):
            np.testing.assert_allclose(present[2 * i], pk[i].numpy(), atol=1e-5)
            np.testing.assert_allclose(present[2 * i + 1], pv[i].numpy(), atol=1e-5)
            feed[f"past_k{i}"], feed[f"past_v{i}"] = present[2 * i], present[2 * i + 1]

    scripted = tmp_path / "torchscript.onnx"
    past = torch.zeros(layers, 3, heads, 1, dh)
    export_onnx(_Step(m), (tokens[:, :1], torch.tensor([1]), memory, past, past), scripted,
                ["token", "pos", "memory", "past_k", "past_v"], ["logits", "present_k", "present_v"],
                {"token": {0: "batch"}, "memory": {0: "batch"}, "past_k": {1: "batch", 3: "past"},
                 "past_v": {1: "batch", 3: "past"}, "logits": {0: "batch"},
                 "present_k": {1: "batch", 3: "length"}, "present_v": {1: "batch", 3: "length"}})
    own = weights_of_model(m)
    for read in (weights_of_onnx(scripted), weights_of_lean(dec, enc)):
        assert sorted(read) == sorted(own)
        for name in own:
            np.testing.assert_array_equal(read[name], own[name], err_msg=name)
    assert max_difference((enc, scripted), (enc, dec)) < 1e-4
    old = decode_steps(open_session(scripted), {"memory": memory.numpy()}, tokens.numpy())
    assert np.abs(old - decode_steps(sess, feed, tokens.numpy())).max() < 1e-4


def test_shipped_decoder_steps_are_the_lean_graphs():
    import onnx

    for name in ("rhythm2drum_decoder", "drum2music_decoder"):
        model = onnx.load(str(common.MODELS_DIR / f"{name}.onnx"))
        assert any(o.domain == "com.microsoft" for o in model.opset_import), name
        assert sum(n.op_type == "MultiHeadAttention" for n in model.graph.node) > 0
        inputs = [i.name for i in model.graph.input]
        assert "memory" not in inputs and "past_k0" in inputs and "cross_k0" in inputs, name
