"""Hostile inputs, end to end through the command line as a user meets them.

Each case: a clear one-line error (``studio: error: ...``, exit status 2, no traceback) or, for
inputs that are merely unusual, a normal result; and nothing half-written: the output folder,
the project and earlier exports are as they were. The README lists every case and its behaviour
(section "Robustness"); lower-level variants of several cases are in test_media, test_project,
test_export, test_runtime and test_transport_jack.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

import videogen
from studio.music import Note, TempoMap
from studio.project import SCHEMA_VERSION, Project, Track, TrackKind, VideoClip

REPO = Path(__file__).resolve().parents[1]


def studio(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, env=env)


def one_line_error(r, *fragments) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: error:"), r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _draw(t: float) -> np.ndarray:
    img = np.full((48, 64, 3), 30, np.uint8)
    x = int(10 + 40 * (t % 1.0))
    img[20:30, x:x + 8] = 220
    return img


# -- media ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(5)
    good = videogen.write_video(d / "good.mp4", _draw, duration_s=1.0, fps=25, size=(64, 48))
    out = {"good": good}
    out["zero_length"] = d / "zero.mp4"
    out["zero_length"].write_bytes(b"")
    out["random_bytes"] = d / "random.mov"
    out["random_bytes"].write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    out["text_named_mp4"] = d / "letter.mp4"
    out["text_named_mp4"].write_text("Dear editor,\n" * 200)
    data = good.read_bytes()
    out["truncated"] = d / "truncated.mp4"
    out["truncated"].write_bytes(data[: len(data) // 3])
    out["audio_only"] = videogen.write_audio_only(d / "song.m4a", 0.1 * np.ones((2, 48000), np.float32))
    out["folder"] = d / "a_folder.mp4"
    out["folder"].mkdir()
    out["missing"] = d / "missing.mp4"
    # larger than any frame the studio accepts (16384 px), yet a tiny file
    huge = d / "huge.mkv"
    with av.open(str(huge), "w") as c:
        s = c.add_stream("ffv1", rate=1)
        s.width, s.height, s.pix_fmt = 20000, 8, "gray"
        frame = av.VideoFrame.from_ndarray(np.zeros((8, 20000), np.uint8), format="gray")
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    out["huge_resolution"] = huge
    # three hours long in two frames (the second shown at 3 h): probing must not decode it all
    long = d / "three_hours.mkv"
    with av.open(str(long), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = Fraction(1, 1000)
        for i, pts in enumerate((0, 3 * 3600 * 1000)):
            f = av.VideoFrame.from_ndarray(_draw(i * 0.5), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = pts, Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    out["three_hours"] = long
    return out


@pytest.mark.parametrize("case,fragment", [
    ("zero_length", "zero.mp4"), ("random_bytes", "random.mov"), ("text_named_mp4", "letter.mp4"),
    ("truncated", "truncated.mp4"), ("audio_only", "no video"), ("folder", "a_folder.mp4"),
    ("missing", "missing.mp4"), ("huge_resolution", "16384"),
])
def test_bad_media_is_one_clear_line_and_writes_nothing(hostile_media, tmp_path, case, fragment):
    path = hostile_media[case]
    one_line_error(studio("analyze", path), fragment)
    out = tmp_path / "out"
    started = time.monotonic()
    one_line_error(studio("generate", path, "--out", out), fragment)
    assert time.monotonic() - started < 60
    assert not out.exists() or snapshot(out) == {}


def test_three_hour_file_is_probed_from_its_timestamps_without_decoding(hostile_media):
    from studio import media

    started = time.monotonic()
    info = media.probe(hostile_media["three_hours"])
    assert time.monotonic() - started < 2.0
    assert info.duration_s == pytest.approx(3 * 3600, abs=1.0)


@pytest.mark.parametrize("codec,suffix,pix_fmt", [
    ("mjpeg", ".avi", "yuvj420p"), ("ffv1", ".mkv", "yuv420p"), ("libvpx-vp9", ".webm", "yuv420p"),
    ("prores_ks", ".mov", "yuv422p10le"), ("libx264", ".mkv", "yuv444p"), ("libx264", ".mp4", "yuv420p10le"),
])
def test_unusual_codecs_and_containers_analyse(tmp_path, codec, suffix, pix_fmt):
    path = videogen.write_video(tmp_path / f"clip{suffix}", _draw, duration_s=2.0, fps=24, size=(64, 48),
                                codec=codec, pix_fmt=pix_fmt)
    r = studio("analyze", path, "--json", "--no-cache")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["duration_s"] == pytest.approx(2.0, abs=0.1)


# -- project files ----------------------------------------------------------------------------------
@pytest.fixture
def project_dir(tmp_path, hostile_media) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    shutil.copy(hostile_media["good"], d / "clip.mp4")
    sf.write(d / "pad.wav", 0.1 * np.ones(48000, np.float32), 48000)
    p = Project(name="p", video=VideoClip("clip.mp4", 1.0, 25.0, 64, 48), tempo=TempoMap.constant(120.0))
    p.add_track(Track("Pad", TrackKind.AUDIO, audio_path="pad.wav"))
    p.add_track(Track("Drums", TrackKind.MIDI, notes=[Note(0.1, 0.1, 36, 100, 9)], channel=9))
    p.save(d / "project.json")
    return d


def test_project_with_a_missing_asset_exports_nothing_and_keeps_earlier_exports(project_dir, tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    r = studio("export", project_dir, "--mix", exports / "mix.wav", "--midi", exports / "p.mid")
    assert r.returncode == 0, r.stderr
    earlier = snapshot(exports)
    (project_dir / "pad.wav").unlink()
    before = snapshot(project_dir)
    one_line_error(studio("export", project_dir, "--mix", exports / "mix.wav", "--midi", exports / "p.mid",
                          "--overwrite"), "pad.wav")
    assert snapshot(exports) == earlier and snapshot(project_dir) == before


@pytest.mark.parametrize("damage,fragment", [
    (lambda d: {**d, "schema_version": SCHEMA_VERSION + 1}, "newer"),
    (lambda d: "{\"name\": \"p\", \"tracks\": [", "project"),
    (lambda d: {**d, "tracks": [{"name": "x", "kind": "hologram"}]}, "project"),
])
def test_damaged_or_newer_project_files_are_refused_and_left_alone(project_dir, damage, fragment):
    path = project_dir / "project.json"
    d = json.loads(path.read_text())
    new = damage(d)
    path.write_text(new if isinstance(new, str) else json.dumps(new))
    before = snapshot(project_dir)
    one_line_error(studio("export", project_dir, "--mix", project_dir / "mix.wav"), fragment)
    one_line_error(studio("play", project_dir, "--no-audio", "--no-midi"), fragment)
    assert snapshot(project_dir) == before


# -- disks ------------------------------------------------------------------------------------------
def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir()
    return os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                                capture_output=True).returncode == 0


@pytest.mark.parametrize("options,fragment", [("size=96k", "space"), ("ro,size=1m", "Read-only")])
def test_full_or_read_only_disk_export_leaves_nothing(project_dir, tmp_path, options, fragment):
    target = tmp_path / "disk"
    if not _mount_tmpfs(target, options):
        pytest.skip("cannot mount a tmpfs here (needs root); test_export covers this with a mocked disk")
    try:
        before = snapshot(project_dir)
        one_line_error(studio("export", project_dir, "--stems", target / "stems", "--mix", target / "mix.wav",
                              "--video", target / "with-sound.mp4"), fragment)
        assert list(target.iterdir()) == [] and snapshot(project_dir) == before
        r = studio("generate", project_dir / "clip.mp4", "--out", target / "gen")
        assert r.returncode == 2 and "Traceback" not in r.stderr
    finally:
        subprocess.run(["umount", str(target)], capture_output=True)


# -- models -----------------------------------------------------------------------------------------
@pytest.fixture
def damaged_models(tmp_path) -> Path:
    """A copy of the shipped models with the Foley and rhythm networks damaged (bytes flipped)."""
    d = tmp_path / "models"
    shutil.copytree(REPO / "engines" / "models", d)
    manifest = json.loads((d / "manifest.json").read_text())
    for name, entry in manifest.items():
        if name.startswith(("foley_", "rhythm2drum")):
            f = d / entry["file"]
            data = bytearray(f.read_bytes())
            data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
            f.write_bytes(bytes(data))
    return d


def test_damaged_foley_models_fall_back_to_the_dsp_presets(hostile_media, damaged_models, tmp_path):
    env = {**os.environ, "STUDIO_MODELS_DIR": str(damaged_models)}
    out = tmp_path / "gen"
    r = studio("generate", REPO / "studio" / "assets" / "demo.mp4", "--foley", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "corrupt" in r.stderr and "DSP material presets" in r.stderr and "Traceback" not in r.stderr
    p = Project.load(out / "project.json")
    foley = p.tracks[0]
    assert len(foley.events) > 10 and all(e.params is not None for e in foley.events)
    assert {e.material for e in foley.events} == {"wood"}  # no classifier: one material until changed
    import soundfile as sf

    mix, _ = sf.read(out / "mix.wav")
    assert np.abs(mix).max() > 0.05  # the hits sound


def test_damaged_rhythm_model_is_a_clear_error_naming_the_fix(hostile_media, damaged_models, tmp_path):
    env = {**os.environ, "STUDIO_MODELS_DIR": str(damaged_models)}
    out = tmp_path / "gen"
    line = one_line_error(studio("generate", hostile_media["good"], "--rhythm", "--out", out, env=env), "corrupt")
    assert "rhythm2drum" in line and "training script" in line
    assert not (out / "mix.wav").exists()
