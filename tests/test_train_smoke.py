"""Every engine's training scripts (``engines/<name>/train/train*.py``) take ``--smoke`` (a few
steps on tiny data into a temporary folder), refuse to run it over the shipped models, and are
run that way by a test. The smoke runs themselves live with each engine's tests
(:data:`SMOKE_TESTS`) so that one pytest process imports torch once for all of them."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINES = sorted(p.name for p in (ROOT / "engines").iterdir() if (p / "train").is_dir())
SCRIPTS = sorted(p for e in ENGINES for p in (ROOT / "engines" / e / "train").glob("train*.py"))
# script -> the test file that runs its --smoke
SMOKE_TESTS = {
    "engines/ambience/train/train.py": "tests/test_ambience.py",
    "engines/codec/train/train.py": "tests/test_codec.py",
    "engines/foley/train/train_diffusion.py": "tests/test_foley_models.py",
    "engines/foley/train/train_material.py": "tests/test_foley_models.py",
    "engines/motion/train/train.py": "tests/test_motion_sections.py",
    "engines/performer/train/train.py": "tests/test_performer_train.py",
    "engines/piano/train/train_roll2midi.py": "tests/test_piano_train.py",
    "engines/piano/train/train_video2roll.py": "tests/test_piano_train.py",
    "engines/rhythm/train/train_drum2music.py": "tests/test_rhythm_train.py",
    "engines/rhythm/train/train_groove.py": "tests/test_rhythm_train.py",
    "engines/rhythm/train/train_rhythm2drum.py": "tests/test_rhythm_train.py",
    "engines/separate/train/train.py": "tests/test_separate.py",
    "engines/soundtrack/train/train.py": "tests/test_soundtrack_train.py",
    "engines/spatial/train/train.py": "tests/test_spatial_field.py",
}


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def test_every_engine_has_the_same_shape():
    for e in ENGINES:
        folder = ROOT / "engines" / e
        assert (folder / "README.md").exists(), e
        assert (folder / "infer.py").exists(), e
        assert (folder / "evaluate.py").exists(), e


def test_every_training_script_has_a_smoke_run_and_a_test_running_it():
    assert {_rel(p) for p in SCRIPTS} == set(SMOKE_TESTS)
    for script, test in SMOKE_TESTS.items():
        assert "smoke" in (ROOT / script).read_text(encoding="utf-8"), script
        text = (ROOT / test).read_text(encoding="utf-8")
        module = Path(script).stem
        assert module in text and '"--smoke"' in text, f"{test} does not run {script} --smoke"


@pytest.mark.parametrize("script", sorted(SMOKE_TESTS))
def test_smoke_refuses_the_shipped_models(script):
    pytest.importorskip("torch")
    from engines.runtime import MODELS_DIR, sha256_of

    before = sha256_of(MODELS_DIR / "manifest.json")
    mod = importlib.import_module(script[:-3].replace("/", "."))
    out = MODELS_DIR / "foley_x.onnx" if "/foley/" in script else MODELS_DIR
    args = (["studio"] if "/spatial/" in script else []) + ["--smoke", "--out", str(out)]
    with pytest.raises(SystemExit) as e:
        mod.main(args)
    assert "smoke" in str(e.value)
    assert sha256_of(MODELS_DIR / "manifest.json") == before
