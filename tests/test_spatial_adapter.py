"""Spatial adapter: tracks placed in a room render binaurally; generate; `studio spatialize`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio import adapters, render
from studio.adapters import spatial
from studio.errors import StudioError
from studio.project import FoleyEvent, Project, SpatialKeyframe, Track, TrackKind, VideoClip

REPO = Path(__file__).resolve().parents[1]


def _project(tmp_path, duration=1.0):
    p = Project(name="s", sample_rate=48000, video=VideoClip("v.mp4", duration, 25.0, 64, 48))
    p.path = tmp_path / "project.json"
    t = np.arange(int(0.3 * 48000)) / 48000
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32), 48000)
    noise = 0.2 * np.random.default_rng(0).standard_normal(len(t))  # broadband: lateralisation
    sf.write(tmp_path / "noise.wav", noise.astype(np.float32), 48000)  # is not one tone's room mode
    return p


@pytest.fixture
def registered():
    spatial.register()
    yield
    render.register_spatializer(None)
    # a render in between let studio.adapters.register_all note "spatial" as registered: forget
    # that, so the next render in this process registers it again (it is None now)
    adapters._registered.discard("spatial")


def test_track_in_a_room_renders_binaurally_from_its_keyframe(tmp_path, registered):
    p = _project(tmp_path)
    # stage coordinates: listener at (4, 3) facing y = 0; x = 2 is 2 m to the listener's left
    p.add_track(Track("left", TrackKind.AUDIO, audio_path="noise.wav", room="studio",
                      spatial=[SpatialKeyframe(0.0, 2.0, 3.0, 1.3)]))
    p.add_track(Track("dry", TrackKind.AUDIO, audio_path="noise.wav"))
    r = render.render_project(p)
    left, dry = (r.stems[t.id] for t in p.tracks)
    assert left.shape == dry.shape == (2, 48000)
    e = np.sum(left.astype(np.float64) ** 2, axis=-1)
    assert e[0] > 2 * e[1]  # louder in the left ear
    assert np.allclose(dry[0], dry[1])  # the dry track is untouched
    # reverberation: the room keeps sounding after the 0.3 s tone
    assert np.abs(left[:, int(0.35 * 48000):]).max() > 1e-4


def test_track_without_keyframes_sits_in_front(tmp_path, registered):
    p = _project(tmp_path)
    p.add_track(Track("front", TrackKind.AUDIO, audio_path="noise.wav", room="living_room"))
    p.add_track(Track("dry", TrackKind.AUDIO, audio_path="noise.wav"))
    r = render.render_project(p)
    s, dry = (r.stems[t.id] for t in p.tracks)
    e = np.sum(s.astype(np.float64) ** 2, axis=-1)
    assert 0.5 < e[0] / e[1] < 2.0
    # unity direct-path gain at 1 m: 2 m away in a living room stays within 10 dB of the dry level
    level_db = 10 * np.log10(e.mean() / np.sum(dry.astype(np.float64) ** 2, axis=-1).mean())
    assert -10.0 < level_db < 6.0, level_db


def test_place_and_generate_keep_tracks_and_order(tmp_path):
    p = _project(tmp_path)
    hits = Track("hits", TrackKind.FOLEY, events=[FoleyEvent(0.2, x=0.0, y=0.5), FoleyEvent(0.8, x=1.0, y=0.0)],
                 engine="foley")
    bed = Track("bed", TrackKind.SOUNDTRACK)
    kept = Track("kept", TrackKind.AUDIO, audio_path="tone.wav", spatial=[SpatialKeyframe(0.0, 5.0, 2.0)])
    for t in (hits, bed, kept):
        p.add_track(t)

    class S:
        room = "Hall"

    before = list(p.tracks)
    out = spatial.generate(p, None, S())
    assert [t.id for t in out] == [hits.id, bed.id, kept.id] and p.tracks == before  # copies, project untouched
    assert all(t.room == "hall" for t in out)
    assert out[0].engine == "foley"  # still rendered by its own engine
    kf = out[0].spatial
    lead = spatial.ARRIVE_LEAD_S  # at each hit's place that long before it, held until the next one's
    assert [k.time_s for k in kf] == pytest.approx([0.2 - lead, 0.8 - lead, 0.8 - lead])
    assert kf[0].x == 1.0 and kf[-1].x == 7.0 and kf[-1].z > kf[0].z
    assert out[1].spatial == [spatial.arc_keyframe(0, 1)] and out[2].spatial == kept.spatial
    assert all(t.room is None for t in p.tracks)


def test_each_foley_hit_is_heard_from_its_own_place_from_its_onset():
    """Four short hits alternating between the stage's left and right edges, placed by generate
    and rendered along their path: the first 10 ms after each onset must match that hit rendered
    alone at its own place (its room response, a static render) within -30 dB. The path that
    glided to the next place over the 50 ms before a hit and arrived with it rendered the onset
    from a filter still on its way there: -16.6 dB."""
    import scipy.signal

    from engines.spatial import infer
    from engines.spatial import render as spatial_render

    sr, times = 48000, [0.2, 0.5, 0.8, 1.1]
    hits = Track("hits", TrackKind.FOLEY, events=[FoleyEvent(t, x=float(i % 2), y=0.5) for i, t in enumerate(times)],
                 engine="foley")
    hits = spatial.place([hits], "studio")[0]
    field = infer.field("studio")
    path = spatial.track_path(hits, field.room)
    rng = np.random.default_rng(0)
    x = np.zeros(int(1.4 * sr), np.float32)
    alone = np.zeros((2, len(x)))
    onsets = np.zeros(len(x), bool)
    for t in times:
        a = int(t * sr)
        burst = rng.standard_normal(int(0.005 * sr)).astype(np.float32)
        x[a:a + len(burst)] = burst
        y = scipy.signal.oaconvolve(burst[None], spatial_render.brir(field, path(t + 1e-4), sr), axes=-1)
        m = min(y.shape[1], len(x) - a)
        alone[:, a:a + m] += y[:, :m]
        onsets[a:a + int(0.01 * sr)] = True
    y = spatial_render.render_path(field, x, sr, path, block=spatial.BLOCK)[:, :len(x)]
    err = y[:, onsets] - alone[:, onsets]
    assert 10 * np.log10(np.sum(err ** 2) / np.sum(alone[:, onsets] ** 2)) < -30.0


def test_generate_needs_a_known_room(tmp_path):
    class S:
        room = "cathedral"

    with pytest.raises(StudioError, match="unknown room"):
        spatial.generate(_project(tmp_path), None, S())


def _studio(*args):
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_cli_spatialize_marks_tracks_and_writes_binaural_stems(tmp_path):
    p = _project(tmp_path, duration=0.6)
    p.video = None  # no video: the render lasts until the room has died away
    p.add_track(Track("tone", TrackKind.AUDIO, audio_path="tone.wav"))
    p.save(p.path)
    r = _studio("spatialize", tmp_path, "--room", "studio")
    assert r.returncode == 0, r.stderr
    assert "placed 1 track in studio" in r.stdout
    q = Project.load(tmp_path / "project.json")
    assert q.tracks[0].room == "studio" and len(q.tracks[0].spatial) == 1
    stems = list((tmp_path / "stems").glob("*.wav"))
    assert len(stems) == 1 and (tmp_path / "mix.wav").exists()
    x, sr = sf.read(stems[0])
    assert sr == 48000 and x.shape[1] == 2 and len(x) > int(0.3 * 48000)
    bad = _studio("spatialize", tmp_path, "--room", "cathedral")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown room" in bad.stderr
    none = _studio("spatialize", tmp_path, "--room", "studio", "--track", "nope")
    assert none.returncode == 2 and "no track named nope" in none.stderr


def test_cli_generate_with_a_room_places_the_generated_tracks_in_it(tmp_path):
    """`studio generate VIDEO --foley --spatial hall`: the Foley track comes back placed in the
    hall (same track, replaced by id, not duplicated) and its stem is binaural."""
    import subprocess
    import sys

    import soundfile as sf

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "gen"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(repo / "studio" / "assets" / "demo.mp4"),
                        "--foley", "--spatial", "hall", "--out", str(out)], capture_output=True, text=True,
                       cwd=repo, timeout=600)
    assert r.returncode == 0, r.stderr
    p = Project.load(out / "project.json")
    assert [t.name for t in p.tracks] == ["Foley"] and p.tracks[0].room == "hall" and p.tracks[0].spatial
    stem, sr = sf.read(next((out / "stems").glob("*.wav")))
    assert stem.shape[1] == 2 and np.abs(stem[:, 0] - stem[:, 1]).max() > 1e-3  # two different ears


def test_room_resources_load_once_and_a_static_track_is_one_query(tmp_path, registered, monkeypatch):
    """Rendering twice opens the room's field and HRIR models once (per process) and queries
    the field once per render for a track that does not move (one convolution per ear)."""
    import onnxruntime as ort

    from engines import runtime
    from engines.spatial import infer

    runtime.clear_cache()
    monkeypatch.setattr(infer, "_fields", {})
    opened = []
    real = ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    queries = []
    real_raw = infer.Field.raw
    monkeypatch.setattr(infer.Field, "raw", lambda self, *a: queries.append(1) or real_raw(self, *a))
    p = _project(tmp_path)
    p.add_track(Track("still", TrackKind.AUDIO, audio_path="noise.wav", room="studio",
                      spatial=[SpatialKeyframe(0.0, 2.0, 3.0, 1.3), SpatialKeyframe(0.5, 2.0, 3.0, 1.3)]))
    try:
        a = render.render_project(p).stems[p.tracks[0].id]
        b = render.render_project(p).stems[p.tracks[0].id]
    finally:
        runtime.clear_cache()
    assert len(opened) == 2 and len(queries) == 2  # field + HRIR models; one query per render
    np.testing.assert_array_equal(a, b)
