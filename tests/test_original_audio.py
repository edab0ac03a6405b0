"""The video's own audio (issue 18, item 4): the "Original audio" track that a project made from
a video with sound gets (``studio.original.add_original_audio``, in ``studio generate`` and the
app alike), its WAV against the source, the exports that keep it or leave it out (``studio
export --no-original-audio``, the Export dialog's "Keep original audio"), projects saved before
it, "duck under music" measured on the rendered stem, and the app showing the track."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

import videogen
from studio import generate, media, original, render
from studio.cli import main
from studio.project import SCHEMA_VERSION, Mixer, Project, Track, TrackKind, VideoClip

SR = 48000
FPS = 25
DUR = 3.0
TONE_HZ = 440.0
MUSIC_HZ = 1000.0
DATA = Path(__file__).parent / "data"


# -- clips and helpers ------------------------------------------------------------------------------
def _draw(t: float) -> np.ndarray:
    img = np.full((120, 160, 3), 90, np.uint8)
    x = int(10 + 100 * ((t * 2) % 1.0))
    img[50:80, x:x + 30] = (240, 220, 60)
    return img


def _sine(freq: float, seconds: float, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    tone = np.stack([_sine(TONE_HZ, DUR)] * 2)
    with_audio = videogen.write_video(d / "tone.mp4", _draw, duration_s=DUR, fps=FPS, size=(160, 120),
                                      audio=tone, sample_rate=SR)
    silent = videogen.write_video(d / "silent.mp4", _draw, duration_s=DUR, fps=FPS, size=(160, 120))
    return {"tone": with_audio, "silent": silent}


def tone_share(x: np.ndarray, sr: int, freq: float, width_hz: float = 15.0) -> float:
    """The share of a signal's energy within +-width_hz of freq (0..1)."""
    x = np.asarray(x, np.float64)
    mono = x.mean(axis=0) if x.ndim == 2 else x
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / sr)
    total = spec.sum()
    return float(spec[np.abs(freqs - freq) <= width_hz].sum() / total) if total > 0 else 0.0


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T, sr


def video_audio(path: Path, stream: int = 0) -> tuple[np.ndarray, int, int]:
    """(samples of audio stream ``stream``, its rate, the number of audio streams)."""
    with av.open(str(path)) as c:
        s = c.streams.audio[stream]
        frames = [f.to_ndarray() for f in c.decode(s)]
        return np.concatenate(frames, axis=1), s.codec_context.sample_rate, len(c.streams.audio)


def meddling(project, timeline, settings, job):
    """An engine that tries to replace the video's own audio (and adds a part of its own)."""
    orig = original.original_track(project)
    assert orig is not None, "the engines see the project with its original audio"
    hijack = dataclasses.replace(orig, name="Hijacked", audio_path="assets/elsewhere.wav", mixer=Mixer(mute=True))
    return [hijack]


def nothing(project, timeline, settings, job):
    return []


@pytest.fixture
def generated(clips, tmp_path, monkeypatch):
    """``studio generate`` on the clip with sound, with an engine that tries to replace the track."""
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_original_audio:meddling"})
    out = tmp_path / "gen"
    assert main(["-q", "generate", str(clips["tone"]), "--rhythm", "--out", str(out)]) == 0
    return out


# -- the track --------------------------------------------------------------------------------------
def test_generate_makes_the_original_audio_track_from_the_videos_sound(generated, clips):
    p = Project.load(generated)
    (t,) = p.original_tracks()
    assert t.name == "Original audio" and t.kind is TrackKind.AUDIO and t.original_audio
    assert p.tracks[0] is t and len(p.tracks) == 1  # the engine's replacement was dropped
    assert t.audio_path == "assets/original-audio.wav" and not t.mixer.mute and t.mixer.duck_db is None
    assert abs(t.offset_s) < 1.0 / FPS
    wav, sr = read_wav(generated / t.audio_path)
    info = media.probe(clips["tone"])
    assert sr == info.audio[0].sample_rate == SR  # the source's own rate
    assert abs(wav.shape[1] / sr - info.audio[0].duration_s) < 1.0 / FPS
    assert abs(wav.shape[1] / sr - DUR) < 1.0 / FPS
    src, _ = media.read_audio(clips["tone"])
    n = min(src.shape[1], wav.shape[1])
    assert np.corrcoef(src[0, :n], wav[0, :n])[0, 1] > 0.999  # the stream itself (24-bit PCM)
    assert tone_share(wav, sr, TONE_HZ) > 0.95
    # generate's own export: the mix and the track's stem carry it
    mix, msr = read_wav(generated / "mix.wav")
    assert tone_share(mix, msr, TONE_HZ) > 0.9
    stem, ssr = read_wav(generated / "stems" / "Original audio.wav")
    assert tone_share(stem, ssr, TONE_HZ) > 0.9


def test_a_video_without_audio_gets_no_such_track_and_no_message(clips, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_original_audio:nothing"})
    out = tmp_path / "gen"
    assert main(["-q", "generate", str(clips["silent"]), "--rhythm", "--out", str(out)]) == 0
    p = Project.load(out)
    assert p.original_tracks() == [] and p.tracks == []
    assert not (out / "assets" / original.FILE).exists()
    assert "error" not in capsys.readouterr().err
    # and the core function alone says nothing either
    assert original.add_original_audio(p) is None and p.tracks == []


def test_add_original_audio_is_written_atomically_once(clips, tmp_path):
    from studio.project import new_project_for_video

    p = new_project_for_video(clips["tone"], tmp_path / "p" / "project.json")
    t = original.add_original_audio(p)
    assert t is not None and (tmp_path / "p" / "assets" / original.FILE).is_file()
    assert original.add_original_audio(p) is t and len(p.tracks) == 1  # once per project
    assert not [f for f in (tmp_path / "p" / "assets").iterdir() if f.name.startswith(".")]  # no temporaries


# -- export ------------------------------------------------------------------------------------------
def _with_music(project_dir: Path) -> Project:
    """The generated project with a second, imported track (a 1 kHz tone), saved."""
    p = Project.load(project_dir)
    sf.write(str(project_dir / "assets" / "tone1k.wav"), _sine(MUSIC_HZ, DUR), SR, subtype="PCM_24")
    p.add_track(Track("Tone", TrackKind.AUDIO, audio_path="assets/tone1k.wav"))
    p.save()
    return p


@pytest.mark.parametrize("keep", [True, False])
def test_export_keeps_the_original_audio_unless_told_not_to(generated, tmp_path, keep):
    _with_music(generated)
    out = tmp_path / "exp"
    out.mkdir()
    argv = ["-q", "export", str(generated), "--mix", "mix.wav", "--video", "video.mp4", "--stems", "stems",
            "--out", str(out)] + ([] if keep else ["--no-original-audio"])
    assert main(argv) == 0
    mix, sr = read_wav(out / "mix.wav")
    assert tone_share(mix, sr, MUSIC_HZ) > 0.3  # the other track plays in both
    stems = {f.stem for f in (out / "stems").glob("*.wav")}
    va, vsr, streams = video_audio(out / "video.mp4")  # the first audio stream: the studio mix
    if keep:
        assert tone_share(mix, sr, TONE_HZ) > 0.3
        assert stems == {"Original audio", "Tone"}
        assert tone_share(va, vsr, TONE_HZ) > 0.3 and streams == 2  # + the source's stream, copied
    else:
        assert tone_share(mix, sr, TONE_HZ) < 1e-3
        assert stems == {"Tone"}
        assert tone_share(va, vsr, TONE_HZ) < 1e-3 and streams == 1


def test_export_project_option_is_the_same_path(generated, tmp_path):
    from studio.exporting import export_project

    p = _with_music(generated)
    r = export_project(p, mix_path=tmp_path / "a.wav", keep_original_audio=False, loudness_lufs=None)
    mix, sr = read_wav(r.mix_path)
    assert tone_share(mix, sr, TONE_HZ) < 1e-3 and tone_share(mix, sr, MUSIC_HZ) > 0.9
    assert len(Project.load(generated).original_tracks()) == 1  # the project itself is untouched


# -- projects saved before ---------------------------------------------------------------------------
def test_a_project_saved_before_opens_without_the_track(tmp_path):
    p = Project.load(DATA / "demo_project_v4.json")
    assert p.original_tracks() == [] and all(t.mixer.duck_db is None for t in p.tracks)
    assert len(p.tracks) == 4
    v4 = {"schema_version": 4, "name": "old", "sample_rate": 48000, "video": None, "created": 0,
          "tempo": {"changes": [[0.0, 120.0]], "beats_per_bar": 4, "beat_unit": 4},
          "tracks": [{"name": "voice", "kind": "audio", "id": "a1", "audio_path": "assets/v.wav",
                      "mixer": {"gain_db": -3.0, "pan": 0.0, "mute": False, "solo": False, "reverb_send_db": None}}]}
    (tmp_path / "old.json").write_text(json.dumps(v4))
    old = Project.load(tmp_path / "old.json")
    assert not old.tracks[0].original_audio and old.tracks[0].mixer == Mixer(gain_db=-3.0)
    old.save()
    saved = json.loads((tmp_path / "old.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION >= 5
    assert saved["tracks"][0]["original_audio"] is False and saved["tracks"][0]["mixer"]["duck_db"] is None


def test_the_schema_keeps_and_checks_the_new_fields(tmp_path):
    from studio.errors import ProjectError

    p = Project(name="x")
    p.add_track(Track("Original audio", TrackKind.AUDIO, audio_path="assets/o.wav", original_audio=True,
                      mixer=Mixer(duck_db=-9.0)))
    p.save(tmp_path / "p.json")
    q = Project.load(tmp_path / "p.json")
    assert q == p and q.tracks[0].original_audio and q.tracks[0].mixer.duck_db == -9.0
    d = p.to_dict()
    d["tracks"][0]["mixer"]["duck_db"] = 6.0
    with pytest.raises(ProjectError, match=r"tracks\[0\]\.mixer\.duck_db"):
        Project.from_dict(d)
    d = p.to_dict()
    d["tracks"][0]["original_audio"] = "yes"
    with pytest.raises(ProjectError, match=r"tracks\[0\]\.original_audio"):
        Project.from_dict(d)


# -- ducking -----------------------------------------------------------------------------------------
MUSIC_SPAN = (1.5, 3.0)
DUCK_DUR = 5.0


def _duck_project(tmp_path: Path, duck_db: float | None) -> Project:
    """4 s of a 440 Hz original track and a generated music part (1 kHz) from 1.5 to 3.0 s."""
    assets = tmp_path / "assets"
    assets.mkdir(exist_ok=True)
    sf.write(str(assets / "orig.wav"), _sine(TONE_HZ, DUCK_DUR, 0.2), SR, subtype="FLOAT")
    music = np.zeros(int(DUCK_DUR * SR), np.float32)
    a, b = (int(t * SR) for t in MUSIC_SPAN)
    music[a:b] = _sine(MUSIC_HZ, MUSIC_SPAN[1] - MUSIC_SPAN[0], 0.3)
    sf.write(str(assets / "music.wav"), music, SR, subtype="FLOAT")
    p = Project(name="duck", video=VideoClip("v.mp4", DUCK_DUR, 25.0, 64, 48, has_audio=True))
    p.path = tmp_path / "project.json"
    p.add_track(Track("Original audio", TrackKind.AUDIO, audio_path="assets/orig.wav", original_audio=True,
                      mixer=Mixer(duck_db=duck_db)))
    p.add_track(Track("Music", TrackKind.SOUNDTRACK, audio_path="assets/music.wav", engine="soundtrack"))
    return p


def _rms_db(x: np.ndarray, a_s: float, b_s: float) -> float:
    seg = x[:, int(a_s * SR):int(b_s * SR)]
    return float(10 * np.log10(np.mean(np.square(seg, dtype=np.float64))))


@pytest.mark.parametrize("loudness", [None, -14.0])
def test_ducking_lowers_the_original_by_the_set_amount_only_under_the_music(tmp_path, loudness):
    plain = render.render_project(_duck_project(tmp_path, None), loudness_lufs=loudness)
    ducked = render.render_project(_duck_project(tmp_path, -9.0), loudness_lufs=loudness)
    def stem(r, name: str) -> np.ndarray:
        return next(r.stems[k] for k, n in r.names.items() if n == name)

    orig_plain, orig_ducked = stem(plain, "Original audio"), stem(ducked, "Original audio")

    def drop(a_s: float, b_s: float) -> float:
        return _rms_db(orig_ducked, a_s, b_s) - _rms_db(orig_plain, a_s, b_s)

    assert abs(drop(1.8, 2.9) - (-9.0)) < 0.5, drop(1.8, 2.9)  # under the music: by the set amount
    assert abs(drop(0.2, 1.3)) < 0.2, drop(0.2, 1.3)  # before it: untouched
    assert abs(drop(4.2, 4.9)) < 0.3, drop(4.2, 4.9)  # after the release: back
    # smooth: at the music's start the gain glides down (about 50 ms attack), no step
    gain = orig_ducked[0] / np.where(np.abs(orig_plain[0]) > 0.05, orig_plain[0], np.nan)
    gain_db = 20 * np.log10(np.nanmedian(np.abs(gain[int(1.2 * SR):int(2.0 * SR)].reshape(-1, 480)), axis=1))
    assert gain_db[0] > -0.5 and gain_db[-1] < -8.0 and np.abs(np.diff(gain_db)).max() < 3.0
    t10, t90 = (np.argmax(gain_db < -9.0 * f) * 0.01 for f in (0.1, 0.9))  # 10 ms steps
    assert 0.06 <= t90 - t10 <= 0.4, (t10, t90)
    # the music itself is not ducked
    assert abs(_rms_db(stem(ducked, "Music"), 1.8, 2.9) - _rms_db(stem(plain, "Music"), 1.8, 2.9)) < 0.05


def test_ducking_follows_only_audible_generated_music(tmp_path):
    p = _duck_project(tmp_path, -9.0)
    p.tracks[1] = dataclasses.replace(p.tracks[1], mixer=Mixer(mute=True))
    r = render.render_project(p, loudness_lufs=None)
    (stem,) = r.stems.values()
    assert abs(_rms_db(stem, 1.8, 2.9) - _rms_db(stem, 0.2, 1.3)) < 0.2  # no music playing: no ducking


def test_engines_never_place_the_original_audio_in_a_room(tmp_path):
    pytest.importorskip("engines.spatial")
    from studio import adapters

    if not adapters.present("spatial"):
        pytest.skip("no spatial engine in this build")
    spatial = adapters.load("spatial")
    p = _duck_project(tmp_path, None)
    placed = spatial.generate(p, None, generate.GenerateSettings(room="studio"))
    assert [t.name for t in placed] == ["Music"]
    assert spatial.spatialize_project(p, "studio") == ["Music"] and p.tracks[0].room is None


# -- the app -----------------------------------------------------------------------------------------
from test_ui_window import drop as drop_file, lane_of, window  # noqa: E402,F401 (the window fixture)


def test_the_app_shows_plays_and_exports_the_original_audio(window, qtbot, clips, tmp_path):
    w = window
    drop_file(w.timeline.canvas, clips["tone"])
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=60_000)
    p = w.doc.project
    (t,) = p.original_tracks()
    assert t.name == "Original audio" and (p.folder / t.audio_path).is_file()
    assert w.doc.undo_stack.isClean()  # part of opening, not an edit
    assert len(p.tempo.changes) >= 1 and w.last_error is None
    # the timeline has its lane and draws its waveform
    canvas = w.timeline.canvas
    lane_of(canvas, t.id)
    path = p.resolve(t.audio_path)
    canvas.grab()  # paint once: the waveform's peaks are asked for
    qtbot.waitUntil(lambda: isinstance(canvas.peaks.get(path), tuple), timeout=20_000)
    peaks, sr = canvas.peaks.get(path)
    assert sr == SR and 0.25 < float(peaks.max()) < 0.35
    # "Duck under music" in the inspector: one undo step
    w.doc.select(t.id)
    insp = w.inspector
    assert insp.duck.isVisibleTo(insp) and not insp.duck.isChecked()
    insp.duck.setChecked(True)
    assert w.doc.project.track(t.id).mixer.duck_db == -9.0
    w.doc.undo_stack.undo()
    assert w.doc.project.track(t.id).mixer.duck_db is None
    # playback renders it like any audio track
    from ui.playback import render_for_playback

    mix, rate = render_for_playback(generate.snapshot(w.doc.project))
    assert tone_share(np.asarray(mix), rate, TONE_HZ) > 0.9

    # the Export dialog's "Keep original audio"
    from ui.widgets.export_dialog import ExportDialog

    w.controller.import_audio(_tone_file(tmp_path))
    dlg = ExportDialog(w.doc.project)
    assert dlg.original.isEnabled() and dlg.original.isChecked() and dlg.arguments()["keep_original_audio"]
    dlg.folder.setText(str(tmp_path / "out"))
    for cb in (dlg.stems, dlg.midi, dlg.video, dlg.rpp):
        cb.setChecked(False)
    dlg.mix.setChecked(True)
    dlg.original.setChecked(False)
    dlg.accept()
    args = dlg.arguments()
    assert args["keep_original_audio"] is False
    assert not ExportDialog(w.doc.project).original.isChecked()  # remembered
    w.controller.export(args)
    qtbot.waitUntil(lambda: not w.controller.busy, timeout=60_000)
    assert w.last_error is None
    mix, msr = read_wav(args["mix_path"])
    assert tone_share(mix, msr, TONE_HZ) < 1e-3 and tone_share(mix, msr, MUSIC_HZ) > 0.9


def _tone_file(tmp_path: Path) -> Path:
    path = tmp_path / "tone1k.wav"
    sf.write(str(path), _sine(MUSIC_HZ, DUR), SR, subtype="PCM_24")
    return path


def test_the_export_dialog_box_is_off_for_a_video_without_sound(qapp, private_settings, clips, tmp_path):
    from studio.project import new_project_for_video
    from ui.widgets.export_dialog import ExportDialog

    p = new_project_for_video(clips["silent"], tmp_path / "p" / "project.json")
    dlg = ExportDialog(p)
    assert not dlg.original.isEnabled() and not dlg.original.isChecked()
    assert dlg.arguments()["keep_original_audio"] is True  # nothing to leave out
