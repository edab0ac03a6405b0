"""The ambience engine: smoke training, the shipped model's generation, inpainting and errors,
and `studio generate --ambience WORDS` through the real CLI on a short clip."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def amb():
    from engines.ambience.infer import Ambience

    return Ambience()


def _rows(seconds, motion=0.9):
    r = np.zeros((seconds, 5), np.float32)
    r[:, 0], r[:, 1], r[:, 2], r[:, 3] = motion, motion / 2, 0.4, 0.6
    return r


def test_smoke_training_writes_a_loadable_model(tmp_path):
    from engines.ambience.infer import Ambience
    from engines.codec.infer import Codec

    out = tmp_path / "models"
    r = subprocess.run([sys.executable, "-m", "engines.ambience.train", "--smoke", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    entry = json.loads((out / "manifest.json").read_text())["ambience"]
    assert entry["training"]["steps"] == 2 and entry["onnx_parity_max_abs"] < 1e-3
    a = Ambience(out, codec=Codec())
    codes = a.generate_tokens(1.5, _rows(2), "bell", seed=0, steps=2)
    assert codes.shape == (8, 75) and codes.min() >= 0 and codes.max() < 1024


def test_smoke_refuses_the_shipped_folder():
    r = subprocess.run([sys.executable, "-m", "engines.ambience.train", "--smoke"], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert r.returncode != 0 and "--smoke" in r.stderr


def test_generates_the_right_length_deterministically(amb):
    y = amb.generate(3.3, _rows(4), "rain, city", seed=5, steps=4)
    assert y.shape == (79200,) and y.dtype == np.float32 and np.isfinite(y).all() and np.abs(y).max() > 1e-3
    a = amb.generate_tokens(3.3, _rows(4), "rain, city", seed=5, steps=4)
    b = amb.generate_tokens(3.3, _rows(4), "rain, city", seed=5, steps=4)
    c = amb.generate_tokens(3.3, _rows(4), "rain, city", seed=6, steps=4)
    assert a.shape == (8, 165) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_words_change_the_tokens(amb):
    a = amb.generate_tokens(4.0, _rows(4), "water", seed=1, steps=4)
    b = amb.generate_tokens(4.0, _rows(4), "music", seed=1, steps=4)
    assert (a != b).mean() > 0.1


def test_long_generation_continues_windows_and_inpainting_keeps_the_rest(amb):
    codes = amb.generate_tokens(13.0, _rows(13), "machine", seed=2, steps=2)
    assert codes.shape == (8, 650)
    new = amb.inpaint(codes, 4.0, 6.0, _rows(13), "explosion", seed=3, steps=2)
    assert np.array_equal(new[:, :200], codes[:, :200]) and np.array_equal(new[:, 300:], codes[:, 300:])
    assert (new[:, 200:300] != codes[:, 200:300]).mean() > 0.3
    blocks = list(amb.iter_audio(codes, block=300))
    assert [s for s, _ in blocks] == [0, 144000, 288000] and sum(len(b) for _, b in blocks) == 650 * 480


@pytest.mark.parametrize("call, fragment", [
    (lambda a: a.generate_tokens(2.0, _rows(2), "lasers"), "unknown ambience word"),
    (lambda a: a.generate_tokens(-1.0, _rows(2)), "duration"),
    (lambda a: a.generate_tokens(float("nan"), _rows(2)), "duration"),
    (lambda a: a.generate_tokens(5.0, _rows(2)), "cover 2 s"),
    (lambda a: a.generate_tokens(2.0, np.zeros((2, 3))), "shape"),
    (lambda a: a.generate_tokens(2.0, np.full((2, 5), np.nan)), "NaN"),
    (lambda a: a.generate_tokens(2.0, _rows(2), seed=-1), "seed"),
    (lambda a: a.inpaint(np.zeros((8, 100), np.int64), 1.0, 3.0, _rows(2)), "region"),
    (lambda a: a.inpaint(np.zeros((4, 100), np.int64), 0.0, 1.0, _rows(2)), "codes"),
])
def test_bad_input_is_an_engine_error(amb, call, fragment):
    from engines.errors import EngineError

    with pytest.raises(EngineError, match=fragment):
        call(amb)


def test_features_from_a_timeline_like_video():
    from engines.ambience.features import from_video, parse_words, word_mask

    rows = from_video(3.5, [0.0, 0.1, 1.0], [0.2, 0.5, 0.9], [0.1, 0.1, 0.1], [0, 1, 0], [0.5, 2.1, 2.2, 2.9])
    assert rows.shape == (4, 5) and rows[0, 0] == 0.85 and rows[2, 0] == 1 and rows[1, 4] == 1
    assert np.allclose(rows[:, 1], [0.25 + 0.75 * 0.25, 0.25, 0.25 + 0.75 * 0.75, 0.25])
    assert parse_words("Rain, city") == ("machine", "water") and word_mask("") == 0


def test_generate_cli_makes_an_ambience_track(tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    import videogen

    def draw(t):
        img = np.full((120, 160, 3), 40, np.uint8)
        x = int(10 + 120 * (t / 3.0))
        img[40:80, x:x + 30] = 230
        return img

    clip = videogen.write_video(tmp_path / "clip.mp4", draw, duration_s=3.0, fps=15, size=(160, 120))
    out = tmp_path / "gen"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(clip), "--ambience", "rain, city",
                        "--seed", "3", "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from studio.project import Project
    from studio.render import load_audio

    p = Project.load(out / "project.json")
    [t] = [t for t in p.tracks if t.engine == "ambience"]
    assert t.name == "Ambience" and t.settings["words"] == ["machine", "water"] and t.settings["seed"] == 3
    assert len(t.settings["visual"]) == 3
    mix = load_audio(out / "mix.wav", p.sample_rate)
    assert mix.shape[0] == 2 and abs(mix.shape[1] - 3.0 * p.sample_rate) <= 2 and np.abs(mix).max() > 1e-3
    bad = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(clip), "--ambience", "lasers",
                          "--out", str(tmp_path / "bad")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert bad.returncode == 2 and "unknown ambience word" in bad.stderr
