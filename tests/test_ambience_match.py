"""`studio match --audio`: a folder of recorded sound ranked for a video by the ambience model
(engines/ambience/match.py scores, studio/adapters/ambience.py walks and decodes the folder).

The property checked: a file ranks first for the conditions made from its own audio (the
training's synthetic pairs, ``features.per_second``), and for a real analysed video whose motion
follows the loud half of a file, that file ranks above its mirror image; a file that cannot be
decoded is skipped with one line, never fatal."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
COLOBOT = Path("/usr/share/games/colobot/sounds/sound018.wav")  # colobot-common-sounds (make test), 3.7 s
MOH = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")  # asterisk-moh-opsound-wav (make test)
SR = 48000


def _noise(seconds=10.0):
    t = np.arange(int(seconds * SR)) / SR
    return t, np.random.default_rng(0).standard_normal(len(t)).astype(np.float32) * 0.3


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Synthetic loudness envelopes in several formats and layouts, two real recordings (a short
    game effect, padded with silence by the match; 60 s of music, read only as far as needed),
    a damaged file and a file that is not audio."""
    for p in (COLOBOT, MOH):
        if not p.is_file():
            pytest.skip(f"{p} is not installed (packaging/debian-deps.sh)")
    lib = tmp_path_factory.mktemp("lib")
    t, noise = _noise()
    sf.write(lib / "first.wav", np.stack([noise * (t < 5)] * 2, 1), SR)  # stereo, 48 kHz
    sf.write(lib / "second.flac", noise * (t >= 5), SR)
    (lib / "sub").mkdir()
    sf.write(lib / "sub" / "alternate.ogg", noise * ((t.astype(int) % 2) == 0), SR)
    shutil.copy(COLOBOT, lib / "effect.wav")
    shutil.copy(MOH, lib / "music.wav")
    (lib / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)
    (lib / "notes.txt").write_text("not audio")
    return lib


def test_windows_are_bounded_and_score_each_frame_once():
    from engines.ambience.match import check_windows, match_seconds, windows
    from engines.errors import EngineError

    assert windows(700, 10_000) == [(0, 500, 0), (200, 700, 500)]  # the last moved back, only new frames
    assert windows(10_000, 300) == [(0, 300, 0)]  # shorter than a window: one, padded
    assert windows(5000, 5000, 2) == [(0, 500, 0), (500, 1000, 500)]  # at most N windows
    assert windows(0, 100) == []
    assert match_seconds(14.2, 3) == 14.2 and match_seconds(600.0, 3) == 30.0
    for bad in (0, 31, 2.5, True):
        with pytest.raises(EngineError, match="windows"):
            check_windows(bad)


def test_own_audio_ranks_first_and_a_damaged_file_is_skipped(library):
    from engines.ambience.features import audio_frame_features, per_second
    from studio.adapters import ambience

    files = ambience.audio_files(library)
    assert [f.name for f in files] == ["broken.mp3", "effect.wav", "first.wav", "music.wav", "second.flac",
                                       "alternate.ogg"]  # recursive, audio suffixes only
    ranks = []
    for name in ("first.wav", "second.flac", "effect.wav"):
        own = ambience.read_start(library / name, 10.0)
        assert own.shape == (240_000,) and own.dtype == np.float32
        ranked, skipped = ambience.rank_audio_files(per_second(audio_frame_features(own)), files)
        assert [Path(p).name for p, _ in skipped] == ["broken.mp3"] and "cannot be opened" in skipped[0][1]
        scores = [s for _, s in ranked]
        assert len(ranked) == 5 and scores == sorted(scores, reverse=True)
        ranks.append([Path(p).name for p, _ in ranked].index(name))
    # chance: rank 0 one time in five; each query's own file comes first here
    assert ranks.count(0) >= 2 and np.mean(ranks) < 1.0, ranks


def test_a_long_file_is_read_only_as_far_as_it_is_scored(tmp_path, monkeypatch):
    from studio import media
    from studio.adapters import ambience

    t, noise = _noise(120.0)
    sf.write(tmp_path / "long.flac", noise, SR)
    seen = []
    real = media.iter_audio

    def counting(path, **kw):
        for rate, piece in real(path, **kw):
            seen.append(piece.shape[1] / rate)
            yield rate, piece

    monkeypatch.setattr(media, "iter_audio", counting)
    y = ambience.read_start(tmp_path / "long.flac", 10.0)
    assert y.shape == (240_000,) and np.abs(y).max() > 0.1
    assert 10.0 <= sum(seen) < 12.0  # 10 s (and the resampler's margin) of the 120 s decoded


def _video(path, motion_first: bool):
    sys.path.insert(0, str(REPO / "tests"))
    import videogen

    def draw(t):
        img = np.full((120, 160, 3), 40, np.uint8)
        moving = (t < 5) == motion_first
        x = int(80 + 60 * np.sin(2 * np.pi * 1.3 * t)) if moving else 80
        img[40:80, max(0, x - 15):x + 15] = 230
        return img

    return videogen.write_video(path, draw, duration_s=10.0, fps=15, size=(160, 120))


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """A file loud in the first 5 s, its mirror image, and a steady one."""
    lib = tmp_path_factory.mktemp("halves")
    t, noise = _noise()
    sf.write(lib / "loud_first.wav", noise * (t < 5), SR)
    sf.write(lib / "loud_last.wav", noise * (t >= 5), SR)
    sf.write(lib / "steady.wav", noise * 0.3, SR)
    (lib / "damaged.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40))
    return lib


def test_cli_ranks_the_file_that_is_loud_where_the_video_moves(tmp_path, halves):
    video = _video(tmp_path / "moves_first.mp4", motion_first=True)
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "match", str(video), "--library", str(halves),
                        "--audio", "--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ranked = json.loads(r.stdout)
    assert [set(x) for x in ranked] == [{"path", "similarity"}] * 3  # the MIDI match's format
    names = [Path(x["path"]).name for x in ranked]
    assert names.index("loud_first.wav") < names.index("loud_last.wav"), ranked
    notes = r.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith(f"studio: note: skipped {halves / 'damaged.wav'}: "), r.stderr


def test_the_mirror_video_turns_the_order_round(tmp_path, halves):
    from studio.adapters.ambience import match_audio_library

    ranked, skipped = match_audio_library(_video(tmp_path / "moves_last.mp4", motion_first=False), halves,
                                          words="rain", windows=1)
    names = [Path(p).name for p, _ in ranked]
    assert names.index("loud_last.wav") < names.index("loud_first.wav"), ranked
    assert [Path(p).name for p, _ in skipped] == ["damaged.wav"]


def _one_line_error(r, fragment):
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: error:") and fragment in lines[0], r.stderr


def test_cli_errors_are_one_line_and_come_before_any_work(tmp_path, halves):
    video = REPO / "studio" / "assets" / "demo.mp4"

    def studio(*args):
        return subprocess.run([sys.executable, "-m", "studio", "-q", "match", str(video), *map(str, args)],
                              capture_output=True, text=True, cwd=REPO, timeout=120)

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no sound here")
    _one_line_error(studio("--library", empty, "--audio"), "no audio files")
    _one_line_error(studio("--library", tmp_path / "nope", "--audio"), "not a folder")
    _one_line_error(studio("--library", halves, "--audio", "--words", "lasers"), "unknown ambience word 'lasers'")
    _one_line_error(studio("--library", halves, "--audio", "--windows", "0"), "windows")
    _one_line_error(studio("--library", halves, "--words", "rain"), "add --audio")
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "a.wav").write_bytes(b"not a wav")
    from studio.adapters.ambience import rank_audio_files
    from studio.errors import StudioError

    ranked, skipped = rank_audio_files(np.full((3, 5), 0.9), [only_bad / "a.wav"])
    assert ranked == [] and len(skipped) == 1
    with pytest.raises(StudioError, match="unknown ambience word"):
        rank_audio_files(np.full((3, 5), 0.9), [only_bad / "a.wav"], words="lasers")
