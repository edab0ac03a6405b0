"""Soundtrack engine adapter: analysed video -> token grid on the project's beat grid -> MIDI parts.

The soundtrack writes on ``project.tempo``, the project's one beat grid (``studio.grid.tempo_map``
of the analysis plus the user's corrections, shared with the rhythm engine, the ruler and the
exported MIDI): the token grid's beat 0 is the bar of that map that contains time 0, so every
generated note sits on a 16th of the grid; notes before 0 s or after the video's end are cut.
Sections: each scene cut (``timeline.cuts_s``) starts a section at its nearest bar line, sections
shorter than ``min_section_bars`` merge into a neighbour (:func:`section_starts`); each section
stays in one key, chosen by the model where it starts (``engines.soundtrack.keys``), so the key
changes only at a cut, never inside a shot or at a window boundary. The tracks record the
sections and their keys (``settings["sections"]``).
Options (``settings.options``): ``steps`` (parallel decoding steps, default 16), ``cfg``
(guidance scale, default 3), ``temperature`` (default 1), ``gumbel`` (remasking noise,
default 2), ``overlap_beats`` (long-video window overlap, default 4), ``min_section_bars``
(default 4), ``key_sections`` (default true; false: chord, bass and melody unconstrained, the
key free to drift as in earlier versions: the benchmark's baseline), ``motion_sections`` (default
false; true: where the player's movement changes kind, engines/motion, a section starts as at a
cut: ``studio.motion_sections.boundaries``, shared with the rhythm engine); ``settings.style`` is
free text matched to the style vocabulary; ``settings.seed`` the seed.
"""
from __future__ import annotations

import math

import numpy as np

from studio.errors import StudioError
from studio.jobs import Job
from studio.music import DRUM_CHANNEL, Note, TempoMap
from studio.options import check_flag
from studio.project import Project, Track, TrackKind

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 30
LABEL = "Soundtrack"
HELP = "a music soundtrack for the whole video"
TOOLTIP = "a music bed for the whole video"
# it makes parts the synth plays: generate loads the default soundfonts beside the engines
MAKES_PARTS = True

CLI_ARGS = (
    ("--motion-sections", "motion_sections", {"action": "store_true", "default": None,
                                              "help": "soundtrack and rhythm: follow the player's motion sections "
                                                      "(engines/motion; the keypoints as for --performer): the "
                                                      "soundtrack starts a section (and maybe a key) where the "
                                                      "movement changes kind, the drums play a fill into it and "
                                                      "change groove"}),
)

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


def section_starts(tempo: TempoMap, cuts_s, duration_s: float, min_bars: int = 4) -> list[int]:
    """Start bars of the soundtrack's sections, counted in the token grid's (4-beat) bars from
    grid beat 0: a scene cut starts one at its nearest bar line, sections under ``min_bars``
    merge into a neighbour (:func:`engines.soundtrack.keys.plan_sections`)."""
    from engines.soundtrack.keys import plan_sections
    from engines.soundtrack.tokens import BEATS_PER_BAR

    first, n_beats = grid_beats(tempo, duration_s)
    cut_beats = [tempo.beat_at(float(c)) - first for c in cuts_s if 0.0 < float(c) < duration_s]
    return plan_sections(cut_beats, -(-n_beats // BEATS_PER_BAR), BEATS_PER_BAR, min_bars)


def decode_settings(settings):
    from engines.soundtrack.sampler import DecodeSettings

    o = settings.options or {}
    try:
        return DecodeSettings(steps=int(o.get("steps", 16)), cfg=float(o.get("cfg", 3.0)),
                              temperature=float(o.get("temperature", 1.0)), gumbel=float(o.get("gumbel", 2.0)),
                              seed=int(settings.seed))
    except ValueError as exc:
        raise StudioError(f"soundtrack settings: {exc}") from None


def _int_option(options: dict, name: str, default: int) -> int:
    try:
        return int(options.get(name, default))
    except (TypeError, ValueError):
        raise StudioError(f"soundtrack settings: {name} must be a whole number, not {options.get(name)!r}") from None


def _flag(options: dict, name: str, default: bool) -> bool:
    # "free": the soundtrack's word for a key that may change anywhere (key_sections=free)
    return check_flag(options.get(name, default), f"soundtrack settings: {name}", also_false=("free",))


def _key_sections(options: dict) -> bool:
    return _flag(options, "key_sections", True)


def runs_beside(settings) -> bool:
    """As the rhythm engine's (``studio.adapters.rhythm.runs_beside``): beside the others,
    unless it follows the motion sections, which the rhythm engine reads too."""
    return not _flag(settings.options or {}, "motion_sections", False)


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.soundtrack.infer import SoundtrackModel, parts_to_seconds
    from engines.soundtrack.keys import key_name
    from engines.soundtrack.styles import match_style, programs, style_name
    from engines.soundtrack.tokens import BEATS_PER_BAR
    from studio.motion_sections import boundaries as motion_boundaries

    job = Job.quiet(job)
    dec = decode_settings(settings)
    options = settings.options or {}
    overlap = _int_option(options, "overlap_beats", 4)
    min_bars = _int_option(options, "min_section_bars", 4)
    if min_bars < 1:
        raise StudioError(f"soundtrack settings: min_section_bars {min_bars} must be at least 1")
    tempo = project.tempo  # the project's one grid: the soundtrack never makes its own
    duration = float(project.duration_s or timeline.duration_s)
    first, n_beats = grid_beats(tempo, duration)
    feats = video_features(timeline, tempo, duration)
    motion = motion_boundaries(project, options, job) if _flag(options, "motion_sections", False) else []
    # a motion section starts a soundtrack section as a cut does (at its nearest bar line)
    bounds = sorted(list(timeline.cuts_s) + motion)
    starts = section_starts(tempo, bounds, duration, min_bars) if _key_sections(options) else None
    job.report(0.05, "soundtrack: loading the model")
    model = SoundtrackModel()
    style_id = match_style(settings.style)
    grid, keys = model.generate(feats, style_id, dec, overlap_beats=overlap, sections=starts, return_keys=True,
                                progress=lambda f: (job.check_cancelled(),
                                                    job.report(0.1 + 0.85 * f, "soundtrack: decoding")))
    parts = parts_to_seconds(model.levels.decode(grid), tempo.time_at, first, duration)
    progs = programs(style_id)
    # per section: its first beat on the tempo map (0 = bar 1), its time and its key
    sections = [{"beat": int(first + BEATS_PER_BAR * bar), "key": key_name(key),
                 "start_s": round(tempo.time_at(first + BEATS_PER_BAR * bar), 4)} for bar, key in keys]
    meta = {"steps": dec.steps, "cfg": dec.cfg, "temperature": dec.temperature, "gumbel": dec.gumbel,
            "seed": dec.seed, "style": settings.style, "style_matched": style_name(style_id),
            "overlap_beats": overlap, "grid_first_beat": first, "grid_beats": n_beats,
            "min_section_bars": min_bars, "key_sections": starts is not None, "sections": sections,
            "motion_boundaries_s": [round(t, 3) for t in motion]}
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


def video_features(timeline, tempo: TempoMap | None = None, duration_s: float | None = None) -> np.ndarray:
    """Per-beat visual features of an analysed video on the bar-aligned beat grid of ``tempo``
    (default: the timeline's own grid, ``studio.grid.tempo_map(timeline)``, uncorrected)."""
    from engines.soundtrack.features import VisualSeries, beat_features
    from studio.grid import tempo_map

    tempo = tempo or tempo_map(timeline)
    first, n_beats = grid_beats(tempo, float(duration_s or timeline.duration_s))
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
