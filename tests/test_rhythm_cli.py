"""`studio generate VIDEO --rhythm ...` end to end, the MIDI file, and a listen check of the
rendered mix (audio onsets against the beat grid)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "studio" / "assets" / "demo.mp4"


def test_generate_rhythm_on_the_demo_writes_project_midi_and_stems_in_time(tmp_path):
    import librosa
    import mido
    import soundfile as sf

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(DEMO), "--rhythm", "--style", "funk",
                        "--seed", "3", "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    project = json.loads((out / "project.json").read_text())
    names = {t["name"]: t for t in project["tracks"]}
    assert set(names) == {"Drums", "Bass", "Keys"}
    assert names["Drums"]["channel"] == 9 and names["Bass"]["program"] == 33 and names["Keys"]["program"] == 0
    assert all(names[n]["notes"] for n in names)
    truth = json.loads((DEMO.parent / "demo_truth.json").read_text())
    # bar 1 on the first visual downbeat
    assert abs(project["tempo"]["changes"][0][0] - truth["downbeat_times_s"][0]) < 0.05
    mid = mido.MidiFile(out / "demo.mid")
    assert mid.ticks_per_beat == 480
    chans = {m.channel for tr in mid.tracks for m in tr if m.type == "note_on"}
    assert {9, 1, 2} <= chans
    for stem in ("Drums", "Bass", "Keys"):
        assert any(p.name.startswith(stem) for p in (out / "stems").iterdir())
    # listen check: onsets of the rendered drum stem against the visual beats of the demo
    drum_stem = next(p for p in (out / "stems").iterdir() if p.name.startswith("Drums"))
    y, sr = sf.read(drum_stem, dtype="float32", always_2d=True)
    y = librosa.to_mono(y.T)
    # backtrack: the onset at the attack, not at the spectral-flux peak one or two hops later
    on = librosa.onset.onset_detect(y=y, sr=sr, units="time", wait=1, delta=0.2, pre_avg=3, post_avg=3, backtrack=True,
                                    pre_max=3, post_max=3)
    beats = np.array(truth["beat_times_s"])
    near = np.array([np.min(np.abs(on - b)) for b in beats])
    share = float(np.mean(near <= 0.05))
    signed = np.array([on[np.argmin(np.abs(on - b))] - b for b in beats])
    notes = np.array(sorted(n[0] for n in names["Drums"]["notes"]))
    on_note = float(np.mean([np.min(np.abs(notes - o)) <= 0.03 for o in on]))
    print(f"listen check: {len(on)} drum-stem onsets, {share:.3f} of demo beats have one within 50 ms "
          f"(median offset {1000 * np.median(signed[np.abs(signed) <= 0.05]):.1f} ms); {on_note:.3f} of the "
          f"onsets are within 30 ms of a generated drum note")
    # every true beat has a drum note within 30 ms (the written MIDI); of the rendered stem, an
    # onset detector hears most of them
    assert all(np.min(np.abs(notes - b)) <= 0.03 for b in beats)
    assert share >= 0.8


def test_bpm_override_gives_a_constant_tempo_map(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(DEMO), "--rhythm", "--bpm", "120",
                        "--seed", "1", "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    tempo = json.loads((out / "project.json").read_text())["tempo"]
    assert len(tempo["changes"]) == 1 and tempo["changes"][0][1] == pytest.approx(120)


def test_bad_style_is_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(DEMO), "--rhythm", "--style", "polka",
                        "--out", str(tmp_path / "x")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2 and "polka" in r.stderr and "Traceback" not in r.stderr


def test_one_style_word_serves_both_music_engines():
    from studio.adapters.rhythm import rhythm_style

    assert rhythm_style("funk") == "funk" and rhythm_style("Hip Hop") == "hip-hop"
    assert rhythm_style("calm piano") == "jazz" and rhythm_style("peaceful") == "jazz"  # soundtrack moods
    assert rhythm_style("dark synthwave") == "electronic" and rhythm_style("salsa") == "latin"
    assert rhythm_style("polka") is None and rhythm_style("therapy") is None  # words, not substrings
