"""Neural audio codec (engines/codec): the smoke training, the numpy signal side against its torch
twin, the shipped codec's shapes, determinism and its reconstruction of a held-out recorded clip
against mu-law at the same bit rate, and clear errors on bad input and damaged models."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engines.codec import baselines as B
from engines.codec import data as D
from engines.codec import dsp
from engines.errors import EngineError, ModelError

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "engines" / "models"
HELD_OUT_MUSIC = "/usr/share/asterisk/moh/macroform-the_simplicity.wav"  # held out by the split


@pytest.fixture(scope="module")
def codec():
    from engines.codec.infer import Codec

    return Codec()


@pytest.fixture(scope="module")
def clip():
    if not Path(HELD_OUT_MUSIC).exists():
        pytest.skip("asterisk-moh-opsound-wav is not installed (packaging/debian-deps.sh)")
    return D.middle(D.decode(HELD_OUT_MUSIC), 4.0)


def test_split_is_deterministic_and_by_file():
    a, _ = D.files(D.TEST_PACKAGES)
    b, _ = D.files(D.TEST_PACKAGES)
    if not a:
        pytest.skip("no test sound package installed")
    assert a == b
    held = {f.path for f in a if f.held_out}
    assert held and len(held) < len(a)
    assert HELD_OUT_MUSIC in held or not Path(HELD_OUT_MUSIC).exists()
    assert all(f.licence and f.category for f in a)


def test_smoke_training_writes_loadable_models(tmp_path):
    pytest.importorskip("torch")
    from engines.codec.infer import DECODER, ENCODER, Codec
    from engines.codec.train.train import main
    from engines.runtime import sha256_of

    if not D.files(D.TEST_PACKAGES)[0]:
        pytest.skip("no test sound package installed")
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    for name in (ENCODER, DECODER):
        assert m[name]["sha256"] == sha256_of(tmp_path / m[name]["file"]) and m[name]["training"]["steps"] == 3
    c = Codec(tmp_path)
    codes = c.encode(np.zeros(24000, np.float32), 24000)
    assert codes.shape == (8, 50) and c.decode(codes).shape == (24000,)


def test_smoke_refuses_the_shipped_folder():
    pytest.importorskip("torch")
    from engines.codec.train.train import main

    with pytest.raises(SystemExit, match="smoke"):
        main(["--smoke", "--out", str(MODELS)])


def test_numpy_features_and_istft_match_training():
    torch = pytest.importorskip("torch")
    from engines.codec.train.model import torch_features, torch_istft

    x = np.random.default_rng(0).normal(0, 0.1, 9600).astype(np.float32)
    f = dsp.features(x)
    assert f.shape == (dsp.FEATURES, 9600 // dsp.HOP)
    assert np.allclose(f, torch_features(torch.from_numpy(x)[None])[0].numpy(), atol=1e-3)
    s = dsp.stft(x)[:, :-1]
    y = dsp.istft(np.concatenate([s, s[:, -1:]], 1), len(x))
    t = torch_istft(torch.from_numpy(s.real.copy())[None], torch.from_numpy(s.imag.copy())[None], len(x))[0]
    assert np.abs(y - t.numpy()).max() < 1e-5 and np.abs(y - x)[:-dsp.N_FFT].max() < 1e-5


def test_round_trip_shapes_and_determinism(codec):
    x = np.random.default_rng(1).normal(0, 0.1, (48000 + 123, 2)).astype(np.float32)  # 48 kHz stereo
    codes = codec.encode(x, 48000)
    n24 = (48000 + 123) // 2 + 1
    assert codes.shape == (codec.codebooks, -(-n24 // dsp.TOKEN_HOP)) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < codec.entries
    assert np.array_equal(codes, codec.encode(x, 48000))
    y = codec.decode(codes)
    assert y.shape == (codes.shape[1] * dsp.TOKEN_HOP,) and y.dtype == np.float32 and np.isfinite(y).all()
    assert np.array_equal(y, codec.decode(codes))
    assert codec.bitrate == codec.codebooks * np.log2(codec.entries) * 50


def test_long_audio_goes_through_windows_like_one_pass(codec, monkeypatch):
    from engines.codec import infer

    x = np.random.default_rng(2).normal(0, 0.1, 24000 * 3).astype(np.float32)
    whole = codec.encode(x, 24000)
    monkeypatch.setattr(infer, "WINDOW_TOKENS", 40)
    windowed = codec.encode(x, 24000)
    assert np.mean(whole == windowed) > 0.95  # identical but for float ties at the window edges
    y1 = codec.decode(whole)
    monkeypatch.setattr(infer, "WINDOW_TOKENS", 1500)
    assert np.abs(y1 - codec.decode(whole)).max() < 1e-3


def test_shipped_codec_beats_mulaw_at_the_same_bit_rate(codec, clip):
    y = codec.roundtrip(clip, dsp.SR)
    mu, rate = B.mulaw(clip, codec.bitrate)
    assert rate == int(codec.bitrate // 8)
    ours, base = dsp.metrics(clip, y), dsp.metrics(clip, mu)
    assert ours["mr_stft"] < base["mr_stft"] and ours["mel"] < base["mel"]


@pytest.mark.parametrize("audio,sr,match", [
    (np.zeros(0, np.float32), 24000, "empty"),
    (np.zeros((2, 3, 100), np.float32), 24000, "1-D"),
    (np.array([0.0, np.nan, 0.1], np.float32), 24000, "NaN"),
    (np.zeros(100, np.float32), 0, "sample rate"),
    (np.array(["a", "b"]), 24000, "numeric"),
])
def test_bad_audio_is_a_clear_error(codec, audio, sr, match):
    with pytest.raises(EngineError, match=match):
        codec.encode(audio, sr)


def test_bad_codes_are_a_clear_error(codec):
    with pytest.raises(EngineError, match="shape"):
        codec.decode(np.zeros((codec.codebooks + 1, 5), np.int64))
    with pytest.raises(EngineError, match="integers"):
        codec.decode(np.full((codec.codebooks, 5), codec.entries, np.int64))
    with pytest.raises(EngineError, match="integers"):
        codec.decode(np.zeros((codec.codebooks, 5), np.float32))


def test_corrupt_or_missing_model_is_a_clear_error(tmp_path):
    from engines.codec.infer import DECODER, ENCODER, Codec

    m = json.loads((MODELS / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({k: m[k] for k in (ENCODER, DECODER)}))
    for k in (ENCODER, DECODER):
        shutil.copy(MODELS / m[k]["file"], tmp_path / m[k]["file"])
    f = tmp_path / m[DECODER]["file"]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        Codec(tmp_path)
    f.unlink()
    with pytest.raises(ModelError, match="missing"):
        Codec(tmp_path)
