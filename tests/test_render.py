"""studio.render: stems, exact length, mute/solo, gain/pan, audio tracks, registries, limiter."""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
import soundfile as sf

from studio import mastering, render
from studio.errors import StudioError
from studio.music import Note
from studio.project import Mixer, Project, Track, TrackKind, VideoClip

SF = "/usr/share/sounds/sf2/TimGM6mb.sf2"


@pytest.fixture(autouse=True)
def _small_font(monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", SF)


def make_project(tmp_path, duration=2.0317, sr=48000) -> Project:
    p = Project(name="r", sample_rate=sr, video=VideoClip("v.mp4", duration, 25.0, 64, 48))
    p.path = tmp_path / "project.json"
    return p


def tone(tmp_path, name="tone.wav", sr=44100, secs=1.0, freq=440.0, amp=0.25, channels=1):
    t = np.arange(int(sr * secs)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    data = x if channels == 1 else np.stack([x, 0.5 * x], axis=1)
    sf.write(tmp_path / name, data, sr)
    return name


@pytest.mark.parametrize("sr", [44100, 48000])
def test_stems_have_the_videos_exact_length(tmp_path, sr):
    p = make_project(tmp_path, duration=2.0317, sr=sr)
    p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(1.9, 1.0, 60, 100)]))  # rings past the end
    p.add_track(Track("tone", TrackKind.AUDIO, audio_path=tone(tmp_path, secs=0.5), offset_s=0.25))
    r = render.render_project(p)
    n = round(2.0317 * sr)
    assert r.mix.shape == (2, n) and all(s.shape == (2, n) for s in r.stems.values())
    assert r.sample_rate == sr and r.mix.dtype == np.float32


def test_audio_track_is_resampled_and_placed_at_its_offset(tmp_path):
    p = make_project(tmp_path, duration=2.0)
    tr = p.add_track(Track("tone", TrackKind.AUDIO, audio_path=tone(tmp_path, sr=44100, secs=0.5), offset_s=0.75))
    stem = render.render_project(p).stems[tr.id]
    level = np.abs(stem).max(axis=0)
    first = int(np.argmax(level > 1e-3))
    assert abs(first - 0.75 * 48000) <= 2
    last = len(level) - int(np.argmax(level[::-1] > 1e-3))
    assert abs(last - 1.25 * 48000) <= 3
    # frequency survives resampling: 440 Hz at 48 kHz
    seg = stem[0, 40000:58000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    assert abs(np.argmax(spec) * 48000 / seg.size - 440) < 3
    # negative offset trims the start
    tr.offset_s = -0.25
    stem = render.render_project(p).stems[tr.id]
    assert np.abs(stem[:, :100]).max() > 0.01 and np.abs(stem[:, int(0.26 * 48000):]).max() == 0


def test_mute_solo_gain_pan(tmp_path):
    p = make_project(tmp_path, duration=1.0)
    a = p.add_track(Track("a", TrackKind.AUDIO, audio_path=tone(tmp_path, "a.wav", sr=48000)))
    b = p.add_track(Track("b", TrackKind.AUDIO, audio_path=tone(tmp_path, "b.wav", sr=48000, freq=660)))
    both = render.render_project(p, loudness_lufs=None)  # mastering off: the mix is the stems' sum
    assert set(both.stems) == {a.id, b.id}
    np.testing.assert_allclose(both.mix, both.stems[a.id] + both.stems[b.id], atol=1e-6)
    # mastering on (the default): imported audio keeps its level and sends nothing, so the mix is
    # the same sum brought to -14 LUFS (no limiting needed for two quiet tones)
    on = render.render_project(p)
    np.testing.assert_array_equal(on.stems[a.id], both.stems[a.id])
    assert on.reverb is None and on.limiter_max_reduction_db == 0.0
    np.testing.assert_allclose(on.mix, both.mix * 10 ** (on.master_gain_db / 20), atol=1e-6)
    assert abs(on.loudness_lufs + 14.0) < 0.05
    b.mixer = Mixer(mute=True)
    assert set(render.render_project(p).stems) == {a.id}
    b.mixer = Mixer(solo=True)
    r = render.render_project(p, loudness_lufs=None)
    assert set(r.stems) == {b.id}
    np.testing.assert_array_equal(r.mix, r.stems[b.id])
    # gain: -6 dB halves the amplitude
    b.mixer = Mixer(gain_db=-6.0)
    r2 = render.render_project(p)
    ratio = np.abs(r2.stems[b.id]).max() / np.abs(both.stems[b.id]).max()
    assert abs(20 * math.log10(ratio) + 6.0) < 0.01
    # pan: hard left silences the right side, constant power
    b.mixer = Mixer(pan=-1.0)
    s = render.render_project(p).stems[b.id]
    assert np.abs(s[1]).max() < 1e-7
    assert abs(np.abs(s[0]).max() / np.abs(both.stems[b.id][0]).max() - math.sqrt(2)) < 1e-4
    for pan in (-0.7, -0.2, 0.0, 0.4, 1.0):
        gl, gr = render.pan_gains(pan)
        assert abs(gl**2 + gr**2 - 2.0) < 1e-9
    assert render.pan_gains(0.0) == (1.0, 1.0)


def test_midi_tracks_render_their_program_and_drums(tmp_path):
    p = make_project(tmp_path, duration=1.0)
    drums = p.add_track(Track("drums", TrackKind.MIDI, channel=9, notes=[Note(0.1, 0.1, 38, 100, 9)]))
    piano = p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(0.1, 0.5, 60, 100)]))
    r = render.render_project(p)
    for tid in (drums.id, piano.id):
        first = int(np.argmax(np.abs(r.stems[tid]).max(axis=0) > 1e-5))
        assert 0 <= first - 4800 < 48  # < 1 ms
    assert not np.allclose(r.stems[drums.id], r.stems[piano.id], atol=1e-3)


def test_foley_needs_a_registered_engine(tmp_path):
    p = make_project(tmp_path, duration=0.5)
    p.add_track(Track("hits", TrackKind.FOLEY, engine="foley-modal"))
    with pytest.raises(StudioError, match="foley-modal"):
        render.render_project(p)
    calls = []

    def fake(track, project, sample_rate, job):
        calls.append(track.name)
        x = np.zeros((2, sample_rate), np.float32)  # longer than the project: gets trimmed
        x[:, 100] = 0.5
        return x

    render.register_track_renderer("foley-modal", fake)
    try:
        r = render.render_project(p, loudness_lufs=None)  # the engine's samples as they came
    finally:
        render.unregister_track_renderer("foley-modal")
    assert calls == ["hits"]
    stem = next(iter(r.stems.values()))
    assert stem.shape == (2, 24000) and stem[0, 100] == 0.5


def test_room_uses_the_spatializer(tmp_path, monkeypatch):
    from studio import adapters

    p = make_project(tmp_path, duration=0.5)
    p.add_track(Track("a", TrackKind.AUDIO, audio_path=tone(tmp_path, sr=48000), room="hall"))
    monkeypatch.setattr(adapters, "register_all", lambda engines=None: None)  # a build without engines
    monkeypatch.setattr(render, "_spatializer", None)  # (restored after the test)
    with pytest.raises(StudioError, match="spatial"):
        render.render_project(p)
    render.register_spatializer(lambda audio, track, project, sr: audio * np.array([[1.0], [0.0]], np.float32))
    s = next(iter(render.render_project(p).stems.values()))
    assert np.abs(s[1]).max() == 0 and np.abs(s[0]).max() > 0.1


def test_limiter_keeps_loud_mix_under_ceiling_and_leaves_quiet_mix_alone(tmp_path):
    sr = 48000
    rng = np.random.default_rng(1)
    loud = (0.4 * rng.standard_normal((2, sr * 2))).astype(np.float32)
    loud[:, 30000:30050] *= 6.0
    out, red = render.limit(loud, sr, ceiling_dbfs=-1.0)
    assert np.abs(out).max() <= 10 ** (-1 / 20) + 1e-7 and red > 3
    # a single burst in a quiet signal: far from it the gain is back to unity
    burst = (0.05 * rng.standard_normal((2, sr))).astype(np.float32)
    burst[:, 20000:20100] = 0.99
    lim, _ = render.limit(burst, sr, ceiling_dbfs=-1.0)
    np.testing.assert_array_equal(lim[:, :19000], burst[:, :19000])
    np.testing.assert_array_equal(lim[:, 40000:], burst[:, 40000:])
    assert np.abs(lim[:, 20000:20100]).max() <= 10 ** (-1 / 20) + 1e-7
    quiet = (0.1 * rng.standard_normal((2, sr))).astype(np.float32)
    same, red = render.limit(quiet, sr, ceiling_dbfs=-1.0)
    assert red == 0.0 and np.array_equal(same, quiet)
    # through the project with mastering off: the mix peaks report clipping, the limiter alone
    # fixes it (a true-peak limiter now), stems untouched
    p = make_project(tmp_path, duration=1.0)
    for i in range(4):
        p.add_track(Track(f"t{i}", TrackKind.AUDIO, audio_path=tone(tmp_path, f"t{i}.wav", sr=sr, amp=0.9),
                          mixer=Mixer(gain_db=3.0)))
    r = render.render_project(p, loudness_lufs=None)
    assert r.clipped and r.peak_dbfs > 0
    rl = render.render_project(p, loudness_lufs="off", limiter=True)
    assert not rl.clipped and rl.peak_dbfs <= -1.0 + 1e-4 and rl.true_peak_dbtp <= -1.0 + 1e-4
    for tid in r.stems:
        np.testing.assert_array_equal(r.stems[tid], rl.stems[tid])
    # by default (mastering on) neither the mix nor any stem reaches -1 dBTP
    rm = render.render_project(p)
    assert rm.true_peak_dbtp <= -1.0 + 1e-4 and abs(rm.loudness_lufs + 14.0) < 1.0
    for stem in rm.stems.values():
        assert mastering.true_peak_dbtp(stem) <= -1.0 + 1e-4


def test_time_range(tmp_path):
    p = make_project(tmp_path, duration=2.0)
    p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(1.0, 0.3, 60, 100)]))
    full = render.render_project(p)
    part = render.render_project(p, time_range=(0.5, 1.5))
    assert part.mix.shape[1] == 48000
    np.testing.assert_allclose(part.mix, full.mix[:, 24000:72000], atol=1e-7)
    with pytest.raises(StudioError):
        render.render_project(p, time_range=(3.0, 4.0))


# ----------------------------------------------------------------------------- the render cache


@pytest.fixture
def fresh_cache():
    render.clear_render_cache()
    yield
    render.clear_render_cache()


def _counted_renders(monkeypatch) -> list:
    calls = []
    real = render._render_stems

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "_render_stems", counted)
    return calls


def test_render_cache_hits_an_unchanged_project_and_misses_any_edit(tmp_path, monkeypatch, fresh_cache):
    p = make_project(tmp_path, duration=1.0)
    tr = p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(0.1, 0.3, 60, 100), Note(0.5, 0.3, 64, 90)]))
    calls = _counted_renders(monkeypatch)
    a = render.render_project(p, cache=True)
    b = render.render_project(p, cache=True)
    assert len(calls) == 1 and not a.cached and b.cached
    assert b.mix is a.mix and np.array_equal(b.stems[tr.id], a.stems[tr.id]) and b.loudness_lufs == a.loudness_lufs
    assert not a.mix.flags.writeable and not a.stems[tr.id].flags.writeable  # nobody changes the cached copy
    tr.notes[1] = Note(0.5, 0.3, 64, 40)  # one note's velocity
    c = render.render_project(p, cache=True)
    assert len(calls) == 2 and not c.cached and not np.array_equal(c.stems[tr.id], a.stems[tr.id])
    assert render.render_project(p, cache=True).cached  # the edited project, unchanged since
    for options in ({"loudness_lufs": -23.0}, {"time_range": (0.0, 0.5)}, {"sample_rate": 44100}):
        assert not render.render_project(p, cache=True, **options).cached, options
    tr.mixer = dataclasses.replace(tr.mixer, gain_db=-6.0)
    assert not render.render_project(p, cache=True).cached
    render.render_project(p)  # without cache: nothing looked up, nothing kept
    assert len(calls) == 7 and render.render_project(p, cache=True).cached


def test_render_cache_keeps_one_render(tmp_path, monkeypatch, fresh_cache):
    p = make_project(tmp_path, duration=0.5)
    tr = p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(0.1, 0.2, 60, 100)]))
    render.render_project(p, cache=True)
    tr.mixer = dataclasses.replace(tr.mixer, pan=0.5)
    render.render_project(p, cache=True)
    assert len(render._render_cache) == 1
    tr.mixer = dataclasses.replace(tr.mixer, pan=0.0)
    assert not render.render_project(p, cache=True).cached  # the first render was let go


def test_render_cache_sees_an_audio_file_changed_on_disk(tmp_path, monkeypatch, fresh_cache):
    p = make_project(tmp_path, duration=1.0)
    tr = p.add_track(Track("tone", TrackKind.AUDIO, audio_path=tone(tmp_path, amp=0.25)))
    a = render.render_project(p, cache=True, loudness_lufs=None)
    assert render.render_project(p, cache=True, loudness_lufs=None).cached
    tone(tmp_path, amp=0.5)  # same name, same size, new samples
    st = (tmp_path / "tone.wav").stat()
    os.utime(tmp_path / "tone.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    b = render.render_project(p, cache=True, loudness_lufs=None)
    assert not b.cached
    assert np.abs(b.stems[tr.id]).max() == pytest.approx(2 * np.abs(a.stems[tr.id]).max(), rel=1e-3)


def test_export_then_video_export_render_once(tmp_path, monkeypatch, fresh_cache):
    from studio.exporting import export_project

    p = make_project(tmp_path, duration=1.0)
    p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(0.1, 0.3, 60, 100)]))
    calls = _counted_renders(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    first = export_project(p, mix_path=out / "a.wav", stems_dir=out / "stems")
    second = export_project(p, mix_path=out / "b.wav")
    assert len(calls) == 1
    assert sf.read(out / "a.wav")[0].tolist() == sf.read(out / "b.wav")[0].tolist()
    assert first.loudness_lufs == second.loudness_lufs


def test_playback_and_export_share_the_render(tmp_path, monkeypatch, fresh_cache):
    pytest.importorskip("PySide6")
    from studio.exporting import render_for_export
    from ui.playback import render_for_playback

    p = make_project(tmp_path, duration=1.0)
    p.add_track(Track("piano", TrackKind.MIDI, notes=[Note(0.1, 0.3, 60, 100)]))
    calls = _counted_renders(monkeypatch)
    mix, sr = render_for_playback(p)
    rendered = render_for_export(p, sample_rate=p.sample_rate)
    assert len(calls) == 1 and rendered.mix is mix and sr == rendered.sample_rate


def test_render_cache_key_sees_every_hit_keyframe_and_note(tmp_path):
    from studio.project import FoleyEvent, SpatialKeyframe

    p = make_project(tmp_path, duration=1.0)
    a = p.add_track(Track("a", TrackKind.MIDI, notes=[Note(0.1 * i, 0.1, 60, 90) for i in range(3000)]))
    b = p.add_track(Track("b", TrackKind.MIDI, notes=[]))
    f = p.add_track(Track("hits", TrackKind.FOLEY, room="hall",
                          events=[FoleyEvent(0.01 * i, seed=i) for i in range(2500)],
                          spatial=[SpatialKeyframe(0.01 * i, 1.0, 2.0, 1.0) for i in range(2500)]))
    keys = {render._fingerprint(p, {})}
    assert render._fingerprint(p, {}) in keys  # the same project, the same key
    f.events[2049] = dataclasses.replace(f.events[2049], strength=0.9)  # past the first chunks
    keys.add(render._fingerprint(p, {}))
    f.spatial[-1] = SpatialKeyframe(24.99, 1.0, 2.0, 1.5)
    keys.add(render._fingerprint(p, {}))
    b.notes.append(a.notes.pop())  # the same notes, split differently between the tracks
    keys.add(render._fingerprint(p, {}))
    p.master_fader_db = -3.0  # applied after the cache: the same key
    assert render._fingerprint(p, {}) in keys and len(keys) == 4


# ----------------------------------------------------------------------------- sources ahead of the stems


def _tracks(k):
    return [Track(f"t{i}", TrackKind.AUDIO) for i in range(k)]


def test_sources_render_on_one_thread_ahead_of_the_stems_and_come_back_in_order_bounded():
    import threading
    import time

    alive, most, threads, log = [0], [0], set(), []
    lock = threading.Lock()

    def source(t):
        threads.add(threading.get_ident())
        with lock:
            alive[0] += 1
            most[0] = max(most[0], alive[0])
        log.append(("source", t.name))
        return t.name

    def finish(t, audio):
        assert audio == t.name
        time.sleep(0.05)  # a slow stem: the sources run ahead as far as they may (a loaded machine too)
        log.append(("finish", t.name))
        with lock:
            alive[0] -= 1
        return audio.upper()

    tracks = _tracks(6)
    assert list(render._pipelined(tracks, source, finish)) == [f"T{i}" for i in range(6)]
    assert len(threads) == 1 and threading.get_ident() not in threads  # one synth thread, not this one
    assert most[0] == render.SOURCES_AHEAD + render.FINISHERS
    # the second source is made while the first stem is being finished
    assert log.index(("source", "t1")) < log.index(("finish", "t0"))


def test_a_failing_source_or_stem_stops_the_pipeline_and_is_raised():
    import threading

    made = []

    def source(t):
        made.append(t.name)
        if t.name == "t2":
            raise StudioError("t2 cannot render")
        return t.name

    with pytest.raises(StudioError, match="t2 cannot"):
        list(render._pipelined(_tracks(6), source, lambda t, a: a))
    assert made == ["t0", "t1", "t2"]

    made.clear()

    def finish(t, audio):
        raise StudioError(f"{t.name}: disk full")

    before = threading.active_count()
    with pytest.raises(StudioError, match="t0: disk full"):
        list(render._pipelined(_tracks(6), source, finish))
    assert len(made) <= render.SOURCES_AHEAD + render.FINISHERS  # no source made for a stem that will never be
    assert threading.active_count() == before  # the source thread has ended


def test_pipelined_stems_equal_those_rendered_one_after_another(tmp_path, monkeypatch):
    p = make_project(tmp_path, duration=1.5)
    for i, (freq, pan) in enumerate([(220.0, -0.5), (330.0, 0.0), (550.0, 0.7)]):
        p.add_track(Track(f"tone{i}", TrackKind.AUDIO, audio_path=tone(tmp_path, f"t{i}.wav", freq=freq),
                          offset_s=0.2 * i, mixer=Mixer(gain_db=-3.0 * i, pan=pan)))
    piped = render.render_project(p)

    def one_after_another(tracks, source, finish):
        for t in tracks:
            yield finish(t, source(t))

    monkeypatch.setattr(render, "_pipelined", one_after_another)
    plain = render.render_project(p)
    assert all(np.array_equal(piped.stems[k], plain.stems[k]) for k in plain.stems)
    assert np.array_equal(piped.mix, plain.mix)


def test_tracks_the_synth_does_not_play_are_made_first_and_stems_keep_their_tracks(tmp_path, monkeypatch):
    p = make_project(tmp_path, duration=1.0)
    keys = p.add_track(Track("keys", TrackKind.MIDI, notes=[Note(0.1, 0.3, 60, 100)]))
    tone_track = p.add_track(Track("tone", TrackKind.AUDIO, audio_path=tone(tmp_path, secs=0.5)))
    bass = p.add_track(Track("bass", TrackKind.MIDI, program=33, notes=[Note(0.2, 0.3, 40, 100)]))
    order = []
    real = render.render_track_source
    monkeypatch.setattr(render, "render_track_source", lambda t, *a, **k: order.append(t.name) or real(t, *a, **k))
    r = render.render_project(p, loudness_lufs=None)
    assert order == ["tone", "keys", "bass"]  # the synth's own order unchanged
    assert list(r.stems) == [keys.id, tone_track.id, bass.id]
    level = {k: np.abs(v).max(axis=0) for k, v in r.stems.items()}
    assert np.argmax(level[tone_track.id] > 1e-3) < 100  # the tone from the start, the notes later
    assert abs(int(np.argmax(level[keys.id] > 1e-4)) - 4800) <= 64
    assert abs(int(np.argmax(level[bass.id] > 1e-4)) - 9600) <= 64
