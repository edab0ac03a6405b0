"""Render/export benchmark: a 60 s project rendered and exported, against real time.

The project (built in a temporary folder, fixed seed): a 60 s, 25 fps 320x240 video; four MIDI
tracks at 112 BPM with a first downbeat at 0.42 s - drums on channel 10 (kick/snare/hats in 16ths
with micro-timing, ~900 hits), bass (8ths), piano chords (4 notes per half bar), a melody
(mixed 8ths/16ths) - and two audio tracks (generated 44.1 kHz WAVs, so they are resampled).
Measured: ``render_project`` alone, then a full ``export_project`` (24-bit WAV stems + mix +
SMF + REAPER project + video mux) which renders again. The soundfont is the default one
(FluidR3_GM when installed); its first load is timed separately and not counted.

``realtime_factor`` = 60 s / wall time of the full export (one user action: it renders and writes
every file); target 20x. ``total_wall_s`` adds the separate render run as well (the project is
then rendered twice), and ``realtime_factor_render_plus_export`` is 60 s over that.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_S = 60.0
SR = 48000


def _notes(bpm: float, downbeat: float, rng: np.random.Generator):
    from studio.music import Note

    beat = 60.0 / bpm
    n_beats = int((PROJECT_S - downbeat) / beat) - 1
    drums, bass, piano, melody = [], [], [], []
    for b in range(n_beats):
        t0 = downbeat + b * beat
        for s in range(4):
            t = t0 + s * beat / 4 + rng.normal(0, 0.004)
            if t < 0:
                continue
            drums.append(Note(t, 0.08, 42 if s % 2 else 46 if (b % 8 == 7 and s == 2) else 42,
                              int(rng.integers(50, 90)), 9))
        if b % 2 == 0:
            drums.append(Note(t0, 0.1, 36, 110, 9))
        else:
            drums.append(Note(t0, 0.1, 38, 105, 9))
        root = (36, 41, 43, 38)[(b // 4) % 4]
        bass += [Note(t0, beat / 2 * 0.9, root, 95, 1), Note(t0 + beat / 2, beat / 2 * 0.9, root + 12 * (b % 2), 80, 1)]
        if b % 2 == 0:
            piano += [Note(t0, beat * 1.9, root + 24 + i, 70, 2) for i in (0, 4, 7, 12)]
        for s in range(2 if b % 3 else 4):
            step = beat / (2 if b % 3 else 4)
            melody.append(Note(t0 + s * step, step * 0.85, int(60 + rng.choice([0, 2, 4, 7, 9, 12])), 90, 3))
    return drums, bass, piano, melody


def _build(folder: Path):
    import soundfile as sf

    from studio.music import TempoMap
    from studio.project import Mixer, Project, Track, TrackKind, VideoClip

    rng = np.random.default_rng(7)
    tests_dir = Path(__file__).resolve().parents[2] / "tests"
    sys.path.insert(0, str(tests_dir))
    try:
        from videogen import write_video
    finally:
        sys.path.remove(str(tests_dir))
    write_video(folder / "video.mp4", lambda t: np.full((240, 320, 3), int(t * 40) % 255, np.uint8),
                duration_s=PROJECT_S, fps=25, size=(320, 240))
    p = Project(name="bench", sample_rate=SR, tempo=TempoMap.constant(112.0, 0.42),
                video=VideoClip("video.mp4", PROJECT_S, 25.0, 320, 240))
    p.path = folder / "project.json"
    drums, bass, piano, melody = _notes(112.0, 0.42, rng)
    p.add_track(Track("Drums", TrackKind.MIDI, notes=drums, channel=9))
    p.add_track(Track("Bass", TrackKind.MIDI, notes=bass, program=33, channel=1, mixer=Mixer(pan=-0.2)))
    p.add_track(Track("Piano", TrackKind.MIDI, notes=piano, program=0, channel=2, mixer=Mixer(gain_db=-4)))
    p.add_track(Track("Melody", TrackKind.MIDI, notes=melody, program=73, channel=3, mixer=Mixer(pan=0.3)))
    sr_in = 44100
    t = np.arange(int(PROJECT_S * sr_in)) / sr_in
    pad = 0.1 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t))
    sf.write(folder / "pad.wav", np.stack([pad, pad * 0.8], axis=1).astype(np.float32), sr_in)
    noise = 0.05 * rng.standard_normal(int(30 * sr_in))
    sf.write(folder / "ambience.wav", noise.astype(np.float32), sr_in)
    p.add_track(Track("Pad", TrackKind.AUDIO, audio_path="pad.wav"))
    p.add_track(Track("Ambience", TrackKind.AUDIO, audio_path="ambience.wav", offset_s=12.5))
    return p, sum(len(x) for x in (drums, bass, piano, melody))


def run(job=None) -> dict:
    from studio.exporting import export_project
    from studio import synth
    from studio.jobs import Job
    from studio.render import render_project

    job = Job.quiet(job)
    with tempfile.TemporaryDirectory(prefix="studio-bench-render-") as tmp:
        folder = Path(tmp)
        job.report(0.0, "building the 60 s project")
        project, n_notes = _build(folder)
        font = synth.find_soundfont()
        t = time.perf_counter()
        synth.calibrated_gain(SR)  # first load of the font (cached for the process afterwards)
        load_s = time.perf_counter() - t
        job.report(0.2, "rendering")
        t = time.perf_counter()
        result = render_project(project, job=job.sub(0.2, 0.5))
        render_s = time.perf_counter() - t
        job.report(0.5, "exporting")
        out = folder / "out"
        out.mkdir()
        t = time.perf_counter()
        report = export_project(project, stems_dir=out / "stems", mix_path=out / "mix.wav",
                                midi_path=out / "song.mid", rpp_path=out / "song.rpp",
                                video_path=out / "video.mp4", job=job.sub(0.5, 1.0))
        export_s = time.perf_counter() - t
    total = render_s + export_s
    return {
        "name": "render",
        "project_s": PROJECT_S,
        "sample_rate": SR,
        "tracks_midi": 4,
        "tracks_audio": 2,
        "notes": n_notes,
        "soundfont": font.name,
        "soundfont_first_load_s": round(load_s, 3),
        "render_wall_s": round(render_s, 3),
        "export_wall_s": round(export_s, 3),
        "export_stages_s": {k: round(v, 3) for k, v in report.timings_s.items()},
        "total_wall_s": round(total, 3),
        # what `studio export` does: render every track again + write stems, mix, MIDI, video, rpp
        "realtime_factor": round(PROJECT_S / export_s, 1),
        "render_realtime_factor": round(PROJECT_S / render_s, 1),
        "baseline": "real time (60 s of audio)",
        "target_realtime_factor": 20,
        "meets_target": PROJECT_S / export_s >= 20,
        "mix_peak_dbfs": round(result.peak_dbfs, 2),
        "files_written": len(report.files),
    }
