import dataclasses
import json
import os
import stat

import pytest

from studio.errors import ProjectError
from studio.music import Note, TempoChange, TempoMap
from studio.project import (
    SCHEMA_VERSION, FloatVector, FoleyEvent, Mixer, Project, SpatialKeyframe, Track, TrackKind, VideoClip,
    autosave_path, has_newer_autosave,
)


def full_project() -> Project:
    p = Project(name="Demo", sample_rate=44100)
    p.video = VideoClip("clip.mp4", 12.5, 29.97, 1280, 720, "abc123", has_audio=True)
    p.tempo = TempoMap((TempoChange(0.4, 100.0), TempoChange(8.0, 104.5)), beats_per_bar=3)
    p.add_track(Track("Drums", TrackKind.MIDI, channel=9, mixer=Mixer(gain_db=-3, pan=0.2, solo=True),
                      notes=[Note(0.4, 0.1, 36, 110, 9), Note(1.0, 0.1, 38, 90, 9)], engine="rhythm",
                      settings={"style": "funk", "seed": 7}))
    p.add_track(Track("Bass", TrackKind.MIDI, program=33, channel=1, notes=[Note(0.4, 0.5, 40, 80, 1)]))
    p.add_track(Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(2.0, 0.3, 0.9, 0.8, "glass", 0.2, 5)],
                      room="studio", spatial=[SpatialKeyframe(0.0, 1, 2, 1.2), SpatialKeyframe(3.0, 4, 2)]))
    p.add_track(Track("Dialogue", TrackKind.AUDIO, audio_path="assets/dialogue.wav", offset_s=1.5,
                      mixer=Mixer(mute=True)))
    return p


def test_save_load_round_trip(tmp_path):
    p = full_project()
    path = p.save(tmp_path / "project.json")
    q = Project.load(path)
    assert q == p
    assert q.path == path
    assert q.tracks[2].events[0].material == "glass"
    assert q.tempo.bpm_at(9.0) == 104.5
    # the folder form loads the same project
    assert Project.load(tmp_path) == p


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    p = full_project()
    path = p.save(tmp_path / "project.json")
    before = path.read_text()
    p.name = "Changed"

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ProjectError, match="disk is full"):
        p.save()
    assert path.read_text() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["project.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_save_into_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ProjectError, match="read-only"):
            full_project().save(ro / "project.json")
    finally:
        ro.chmod(stat.S_IRWXU)


def test_save_on_read_only_filesystem_simulated(tmp_path, monkeypatch):
    """Root ignores folder permissions, so also simulate EROFS the way a read-only mount fails."""
    import tempfile

    def erofs(*a, **k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", erofs)
    with pytest.raises(ProjectError, match="read-only"):
        full_project().save(tmp_path / "project.json")
    assert list(tmp_path.iterdir()) == []


def test_autosave_is_beside_and_superseded_by_save(tmp_path):
    p = full_project()
    path = p.save(tmp_path / "project.json")
    p.name = "Edited"
    a = p.autosave()
    assert a == autosave_path(path) == tmp_path / "project.autosave.json"
    assert Project.load(path).name == "Demo"  # the project file itself is untouched
    assert Project.load(a).name == "Edited"
    os.utime(path, (1, 1))  # make the saved file clearly older
    assert has_newer_autosave(path)
    p.save()
    assert not a.exists() and not has_newer_autosave(path)


def test_loads_schema_v1(tmp_path):
    v1 = {
        "schema_version": 1, "name": "Old", "sample_rate": 48000, "video": None, "bpm": 96.0,
        "tracks": [{"name": "Piano", "kind": "midi", "id": "t1", "gain_db": -6.0, "pan": -0.5,
                    "mute": False, "solo": False, "notes": [[0.0, 1.0, 60, 100, 0]], "program": 0,
                    "channel": 0}],
    }
    (tmp_path / "old.json").write_text(json.dumps(v1))
    p = Project.load(tmp_path / "old.json")
    assert p.tempo.bpm_at(0) == 96.0
    assert p.tracks[0].mixer == Mixer(gain_db=-6.0, pan=-0.5)
    assert p.tracks[0].notes == [Note(0.0, 1.0, 60, 100, 0)]
    # saving writes the current schema
    p.save()
    assert json.loads((tmp_path / "old.json").read_text())["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"schema_version": 99, "name": "x"}', "newer studio"),
        ("{not json", "not a valid project file"),
        ('{"name": "no version"}', "not a studio project"),
        ('{"schema_version": 2, "name": "x"}', "damaged"),
        ('[1, 2, 3]', "not a studio project"),
    ],
)
def test_bad_project_files_raise_project_error(tmp_path, content, message):
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(ProjectError, match=message):
        Project.load(f)


def test_missing_file_and_missing_assets(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        Project.load(tmp_path / "nope.json")
    p = full_project()
    p.save(tmp_path / "project.json")
    assert sorted(Project.load(tmp_path).missing_assets()) == ["assets/dialogue.wav", "clip.mp4"]
    (tmp_path / "clip.mp4").write_bytes(b"x")
    assert Project.load(tmp_path).missing_assets() == ["assets/dialogue.wav"]


def test_mute_and_solo():
    p = full_project()
    assert [t.name for t in p.audible_tracks()] == ["Drums"]  # solo wins
    p.tracks[0].mixer = Mixer()
    assert [t.name for t in p.audible_tracks()] == ["Drums", "Bass", "Hits"]  # muted one left out


def test_track_ids_are_unique_and_tracks_removable():
    p = full_project()
    t = p.tracks[1]
    with pytest.raises(ProjectError):
        p.add_track(Track("dup", TrackKind.MIDI, id=t.id))
    assert p.remove_track(t.id) is t
    with pytest.raises(ProjectError):
        p.track(t.id)


def long_film_project(hours: float = 2.0) -> Project:
    """What generate writes for a busy film, at the densities measured on the pipeline bench's
    30-minute video (12 drum notes, 5.2 Foley hits with their 67 physics values, and two spatial
    keyframes per hit, a second)."""
    from studio.adapters.spatial import foley_keyframes

    seconds = hours * 3600
    p = Project(name="Film")
    p.video = VideoClip("film.mp4", seconds, 30.0, 1280, 720, "abc")
    n = int(12 * seconds)
    p.add_track(Track("Drums", TrackKind.MIDI, channel=9,
                      notes=[Note(i / 12, 0.05, 36 + i % 12, 90, 9) for i in range(n)]))
    k = int(5.2 * seconds)
    foley = Track("Foley", TrackKind.FOLEY, room="hall",
                  events=[FoleyEvent(i / 5.2, 0.3, 0.6, 0.5, "wood", 0.4, i, params=tuple(0.01 * j for j in range(67)))
                          for i in range(k)])
    foley.spatial = foley_keyframes(foley)
    p.add_track(foley)
    return p


def test_a_long_films_project_saves_and_loads(tmp_path):
    # a 30-minute generate once wrote 17,277 keyframes on its Foley track that the loader refused
    p = long_film_project(1.0)
    assert len(p.tracks[1].spatial) > 35_000 and len(p.tracks[1].events) > 18_000
    q = Project.load(p.save(tmp_path / "project.json"))
    assert q == p


def test_the_project_file_is_written_a_track_at_a_time_as_one_dump_would_write_it(tmp_path):
    """``save`` writes the text piece by piece (a two-hour project as one Python value and one
    string took half a gigabyte); the file is the same as ``json.dumps`` of the whole."""
    import tracemalloc

    p = long_film_project(0.1)
    p.name = 'Film "deux" \u9f13 \U0001f941\n'
    p.add_track(Track("Empty", TrackKind.MIDI))
    p.add_track(Track("Keys", TrackKind.MIDI, notes=[Note(0.5, 0.25, 60, 80)], program=4))
    whole = json.dumps(p.to_dict(), indent=1)
    assert "".join(p.json_chunks()) == whole and p.to_json() == whole
    assert p.save(tmp_path / "project.json").read_text() == whole
    empty = Project(name="nothing")
    assert "".join(empty.json_chunks()) == json.dumps(empty.to_dict(), indent=1)
    assert Project.load(p.path).to_json() == whole
    # the peak while saving follows the largest track, not the project
    big = long_film_project(0.05)
    big.tracks.append(dataclasses.replace(big.tracks[0], id="drums2"))
    big.tracks.append(dataclasses.replace(big.tracks[1], id="foley2"))
    tracemalloc.start()
    big.save(tmp_path / "big.json")
    _, streamed = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    json.dumps(big.to_dict(), indent=1)
    _, whole_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert streamed < 0.6 * whole_peak, (streamed, whole_peak)


def test_a_project_too_large_to_load_is_not_saved(tmp_path, monkeypatch):
    from studio import schema

    p = long_film_project(0.05)
    path = p.save(tmp_path / "project.json")
    before = path.read_bytes()
    p.tracks[1].events.append(FoleyEvent(1000.0))
    monkeypatch.setattr(schema, "MAX_EVENTS", len(p.tracks[1].events) - 1)
    with pytest.raises(ProjectError, match="track 'Foley' has 937 Foley hits, more than a project can hold"):
        p.save()
    with pytest.raises(ProjectError, match="Foley hits"):
        p.autosave()
    assert path.read_bytes() == before and not autosave_path(path).exists()
    monkeypatch.undo()
    monkeypatch.setattr("studio.project.MAX_PROJECT_BYTES", len(before) // 2)
    with pytest.raises(ProjectError, match="more than a project file may"):
        p.save()
    assert path.read_bytes() == before


def test_foley_params_are_a_compact_exact_float_vector(tmp_path):
    """A hit's 67 parameters: one float64 buffer, equal and hashed as the tuple it was given as,
    read by numpy, copied and pickled as itself, saved as a JSON list and loaded back equal."""
    import copy
    import pickle
    import sys

    import numpy as np

    values = tuple(round(0.1 + i / 67, 5) for i in range(67)) + (1e-300,)
    e = FoleyEvent(1.0, params=np.array(values))  # any sequence of floats
    assert isinstance(e.params, FloatVector) and len(e.params) == 68
    assert e.params == values and values == e.params and e.params == list(values)
    assert hash(e.params) == hash(values) and hash(e) == hash(FoleyEvent(1.0, params=values))
    assert e.params[3] == values[3] and e.params[-1] == 1e-300 and e.params[:2] == values[:2]
    assert np.array_equal(np.asarray(e.params), values) and np.asarray(e.params, np.float32).dtype == np.float32
    assert copy.deepcopy(e) == e and pickle.loads(pickle.dumps(e)) == e
    assert e.params != values[:-1] and e.params != FloatVector(values[:-1])
    assert FloatVector((0.0, 1.0)) == FloatVector((-0.0, 1.0)) == (-0.0, 1.0)  # as floats, as a tuple is
    assert hash(FloatVector((0.0, 1.0))) == hash(FloatVector((-0.0, 1.0)))
    assert sys.getsizeof(e.params) + sys.getsizeof(e.params._data) < 0.3 * (
        sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values))
    p = Project(name="p", tracks=[Track(name="Foley", kind=TrackKind.FOLEY, events=[e])])
    p.save(tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text())["tracks"][0]["events"][0]["params"] == list(values)
    assert Project.load(tmp_path / "p.json").tracks[0].events[0] == e
    assert Project.from_dict(p.to_dict()).tracks[0].events[0] == e
