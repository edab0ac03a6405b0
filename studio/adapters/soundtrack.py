"""Soundtrack engine adapter: analysed video -> token grid on the video's beats -> MIDI parts.

The grid's beat 0 is the bar of the project's tempo map that contains time 0 (the tempo map
comes from the visual beats, its beat 0 on the first visual downbeat), so every generated
note sits on the visual beat grid; notes before 0 s or after the video's end are cut.
Options (``settings.options``): ``steps`` (parallel decoding steps, default 16), ``cfg``
(guidance scale, default 3), ``temperature`` (default 1), ``gumbel`` (remasking noise,
default 2), ``overlap_beats`` (long-video window overlap, default 4); ``settings.style`` is
free text matched to the style vocabulary; ``settings.seed`` the seed.
"""
from __future__ import annotations

import math

import numpy as np

from studio.errors import StudioError
from studio.jobs import Job
from studio.music import DRUM_CHANNEL, Note, TempoMap
from studio.project import Project, Track, TrackKind

PART_TRACKS = (  # part name, track name, channel, index into the style's programs
    ("keys", "Soundtrack Keys/Pad", 0, 0),
    ("bass", "Soundtrack Bass", 1, 1),
    ("melody", "Soundtrack Melody", 2, 2),
    ("drums", "Soundtrack Drums", DRUM_CHANNEL, None),
)


def grid_beats(tempo: TempoMap, duration_s: float) -> tuple[int, int]:
    """(first beat, number of beats) of the bar-aligned grid covering 0 .. duration_s."""
    bpb = max(1, tempo.beats_per_bar)
    first = int(math.floor(tempo.beat_at(0.0) / bpb + 1e-9)) * bpb
    last = int(math.ceil(tempo.beat_at(duration_s) / bpb - 1e-9)) * bpb
    return first, max(bpb, last - first)


def decode_settings(settings):
    from engines.soundtrack.sampler import DecodeSettings

    o = settings.options or {}
    try:
        return DecodeSettings(steps=int(o.get("steps", 16)), cfg=float(o.get("cfg", 3.0)),
                              temperature=float(o.get("temperature", 1.0)), gumbel=float(o.get("gumbel", 2.0)),
                              seed=int(settings.seed))
    except ValueError as exc:
        raise StudioError(f"soundtrack settings: {exc}") from None


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.soundtrack.features import VisualSeries, beat_features
    from engines.soundtrack.infer import SoundtrackModel, parts_to_seconds
    from engines.soundtrack.styles import match_style, programs, style_name

    job = Job.quiet(job)
    dec = decode_settings(settings)
    overlap = int((settings.options or {}).get("overlap_beats", 4))
    tempo = project.tempo
    duration = float(project.duration_s or timeline.duration_s)
    first, n_beats = grid_beats(tempo, duration)
    beat_t = np.array([tempo.time_at(first + b) for b in range(n_beats + 1)])
    feats = beat_features(VisualSeries.from_timeline(timeline), beat_t[:-1], np.diff(beat_t))
    job.report(0.05, "soundtrack: loading the model")
    model = SoundtrackModel()
    style_id = match_style(settings.style)
    grid = model.generate(feats, style_id, dec, overlap_beats=overlap,
                          progress=lambda f: (job.check_cancelled(), job.report(0.1 + 0.85 * f, "soundtrack: decoding")))
    parts = parts_to_seconds(model.levels.decode(grid), tempo.time_at, first, duration)
    progs = programs(style_id)
    meta = {"steps": dec.steps, "cfg": dec.cfg, "temperature": dec.temperature, "gumbel": dec.gumbel,
            "seed": dec.seed, "style": settings.style, "style_matched": style_name(style_id),
            "overlap_beats": overlap, "grid_first_beat": first, "grid_beats": n_beats}
    tracks = []
    for part, name, channel, prog_i in PART_TRACKS:
        notes = [Note(t, d, p, v, channel) for t, d, p, v in parts.get(part, [])]
        if not notes:
            continue
        tracks.append(Track(name=name, kind=TrackKind.SOUNDTRACK, notes=notes,
                            program=0 if prog_i is None else progs[prog_i], channel=channel,
                            engine="soundtrack", settings=dict(meta, part=part)))
    job.report(1.0, "soundtrack done")
    return tracks


def tempo_for(timeline) -> TempoMap:
    """The tempo map ``studio generate`` gives a project (bar 1 on the first visual downbeat)."""
    beats = np.asarray(timeline.beat_times_s, float)
    bpb = timeline.params.beats_per_bar
    if len(beats) < 2:
        return TempoMap.constant(float(timeline.tempo_bpm or 120.0), 0.0, bpb)
    first = 0
    if len(timeline.downbeat_times_s):
        first = int(np.argmin(np.abs(beats - timeline.downbeat_times_s[0])))
    return TempoMap.from_beats(beats[first:], beats_per_bar=bpb)


def video_features(timeline, tempo: TempoMap | None = None) -> np.ndarray:
    """Per-beat visual features of an analysed video on its bar-aligned beat grid."""
    from engines.soundtrack.features import VisualSeries, beat_features

    tempo = tempo or tempo_for(timeline)
    first, n_beats = grid_beats(tempo, float(timeline.duration_s))
    beat_t = np.array([tempo.time_at(first + b) for b in range(n_beats + 1)])
    return beat_features(VisualSeries.from_timeline(timeline), beat_t[:-1], np.diff(beat_t))


def match_library(video, library, job: Job | None = None) -> list[tuple[str, float]]:
    """``studio match``: the MIDI files under ``library`` ranked by similarity to ``video``."""
    from pathlib import Path

    from engines.soundtrack.infer import SoundtrackModel
    from studio.analysis import analyze

    job = Job.quiet(job)
    if not Path(library).is_dir():
        raise StudioError(f"library {library} is not a folder; give a folder of MIDI files")
    timeline = analyze(video, job=job.sub(0.0, 0.7))
    job.report(0.75, "embedding the library")
    ranked = SoundtrackModel().rank_library(video_features(timeline), library)
    job.report(1.0, "done")
    return ranked
