"""One validated schema for projects, the model manifest and bench reports; options checked
before any work (CLI and app); ``studio live`` refusing a bad tempo or --record target at once.

Every hostile value gives a ProjectError / ModelError / StudioError whose message names the
field, or a valid result; never another exception, never a silently falsified project.
"""
from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.errors import EngineError, ModelError, ProjectError, StudioError
from studio.music import Note, TempoChange, TempoMap
from studio.project import (
    SCHEMA_VERSION, FoleyEvent, Mixer, Project, SpatialKeyframe, Track, TrackKind, VideoClip,
)

REPO = Path(__file__).resolve().parents[1]
DEMO_PROJECT = Path(__file__).parent / "data" / "demo_project_v4.json"  # written by `studio generate` (demo)
NAN, INF = float("nan"), float("inf")


def base_project() -> Project:
    p = Project(name="Demo", sample_rate=44100)
    p.video = VideoClip("clip.mp4", 12.5, 29.97, 1280, 720, "abc123", has_audio=True)
    p.tempo = TempoMap((TempoChange(0.4, 100.0), TempoChange(8.0, 104.5)), beats_per_bar=3)
    p.add_track(Track("Drums", TrackKind.MIDI, id="drums", channel=9, mixer=Mixer(gain_db=-3, pan=0.2),
                      notes=[Note(0.4, 0.1, 36, 110, 9), Note(1.0, 0.1, 38, 90, 9)], engine="rhythm",
                      settings={"style": "funk", "seed": 7}))
    p.add_track(Track("Bass", TrackKind.MIDI, id="bass", program=33, channel=1,
                      notes=[Note(0.4, 0.5, 40, 80, 1)]))
    p.add_track(Track("Hits", TrackKind.FOLEY, id="hits",
                      events=[FoleyEvent(2.0, 0.3, 0.9, 0.8, "glass", 0.2, 5, params=(0.1,) * 67, params_for="x")],
                      room="studio", spatial=[SpatialKeyframe(0.0, 1, 2, 1.2), SpatialKeyframe(3.0, 4, 2)]))
    p.add_track(Track("Dialogue", TrackKind.AUDIO, id="dialogue", audio_path="assets/dialogue.wav", offset_s=1.5,
                      mixer=Mixer(mute=True, reverb_send_db=-12.0)))
    return p


def base() -> dict:
    return json.loads(json.dumps(base_project().to_dict()))


def load(tmp_path: Path, data) -> Project:
    f = tmp_path / "project.json"
    f.write_text(data if isinstance(data, str) else json.dumps(data))
    return Project.load(f)


def _set(path, value):
    def damage(d):
        x = d
        for k in path[:-1]:
            x = x[k]
        x[path[-1]] = value
        return d
    return damage


# -- the measured cases ---------------------------------------------------------------------------
MEASURED = [
    # (what, damage, fragments the one-line message must contain)
    ("NaN note start", _set(["tracks", 0, "notes", 1, 0], NAN), ["tracks[0].notes[1].start_s is NaN"]),
    ("inf note duration", _set(["tracks", 0, "notes", 0, 1], INF), ["tracks[0].notes[0].dur_s is infinite"]),
    ("string note time", _set(["tracks", 1, "notes", 0, 0], "0.4"), ["tracks[1].notes[0].start_s", "a number"]),
    ("NaN event time", _set(["tracks", 2, "events", 0, "time_s"], NAN), ["tracks[2].events[0].time_s is NaN"]),
    ("string video duration", _set(["video", "duration_s"], "long"), ["video.duration_s", '"long"']),
    ("NaN video duration", _set(["video", "duration_s"], NAN), ["video.duration_s is NaN"]),
    ("channel 16", _set(["tracks", 0, "channel"], 16), ["tracks[0].channel is 16", "at most 15"]),
    ("note channel -3", _set(["tracks", 0, "notes", 0, 4], -3), ["tracks[0].notes[0].channel is -3", "at least 0"]),
    ("pitch 128", _set(["tracks", 1, "notes", 0, 2], 128), ["tracks[1].notes[0].pitch is 128"]),
    ("velocity 0", _set(["tracks", 1, "notes", 0, 3], 0), ["tracks[1].notes[0].velocity is 0"]),
    ("fractional pitch", _set(["tracks", 1, "notes", 0, 2], 40.5), ["pitch is 40.5", "whole number"]),
    ("program 300", _set(["tracks", 1, "program"], 300), ["tracks[1].program is 300"]),
    ("tempo 1e300", _set(["tempo", "changes", 0, 1], 1e300), ["tempo.changes[0].bpm is 1e+300"]),
    ("tempo -120", _set(["tempo", "changes", 0, 1], -120.0), ["tempo.changes[0].bpm is -120"]),
    ("beats_per_bar 256", _set(["tempo", "beats_per_bar"], 256), ["tempo.beats_per_bar is 256", "at most 16"]),
    ("beat_unit 3", _set(["tempo", "beat_unit"], 3), ["tempo.beat_unit is 3"]),
    ("unsorted tempo", _set(["tempo", "changes"], [[5.0, 100.0], [1.0, 90.0]]), ["tempo.changes[1].time_s"]),
    ("no tempo", _set(["tempo", "changes"], []), ["tempo.changes"]),
    ("gain 1e308", _set(["tracks", 0, "mixer", "gain_db"], 1e308), ["tracks[0].mixer.gain_db is 1e+308", "at most 24"]),
    ("gain loud", _set(["tracks", 0, "mixer", "gain_db"], "loud"), ["tracks[0].mixer.gain_db is \"loud\""]),
    ("gain NaN", _set(["tracks", 1, "mixer", "gain_db"], NAN), ["tracks[1].mixer.gain_db is NaN"]),
    ("pan 2", _set(["tracks", 1, "mixer", "pan"], 2.0), ["tracks[1].mixer.pan is 2"]),
    ("mute 'no'", _set(["tracks", 1, "mixer", "mute"], "no"), ["tracks[1].mixer.mute is \"no\"", "true or false"]),
    ("solo 1", _set(["tracks", 1, "mixer", "solo"], 1), ["tracks[1].mixer.solo is 1"]),
    ("send NaN", _set(["tracks", 3, "mixer", "reverb_send_db"], NAN), ["tracks[3].mixer.reverb_send_db is NaN"]),
    ("int project name", _set(["name"], 7), ["name is 7", "string"]),
    ("int track name", _set(["tracks", 2, "name"], 7), ["tracks[2].name is 7"]),
    ("int track id", _set(["tracks", 2, "id"], 3), ["tracks[2].id is 3"]),
    ("NaN spatial z", _set(["tracks", 2, "spatial", 1, "z"], NAN), ["tracks[2].spatial[1].z is NaN"]),
    ("NaN params", _set(["tracks", 2, "events", 0, "params", 5], NAN), ["tracks[2].events[0].params[5] is NaN"]),
    ("negative event seed", _set(["tracks", 2, "events", 0, "seed"], -1), ["tracks[2].events[0].seed is -1"]),
    ("zero ring", _set(["tracks", 2, "events", 0, "ring"], 0.0), ["tracks[2].events[0].ring is 0"]),
    ("sample rate string", _set(["sample_rate"], "48k"), ["sample_rate is \"48k\""]),
    ("unknown kind", _set(["tracks", 0, "kind"], "hologram"), ["tracks[0].kind is \"hologram\""]),
    ("unknown field", _set(["tracks", 0, "volume"], 11), ["tracks[0].volume is not a field"]),
    ("short note row", _set(["tracks", 0, "notes", 0], [0.1, 0.2]), ["tracks[0].notes[0]"]),
    ("note as object", _set(["tracks", 0, "notes", 0], {"start_s": 0}), ["tracks[0].notes[0]"]),
    ("tracks a string", _set(["tracks"], "drums"), ["tracks is \"drums\"", "a list"]),
    ("duplicate ids", _set(["tracks", 1, "id"], "drums"), ["tracks[1].id 'drums'", "tracks[0]", "unique"]),
    ("too many tracks", lambda d: {**d, "tracks": [{**d["tracks"][1], "id": f"t{i}"} for i in range(300)]},
     ["tracks", "at most 256"]),
    ("deep settings", _set(["tracks", 0, "settings"], {"a": json.loads("[" * 200 + "]" * 200)}),
     ["tracks[0].settings", "nested"]),
]


@pytest.mark.parametrize("what,damage,fragments", MEASURED, ids=[m[0] for m in MEASURED])
def test_each_hostile_value_is_a_project_error_naming_the_field(tmp_path, what, damage, fragments):
    with pytest.raises(ProjectError) as err:
        load(tmp_path, damage(base()))
    msg = str(err.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (what, msg)


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    deep = '{"schema_version": 4, "name": ' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(ProjectError, match="nested too deeply"):
        load(tmp_path, deep)
    with pytest.raises(ProjectError):  # just under the parser's limit: the schema refuses it
        load(tmp_path, '{"schema_version": 4, "name": ' + "[" * 900 + "]" * 900 + "}")


def test_from_dict_validates_too(tmp_path):
    """The app's snapshot and every other in-memory path go through the same checks."""
    d = base()
    d["tracks"][0]["mixer"]["gain_db"] = NAN
    with pytest.raises(ProjectError, match=r"tracks\[0\].mixer.gain_db is NaN"):
        Project.from_dict(d)
    with pytest.raises(ProjectError, match=r"mixer.mute"):
        Track.from_dict({**base()["tracks"][0], "mixer": {"mute": "no"}})


def test_error_counts_further_problems(tmp_path):
    d = base()
    for n in d["tracks"][0]["notes"]:
        n[0] = NAN
    d["tracks"][1]["mixer"]["gain_db"] = "loud"
    with pytest.raises(ProjectError, match=r"notes\[0\].start_s is NaN.*and 2 more problems\)"):
        load(tmp_path, d)


# -- what still loads -----------------------------------------------------------------------------
def test_round_trip_is_identity_and_resave_is_byte_identical(tmp_path):
    p = base_project()
    path = p.save(tmp_path / "project.json")
    q = Project.load(path)
    assert q == p and q.tracks[2].events[0].params == (0.1,) * 67
    q.save(tmp_path / "again.json")  # ints given in memory (gain -3) are stored as the floats they are
    text = (tmp_path / "again.json").read_text()
    Project.load(tmp_path / "again.json").save(tmp_path / "third.json")
    assert (tmp_path / "third.json").read_text() == text


def test_in_memory_copy_is_identity():
    """The worker and generation snapshot (studio.generate.snapshot): from_dict of to_dict (tuples inside)."""
    from studio.generate import snapshot

    p = base_project()
    assert Project.from_dict(p.to_dict()) == p
    assert snapshot(Project.load(DEMO_PROJECT)) == Project.load(DEMO_PROJECT)


def test_project_written_by_generate_still_loads_unchanged(tmp_path):
    """tests/data/demo_project_v4.json: `studio generate studio/assets/demo.mp4` before this schema."""
    text = DEMO_PROJECT.read_text()
    p = Project.load(DEMO_PROJECT)
    assert len(p.tracks) == 4 and sum(len(t.notes) for t in p.tracks) > 100
    assert any(t.events for t in p.tracks)
    p.save(tmp_path / "project.json")
    # saved as the current schema: what v5 added (no original audio, no ducking), v6 (the master
    # fader at unity), v7 (the kind's colour and lane height) and nothing else
    was = json.loads(text)
    was["schema_version"] = SCHEMA_VERSION
    was["master_fader_db"] = 0.0
    for t in was["tracks"]:
        t["original_audio"] = False
        t["mixer"]["duck_db"] = None
        t["colour"] = t["lane_height"] = None
    assert json.loads((tmp_path / "project.json").read_text()) == was
    Project.load(tmp_path / "project.json").save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == (tmp_path / "project.json").read_text()


def test_old_schema_versions_still_load(tmp_path):
    v1 = {"schema_version": 1, "name": "Old", "sample_rate": 48000, "video": None, "bpm": 96.0,
          "tracks": [{"name": "Piano", "kind": "midi", "id": "t1", "gain_db": -6.0, "pan": -0.5, "mute": False,
                      "solo": False, "notes": [[0.0, 1.0, 60, 100, 0]], "program": 0, "channel": 0}]}
    assert load(tmp_path, v1).tracks[0].mixer == Mixer(gain_db=-6.0, pan=-0.5)
    v2 = {"schema_version": 2, "name": "old", "sample_rate": 48000, "video": None, "created": 0,
          "tempo": {"changes": [[0.0, 120.0]], "beats_per_bar": 4, "beat_unit": 4},
          "tracks": [{"name": "Hits", "kind": "foley", "id": "f1", "mixer": {}, "notes": [],
                      "events": [{"time_s": 0.25, "x": 0.5, "y": 0.5, "strength": 0.8, "material": "rubber",
                                  "size": 0.5, "seed": 1}]}]}
    assert load(tmp_path, v2).tracks[0].events[0].time_s == 0.25
    v3 = base()
    v3["schema_version"] = 3
    for t in v3["tracks"]:
        t.pop("bank")
        t["mixer"].pop("reverb_send_db")
    assert [t.bank for t in load(tmp_path, v3).tracks] == [None] * 4
    # whole numbers written as floats (48000.0, pitch 60.0) are read as the ints they are
    d = base()
    d["sample_rate"] = 44100.0
    d["tracks"][1]["notes"][0][2] = 40.0
    p = load(tmp_path, d)
    assert p.sample_rate == 44100 and type(p.tracks[1].notes[0].pitch) is int


def test_v5_project_gains_the_master_fader_at_unity(tmp_path):
    """Schema v6 (the mixer's master fader): a v5 file loads at 0 dB, which is how it played, and
    saves as v6; the fader is checked like a track's gain (range, finite, a number)."""
    v5 = base()
    v5["schema_version"] = 5
    v5.pop("master_fader_db", None)
    p = load(tmp_path, v5)
    assert p.master_fader_db == 0.0
    p.save(tmp_path / "v6.json")
    saved = json.loads((tmp_path / "v6.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION >= 6 and saved["master_fader_db"] == 0.0
    p.master_fader_db = -7.5
    assert Project.load(p.save(tmp_path / "faded.json")).master_fader_db == -7.5
    for bad, said in ((30.0, "master_fader_db is 30; it should be at most 24"), ("loud", "should be a number"),
                      (True, "should be a number")):
        with pytest.raises(ProjectError, match=said):
            load(tmp_path, {**base(), "master_fader_db": bad})


def test_v6_project_gains_track_colour_and_lane_height(tmp_path):
    """Schema v7 (the timeline's per-track colour and lane height): a v6 file loads with neither
    (the kind's colour and height, as it looked), saves as v7, and both round-trip and are checked."""
    v6 = base()
    v6["schema_version"] = 6
    for t in v6["tracks"]:
        t.pop("colour", None)
        t.pop("lane_height", None)
    p = load(tmp_path, v6)
    assert [(t.colour, t.lane_height) for t in p.tracks] == [(None, None)] * len(p.tracks)
    p.tracks[0].colour, p.tracks[0].lane_height = "#3a7bd5", 120
    saved = json.loads(p.save(tmp_path / "v7.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION == 7
    again = Project.load(tmp_path / "v7.json").tracks[0]
    assert (again.colour, again.lane_height) == ("#3a7bd5", 120)
    for field, bad, said in (("colour", "blue", "colour"), ("colour", 7, "colour"), ("lane_height", 5, "at least 32"),
                             ("lane_height", 10_000, "at most 600"), ("lane_height", 60.5, "lane_height")):
        d = base()
        d["tracks"][0][field] = bad
        with pytest.raises(ProjectError, match=said):
            load(tmp_path, d)


# -- properties -----------------------------------------------------------------------------------
finite = st.floats(-1e4, 1e4, allow_nan=False)
times = st.floats(0, 3600, allow_nan=False)
metres = st.floats(-100, 100, allow_nan=False)
notes = st.builds(Note, times, st.floats(0, 10, allow_nan=False), st.integers(0, 127), st.integers(1, 127),
                  st.integers(0, 15))
events = st.builds(FoleyEvent, times, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1),
                   st.sampled_from(["wood", "metal", "glass"]), st.floats(0, 1), st.integers(0, 2**40),
                   params=st.none() | st.lists(finite, min_size=67, max_size=67).map(tuple))
tracks = st.builds(Track, st.text(max_size=20), st.sampled_from(list(TrackKind)),
                   mixer=st.builds(Mixer, st.floats(-60, 12), st.floats(-1, 1), st.booleans(), st.booleans(),
                                   st.none() | st.floats(-100, 0)),
                   notes=st.lists(notes, max_size=8), channel=st.integers(0, 15), program=st.integers(0, 127),
                   events=st.lists(events, max_size=3),
                   spatial=st.lists(st.builds(SpatialKeyframe, times, metres, metres, metres), max_size=3),
                   settings=st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ts=st.lists(tracks, max_size=4, unique_by=lambda t: t.id), bpm=st.floats(20, 300),
       bpb=st.integers(1, 16))
def test_any_valid_project_round_trips(tmp_path, ts, bpm, bpb):
    p = Project(name="p", tracks=ts, tempo=TempoMap.constant(bpm, 0.5, bpb))
    path = p.save(tmp_path / "rt.json")
    assert Project.load(path) == p


HOSTILE = [NAN, INF, -INF, 1e308, -1e308, "x", "no", True, None, [], {}, -3, 16, 256, 2**70, 0.5]


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))
    yield path


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damaged_leaf_is_a_project_error_or_a_valid_project(tmp_path, data):
    d = base()
    paths = [p for p in _leaves(d) if p]
    path = data.draw(st.sampled_from(paths))
    value = data.draw(st.sampled_from(HOSTILE))
    _set(list(path), copy.deepcopy(value))(d)
    try:
        p = load(tmp_path, d)
    except ProjectError as exc:
        assert "\n" not in str(exc)
        return
    # it loaded: then everything in it is usable (finite, in range) and it saves back
    for t in p.tracks:
        assert math.isfinite(t.mixer.gain_db) and isinstance(t.mixer.mute, bool)
        assert all(math.isfinite(n.start_s) and 0 <= n.channel <= 15 for n in t.notes)
    p.save(tmp_path / "again.json")


# -- manifest -------------------------------------------------------------------------------------
@pytest.mark.parametrize("manifest,fragment", [
    ([{"file": "a.onnx"}], "is a JSON list"),
    ({"affine": ["a.onnx"]}, "'affine' is a JSON list"),
    ({"affine": {"file": "affine.onnx"}}, "affine.sha256 is missing"),
    ({"affine": {"file": "affine.onnx", "sha256": 12}}, "affine.sha256"),
    ({"affine": {"sha256": "0" * 64}}, "affine.file is missing"),
    ({"affine": {"file": "../../etc/passwd", "sha256": "0" * 64}}, "not a file name"),
    ({"affine": {"file": "affine.onnx", "sha256": "0" * 64, "inputs": "x"}}, "inputs"),
])
def test_damaged_manifest_is_a_model_error(tmp_path, manifest, fragment):
    from engines import runtime

    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    runtime.clear_cache()
    with pytest.raises(ModelError) as err:
        runtime.session("affine", tmp_path)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match="nested too deeply"):
        runtime.load_manifest(tmp_path)


def test_shipped_manifest_passes_the_checks():
    from engines import runtime

    for name in runtime.load_manifest():
        assert runtime.model_info(name).sha256


# -- bench reports --------------------------------------------------------------------------------
def test_bench_report_read_back_is_checked(tmp_path):
    from studio.bench._report import make_report, read_report, write_report

    good = make_report([{"name": "x", "speed_factor": 3.0, "target_speed_factor": 2.0}], {"cpu_count": 2})
    write_report(good, tmp_path / "good.json")
    assert read_report(tmp_path / "good.json")["headlines"][0]["key"] == "speed_factor"
    for bad, fragment in (([1, 2], "JSON object"), ({"results": []}, "headlines is missing"),
                          ({"headlines": [{"bench": "x", "key": "k", "value": "fast", "target": 1,
                                           "higher_is_better": True}]}, "headlines[0].value is \"fast\""),
                          ({"headlines": [], "machine": [1]}, "machine")):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(StudioError) as err:
            read_report(tmp_path / "bad.json")
        assert fragment in str(err.value)


# -- options --------------------------------------------------------------------------------------
BAD_OPTIONS = [
    ({"seed": -1}, "seed -1"), ({"seed": 2**32}, "seed 4294967296"), ({"seed": "x"}, "seed 'x'"),
    ({"options": {"bpm": NAN}}, "bpm nan"), ({"options": {"bpm": INF}}, "bpm inf"),
    ({"options": {"bpm": 1e9}}, "bpm 1e+09"), ({"options": {"bpm": -120}}, "bpm -120"),
    ({"options": {"material": "unobtainium"}}, "material 'unobtainium'"),
    ({"options": {"steps": 0}}, "steps 0"), ({"options": {"steps": 2.5}}, "steps"),
    ({"options": {"cfg": NAN}}, "cfg nan"), ({"options": {"downbeat_s": -1.0}}, "downbeat"),
    ({"options": {"beats_per_bar": 256}}, "beats per bar 256"), ({"loudness_lufs": NAN}, "loudness"),
]


@pytest.mark.parametrize("change,fragment", BAD_OPTIONS, ids=[f for _, f in BAD_OPTIONS])
def test_bad_options_are_refused_in_one_place(change, fragment):
    from studio.generate import GenerateSettings
    from studio.options import check_generate

    with pytest.raises(StudioError) as err:
        check_generate(GenerateSettings(**change))
    assert fragment in str(err.value)


def test_good_options_pass_unchanged():
    from studio.generate import GenerateSettings
    from studio.options import check_generate

    s = GenerateSettings(engines=("rhythm",), seed=2**32 - 1, options={"bpm": 120, "material": "steel",
                                                                     "steps": 16, "cfg": 3.0})
    assert check_generate(s) is s


def test_app_path_refuses_bad_options_before_any_work():
    """studio.generate.plan (the app's generate and re-generate, the CLI's, the batch's) checks
    every option before any work."""
    from studio import generate

    for change, fragment in (({"seed": -1}, "seed -1"), ({"options": {"bpm": NAN}}, "bpm nan"),
                             ({"options": {"material": "lava"}}, "material 'lava'")):
        with pytest.raises(StudioError, match=fragment):
            # no timeline: any work begun would fail with another error
            generate.plan(base_project(), ["rhythm"], generate.GenerateSettings(engines=("rhythm",), **change))


def _cli(*args, timeout=60, **kw):
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, **kw)


def _one_line(r, fragment):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: error:") and fragment in lines[0], r.stderr


@pytest.mark.parametrize("args,fragment", [
    (["--bpm", "nan"], "bpm nan"), (["--bpm", "inf"], "bpm inf"), (["--bpm", "1e9"], "bpm 1e+09"),
    (["--seed", "-1"], "seed -1"), (["--material", "lava"], "material 'lava'"), (["--steps", "0"], "steps 0"),
])
def test_cli_generate_refuses_bad_options_before_any_work(tmp_path, args, fragment):
    out = tmp_path / "out"
    _one_line(_cli("generate", REPO / "studio" / "assets" / "demo.mp4", "--rhythm", "--out", out, *args), fragment)
    assert not out.exists()


@pytest.mark.parametrize("args,fragment", [
    (["play", DEMO_PROJECT, "--no-audio", "--no-midi", "--start", "nan"], "start nan"),
    (["play", DEMO_PROJECT, "--no-audio", "--no-midi", "--start", "-5"], "start -5"),
    (["play", DEMO_PROJECT, "--no-audio", "--no-midi", "--start", "3", "--end", "2"], "end 2"),
    (["analyze", REPO / "studio" / "assets" / "demo.mp4", "--beats-per-bar", "256"], "beats per bar 256"),
])
def test_cli_other_numeric_options_are_checked(args, fragment):
    _one_line(_cli(*args), fragment)


def test_cli_export_names_the_damaged_field(tmp_path):
    d = base()
    d["tracks"][1]["mixer"]["gain_db"] = NAN
    (tmp_path / "project.json").write_text(json.dumps(d))
    _one_line(_cli("export", tmp_path, "--mix", tmp_path / "mix.wav"), "tracks[1].mixer.gain_db is NaN")
    assert not (tmp_path / "mix.wav").exists()


# -- live -----------------------------------------------------------------------------------------
def _within(seconds: float, fn):
    """fn() run in a thread: its exception (or None), failing the test if it runs past ``seconds``."""
    box: dict = {}

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["exc"] = exc

    th = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"still running after {seconds} s"
    return box.get("exc"), time.monotonic() - t0


DEMO = str(REPO / "studio" / "assets" / "demo.mp4")  # 14 s: a whole take is far longer than the limit


@pytest.mark.parametrize("bpm", [-120.0, 0.0, NAN, INF, 1e9])
def test_live_refuses_a_bad_tempo_at_once(bpm):
    from studio.live import LiveSettings, run_live

    exc, _ = _within(10, lambda: run_live(DEMO, LiveSettings(bpm=bpm, warmup_s=1.0, music=False)))
    assert isinstance(exc, StudioError) and "bpm" in str(exc), exc


def test_live_refuses_a_bad_record_target_before_the_take(tmp_path):
    from studio.live import LiveSettings, run_live

    for target, fragment in ((Path("/nonexistent/x.mid"), "does not exist"), (tmp_path, "is a folder")):
        exc, took = _within(5, lambda: run_live(DEMO, LiveSettings(bpm=120.0, warmup_s=1.0, music=False),
                                                record_path=target))
        assert isinstance(exc, StudioError) and fragment in str(exc), exc
        assert took < 5


@pytest.mark.parametrize("args,fragment", [
    (["--bpm", "-120"], "bpm -120"), (["--bpm", "nan"], "bpm nan"), (["--bpm", "1e9"], "bpm 1e+09"),
    (["--record", "/nonexistent/x.mid"], "/nonexistent"), (["--seed", "-1"], "seed -1"),
])
def test_cli_live_checks_its_arguments_like_generate(args, fragment):
    t0 = time.monotonic()
    _one_line(_cli("live", DEMO, "--no-midi", *args, timeout=30), fragment)
    assert time.monotonic() - t0 < 8  # refused at start: the 14 s take is never played


def test_rhythm_engine_next_bar_refuses_a_tempo_it_cannot_step():
    """The library call itself: a caller stepping bars by a negative tempo gets an error, not
    notes at negative times (studio live used to loop forever on them)."""
    from engines.rhythm.infer import RhythmEngine, RhythmState

    eng = RhythmEngine()
    for bpm in (-120.0, 0.0, NAN, 1e9):
        with pytest.raises(EngineError, match="tempo"):
            eng.next_bar(RhythmState(tempo_bpm=bpm, music=False), np.zeros(16, np.float32))
    with pytest.raises(ValueError, match="tempo"):
        eng.start("rock", tempo_bpm=-120.0)


# -- the app ----------------------------------------------------------------------------------------
@pytest.fixture
def controller(studio_app, tmp_path):
    from ui.controller import Controller
    from ui.document import Document
    from ui.workers import Workers

    doc = Document()
    c = Controller(doc, Workers())
    errors: list[tuple[str, str]] = []
    c.error.connect(lambda title, msg: errors.append((title, msg)))
    return c, errors


def test_app_open_reports_a_damaged_project_instead_of_crashing(controller, tmp_path):
    c, errors = controller
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "project.json").write_text('{"schema_version": 4, "name": ' + "[" * 200_000
                                                    + "]" * 200_000 + "}")
    c.open_project(tmp_path / "deep")  # used to escape as RecursionError
    d = base()
    d["tracks"][1]["mixer"]["gain_db"] = NAN
    (tmp_path / "nan").mkdir()
    (tmp_path / "nan" / "project.json").write_text(json.dumps(d))
    c.open_project(tmp_path / "nan")
    assert [t for t, _ in errors] == ["Cannot open project"] * 2
    assert "nested too deeply" in errors[0][1] and "tracks[1].mixer.gain_db is NaN" in errors[1][1]


def test_app_generate_refuses_bad_options_before_starting(controller):
    c, errors = controller
    c.doc.set_project(base_project())
    c.doc.analysis = object()  # analysed (never read: the options are refused first)
    c.generate({"engines": ["foley"], "seed": -1, "material": None})
    c.generate({"engines": ["foley"], "seed": 3, "material": "lava"})
    assert c.current is None
    assert [t for t, _ in errors] == ["Generate", "Generate"]
    assert "seed -1" in errors[0][1] and "material 'lava'" in errors[1][1]
