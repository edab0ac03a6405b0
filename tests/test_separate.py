"""Separation engine (engines/separate, Music Gesture style mix-and-separate): the smoke training,
STFT / mask mapping, the shipped model's shapes and its SDR against the audio-only baseline and the
mixture on held-out rendered mixtures, and `studio separate` (outputs, project tracks, errors)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engines.runtime import sha256_of
from engines.separate import data as D
from engines.separate import dsp
from engines.separate import infer as I

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "engines" / "models"


@pytest.fixture(scope="module")
def mix2():
    """One held-out 2-source mixture: (sources, gains)."""
    return D.mixtures(1, 2)[0]


def test_smoke_training_writes_loadable_models(tmp_path):
    pytest.importorskip("torch")
    from engines.runtime import clear_cache
    from engines.separate.train.train import main

    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    assert main(["--smoke", "--audio-only", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    for name in (I.PLAYER, I.AUDIO_ONLY):
        assert m[name]["sha256"] == sha256_of(tmp_path / m[name]["file"]) and m[name]["training"]["steps"] == 3
    clear_cache()
    sep = I.Separator(tmp_path)
    x = np.random.default_rng(0).normal(0, 0.1, (2, 3 * 22050)).astype(np.float32)
    kp = D.source(5, "drums", D.Renderer()).kp
    r = sep.separate(x, 22050, kp)
    assert r.player.shape == x.shape and np.isfinite(r.player).all()
    lm = dsp.log_magnitude(dsp.stft(x[0, :dsp.CLIP_SAMPLES]))[None]
    assert I.audio_only_masks(np.resize(lm, (1, dsp.N_BINS, sep.frames)), tmp_path).shape == (1, 3, dsp.N_BINS, sep.frames)


def test_smoke_refuses_the_shipped_folder():
    pytest.importorskip("torch")
    from engines.separate.train.train import main

    with pytest.raises(SystemExit, match="smoke"):
        main(["--smoke", "--out", str(MODELS)])


def test_stft_inverts_and_a_full_mask_is_the_identity_at_any_rate():
    x = np.random.default_rng(1).normal(0, 0.2, (2, 20000)).astype(np.float32)
    assert np.abs(dsp.istft(dsp.stft(x), 20000) - x).max() < 1e-5
    ones = np.ones((dsp.N_BINS, 60), np.float32)
    for sr in (dsp.SR, 44100, 48000):
        assert np.abs(I.apply_mask(x, sr, ones) - x).max() < 1e-5
        assert np.abs(I.apply_mask(x, sr, 0 * ones)).max() < 1e-6


def test_shipped_entries():
    m = json.loads((MODELS / "manifest.json").read_text())
    for name in (I.PLAYER, I.AUDIO_ONLY):
        e = m[name]
        f = MODELS / e["file"]
        assert f.stat().st_size < 20 * 1024 * 1024 and e["bytes"] == f.stat().st_size
        assert e["sha256"] == sha256_of(f)
        assert e["model_card"] == "engines/separate/README.md" and "synthetic" in e["licence"]
        assert {"command", "data", "params", "seed", "steps"} <= set(e["training"])
    assert {"2_sources", "3_sources", "seconds_per_minute"} <= set(m[I.PLAYER]["metrics"])


def test_separation_shapes_and_sum(mix2):
    from scipy.signal import resample_poly

    srcs, gains = mix2
    x = sum(g * s.audio for s, g in zip(srcs, gains))
    y = resample_poly(x, 4, 1).astype(np.float32)  # 44100 Hz
    audio = np.stack([y, 0.5 * y])
    r = I.Separator().separate(audio, 44100, srcs[0].kp)
    assert r.player.shape == r.residual.shape == audio.shape and r.player.dtype == np.float32
    assert np.isfinite(r.player).all() and np.abs(r.player + r.residual - audio).max() < 1e-5
    assert r.mask.shape == (dsp.N_BINS, dsp.n_frames(dsp.CLIP_SAMPLES)) and 0 <= r.mask.min() <= r.mask.max() <= 1


def test_shipped_model_beats_the_audio_only_baseline_and_the_mixture():
    """Two held-out mixtures each of 2 and 3 sources, scored with mir_eval: the keypoint-conditioned
    model's mean SDR above the audio-only model's (oracle-assigned) and the mixture's."""
    from engines.separate.evaluate import evaluate

    res = evaluate(MODELS, n=2, conditions=("2", "3"), timing=False)  # ~10 s: bss_eval is slow
    for c in ("2_sources", "3_sources"):
        r = res[c]
        assert r["player"]["sdr"] > r["audio_only"]["sdr"] + 0.5, r
        assert r["player"]["sdr"] > r["mixture"]["sdr"] + 3.0, r
        assert r["irm"]["sdr"] > r["player"]["sdr"], r


# -- studio separate ---------------------------------------------------------------------------
_OP = {"nose": 0, "neck": 1, "r_shoulder": 2, "r_elbow": 3, "r_wrist": 4, "l_shoulder": 5, "l_elbow": 6,
       "l_wrist": 7, "r_hip": 9, "r_knee": 10, "r_ankle": 11, "l_hip": 12, "l_knee": 13, "l_ankle": 14}


def _openpose_file(path: Path, people, fps: float) -> Path:
    """Keypoints (the studio's skeleton) of several people -> one OpenPose JSON (BODY_25, pixels)."""
    from engines.performer.keypoints import J, resample

    people = [resample(kp, fps) for kp in people]
    n = min(kp.n_frames for kp in people)
    frames = []
    for i in range(n):
        ps = []
        for k, kp in enumerate(people):
            body = np.zeros((25, 3))
            for name, j in _OP.items():
                body[j] = (*(kp.xy[i, J[name]] * 80 + (200 + 400 * k, 200)), 0.9)
            ps.append({"pose_keypoints_2d": body.ravel().tolist()})
        frames.append({"people": ps})
    path.write_text(json.dumps({"fps": fps, "frames": frames}))
    return path


@pytest.fixture(scope="module")
def duet(tmp_path_factory, mix2):
    """A 4 s video whose audio is the held-out 2-source mixture's players at equal levels (48 kHz
    stereo, AAC), and an OpenPose file of both players (person 0, person 1)."""
    import videogen
    from scipy.signal import resample_poly

    d = tmp_path_factory.mktemp("separate")
    srcs, _ = mix2
    refs = [resample_poly(s.audio, 640, 147).astype(np.float32) for s in srcs]
    x = sum(refs)
    video = videogen.write_video(d / "duet.mp4", lambda t: np.full((120, 160, 3), 90, np.uint8), duration_s=4.0,
                                 fps=30, size=(160, 120), audio=np.stack([x, x]), sample_rate=48000)
    kp = _openpose_file(d / "duet.pose.json", [s.kp for s in srcs], 30.0)
    return video, kp, refs


def _corr(a, b):
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_cli_separates_the_person_asked_for_into_a_project(duet, tmp_path, capsys):
    import soundfile as sf

    from studio.cli import main
    from studio.project import Project, Track, TrackKind

    video, kp, refs = duet
    proj = Project(name="duet")
    proj.tracks.append(Track("Original audio", TrackKind.AUDIO, audio_path=str(video), original_audio=True))
    proj.save(tmp_path / "p" / "project.json")
    for person in (0, 1):
        assert main(["-q", "separate", str(video), "--person", str(person), "--keypoints", str(kp),
                     "--project", str(tmp_path / "p")]) == 0
        player, sr = sf.read(tmp_path / "p" / "assets" / f"duet.person{person}.separated.wav", always_2d=True)
        assert sr == 48000
        # the output follows the person asked for: closer to that player's audio than to the other's
        # (0.78 vs 0.50 and 0.80 vs 0.42 for this piano + guitar at 11025 Hz, without the AAC round trip)
        assert _corr(player[:, 0], refs[person]) > _corr(player[:, 0], refs[1 - person]) + 0.2
    out = capsys.readouterr().out
    assert "separated.wav" in out and "residual.wav" in out
    p = Project.load(tmp_path / "p")
    names = [t.name for t in p.tracks]
    assert names == ["Original audio", "Person 0 (separated)", "Without person 0", "Person 1 (separated)",
                     "Without person 1"]
    assert p.tracks[0].mixer.mute and all(t.engine == "separate" for t in p.tracks[1:])
    assert not p.missing_assets()
    # refused over existing files without --overwrite
    assert main(["-q", "separate", str(video), "--person", "1", "--keypoints", str(kp),
                 "--project", str(tmp_path / "p")]) == 2
    assert "--overwrite" in capsys.readouterr().err


def _err(capsys, argv) -> str:
    from studio.cli import main

    assert main(["-q", "separate"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("studio: error: ") and "Traceback" not in err
    return err


def test_cli_errors(duet, tmp_path, capsys, monkeypatch):
    import videogen

    from engines import runtime
    from engines.performer.keypoints import save_keypoints

    video, kp, _ = duet
    out = ["--out", str(tmp_path / "o")]
    assert "no person 5" in _err(capsys, [str(video), "--keypoints", str(kp), "--person", "5"] + out)
    assert "numbered from 0" in _err(capsys, [str(video), "--keypoints", str(kp), "--person", "-1"] + out)
    one = tmp_path / "one.keypoints.json"
    save_keypoints(one, D.source(3, "piano", D.Renderer()).kp)
    assert "one person" in _err(capsys, [str(video), "--keypoints", str(one), "--person", "1"] + out)
    assert "studio pose" in _err(capsys, [str(video)] + out)  # no keypoints beside the video
    assert "does not exist" in _err(capsys, [str(video), "--keypoints", str(tmp_path / "nope.json")] + out)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not readable JSON" in _err(capsys, [str(video), "--keypoints", str(bad)] + out)
    silent = videogen.write_video(tmp_path / "silent.mp4", lambda t: np.zeros((120, 160, 3), np.uint8),
                                  duration_s=1.0, fps=30, size=(160, 120))
    assert "no audio stream" in _err(capsys, [str(silent), "--keypoints", str(kp)] + out)
    # missing and corrupt model
    models = tmp_path / "models"
    models.mkdir()
    entry = json.loads((MODELS / "manifest.json").read_text())[I.PLAYER]
    (models / "manifest.json").write_text(json.dumps({I.PLAYER: entry}))
    monkeypatch.setattr(runtime, "MODELS_DIR", models)
    runtime.clear_cache()
    try:
        assert "missing" in _err(capsys, [str(video), "--keypoints", str(kp)] + out)
        (models / entry["file"]).write_bytes(b"not a model")
        assert "corrupt" in _err(capsys, [str(video), "--keypoints", str(kp)] + out)
        (models / "manifest.json").write_text("{}")
        assert "no model named" in _err(capsys, [str(video), "--keypoints", str(kp)] + out)
    finally:
        runtime.clear_cache()
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_bench_quick_reports_speed_against_the_stft_round_trip():
    from studio.bench.separate import run

    r = run(quick=True)
    assert r["wall_s"] > 0 and r["baseline_s"] > 0 and r["realtime_factor"] > 0
    assert r["sdr_first_4s_db"] > r["sdr_mixture_first_4s_db"]
