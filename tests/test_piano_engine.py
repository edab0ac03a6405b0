"""Piano transcription engine: rendered videos with a known roll -> keyboard localisation ->
Video2Roll + Roll2Midi (shipped models) -> notes; user box; no keyboard; damaged models."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_copies import copy_models

from engines import runtime
from engines.errors import EngineError, ModelError
from engines.piano.train import synth_video as sv
from engines.piano.infer import PianoNote, Transcriber
from engines.piano.metrics import onset_prf
from engines.piano.keyboard import KeyboardBox, locate_keyboard, rectify

ROOT = Path(__file__).resolve().parents[1]


def _onset_f1(ref, est):
    return onset_prf(ref, est)[2]


@pytest.fixture(scope="module")
def scale_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("piano") / "scale.mp4"
    notes = sv.scale_and_chord()
    roll, vel, corners = sv.write_video(path, notes, fps=30, size=(1280, 720), seed=3, crf=23)
    frames = [f for f, _ in sv.read_video(path)]
    return notes, roll, corners, frames


def test_render_gives_exact_roll(scale_video):
    notes, roll, corners, frames = scale_video
    assert roll.shape == (len(frames), 88) and frames[0].shape == (720, 1280, 3)
    # C4 (key 39) pressed from 0.4 s for 0.25 s: frames ceil(12)=12 .. ceil(19.5)-1=19
    assert np.flatnonzero(roll[:, 60 - 21]).tolist()[:8] == list(range(12, 20))
    assert roll[95, [48 - 21, 60 - 21, 64 - 21, 67 - 21]].all() and roll[95].sum() == 4


def test_transcribes_scale_and_chord(scale_video):
    notes, roll, corners, frames = scale_video
    seen = []
    t = Transcriber().transcribe(iter(frames), fps=30, progress=seen.append)
    assert seen and seen[-1] == 1.0
    err = np.linalg.norm(t.box.corners - corners, axis=1).max() / t.box.width
    assert err < 0.02
    assert t.video2roll_probs.shape == t.roll.shape == (len(frames), 88)
    assert all(isinstance(n, PianoNote) and 1 <= n.velocity <= 127 for n in t.notes)
    assert _onset_f1(notes, t.notes) >= 0.8, t.notes
    assert {n.pitch for n in t.notes} == {n.pitch for n in notes}
    chord = sorted(n.pitch for n in t.notes if abs(n.start_s - 3.0) < 0.1)
    assert chord == [48, 60, 64, 67]


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_locates_randomly_placed_keyboards(seed):
    info = {}
    frames = list(sv.render_frames(sv.scale_and_chord(), 30, (1280, 720), seed=seed, n_frames=20, info=info))
    box = locate_keyboard(frames[::4])
    err = np.linalg.norm(box.corners - info["corners"], axis=1).max() / box.width
    assert err < 0.02
    assert rectify(frames[0], box).shape == (48, 624)


def test_user_drawn_box(tmp_path):
    notes = [sv.Note(0.3 + 0.4 * i, 0.3, p, 90) for i, p in enumerate([40, 52, 76, 88])]
    corners = np.float32([[100, 300], [1180, 300], [1180, 470], [100, 470]])
    frames = list(sv.render_frames(notes, 30, (1280, 720), seed=21, n_frames=60, corners=corners))
    t = Transcriber(box=KeyboardBox.from_rect(100, 300, 1080, 170)).transcribe(frames, fps=30)
    assert np.allclose(t.box.corners, corners, atol=3)
    assert sorted({n.pitch for n in t.notes}) == [40, 52, 76, 88]
    with pytest.raises(EngineError):
        KeyboardBox.from_rect(0, 0, -5, 10)


def test_rough_box_around_a_tilted_keyboard_finds_its_corners(scale_video):
    """A drawn rectangle does not fit a tilted keyboard: the keyboard is located inside it, so
    the notes are those of the exact corners; a box around no keyboard is used as drawn."""
    notes, roll, corners, frames = scale_video
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    rough = KeyboardBox.from_rect(x0 - 25, y0 - 20, x1 - x0 + 50, y1 - y0 + 40)
    t = Transcriber(box=rough).transcribe(iter(frames), fps=30)
    assert np.linalg.norm(t.box.corners - corners, axis=1).max() / t.box.width < 0.02
    assert _onset_f1(notes, t.notes) >= 0.8
    nothing = KeyboardBox.from_rect(5, 5, 200, 40)  # a corner of the room
    if not (corners[:, 1].min() < 50 and corners[:, 0].min() < 210):
        from engines.piano.keyboard import locate_in_box

        assert np.array_equal(locate_in_box(frames[:9], nothing).corners, nothing.corners)


def test_no_keyboard_raises():
    frames = list(sv.render_frames(sv.scale_and_chord(), 30, (1280, 720), seed=5, n_frames=6, piano=False))
    with pytest.raises(EngineError, match="no piano keyboard found"):
        locate_keyboard(frames)
    with pytest.raises(EngineError, match="draw the keyboard box"):
        Transcriber().transcribe(frames, fps=30)


def _copy_models(tmp_path):
    d = tmp_path / "models"
    return d, copy_models(d, "piano_")


def test_missing_or_corrupt_model_gives_model_error(tmp_path):
    d, keep = _copy_models(tmp_path)
    data = bytearray((d / keep["piano_video2roll"]["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / keep["piano_video2roll"]["file"]).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        Transcriber(models_dir=d)
    (d / keep["piano_roll2midi"]["file"]).unlink()
    shutil.copy(runtime.MODELS_DIR / keep["piano_video2roll"]["file"], d / keep["piano_video2roll"]["file"])
    with pytest.raises(ModelError, match="missing"):
        Transcriber(models_dir=d)
    # the studio's way: STUDIO_MODELS_DIR pointing at the damaged copy
    env = {**os.environ, "STUDIO_MODELS_DIR": str(d)}
    r = subprocess.run([sys.executable, "-c", "from engines.piano.infer import Transcriber; Transcriber()"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "ModelError" in r.stderr and "missing" in r.stderr
