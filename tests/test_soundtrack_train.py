"""Soundtrack training smoke run: a few steps on a few corpus pieces into a temporary folder."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("music21")


def test_training_smoke_run_exports_a_working_model_and_leaves_the_shipped_one(tmp_path):
    from engines.runtime import MODELS_DIR, clear_cache, sha256_of
    from engines.soundtrack.infer import SoundtrackModel
    from engines.soundtrack.sampler import DecodeSettings
    from engines.soundtrack.train import train

    shipped = sha256_of(MODELS_DIR / "soundtrack.onnx")
    shipped_manifest = (MODELS_DIR / "manifest.json").read_text()
    out = tmp_path / "models"
    report = train.main(["--smoke", "--out", str(out)])
    assert report["train_steps"] == 3 and report["onnx_max_abs_diff"] < 1e-3
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest) == {"soundtrack", "soundtrack_embed"}
    assert manifest["soundtrack"]["inputs"] == ["tokens", "visual", "style", "vis_keep"]
    assert (out / "soundtrack.onnx").stat().st_size < 20e6
    model = SoundtrackModel(models_dir=out)
    assert model.metadata["engine"] == "soundtrack" and json.loads(model.metadata["levels"])[3] == "drums"
    g = model.generate(np.zeros((16, model.n_features), np.float32), "rock", DecodeSettings(steps=2))
    assert g.shape == (64, 4)
    assert sha256_of(MODELS_DIR / "soundtrack.onnx") == shipped
    assert (MODELS_DIR / "manifest.json").read_text() == shipped_manifest
    assert (out / "soundtrack_train.json").exists()  # the report beside the trial models
    clear_cache()


def test_masking_ratio_is_a_truncated_gaussian():
    from engines.soundtrack.train.train import mask_ratio

    r = mask_ratio(np.random.default_rng(0), 20000)
    assert r.min() >= 0.5 and r.max() <= 1.0
    assert 0.55 < np.median(r) < 0.75  # mass piles up near the 0.55 mode, tail to 1


def test_training_on_a_pairs_file(tmp_path):
    """A user's real pairs (.npz) replace the synthetic ones; bad files are refused."""
    from engines.runtime import clear_cache
    from engines.soundtrack.infer import SoundtrackModel
    from engines.soundtrack.tokens import SymbolicLevels
    from engines.soundtrack.train import train

    rng = np.random.default_rng(0)
    n = 24
    grid = np.stack([rng.integers(0, v, (n, 64)) for v in SymbolicLevels.vocab_sizes], -1)
    np.savez(tmp_path / "pairs.npz", grid=grid, visual=rng.random((n, 16, 11)).astype(np.float32),
             group=np.arange(n) // 4)
    out = tmp_path / "models"
    report = train.main(["--out", str(out), "--steps", "2", "--batch", "4", "--pairs", str(tmp_path / "pairs.npz")])
    assert report["train_windows"] + report["held_out_windows"] == n and report["held_out_windows"] > 0
    entry = json.loads((out / "manifest.json").read_text())["soundtrack"]
    assert "pairs.npz" in entry["training_data"] and "--pairs" in entry["train_command"]
    SoundtrackModel(models_dir=out)
    clear_cache()
    np.savez(tmp_path / "bad.npz", grid=grid[:, :10], visual=rng.random((n, 16, 11)))
    with pytest.raises(SystemExit, match="need grid"):
        train.main(["--out", str(out), "--steps", "1", "--pairs", str(tmp_path / "bad.npz")])
