"""Foley engine models: the ONNX diffusion sampler, the visual material classifier, their
failure modes, per-hit edits and a smoke run of both training scripts."""
from __future__ import annotations

import json

import numpy as np
import pytest
from model_copies import copy_models

from engines import runtime
from engines.errors import ModelError
from engines.foley import synthesize, unpack
from engines.foley.edits import edit
from engines.foley.infer import MATERIAL_NAMES, MaterialClassifier, ParamSampler, sampler

SR = 48_000


def test_sampler_deterministic_per_seed_and_varied_across_seeds():
    s = sampler()
    mats, sizes, strengths = ["glass"] * 6, [0.4] * 6, [0.7] * 6
    a = s.sample(mats, sizes, strengths, [1, 2, 3, 4, 5, 6])
    b = s.sample(mats, sizes, strengths, [1, 2, 3, 4, 5, 6])
    assert a.shape == (6, 67) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # a hit's vector does not depend on the rest of the batch
    np.testing.assert_allclose(s.sample(["glass"], [0.4], [0.7], [3])[0], a[2], atol=1e-5)
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))[np.triu_indices(6, 1)]
    assert d.min() > 0.05, d  # round robin: no two seeds give the same hit
    f1 = [unpack(v).freqs_hz[0] for v in a]
    assert np.std(np.log2(f1)) > 0.01  # the pitch varies too


@pytest.mark.parametrize("material", MATERIAL_NAMES)
def test_generated_params_decode_to_valid_sounds(material):
    s = sampler()
    vecs = s.sample([material] * 4, [0.2, 0.5, 0.8, 0.5], [0.3, 0.6, 0.9, 1.0], [10, 11, 12, 13])
    for v in vecs:
        p = unpack(v)
        assert 1 <= p.n_modes <= 16
        assert np.all((p.freqs_hz > 20) & (p.freqs_hz < 24_000))
        y = synthesize(p, SR, seed=0)
        assert np.all(np.isfinite(y)) and y.size > 0.02 * SR
        peak = np.abs(y).max()
        assert 1e-4 < peak < 1.2, peak


def test_sampled_physics_follows_material():
    """Metal rings far longer than cloth; glass sits higher than drywall (medians of 16)."""
    s = sampler()
    n = 16

    def med(m, f):
        return np.median([f(unpack(v)) for v in s.sample([m] * n, [0.5] * n, [0.6] * n, range(n))])

    ring = lambda p: np.median(60 / p.decays_dbps)  # noqa: E731  T60 of the modes
    assert med("metal", ring) > 5 * med("cloth", ring)
    assert med("glass", lambda p: p.freqs_hz[0]) > 2 * med("drywall", lambda p: p.freqs_hz[0])


def test_onnx_files_have_metadata_and_named_io():
    import onnx

    for name, ins, outs in (("foley_diffusion", ["x_t", "t", "material", "cond"], ["eps"]),
                            ("foley_material", ["features"], ["logits"])):
        info = runtime.model_info(name)
        assert info.path.stat().st_size < 20e6
        m = onnx.load(str(info.path))
        meta = {p.key: p.value for p in m.metadata_props}
        assert meta["version"] and json.loads(meta["config"])["materials"] == list(MATERIAL_NAMES)
        assert [i.name for i in m.graph.input] == ins and [o.name for o in m.graph.output] == outs
        assert list(info.inputs) == ins and list(info.outputs) == outs


def test_visual_classifier_on_held_out_patches():
    from engines.foley.train.textures import patches

    clf = MaterialClassifier()
    correct = total = 0
    for m in MATERIAL_NAMES:
        got = clf.classify_patches(list((patches(m, 12, 4242) * 255).astype(np.uint8)))
        correct += sum(g == m for g in got)
        total += len(got)
    assert correct / total > 0.85


def _copy_models(tmp_path):
    d = tmp_path / "models"
    return d, copy_models(d, "foley_")


def test_missing_or_corrupt_model_gives_model_error(tmp_path):
    d, keep = _copy_models(tmp_path)
    (d / keep["foley_diffusion"]["file"]).unlink()
    with pytest.raises(ModelError, match="missing"):
        ParamSampler(d)
    data = bytearray((runtime.MODELS_DIR / keep["foley_material"]["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / keep["foley_material"]["file"]).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        MaterialClassifier(d)
    # a file that matches its checksum but is no ONNX model
    junk = d / "junk.onnx"
    junk.write_bytes(b"not a model" * 10)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["foley_diffusion"] = {**manifest["foley_diffusion"], "file": "junk.onnx",
                                   "sha256": runtime.sha256_of(junk)}
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="cannot be loaded"):
        ParamSampler(d)


def test_edits_change_only_what_they_say():
    s = sampler()
    p = unpack(s.sample(["wood"], [0.5], [0.6], [5])[0])
    assert edit(p) is p
    up = edit(p, pitch_st=12)
    np.testing.assert_allclose(up.freqs_hz, 2 * p.freqs_hz)
    np.testing.assert_array_equal(up.band_levels_db, p.band_levels_db)
    longer = edit(p, ring=2.0)
    np.testing.assert_allclose(longer.decays_dbps, p.decays_dbps / 2)
    cut = edit(p, low_cut_hz=float(np.median(p.freqs_hz)) + 1e-6)
    assert cut.n_modes < p.n_modes and np.all(cut.freqs_hz >= np.median(p.freqs_hz))
    quiet = edit(p, residual_db=-20)
    np.testing.assert_allclose(quiet.band_levels_db, p.band_levels_db - 20)
    bright = edit(p, brightness_db_per_oct=6)
    assert np.all(np.diff(bright.levels_db - p.levels_db) >= -1e-9)


def test_training_scripts_smoke(tmp_path):
    """--smoke: a few steps of each training script into tmp_path (never the shipped models),
    with a manifest beside the models."""
    from engines.foley.train import train_diffusion, train_material

    before = runtime.sha256_of(runtime.MODELS_DIR / "foley_diffusion.onnx")
    shipped_manifest = (runtime.MODELS_DIR / "manifest.json").read_text()
    assert train_diffusion.main(["--smoke", "--out", str(tmp_path / "foley_diffusion.onnx")]) == 0
    assert train_material.main(["--smoke", "--out", str(tmp_path / "foley_material.onnx")]) == 0
    assert set(json.loads((tmp_path / "manifest.json").read_text())) == {"foley_diffusion", "foley_material"}
    assert runtime.sha256_of(runtime.MODELS_DIR / "foley_diffusion.onnx") == before
    assert (runtime.MODELS_DIR / "manifest.json").read_text() == shipped_manifest
    s = ParamSampler(tmp_path)
    assert s.sample(["metal", "cloth"], [0.5, 0.5], [0.5, 0.5], [1, 2]).shape == (2, 67)
    assert MaterialClassifier(tmp_path).probabilities(np.zeros((3, 14), np.float32)).shape == (3, 9)
