"""`studio generate --soundtrack` and `studio match` on the demo video, through the real CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "studio" / "assets" / "demo.mp4"


def studio(*args):
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def one_line_error(r, *fragments):
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: error:"), r.stderr
    for f in fragments:
        assert f in lines[0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("st") / "gen"
    r = studio("generate", DEMO, "--soundtrack", "--style", "calm piano", "--seed", "1", "--steps", "8",
               "--cfg", "3", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def test_generate_soundtrack_writes_parts_on_the_visual_beat_grid(generated):
    from studio.project import Project

    p = Project.load(generated / "project.json")
    tracks = [t for t in p.tracks if t.engine == "soundtrack"]
    names = {t.name for t in tracks}
    assert {"Soundtrack Keys/Pad", "Soundtrack Bass"} <= names and len(tracks) >= 3
    assert (generated / "mix.wav").exists() and list(generated.glob("*.mid"))
    for t in tracks:
        assert t.kind.value == "soundtrack" and t.settings["steps"] == 8 and t.settings["cfg"] == 3.0
        assert t.settings["style_matched"] == "calm" and t.settings["seed"] == 1
        if t.name == "Soundtrack Drums":
            assert t.channel == 9 and all(n.channel == 9 for n in t.notes)
        if t.name == "Soundtrack Keys/Pad":
            assert t.program == 89  # calm: warm pad
        for n in t.notes:  # every onset on a 16th of the tempo map (which sits on the visual beats)
            pos = p.tempo.beat_at(n.start_s) * 4
            assert abs(pos - round(pos)) < 1e-4 or n.start_s == 0.0
            assert 0 <= n.start_s < p.duration_s and n.end_s <= p.duration_s + 1e-6
    # one key per section; sections start at cuts (the demo's one cut at 7.3 s leaves two 3-bar
    # shots, under the 4-bar minimum: one section)
    from engines.soundtrack.keys import N_KEYS, key_name, key_pitch_classes

    sections = tracks[0].settings["sections"]
    assert sections and sections[0]["start_s"] <= 0.0 and all(t.settings["sections"] == sections for t in tracks)
    starts = np.array([s["beat"] for s in sections])
    names = [key_name(k) for k in range(N_KEYS)]
    for t in tracks:
        for n in ([] if t.channel == 9 else t.notes):
            beat = p.tempo.beat_at(n.start_s) + 1e-6
            key = sections[int(np.searchsorted(starts, beat, side="right")) - 1]["key"]
            assert key_pitch_classes(names.index(key))[n.pitch % 12], (t.name, n, key)
    # the tempo map is the video's: bar lines on visual beats
    from studio.analysis.timeline import AnalysisTimeline

    tl = AnalysisTimeline.load(generated / "analysis.npz")
    bar_times = [p.tempo.time_at(b) for b in range(0, int(p.tempo.beat_at(p.duration_s)), 4)]
    assert all(np.min(np.abs(tl.beat_times_s - t)) < 0.07 for t in bar_times)


def test_match_ranks_a_midi_library(generated, tmp_path):
    import mido

    from studio.project import Project

    p = Project.load(generated / "project.json")
    lib = tmp_path / "lib"
    lib.mkdir()
    for k, t in enumerate(p.tracks):
        mid = mido.MidiFile(ticks_per_beat=480)
        tr = mido.MidiTrack()
        mid.tracks.append(tr)
        ev = sorted([(int(n.start_s * 960), 1, n.pitch) for n in t.notes] +
                    [(int(n.end_s * 960), 0, n.pitch) for n in t.notes])
        now = 0
        for tick, on, pitch in ev:
            tr.append(mido.Message("note_on", channel=t.channel, note=pitch, velocity=80 * on, time=tick - now))
            now = tick
        mid.save(lib / f"part{k}.mid")
    (lib / "junk.mid").write_bytes(b"nope")
    r = studio("match", DEMO, "--library", lib, "--json")
    assert r.returncode == 0, r.stderr
    ranked = json.loads(r.stdout)
    assert len(ranked) == len(p.tracks)  # the junk file is skipped
    sims = [x["similarity"] for x in ranked]
    assert sims == sorted(sims, reverse=True) and all(-1.0 <= s <= 1.0 for s in sims)


def test_cli_errors_are_one_line(tmp_path, generated):
    one_line_error(studio("match", DEMO, "--library", tmp_path / "nope"), "not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(studio("match", DEMO, "--library", empty), "no .mid")
    one_line_error(studio("generate", DEMO, "--soundtrack", "--steps", "0", "--out", tmp_path / "g"), "steps")
