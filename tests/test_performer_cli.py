"""`studio generate VIDEO --piano` and `--performer INSTRUMENT` end to end: the tracks, the MIDI
file and a listen check of the piano stem; the keyboard box and keypoint file options, and their
errors before any analysis is done."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def studio(*args, timeout=300, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, env=None if env is None else {**os.environ, **env})


@pytest.fixture(scope="module")
def piano_video(tmp_path_factory):
    from engines.piano.train.synth_video import scale_and_chord, write_video

    path = tmp_path_factory.mktemp("piano") / "scale.mp4"
    notes = scale_and_chord()
    # the keyboard square in the frame, so the test knows its box
    corners = np.float32([[80, 300], [880, 300], [880, 420], [80, 420]])
    write_video(path, notes, fps=30, size=(960, 540), seed=4, corners=corners, n_frames=150)
    return path, notes, (80, 300, 800, 120)


def _matched(ref, est, tol=0.05) -> float:
    """Share of reference (start, pitch) notes with an estimated note of that pitch within tol."""
    hits = sum(any(p == q and abs(s - t) <= tol for t, q in est) for s, p in ref)
    return hits / len(ref)


def test_generate_piano_writes_a_piano_track_midi_and_an_audible_stem_in_time(piano_video, tmp_path):
    import librosa
    import mido
    import soundfile as sf

    video, notes, _ = piano_video
    out = tmp_path / "out"
    r = studio("generate", video, "--piano", "--out", out)
    assert r.returncode == 0, r.stderr
    project = json.loads((out / "project.json").read_text())
    (piano,) = project["tracks"]  # only what was asked for
    assert piano["name"] == "Piano" and piano["program"] == 0 and piano["engine"] == "piano"
    assert piano["settings"]["keyboard_from"] == "found"
    est = [(n[0], n[2]) for n in piano["notes"]]
    ref = [(n.start_s, n.pitch) for n in notes]
    assert _matched(ref, est) >= 0.8
    assert len(est) <= 1.5 * len(ref)  # no flood of false notes
    mid = mido.MidiFile(out / "scale.mid")
    on = [m for tr in mid.tracks for m in tr if m.type == "note_on" and m.velocity > 0]
    assert {m.channel for m in on} == {piano["channel"]} and len(on) == len(est)
    # listen check: onsets in the rendered piano stem fall on the notes of the picture
    stem = next(p for p in (out / "stems").iterdir() if p.name.startswith("Piano"))
    y, sr = sf.read(stem, dtype="float32", always_2d=True)
    heard = librosa.onset.onset_detect(y=librosa.to_mono(y.T), sr=sr, units="time")
    starts = sorted({round(s, 2) for s, _ in ref})
    near = [np.min(np.abs(heard - s)) for s in starts]
    assert np.mean(np.array(near) <= 0.06) >= 0.8


def test_drawn_keyboard_box_is_used_and_a_box_outside_the_picture_fails_before_analysis(piano_video, tmp_path):
    video, notes, (x, y, w, h) = piano_video
    out = tmp_path / "boxed"
    r = studio("generate", video, "--piano", "--keyboard", f"{x},{y},{w},{h}", "--out", out)
    assert r.returncode == 0, r.stderr
    (piano,) = json.loads((out / "project.json").read_text())["tracks"]
    assert piano["settings"]["keyboard_from"] == "drawn"
    assert piano["settings"]["keyboard_box"] == [x, y, w, h]
    # the keyboard's corners, located inside the drawn box (here it fills the box exactly)
    assert np.allclose(piano["settings"]["keyboard"], [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], atol=4)
    assert _matched([(n.start_s, n.pitch) for n in notes], [(n[0], n[2]) for n in piano["notes"]]) >= 0.8

    bad = tmp_path / "bad"
    r = studio("generate", video, "--piano", "--keyboard", "100,100,5000,80", "--out", bad)
    assert r.returncode != 0 and "not inside the 960x540 picture" in r.stderr
    assert not (bad / "analysis.npz").exists() and not (bad / "project.json").exists()
    r = studio("generate", video, "--piano", "--keyboard", "1,2,three,4", "--out", bad)
    assert r.returncode == 2 and "X,Y,W,H" in r.stderr


@pytest.fixture(scope="module")
def drummer(tmp_path_factory):
    """A plain 8 s video and, beside it, the keypoints of a drummer playing a known groove."""
    from videogen import write_video

    from engines.performer.gestures import synthesize
    from engines.performer.keypoints import save_keypoints

    folder = tmp_path_factory.mktemp("drummer")
    video = write_video(folder / "drummer.mp4", lambda t: np.full((120, 160, 3), 90, np.uint8), duration_s=8.0,
                        fps=30, size=(160, 120))
    beat = 0.5
    notes = []
    for k in range(14):
        t = 0.5 + k * beat
        notes.append((t, 0.1, 36 if k % 2 == 0 else 38, 100))
        notes.append((t, 0.1, 42, 70))
    save_keypoints(folder / "drummer.mp4.keypoints.json", synthesize(notes, "drums", fps=30, seed=2))
    return video, notes


def test_generate_performer_reads_the_keypoints_beside_the_video(drummer, tmp_path):
    import mido

    video, notes = drummer
    out = tmp_path / "out"
    r = studio("generate", video, "--performer", "drums", "--seed", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    (track,) = json.loads((out / "project.json").read_text())["tracks"]
    assert track["name"] == "Drums" and track["channel"] == 9 and track["engine"] == "performer"
    assert track["settings"]["keypoints"].endswith("drummer.mp4.keypoints.json")
    onsets = np.array(sorted({n[0] for n in track["notes"]}))
    truth = np.array(sorted({n[0] for n in notes}))
    assert len(onsets) > 0
    near = [np.min(np.abs(onsets - t)) for t in truth]
    assert np.mean(np.array(near) <= 0.05) >= 0.6  # the hits follow the sticks
    mid = mido.MidiFile(out / "drummer.mid")
    assert {m.channel for tr in mid.tracks for m in tr if m.type == "note_on"} == {9}


def test_performer_errors_name_the_fix_before_any_analysis(drummer, tmp_path):
    video, _ = drummer
    lonely = tmp_path / "lonely.mp4"
    lonely.write_bytes(video.read_bytes())  # no keypoints beside this one
    out = tmp_path / "out"
    # without a pose estimator: the two ways out, before the analysis
    r = studio("generate", lonely, "--performer", "violin", "--out", out, env={"STUDIO_POSE_PYTHON": "/nonexistent"})
    assert r.returncode != 0 and "--keypoints" in r.stderr and "make pose" in r.stderr
    assert "lonely.mp4.keypoints.json" in r.stderr
    assert not (out / "analysis.npz").exists()
    # with it, on a picture without a person
    r = studio("generate", lonely, "--performer", "violin", "--out", out)
    assert r.returncode != 0 and "found nobody" in r.stderr and "Traceback" not in r.stderr
    r = studio("generate", video, "--performer", "banjo", "--out", out)
    assert r.returncode != 0 and "banjo" in r.stderr and "violin" in r.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    r = studio("generate", video, "--performer", "guitar", "--keypoints", junk, "--out", out)
    assert r.returncode != 0 and "junk.json" in r.stderr and "Traceback" not in r.stderr
    r = studio("batch", tmp_path, "--performer", "guitar", "--keypoints", junk, "--out", tmp_path / "b")
    assert r.returncode != 0 and "VIDEO.keypoints.json" in r.stderr


def test_ui_instrument_list_is_the_engines():
    from engines.performer.infer import INSTRUMENTS
    from ui.widgets.generate_panel import INSTRUMENTS as offered

    assert tuple(offered) == tuple(INSTRUMENTS)
