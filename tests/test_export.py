"""export: WAV/FLAC stems + mix, SMF, video mux, REAPER project, and all-or-nothing failures."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import av
import mido
import numpy as np
import pytest
import soundfile as sf

from export import smf, wav
from studio import exporting
from studio.errors import ExportError
from studio.music import Note, TempoChange, TempoMap
from studio.project import Mixer, Project, Track, TrackKind, VideoClip
from videogen import write_video

SF = "/usr/share/sounds/sf2/TimGM6mb.sf2"
DUR = 3.04  # not a whole number of 25 fps frames' worth of 1024-sample AAC blocks


@pytest.fixture(autouse=True)
def _small_font(monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", SF)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("video")
    sr = 48000
    t = np.arange(int(DUR * sr)) / sr
    audio = np.stack([0.2 * np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32)
    return write_video(d / "clip.mp4", lambda s: np.full((48, 64, 3), int(s * 80) % 255, np.uint8),
                       duration_s=DUR, fps=25, size=(64, 48), audio=audio)


def make_project(folder: Path, video_file: Path, tempo: TempoMap | None = None) -> Project:
    shutil.copy(video_file, folder / "clip.mp4")
    p = Project(name="demo", sample_rate=48000, tempo=tempo or TempoMap.constant(100.0, 0.37),
                video=VideoClip("clip.mp4", DUR, 25.0, 64, 48, has_audio=True))
    p.path = folder / "project.json"
    melody = [Note(0.4123 + 0.31 * i, 0.25, 60 + (i * 5) % 12, 70 + i) for i in range(8)]
    drums = [Note(0.37 + 0.6 * i, 0.1, (36, 38)[i % 2], 110, 9) for i in range(5)]
    p.add_track(Track("Lead / melody", TrackKind.MIDI, notes=melody, program=73, channel=2))
    p.add_track(Track("Drums", TrackKind.MIDI, notes=drums, channel=9))
    t = np.arange(48000) / 48000
    sf.write(folder / "pad.wav", (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000)
    p.add_track(Track("Pad", TrackKind.AUDIO, audio_path="pad.wav", offset_s=1.0, mixer=Mixer(pan=0.3)))
    return p


def onsets_s(audio: np.ndarray, sr: int, threshold: float = 2e-3, gap_s: float = 0.05) -> list[float]:
    level = np.abs(audio).max(axis=0) if audio.ndim == 2 else np.abs(audio)
    above = np.nonzero(level > threshold)[0]
    out, last = [], -10**9
    for i in above:
        if i - last > gap_s * sr and (not out or i - out[-1] * sr > gap_s * sr):
            out.append(i / sr)
        last = i
    return out


def test_stems_mix_lengths_and_bit_depths(tmp_path, video_file):
    p = make_project(tmp_path, video_file)
    r24 = exporting.export_project(p, stems_dir=tmp_path / "s24", mix_path=tmp_path / "mix24.wav", bit_depth="24")
    rf = exporting.export_project(p, stems_dir=tmp_path / "sf", mix_path=tmp_path / "mixf.wav", bit_depth="float32")
    n = round(DUR * 48000)
    assert r24.frames == n
    assert sorted(x.name for x in (tmp_path / "s24").iterdir()) == ["Drums.wav", "Lead _ melody.wav", "Pad.wav"]
    for tid, path in r24.stems.items():
        a, sr = sf.read(path, dtype="float64", always_2d=True)
        b, _ = sf.read(rf.stems[tid], dtype="float64", always_2d=True)
        assert sr == 48000 and a.shape == (n, 2) and b.shape == (n, 2)
        b = np.clip(b, -1.0, 1.0 - 2**-23)  # 24-bit clips at full scale, float does not
        assert np.abs(a - b).max() <= 0.5 / 2**23 + 1e-9  # 24-bit = float within quantisation
        assert sf.info(path).subtype == "PCM_24" and sf.info(rf.stems[tid]).subtype == "FLOAT"
    mix, _ = sf.read(tmp_path / "mixf.wav", dtype="float32", always_2d=True)
    assert abs(r24.peak_dbfs - 20 * np.log10(np.abs(mix).max())) < 1e-3
    # mastered by default: the report's figures are the file's
    assert r24.loudness_target_lufs == -14.0 and abs(r24.loudness_lufs + 14.0) < 1.0
    assert r24.true_peak_dbtp <= -1.0 + 1e-3 and r24.clipped_samples == 0 and r24.stems_clipped_samples == 0
    # with mastering off the stems sum to the mix
    ro = exporting.export_project(p, stems_dir=tmp_path / "so", mix_path=tmp_path / "mixo.wav", bit_depth="float32",
                               loudness_lufs="off")
    assert ro.loudness_target_lufs is None
    mix, _ = sf.read(tmp_path / "mixo.wav", dtype="float32", always_2d=True)
    stems = sum(sf.read(x, dtype="float32", always_2d=True)[0] for x in ro.stems.values())
    np.testing.assert_allclose(mix, stems, atol=1e-5)


def test_16_bit_dither_flac_and_96k(tmp_path, video_file):
    p = make_project(tmp_path, video_file)
    # the synth's first render at a new rate differs from later ones by ~3e-6 (a FluidSynth
    # warm-up effect, seen with mastering off too); the mastering gain (+4 dB here) made that
    # exceed the 1.5 LSB bound below, so both exports compared are warm renders
    from studio.render import render_project

    render_project(p, sample_rate=96000, loudness_lufs=None)
    r = exporting.export_project(p, mix_path=tmp_path / "mix.flac", bit_depth="16", file_format="flac",
                              sample_rate=96000)
    a, sr = sf.read(r.mix_path, dtype="float64", always_2d=True)
    assert sr == 96000 and a.shape[0] == round(DUR * 96000) and sf.info(r.mix_path).subtype == "PCM_16"
    rf = exporting.export_project(p, mix_path=tmp_path / "mix.wav", bit_depth="float32", sample_rate=96000)
    b, _ = sf.read(rf.mix_path, dtype="float64", always_2d=True)
    err = (a - np.clip(b, -1, 1 - 2**-15)) * 2**15
    assert np.abs(err).max() <= 1.5 + 1e-9  # rounding (0.5) + TPDF dither (< 1 LSB)
    assert 0.2 < err[b != 0].std() < 0.7  # dither noise is there (rounding alone: ~0.29)
    with pytest.raises(ExportError, match="FLAC"):
        exporting.export_project(p, mix_path=tmp_path / "x.flac", bit_depth="float32", file_format="flac")


def test_smf_round_trip_notes_tempo_programs(tmp_path, video_file):
    tempo = TempoMap((TempoChange(0.37, 100.0), TempoChange(1.6, 132.0)), 4)
    p = make_project(tmp_path, video_file, tempo)
    exporting.export_project(p, midi_path=tmp_path / "song.mid")
    mid = mido.MidiFile(tmp_path / "song.mid")
    assert mid.type == 1 and mid.ticks_per_beat == 480 and len(mid.tracks) == 3
    conductor = mid.tracks[0]
    tempos = [m for m in conductor if m.type == "set_tempo"]
    sigs = [m for m in conductor if m.type == "time_signature"]
    assert sigs[-1].numerator == 4 and sigs[-1].denominator == 4
    # the later tempi are the map's (the first is the pickup bar's)
    assert abs(mido.tempo2bpm(tempos[-1].tempo) - 132.0) < 0.01
    assert abs(mido.tempo2bpm(tempos[-2].tempo) - 100.0) < 0.5
    # first downbeat (0.37 s) is on a bar line: the tick where the 4/4 signature starts
    tm = smf.tick_map(tempo)
    k_downbeat = next(k for k, n, d in tm.signatures if (n, d) == (4, 4))
    assert abs(tm.time(k_downbeat) - 0.37) < 1e-6
    names = [next(m.name for m in tr if m.type == "track_name") for tr in mid.tracks[1:]]
    assert names == ["Lead / melody", "Drums"]
    programs = [[m.program for m in tr if m.type == "program_change"] for tr in mid.tracks[1:]]
    assert programs == [[73], []]
    # absolute times of note_ons as a player computes them (mido applies the tempo map)
    t, got = 0.0, []
    for m in mid:
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            got.append((m.channel, m.note, m.velocity, t))
    want = [(ch, n.pitch, n.velocity, n.start_s) for tr, ch in zip(p.tracks[:2], (2, 9)) for n in tr.notes]
    assert len(got) == len(want)
    tick_s = 60 / 100 / 480
    for w in want:
        match = [g for g in got if g[:3] == w[:3] and abs(g[3] - w[3]) <= tick_s]
        assert match, w


def test_smf_quantise_on_export(tmp_path, video_file):
    p = make_project(tmp_path, video_file, TempoMap.constant(120.0, 0.0))
    exporting.export_project(p, midi_path=tmp_path / "q.mid", quantize=0.25)
    mid = mido.MidiFile(tmp_path / "q.mid")
    ticks = []
    for tr in mid.tracks[1:]:
        k = 0
        for m in tr:
            k += m.time
            if m.type == "note_on":
                ticks.append(k)
    assert ticks and all(k % 120 == 0 for k in ticks)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth command-line program not installed")
def test_smf_rendered_by_fluidsynth_cli_has_onsets_at_note_times(tmp_path, video_file):
    tempo = TempoMap((TempoChange(0.37, 100.0), TempoChange(1.6, 132.0)), 4)
    p = make_project(tmp_path, video_file, tempo)
    p.tracks[0].mixer = Mixer(mute=True)  # short drum hits alone: clean onsets
    p.tracks[2].mixer = Mixer(mute=True)
    p.tracks[1].notes = [Note(0.4123 + 0.45 * i + 0.01 * i * i, 0.05, (37, 75)[i % 2], 120, 9) for i in range(6)]
    exporting.export_project(p, midi_path=tmp_path / "m.mid")
    out = tmp_path / "fs.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "1.0", "-r", "48000", "-R", "0", "-C", "0",
                    "-F", str(out), SF, str(tmp_path / "m.mid")], check=True, capture_output=True, timeout=60)
    audio, sr = sf.read(out, dtype="float32", always_2d=True)
    found = onsets_s(audio.T, sr, threshold=3e-3, gap_s=0.3)
    want = [n.start_s for n in p.tracks[1].notes]
    assert len(found) == len(want), found
    # FluidSynth's player runs events on its 64-frame blocks and ticks at ~1 ms: allow 5 ms
    assert max(abs(f - w) for f, w in zip(found, want)) < 0.005


def _packets(path: Path, kind: str) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [(pk.pts, bytes(pk)) for pk in c.demux(s) if pk.size]


def test_video_mux_copies_video_packets_and_adds_the_mix(tmp_path, video_file):
    p = make_project(tmp_path, video_file)
    r = exporting.export_project(p, video_path=tmp_path / "out.mp4", mix_path=tmp_path / "mix.wav")
    src, dst = _packets(tmp_path / "clip.mp4", "video"), _packets(r.video_path, "video")
    assert [b for _, b in src] == [b for _, b in dst]
    with av.open(str(r.video_path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 2
        mix_stream = c.streams.audio[0]
        assert mix_stream.codec_context.name == "aac" and "Studio mix" in mix_stream.metadata.values()
        decoded = sum(f.samples for f in c.decode(mix_stream))
    assert abs(decoded / 48000 - DUR) < 1024 / 48000 + 1e-9
    # the original audio, copied unchanged as the second stream
    with av.open(str(video_file)) as a, av.open(str(r.video_path)) as b:
        orig = [bytes(pk) for pk in a.demux(a.streams.audio[0]) if pk.size]
        copy = [bytes(pk) for pk in b.demux(b.streams.audio[1]) if pk.size]
    assert orig == copy
    # without the original audio: one audio stream
    r2 = exporting.export_project(p, video_path=tmp_path / "only.mkv", keep_original_audio=False)
    with av.open(str(r2.video_path)) as c:
        assert len(c.streams.audio) == 1
    assert [b for _, b in _packets(r2.video_path, "video")] == [b for _, b in src]


def _aac_packets(path: Path) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(pk.pts, pk.duration, bytes(pk)) for pk in c.demux(c.streams.audio[0]) if pk.size]


def test_the_mix_is_encoded_as_the_aac_encoder_takes_it_frame_by_frame(tmp_path, video_file, monkeypatch):
    """The mix goes to PyAV in long blocks (read from disk in blocks, cut to the encoder's
    1024-sample frames by PyAV): its packets and times are those of feeding the encoder 1024
    samples at a time from the video's start, as a player needs them (fails if a block's time
    or a cut between blocks moved a sample)."""
    from fractions import Fraction

    from export import video

    real_blocks = wav.blocks
    monkeypatch.setattr(wav, "blocks", lambda audio, size=0: real_blocks(audio, 5000))  # cuts off the grid
    sr = 48000
    rng = np.random.default_rng(5)
    mix = np.clip(rng.standard_normal((2, 2 * sr + 333)) * 0.3, -1.2, 1.2).astype(np.float32)
    video.mux(video_file, tmp_path / "out.mp4", mix, sr, keep_original_audio=False)
    got = _aac_packets(tmp_path / "out.mp4")
    with av.open(str(tmp_path / "ref.mp4"), "w") as out:
        a = out.add_stream("aac", rate=sr)
        a.layout, a.bit_rate, a.options = "stereo", video.AAC_BITRATE, {"aac_coder": "fast"}
        clipped = np.clip(mix, -1.0, 1.0)
        for i in range(0, mix.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(clipped[:, i:i + 1024]), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.time_base, frame.pts = sr, Fraction(1, sr), i
            for pk in a.encode(frame):
                out.mux(pk)
        for pk in a.encode(None):
            out.mux(pk)
    want = _aac_packets(tmp_path / "ref.mp4")
    assert len(got) == len(want) > 90 and got == want


def test_rpp_references_existing_files(tmp_path, video_file):
    p = make_project(tmp_path, video_file, TempoMap((TempoChange(0.37, 100.0), TempoChange(1.6, 132.0)), 4))
    (tmp_path / "out").mkdir()
    r = exporting.export_project(p, stems_dir=tmp_path / "out" / "stems", midi_path=tmp_path / "out" / "song.mid",
                              rpp_path=tmp_path / "out" / "song.rpp")
    text = r.rpp_path.read_text()
    files = [line.split("FILE ", 1)[1].strip().strip('"') for line in text.splitlines() if "FILE " in line]
    assert len(files) == 5  # the video, 3 stems, the MIDI file
    for f in files:
        assert not os.path.isabs(f) and (r.rpp_path.parent / f).is_file(), f
    assert (r.rpp_path.parent / files[0]).resolve() == (tmp_path / "clip.mp4").resolve() and "<SOURCE VIDEO" in text
    assert text.count("<TRACK") == 5 and "TEMPO 100.000000 4 4" in text and "<TEMPOENVEX" in text
    assert text.count("POSITION 0") == 5 and f"LENGTH {DUR:.9f}" in text
    assert text.count("<") == text.count(">")


def _snapshot(folder: Path) -> set[str]:
    return {str(x.relative_to(folder)) for x in folder.rglob("*")}


def test_existing_target_without_overwrite_writes_nothing(tmp_path, video_file):
    p = make_project(tmp_path, video_file)
    (tmp_path / "mix.wav").write_bytes(b"keep me")
    before = _snapshot(tmp_path)
    with pytest.raises(ExportError, match="already exists"):
        exporting.export_project(p, stems_dir=tmp_path / "stems", midi_path=tmp_path / "a.mid",
                              mix_path=tmp_path / "mix.wav")
    assert _snapshot(tmp_path) == before and (tmp_path / "mix.wav").read_bytes() == b"keep me"
    r = exporting.export_project(p, stems_dir=tmp_path / "stems", mix_path=tmp_path / "mix.wav", overwrite=True)
    assert sf.info(r.mix_path).frames == r.frames


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def test_read_only_folder_writes_nothing(tmp_path, video_file, monkeypatch):
    p = make_project(tmp_path, video_file)
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as mounted:
        if not mounted:  # no mount rights: make the folder's temp files fail as a read-only one would
            import studio.fsutil

            def denied(*a, **k):
                raise PermissionError(errno.EROFS, "Read-only file system")

            monkeypatch.setattr(studio.fsutil.tempfile, "mkstemp", denied)
        with pytest.raises(ExportError, match="read-only"):
            exporting.export_project(p, mix_path=tmp_path / "ro" / "mix.wav", midi_path=tmp_path / "ro" / "x.mid")
        assert list((tmp_path / "ro").iterdir()) == []


def test_full_disk_mid_export_leaves_nothing(tmp_path, video_file, monkeypatch):
    p = make_project(tmp_path, video_file)
    before = _snapshot(tmp_path)
    real = wav.write_audio
    calls = []

    def failing(path, audio, *a, **k):
        calls.append(path)
        if len(calls) == 3:  # the third file: two stems already sit in temporaries
            with open(path, "wb") as fh:
                fh.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, audio, *a, **k)

    monkeypatch.setattr(wav, "write_audio", failing)
    with pytest.raises(ExportError, match="disk is full"):
        exporting.export_project(p, stems_dir=tmp_path / "stems", mix_path=tmp_path / "mix.wav",
                              midi_path=tmp_path / "a.mid")
    assert _snapshot(tmp_path) == before  # no stems folder, no temporaries, no mix, no MIDI
    assert all(not Path(c).exists() for c in calls)


def test_real_tiny_disk_is_refused_before_writing(tmp_path, video_file):
    p = make_project(tmp_path, video_file)
    with _tmpfs(tmp_path / "tiny", "size=64k") as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        with pytest.raises(ExportError, match="free space|disk is full"):
            exporting.export_project(p, stems_dir=tmp_path / "tiny" / "stems", mix_path=tmp_path / "tiny" / "mix.wav")
        assert list((tmp_path / "tiny").iterdir()) == []


def test_missing_soundfont_leaves_nothing(tmp_path, video_file, monkeypatch):
    p = make_project(tmp_path, video_file)
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(tmp_path / "missing.sf2"))
    before = _snapshot(tmp_path)
    with pytest.raises(ExportError, match="STUDIO_SOUNDFONT"):
        exporting.export_project(p, stems_dir=tmp_path / "stems", mix_path=tmp_path / "mix.wav")
    assert _snapshot(tmp_path) == before


def test_names_are_sanitised_and_unique():
    assert wav.unique_names(["a/b", "A/B", "..", "con", "x\x00y"]) == ["a_b", "A_B (2)", "track", "con_", "x_y"]


def test_mute_solo_respected_in_all_outputs(tmp_path, video_file):
    p = make_project(tmp_path, video_file)
    p.tracks[1].mixer = Mixer(mute=True)
    r = exporting.export_project(p, stems_dir=tmp_path / "stems", midi_path=tmp_path / "m.mid")
    assert sorted(x.name for x in (tmp_path / "stems").iterdir()) == ["Lead _ melody.wav", "Pad.wav"]
    assert len(mido.MidiFile(r.midi_path).tracks) == 2  # conductor + melody


def _rms_db(x: np.ndarray) -> float:
    return 10.0 * np.log10(float(np.mean(np.square(x, dtype=np.float64))))


def test_master_fader_moves_the_mix_and_the_video_not_the_stems(tmp_path, video_file):
    """Project.master_fader_db: the mixdown and the muxed video's mix move by exactly its dB (it
    is the last gain, after mastering), the per-track stems do not, the report's loudness with it."""
    from studio import render

    render.clear_render_cache()
    p = make_project(tmp_path, video_file)
    out = {}
    for fader in (0.0, -6.0):
        p.master_fader_db = fader
        d = tmp_path / f"out{fader:+.0f}"
        d.mkdir()
        r = exporting.export_project(p, stems_dir=d / "stems", mix_path=d / "mix.wav", video_path=d / "v.mp4",
                                     bit_depth="float32")
        with av.open(str(r.video_path)) as c:
            muxed = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])])
        out[fader] = (sf.read(d / "mix.wav")[0], {s.name: sf.read(s)[0] for s in (d / "stems").iterdir()}, muxed, r)
    (mix0, stems0, vid0, r0), (mix1, stems1, vid1, r1) = out[0.0], out[-6.0]
    assert abs(_rms_db(mix1) - _rms_db(mix0) + 6.0) < 0.01
    assert abs(_rms_db(vid1) - _rms_db(vid0) + 6.0) < 0.1  # through the AAC encoder
    assert stems0.keys() == stems1.keys() and all(np.array_equal(stems0[k], stems1[k]) for k in stems0)
    assert abs(r1.loudness_lufs - r0.loudness_lufs + 6.0) < 0.01 and abs(r1.true_peak_dbtp - r0.true_peak_dbtp + 6.0) < 0.01
    render.clear_render_cache()


def test_files_written_at_once_are_those_one_writer_makes(tmp_path, video_file, monkeypatch):
    """The stems and mix are written AUDIO_WRITERS at a time: byte for byte the files of one
    writer (each file's dither is its own), and every file is reported in order."""
    p = make_project(tmp_path, video_file)
    reports = {}  # the second export writes the first one's render (the render cache)
    for writers in (1, 3):
        monkeypatch.setattr(exporting, "AUDIO_WRITERS", writers)
        out = tmp_path / f"w{writers}"
        out.mkdir()
        reports[writers] = exporting.export_project(p, stems_dir=out / "stems", mix_path=out / "mix.wav",
                                                    bit_depth="16")
    for name in ["mix.wav"] + [f"stems/{x.name}" for x in (tmp_path / "w1" / "stems").iterdir()]:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w3" / name).read_bytes(), name
    assert reports[1].stems_clipped_samples == reports[3].stems_clipped_samples
    assert [x.name for x in reports[3].files] == [x.name for x in reports[1].files]


def test_stem_files_are_written_while_the_mix_is_mastered(tmp_path, video_file, monkeypatch):
    """With the length known before the render (a video), the stem files start as soon as the
    stems are final, before the mix is mastered, and are byte for byte those written after the
    render (which is what an export without the length still does)."""
    import threading

    from studio import mastering_blocks, render

    p = make_project(tmp_path, video_file)
    p.tracks[0].mixer = Mixer(duck_db=-9.0)  # a ducked stem: final only after the mix pass
    started = threading.Event()
    real_write, real_master = wav.write_audio, mastering_blocks.master_mix
    seen = []

    def write(path, audio, *a, **k):
        started.set()
        return real_write(path, audio, *a, **k)

    def master(*a, **k):  # the mix is mastered once a stem file is on its way (or 3 s on)
        seen.append(started.wait(3.0))
        return real_master(*a, **k)

    monkeypatch.setattr(wav, "write_audio", write)
    monkeypatch.setattr(mastering_blocks, "master_mix", master)
    out = {}
    for name, length_known in (("early", True), ("late", False)):
        render.clear_render_cache()
        started.clear()
        if not length_known:
            monkeypatch.setattr(exporting, "_expected_frames", lambda *a: None)
        out[name] = tmp_path / name
        out[name].mkdir()
        report = exporting.export_project(p, stems_dir=out[name] / "stems", mix_path=out[name] / "mix.wav")
        assert [x.name for x in report.files][-1] == "mix.wav"
    render.clear_render_cache()
    assert seen == [True, False]
    names = sorted(x.name for x in (out["early"] / "stems").iterdir())
    assert len(names) == 3 and names == sorted(x.name for x in (out["late"] / "stems").iterdir())
    for name in ["mix.wav"] + [f"stems/{n}" for n in names]:
        assert (out["early"] / name).read_bytes() == (out["late"] / name).read_bytes(), name
