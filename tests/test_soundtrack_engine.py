"""Soundtrack engine: sampler, shipped model, long-video windows, model errors, notes on the grid."""
import json
import shutil

import numpy as np
import pytest

from engines.errors import ModelError
from engines.soundtrack.features import N_FEATURES
from engines.soundtrack.infer import WINDOW_BEATS, WINDOW_STEPS, SoundtrackModel
from engines.soundtrack.sampler import DecodeSettings, autoregressive, maskgit
from engines.soundtrack.tokens import SymbolicLevels

VOCAB = SymbolicLevels.vocab_sizes


def fake_logits(calls):
    """A tiny deterministic 'model': logits depend on position, the visual input and keep."""
    def fn(tokens, visual, style, keep):
        calls.append(tokens.shape[0])
        b, t, _ = tokens.shape
        out = []
        for lvl, v in enumerate(VOCAB):
            base = np.sin(np.arange(t)[:, None] * (lvl + 1) + np.arange(v)[None, :])
            lg = np.repeat(base[None], b, 0) + keep[:, None, None] * visual[:, :1, :1].sum() * np.cos(
                np.arange(v))[None, None, :]
            out.append(lg.astype(np.float32))
        return out
    return fn


def visual(seed=0, n=WINDOW_BEATS):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, N_FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return SoundtrackModel()


def test_maskgit_fills_everything_in_n_calls_and_keeps_given_tokens():
    calls = []
    given = np.full((WINDOW_STEPS, 4), -1, np.int64)
    given[:16] = 3
    out = maskgit(fake_logits(calls), visual(), 0, VOCAB, given, DecodeSettings(steps=8, cfg=3.0, seed=1))
    assert len(calls) == 8 and all(c == 2 for c in calls)  # CFG: both branches in one batch
    assert (out[:16] == 3).all()
    for lvl, v in enumerate(VOCAB):
        assert ((0 <= out[:, lvl]) & (out[:, lvl] < v)).all()
    calls.clear()
    maskgit(fake_logits(calls), visual(), 0, VOCAB, given, DecodeSettings(steps=8, cfg=1.0, seed=1))
    assert all(c == 1 for c in calls)  # no guidance: one branch
    calls.clear()
    ar = autoregressive(fake_logits(calls), visual(), 0, VOCAB, given, DecodeSettings(seed=1))
    assert len(calls) == (WINDOW_STEPS - 16) * 4 and (ar[:16] == 3).all()


def test_settings_are_validated():
    for bad in ({"steps": 0}, {"cfg": -1}, {"temperature": 0}, {"gumbel": -1}):
        with pytest.raises(ValueError):
            DecodeSettings(**bad)


def test_generation_is_deterministic_per_seed(model):
    v = visual(1, 24)
    a = model.generate(v, "calm", DecodeSettings(seed=3, steps=8))
    b = model.generate(v, "calm", DecodeSettings(seed=3, steps=8))
    c = model.generate(v, "calm", DecodeSettings(seed=4, steps=8))
    assert a.shape == (24 * 4, 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_guidance_steps_and_style_change_the_output(model):
    v = visual(2)
    ref = model.generate(v, "rock", DecodeSettings(seed=0, steps=8, cfg=3.0))
    assert not np.array_equal(ref, model.generate(v, "rock", DecodeSettings(seed=0, steps=8, cfg=0.0)))
    assert not np.array_equal(ref, model.generate(v, "rock", DecodeSettings(seed=0, steps=4, cfg=3.0)))
    assert not np.array_equal(ref, model.generate(v, "calm", DecodeSettings(seed=0, steps=8, cfg=3.0)))


def test_long_video_windows_continue_the_previous_window(model):
    """A 28-beat grid is two windows (0-16, 12-28 beats); the second one is given the first
    one's last bar, so the long grid starts exactly like a one-window grid with the same seed."""
    v = visual(3, 28)
    s = DecodeSettings(seed=5, steps=8)
    one = model.generate(v[:WINDOW_BEATS], None, s)
    long = model.generate(v, None, s)
    assert long.shape == (28 * 4, 4)
    assert np.array_equal(long[:WINDOW_STEPS], one)
    # given steps are honoured when passed in explicitly, too
    given = np.full((WINDOW_STEPS, 4), -1, np.int64)
    given[:16] = one[:16]
    again = model.generate(v[:WINDOW_BEATS], None, DecodeSettings(seed=9, steps=8), given=given)
    assert np.array_equal(again[:16], one[:16])


def test_embeddings_are_unit_vectors(model):
    g = model.generate(visual(4), "epic", DecodeSettings(seed=0, steps=4))
    ve, me = model.embed_video(visual(4, 40)), model.embed_music(g)
    assert ve.shape == me.shape and abs(np.linalg.norm(ve) - 1) < 1e-6 and abs(np.linalg.norm(me) - 1) < 1e-6


def test_missing_and_corrupt_model_raise_model_error(tmp_path):
    from engines.runtime import MODELS_DIR, clear_cache

    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())
    entries = {k: manifest[k] for k in ("soundtrack", "soundtrack_embed")}
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    with pytest.raises(ModelError, match="missing"):
        SoundtrackModel(models_dir=tmp_path)
    shutil.copy(MODELS_DIR / "soundtrack.onnx", tmp_path / "soundtrack.onnx")
    with open(tmp_path / "soundtrack.onnx", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00garbage\x00")
    with pytest.raises(ModelError, match="corrupt"):
        SoundtrackModel(models_dir=tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError):
        SoundtrackModel(models_dir=tmp_path)
    clear_cache()


def test_levelwise_decoding_fills_every_level_and_keeps_given():
    calls = []
    given = np.full((WINDOW_STEPS, 4), -1, np.int64)
    given[:, 0] = 5  # chords given: only the other levels are decoded
    out = maskgit(fake_logits(calls), visual(), 0, VOCAB, given,
                  DecodeSettings(steps=8, cfg=1.0, seed=0, level_order=(3, 1, 2)))
    assert (out[:, 0] == 5).all() and (out >= 0).all()
    assert len(calls) == 3 * (8 // 3)


def test_grouped_level_is_one_token_per_group():
    """The chord level is one token per half bar: constant inside each 8-step group."""
    for seed in range(3):
        out = maskgit(fake_logits([]), visual(seed), 0, VOCAB, np.full((WINDOW_STEPS, 4), -1, np.int64),
                      DecodeSettings(steps=8, cfg=2.0, seed=seed), rates=SymbolicLevels.token_rates)
        groups = out[:, 0].reshape(-1, 8)
        assert (groups == groups[:, :1]).all()
    with pytest.raises(ValueError):
        maskgit(fake_logits([]), visual(), 0, VOCAB, np.full((60, 4), -1, np.int64), rates=(8, 1, 1, 1))


def test_generated_chords_change_only_on_half_bars(model):
    g = model.generate(visual(6, 32), "happy", DecodeSettings(seed=2, steps=8))
    changes = np.flatnonzero(g[1:, 0] != g[:-1, 0]) + 1
    assert all(c % 8 == 0 for c in changes)
