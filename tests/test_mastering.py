"""studio.mastering: metering against pyloudnorm, the true-peak limiter's ceiling, loudness
normalisation, gain staging, the reverb bus, and generated projects exported in every format
with no clipped sample and the target loudness."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio import mastering as mst
from studio import render
from studio.music import Note
from studio.project import Mixer, Project, Track, TrackKind, VideoClip

REPO = Path(__file__).resolve().parents[1]
SR = 48000


def _tp_reference(x: np.ndarray) -> float:
    """True peak by an independent route: 4x polyphase resampling with scipy's own filter."""
    from scipy.signal import resample_poly

    return 20 * math.log10(float(np.abs(resample_poly(np.asarray(x, np.float64), 4, 1, axis=-1)).max()))


def _music_like(seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """Noise bed with sharp drum-like hits and a bass tone: crest factor of a real mix."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = 0.05 * rng.standard_normal((2, n)) + 0.2 * np.sin(2 * np.pi * 55 * t)
    for start in range(0, n - 4800, SR // 4):
        env = np.exp(-np.arange(4800) / 600.0)
        x[:, start:start + 4800] += 0.9 * env * rng.standard_normal(4800)
    return x.astype(np.float32)


# ----------------------------------------------------------------------------- metering


def test_integrated_loudness_matches_pyloudnorm_and_silence_is_minus_inf():
    import pyloudnorm

    meter = pyloudnorm.Meter(SR)
    rng = np.random.default_rng(4)
    t = np.arange(3 * SR) / SR
    signals = [_music_like(4.0), (0.1 * rng.standard_normal((2, 5 * SR))).astype(np.float32),
               np.stack([0.3 * np.sin(2 * np.pi * 997 * t), 0.1 * np.sin(2 * np.pi * 60 * t)]).astype(np.float32)]
    for x in signals:
        assert abs(mst.integrated_lufs(x, SR) - meter.integrated_loudness(x.T.astype(np.float64))) < 0.01
    # BS.1770: a 997 Hz sine peaking at 0 dBFS in one channel reads -3.01 LUFS; at -20 dBFS in both, -20
    sine = np.stack([0.1 * np.sin(2 * np.pi * 997 * t)] * 2).astype(np.float32)
    assert abs(mst.integrated_lufs(sine, SR) + 20.0) < 0.1
    assert mst.integrated_lufs(np.zeros((2, SR), np.float32), SR) == float("-inf")
    assert mst.integrated_lufs(np.full((2, SR), 1e-6, np.float32), SR) == float("-inf")  # under the gate
    short = np.zeros((2, 1000), np.float32)
    short[:, 10] = 0.5
    assert math.isfinite(mst.integrated_lufs(short, SR))  # shorter than a block: padded, not an error


def test_true_peak_finds_intersample_overs():
    n = np.arange(SR)
    quarter = np.sin(2 * np.pi * 0.25 * n + np.pi / 4).astype(np.float32)[None]  # samples at 0.707
    assert abs(np.abs(quarter).max() - 0.7071) < 1e-3
    assert 0.0 <= mst.true_peak_dbtp(quarter) < 0.15  # the wave itself peaks at 1.0 (read a little high)
    x = _music_like(3.0, seed=2)
    assert abs(mst.true_peak_dbtp(x) - _tp_reference(x)) < 0.1
    assert mst.true_peak_dbtp(np.zeros((2, 100), np.float32)) == float("-inf")


# ----------------------------------------------------------------------------- limiter


@pytest.mark.parametrize("ceiling", [-1.0, -2.0])
def test_true_peak_limiter_holds_the_ceiling_between_samples(ceiling):
    x = _music_like(4.0, seed=1) * np.float32(3.0)
    n = np.arange(x.shape[1])
    x[:, 60000:61000] = 1.5 * np.sin(2 * np.pi * 0.25 * n[60000:61000] + np.pi / 4)  # intersample overs
    assert _tp_reference(x) > 6
    out, reduction = mst.true_peak_limit(x, SR, ceiling_dbtp=ceiling)
    assert reduction > 6
    assert mst.true_peak_dbtp(out) <= ceiling + 1e-4
    assert _tp_reference(out) <= ceiling + 0.1  # an independent oversampler agrees
    again, _ = mst.true_peak_limit(x, SR, ceiling_dbtp=ceiling)
    np.testing.assert_array_equal(out, again)  # deterministic
    quiet = (0.05 * np.random.default_rng(0).standard_normal((2, SR))).astype(np.float32)
    same, red = mst.true_peak_limit(quiet, SR)
    assert red == 0.0 and same is quiet or np.array_equal(same, quiet)


def test_master_mix_normalises_caps_the_boost_and_keeps_silence():
    x = _music_like(6.0, seed=3) * np.float32(0.5)
    for target in (-14.0, -23.0):
        out, rep = mst.master_mix(x, SR, mst.Mastering(loudness_lufs=target))
        assert abs(mst.integrated_lufs(out, SR) - target) < 1.0 and abs(rep.loudness_lufs - target) < 1.0
        assert mst.true_peak_dbtp(out) <= -1.0 + 1e-4 and mst.clipped_samples(out) == 0
    quiet = (x * np.float32(10 ** (-50 / 20))).astype(np.float32)  # about -64 LUFS
    out, rep = mst.master_mix(quiet, SR)
    assert rep.boost_capped and rep.gain_db == pytest.approx(20.0)
    assert mst.integrated_lufs(out, SR) < -40  # not pulled up to -14: noise would follow
    # a mix far too peaky for -14 LUFS under -1 dBTP: the ceiling still holds, and it gets as close as it can
    spiky = _music_like(6.0, seed=3) * np.float32(2.0)
    out, rep = mst.master_mix(spiky, SR)
    assert mst.true_peak_dbtp(out) <= -1.0 + 1e-4 and rep.loudness_lufs == pytest.approx(mst.integrated_lufs(out, SR))
    silent, rep = mst.master_mix(np.zeros((2, SR), np.float32), SR)
    assert not np.any(silent) and rep.gain_db == 0.0 and rep.loudness_lufs == float("-inf")


# ----------------------------------------------------------------------------- render


@pytest.fixture(autouse=True)
def _small_font(monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", "/usr/share/sounds/sf2/TimGM6mb.sf2")


def _band_project(tmp_path, duration=4.0) -> Project:
    """A project as the rhythm engine makes it (drums, bass, keys with their parts) plus a lead."""
    p = Project(name="band", sample_rate=SR, video=VideoClip("v.mp4", duration, 25.0, 64, 48))
    p.path = tmp_path / "project.json"
    beat = 0.5
    drums = [Note(i * beat / 2, 0.1, (36, 42, 38, 42)[i % 4], 120, 9) for i in range(int(duration / beat * 2))]
    bass = [Note(i * beat, beat * 0.9, 40 + (i % 4) * 2, 110, 1) for i in range(int(duration / beat))]
    keys = [Note(i * 2 * beat, 2 * beat, 60 + k, 90, 2) for i in range(int(duration / beat / 2)) for k in (0, 4, 7)]
    p.add_track(Track("Drums", TrackKind.MIDI, notes=drums, channel=9, engine="rhythm", settings={"part": "drums"}))
    p.add_track(Track("Bass", TrackKind.MIDI, notes=bass, program=33, channel=1, engine="rhythm",
                      settings={"part": "bass"}))
    p.add_track(Track("Keys", TrackKind.MIDI, notes=keys, program=0, channel=2, engine="rhythm",
                      settings={"part": "keys"}))
    return p


def test_gain_staging_brings_generated_stems_to_their_roles_and_faders_still_apply(tmp_path):
    p = _band_project(tmp_path)
    r = render.render_project(p)
    for t in p.tracks:
        role = mst.track_role(t)
        assert abs(mst.integrated_lufs(r.stems[t.id], SR) - mst.ROLE_LUFS[role]) < 0.6, (t.name, role)
        assert mst.true_peak_dbtp(r.stems[t.id]) <= -1.0 + 1e-4
    assert abs(r.loudness_lufs + 14.0) < 1.0 and r.true_peak_dbtp <= -1.0 + 1e-4
    # the fader works on top of the staged level: -6 dB on the keys is -6 LU on their stem
    keys = p.tracks[2]
    keys.mixer = Mixer(gain_db=-6.0)
    r2 = render.render_project(p)
    assert abs(mst.integrated_lufs(r2.stems[keys.id], SR) - (mst.ROLE_LUFS["keys"] - 6.0)) < 0.05
    # imported audio and hand-made MIDI keep their level
    assert not mst.is_staged(Track("x", TrackKind.AUDIO, audio_path="a.wav"))
    assert not mst.is_staged(Track("y", TrackKind.MIDI))
    assert mst.track_role(Track("f", TrackKind.FOLEY)) == "foley"
    assert mst.track_role(Track("s", TrackKind.SOUNDTRACK, program=33, engine="soundtrack",
                                settings={"part": "melody"})) == "melody"


def test_loudness_off_is_the_plain_sum_of_before(tmp_path):
    p = _band_project(tmp_path, duration=2.0)
    p.tracks[0].mixer = Mixer(gain_db=4.0, pan=-0.3)
    r = render.render_project(p, loudness_lufs=None)
    n = r.n_frames
    expected = np.zeros((2, n), np.float32)
    for t in p.tracks:  # source -> fader -> pan, nothing else, as the studio rendered before mastering
        src = render.render_track_source(t, p, SR, n)
        expected += render.apply_mixer(src, t.mixer.gain_db, t.mixer.pan)
    np.testing.assert_array_equal(r.mix, expected)
    assert r.reverb is None and r.master_gain_db == 0.0 and set(r.stage_gains_db.values()) == {0.0}


def test_reverb_send_bus_and_room_matching(tmp_path):
    p = _band_project(tmp_path, duration=3.0)
    r = render.render_project(p)
    assert r.reverb is not None and np.any(r.reverb)
    np.testing.assert_array_equal(r.mix, render.render_project(p).mix)  # the whole stage is deterministic
    bass = p.tracks[1]
    assert mst.send_db(bass) is None and mst.send_db(p.tracks[2]) == mst.ROLE_SEND_DB["keys"]
    # no sends at all: no return
    for t in p.tracks:
        t.mixer = Mixer(reverb_send_db=-120.0)
    assert render.render_project(p).reverb is None
    # a track already placed in a room sends nothing
    assert mst.send_db(Track("k", TrackKind.MIDI, engine="rhythm", settings={"part": "keys"}, room="hall")) is None
    # room-matched decay: the bus's impulse response decays at the room's 1 kHz RT60
    from scipy.signal import butter, sosfilt

    for room, rt in (("studio", 0.25), ("hall", 0.86), (None, 1.0)):
        ir = mst.reverb_ir(room, SR)[0].astype(np.float64)
        band = sosfilt(butter(2, (707, 1414), "bandpass", fs=SR, output="sos"), ir)
        edc = 10 * np.log10(np.cumsum(band[::-1] ** 2)[::-1] / np.sum(band ** 2) + 1e-30)
        i5, i25 = np.argmax(edc < -5), np.argmax(edc < -25)
        t20 = 3 * (i25 - i5) / SR
        assert abs(t20 - rt) < 0.2 * rt, (room, t20)
    studio_pre = np.argmax(np.abs(mst.reverb_ir("studio", SR)[0]) > 0)
    hall_pre = np.argmax(np.abs(mst.reverb_ir("hall", SR)[0]) > 0)
    assert hall_pre > 2 * studio_pre  # a larger room, a later first reflection
    p.tracks[0].room = "hall"
    assert mst.project_room(p) == "hall"


def test_room_table_matches_the_spatial_engines_rooms():
    pytest.importorskip("pyroomacoustics")
    from engines.spatial import rooms
    from engines.spatial.teacher import theory_rt60

    assert set(mst.ROOM_RT60_S) == set(rooms.PRESETS)
    for name, r in rooms.PRESETS.items():
        got = theory_rt60(r)["eyring_s"]
        assert np.allclose(mst.ROOM_RT60_S[name], got, rtol=0.05, atol=0.02), name


def test_old_mixers_load_with_the_default_send(tmp_path):
    p = _band_project(tmp_path)
    d = p.to_dict()
    for t in d["tracks"]:
        t["mixer"].pop("reverb_send_db")
    d["schema_version"] = 3
    for t in d["tracks"]:
        t.pop("bank", None)
    q = Project.from_dict(d)
    assert all(t.mixer.reverb_send_db is None for t in q.tracks)
    q.tracks[0].mixer = Mixer(reverb_send_db=-6.0)
    q.save(tmp_path / "p.json")
    assert Project.load(tmp_path / "p.json").tracks[0].mixer.reverb_send_db == -6.0


# ----------------------------------------------------------------------------- generated projects


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated project (analysis + rhythm + Foley engines) on a short bouncing-ball clip."""
    from rhythm_fixtures import bouncing_ball_video

    from studio.generate import GenerateSettings, generate

    d = tmp_path_factory.mktemp("gen")
    bouncing_ball_video(d / "clip.mp4")  # 4 s, 320x240 (a longer clip: the ball comes to rest)
    project = generate(d / "clip.mp4", d / "out", GenerateSettings(engines=("rhythm", "foley"), style="latin",
                                                                  seed=1))
    return project, d / "out"


def test_generated_mix_is_at_target_with_no_clipping(generated):
    project, out = generated
    mix, sr = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    assert mst.clipped_samples(mix) == 0
    assert abs(mst.integrated_lufs(mix.T, sr) + 14.0) <= 1.0
    assert mst.true_peak_dbtp(mix.T) <= -1.0 + 1e-3
    for stem in (out / "stems").glob("*.wav"):
        x, _ = sf.read(stem, dtype="float32", always_2d=True)
        assert mst.clipped_samples(x) == 0 and mst.true_peak_dbtp(x.T) <= -1.0 + 1e-3, stem.name


@pytest.mark.parametrize("fmt,depth", [("wav", "16"), ("wav", "24"), ("wav", "float32"), ("flac", "16"),
                                       ("flac", "24")])
def test_every_format_and_bit_depth_exports_without_clipping(generated, tmp_path, fmt, depth, monkeypatch):
    from studio import exporting

    project, _ = generated
    report = exporting.export_project(project, stems_dir=tmp_path / "stems", mix_path=tmp_path / f"mix.{fmt}",
                                   bit_depth=depth, file_format=fmt, loudness_lufs=-23.0 if depth == "24" else -14.0)
    target = report.loudness_target_lufs
    mix, sr = sf.read(report.mix_path, dtype="float64", always_2d=True)
    full = {"16": 2**15, "24": 2**23}.get(depth)
    clipped = int(np.count_nonzero(np.abs(mix) >= (1.0 - 1.0 / full if full else 1.0)))
    assert clipped == 0 and report.clipped_samples == 0 and report.stems_clipped_samples == 0
    assert abs(mst.integrated_lufs(mix.T, sr) - target) <= 1.0
    assert abs(report.loudness_lufs - mst.integrated_lufs(mix.T, sr)) < 0.01  # the report is the file's
    assert report.true_peak_dbtp <= -1.0 + 1e-3 and mst.true_peak_dbtp(mix.T) <= -1.0 + 1e-3
    for stem in report.stems.values():
        x, _ = sf.read(stem, dtype="float64", always_2d=True)
        assert int(np.count_nonzero(np.abs(x) >= (1.0 - 1.0 / full if full else 1.0))) == 0


def test_foley_moves_up_to_the_music(generated):
    project, _ = generated
    foley = [t for t in project.tracks if t.kind is TrackKind.FOLEY]
    if not foley or not foley[0].events:
        pytest.skip("the clip gave the Foley engine no impact")

    def gap(r):
        music = sum(r.stems[t.id] for t in project.tracks if t.kind is not TrackKind.FOLEY)
        return mst.integrated_lufs(r.stems[foley[0].id], SR) - mst.integrated_lufs(music, SR)

    before, after = gap(render.render_project(project, loudness_lufs=None)), gap(render.render_project(project))
    # this clip's five short clicks are spiky (27 dB from loudness to peak): the staging boost stops
    # where the stem limiter would take more than 6 dB, so they land under the -18 LUFS target;
    # still far closer to the music than before (on the demo's 51 hits: within 2 LU, docs/listening.json)
    assert after - before >= 8.0 and -10.0 <= after <= 0.0, (before, after)


def test_cli_loudness_option(generated, tmp_path):
    project, out = generated
    run = lambda *a: subprocess.run([sys.executable, "-m", "studio", "-q", "export", str(out), *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=REPO, timeout=120)
    r = run("--mix", str(tmp_path / "a.wav"), "--loudness", "-23")
    assert r.returncode == 0, r.stderr
    assert "LUFS" in r.stdout and "dBTP" in r.stdout and "no clipped samples" in r.stdout
    x, sr = sf.read(tmp_path / "a.wav", dtype="float32", always_2d=True)
    assert abs(mst.integrated_lufs(x.T, sr) + 23.0) <= 1.0
    r = run("--mix", str(tmp_path / "b.wav"), "--loudness", "off", "--limiter")
    assert r.returncode == 0 and "mastering off" in r.stdout
    r = run("--mix", str(tmp_path / "c.wav"), "--loudness", "loud")
    assert r.returncode == 2 and "loud" in r.stderr


def test_a_silent_project_renders_and_exports_digital_silence(tmp_path):
    from studio import exporting

    p = Project(name="quiet", sample_rate=SR, video=VideoClip("v.mp4", 1.0, 25.0, 64, 48))
    p.path = tmp_path / "project.json"
    sf.write(tmp_path / "silence.wav", np.zeros(SR, np.float32), SR)
    p.add_track(Track("Silence", TrackKind.AUDIO, audio_path="silence.wav"))
    p.add_track(Track("Hits", TrackKind.FOLEY, engine="silent-test"))
    render.register_track_renderer("silent-test", lambda t, pr, sr, job: np.zeros((2, sr), np.float32))
    try:
        r = render.render_project(p)
        report = exporting.export_project(p, mix_path=tmp_path / "mix.wav", bit_depth="16")
    finally:
        render.unregister_track_renderer("silent-test")
    assert not np.any(r.mix) and r.master_gain_db == 0.0 and r.loudness_lufs == float("-inf")
    x, _ = sf.read(tmp_path / "mix.wav", dtype="int16")
    assert not np.any(x) and report.loudness_lufs == float("-inf") and report.clipped_samples == 0


def test_reverb_bus_is_built_once_and_convolved_once_per_render(tmp_path, monkeypatch):
    convolutions = []
    real = mst.reverb_return_blocks
    monkeypatch.setattr(mst, "reverb_return_blocks", lambda *a, **k: convolutions.append(1) or real(*a, **k))
    mst.reverb_ir.cache_clear()
    p = Project(name="r", sample_rate=48000, video=VideoClip("v.mp4", 2.0, 25.0, 64, 48))
    p.path = tmp_path / "project.json"
    for k in range(3):  # three tracks send to the one bus
        p.add_track(Track(f"keys{k}", TrackKind.MIDI, notes=[Note(0.2 + 0.3 * k, 0.5, 60 + 4 * k, 100)]))
    r1 = render.render_project(p)
    r2 = render.render_project(p)
    assert r1.reverb is not None and np.any(r1.reverb)
    assert len(convolutions) == 2  # one per render, for the whole bus
    info = mst.reverb_ir.cache_info()
    assert info.misses == 1 and info.hits == 1  # the impulse response is made once per process
    np.testing.assert_array_equal(r1.mix, r2.mix)
