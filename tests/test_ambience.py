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


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """`studio generate CLIP --ambience "rain, city" --seed 3` on a 3 s clip: (clip, project folder)."""
    sys.path.insert(0, str(REPO / "tests"))
    import videogen

    def draw(t):
        img = np.full((120, 160, 3), 40, np.uint8)
        x = int(10 + 120 * (t / 3.0))
        img[40:80, x:x + 30] = 230
        return img

    tmp = tmp_path_factory.mktemp("gen")
    clip = videogen.write_video(tmp / "clip.mp4", draw, duration_s=3.0, fps=15, size=(160, 120))
    out = tmp / "gen"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(clip), "--ambience", "rain, city",
                        "--seed", "3", "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return clip, out


def test_generate_cli_makes_an_ambience_track(generated, tmp_path):
    clip, out = generated
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


FRESH_RENDER = """
import sys
import numpy as np
from engines.ambience.infer import Ambience

def refuse(*a, **k):
    raise AssertionError("the ambience generator ran while rendering")

Ambience.generate_tokens = refuse
from studio import adapters
from studio.project import Project
from studio.render import render_track_source

adapters.register_all()
p = Project.load(sys.argv[1])
[t] = [t for t in p.tracks if t.engine == "ambience"]
np.save(sys.argv[2], np.asarray(render_track_source(t, p, p.sample_rate, None)))
"""


def test_rendering_in_a_new_session_reads_the_stored_tokens(generated, tmp_path, monkeypatch):
    """The tokens travel in the project: a fresh process renders the track with the generator
    refused, and an older project without them (made again from words, seed and rows) gives
    the same samples."""
    from engines.ambience.infer import Ambience
    from studio import adapters
    from studio.adapters import ambience
    from studio.project import Project
    from studio.render import render_track_source

    _, out = generated
    p = Project.load(out / "project.json")
    [t] = [t for t in p.tracks if t.engine == "ambience"]
    codes = ambience.unpack_codes(t.settings["codes"], 150)
    assert codes is not None and codes.shape == (8, 150) and codes.dtype == np.int16
    r = subprocess.run([sys.executable, "-c", FRESH_RENDER, str(out / "project.json"), str(tmp_path / "fresh.npy")],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    fresh = np.load(tmp_path / "fresh.npy")
    assert fresh.shape == (2, 3 * p.sample_rate) and np.abs(fresh).max() > 1e-3

    calls = []
    real = Ambience.generate_tokens
    monkeypatch.setattr(Ambience, "generate_tokens", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(ambience, "_cache", type(ambience._cache)())  # nothing made in this process before
    old = dict(t.settings)
    del old["codes"]  # a project saved before the tokens were stored
    (out / "old.json").write_text(json.dumps({**p.to_dict(), "tracks": [
        {**x.to_dict(), "settings": old} if x.id == t.id else x.to_dict() for x in p.tracks]}))
    po = Project.load(out / "old.json")
    adapters.register_all()
    [to] = [x for x in po.tracks if x.engine == "ambience"]
    again = np.asarray(render_track_source(to, po, po.sample_rate, None))
    assert calls == [1] and np.array_equal(again, fresh)
    assert ambience.pack_codes(ambience._tokens(old)) == t.settings["codes"]


def test_damaged_stored_tokens_are_made_again():
    from studio.adapters import ambience

    codes = np.arange(8 * 20, dtype=np.int16).reshape(8, 20)
    text = ambience.pack_codes(codes)
    assert np.array_equal(ambience.unpack_codes(text, 20), codes)
    assert ambience.unpack_codes(text, 21) is None  # not the track's length
    assert ambience.unpack_codes(text[:-8], 20) is None and ambience.unpack_codes("%%%", 20) is None
    assert ambience.unpack_codes(None, 20) is None
    assert ambience.unpack_codes(ambience.pack_codes(codes + 1020), 20) is None  # outside the codebooks


def test_a_region_is_made_again_by_inpainting_between_the_tracks_own_tokens(generated):
    """`Re-generate loop region` on an Ambience track (options regenerate_track + region, as the
    app sends them): the same track comes back with only the region's tokens new, the region's
    words, the edit recorded so that a track whose stored tokens are lost is made again with it."""
    from studio import generate as gen
    from studio.adapters import ambience
    from studio.analysis import analyze
    from studio.errors import StudioError
    from studio.project import Project

    clip, out = generated
    p = Project.load(out / "project.json")
    [t] = [t for t in p.tracks if t.engine == "ambience"]
    timeline = analyze(clip)
    before = ambience.unpack_codes(t.settings["codes"], 150)

    def remake(**options):
        settings = gen.GenerateSettings(seed=9, options=options)
        return gen.run(gen.plan(p, ["ambience"], settings, timeline=timeline))

    res = remake(regenerate_track=t.id, region=[1.0, 2.0], ambience="explosion")
    assert res.new_tracks == () and [x.id for x in res.replaced_tracks] == [t.id]
    [new] = res.replaced_tracks
    after = ambience.unpack_codes(new.settings["codes"], 150)
    assert np.array_equal(after[:, :50], before[:, :50]) and np.array_equal(after[:, 100:], before[:, 100:])
    assert np.mean(after[:, 50:100] != before[:, 50:100]) > 0.5
    assert new.settings["words"] == ["machine", "water"]  # the track's own words stay for the rest
    assert new.settings["edits"] == [{"start_s": 1.0, "end_s": 2.0, "words": ["explosion"], "seed": 9}]
    lost = {k: v for k, v in new.settings.items() if k != "codes"}
    assert np.array_equal(ambience._tokens(lost), after)  # made again: the track, then the edit

    # no words given: the track's own; a region past the end is clipped to the track
    [again] = remake(regenerate_track=t.id, region=[2.5, 9.0]).replaced_tracks
    assert again.settings["edits"][-1] == {"start_s": 2.5, "end_s": 3.0, "words": ["machine", "water"], "seed": 9}
    with pytest.raises(StudioError, match="outside the 3.00 s of Ambience"):
        remake(regenerate_track=t.id, region=[4.0, 5.0])
    with pytest.raises(StudioError, match="is not an ambience track"):
        remake(regenerate_track="no-such-track", region=[0.0, 1.0])
    with pytest.raises(StudioError, match="not after start"):
        gen.plan(p, ["ambience"], gen.GenerateSettings(options={"regenerate_track": t.id, "region": [2.0, 1.0]}))


def test_the_seam_measure_sees_a_hard_cut_and_not_a_steady_sound():
    from engines.ambience.evaluate_seams import edge_ratios

    rng = np.random.default_rng(0)
    t = np.arange(30 * 24000) / 24000
    steady = 0.1 * rng.standard_normal(t.size)
    cut = steady.copy()
    cut[10 * 24000:20 * 24000] = 0.3 * np.sin(2 * np.pi * 440 * t[10 * 24000:20 * 24000])
    assert max(edge_ratios(steady)) < 2.0 and min(edge_ratios(cut)) > 5.0
