"""Rhythm engine adapter: analysed video -> Drums / Bass / Keys (or Guitar) MIDI tracks.

Settings: ``settings.style`` (rock, funk, hip-hop, electronic, latin, jazz; default rock),
``settings.seed`` and in ``settings.options``: ``beats_per_bar``
(time signature numerator, default the analysis'), ``key`` (e.g. "Am", "F#"; default per
style), ``keys_program`` (GM program of the chordal part, default 0 piano; 24-31 name the track
Guitar), ``bass_program`` (default 33, finger bass), ``temperature``, ``top_k``,
``humanize`` (0..1 scales micro-timing), ``pause_on_still``, ``accent_contacts`` (default on:
kick/snare on every clear contact and visual beat, see engines.rhythm.accents), ``motion_sections``
(default off; ``--motion-sections``, shared with the soundtrack: where the player's movement changes
kind, ``studio.motion_sections``, the drums play a fill on the bar before, a crash on the bar
nearest the change and a groove variation per kind of section, engines.rhythm.sections).

The parts are written on the project's tempo map (studio.grid: the visual beats on the contacts,
bar 1 at the first visual downbeat, or the user's corrected grid: --bpm, --downbeat,
--tempo-factor, or tap/x2/÷2/drag in the app), which the adapter reads and never replaces.
"""
from __future__ import annotations

import re

import numpy as np

from studio.errors import StudioError
from studio.music import DRUM_CHANNEL, Note
from studio.options import check_flag
from studio.project import Project, Track, TrackKind

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 10
LABEL = "Rhythm"
HELP = "MIDI drums and parts from the visual rhythm"
TOOLTIP = "MIDI drums and parts that follow the visual rhythm"
# it makes parts the synth plays: generate loads the default soundfonts beside the engines
MAKES_PARTS = True
CLI_ARGS = (  # one flag with the soundtrack's (the CLI adds it once): both engines read the option
    ("--motion-sections", "motion_sections", {"action": "store_true", "default": None,
                                              "help": "soundtrack and rhythm: follow the player's motion sections "
                                                      "(engines/motion; the keypoints as for --performer): the "
                                                      "soundtrack starts a section (and maybe a key) where the "
                                                      "movement changes kind, the drums play a fill into it and "
                                                      "change groove"}),
)

BASS_CHANNEL, KEYS_CHANNEL = 1, 2
TRACK_IDS = {"drums": "rhythm-drums", "bass": "rhythm-bass", "keys": "rhythm-keys"}


# words of other vocabularies (the soundtrack's styles, what people type) -> a rhythm style
STYLE_WORDS = {
    "rock": ("rock", "metal", "punk", "grunge", "indie", "guitar", "band", "epic", "tense"),
    "funk": ("funk", "funky", "disco", "soul", "groove", "happy", "upbeat"),
    "hip-hop": ("hip-hop", "hip hop", "hiphop", "rap", "trap", "boom bap", "lo-fi", "lofi", "lo fi"),
    "electronic": ("electronic", "edm", "techno", "house", "synth", "synthwave", "dance", "trance", "dark"),
    "latin": ("latin", "salsa", "bossa", "samba", "reggaeton", "cumbia"),
    "jazz": ("jazz", "jazzy", "swing", "bebop", "calm", "ambient", "piano", "orchestral"),
}


def rhythm_style(text: str | None) -> str | None:
    """The rhythm style a style word means (exact name first, then the words above), or None."""
    from engines.rhythm.vocab import STYLES

    t = (text or "").strip().lower()
    if t in STYLES:
        return t
    for style, words in STYLE_WORDS.items():
        if any(re.search(r"(?<![a-z])" + re.escape(w), t) for w in words):  # at a word's start
            return style
    try:  # a mood the soundtrack engine knows by one of its synonyms ("peaceful" -> calm)
        from engines.soundtrack.styles import match_style, style_name

        mood = style_name(match_style(t))
    except ImportError:
        return None
    return rhythm_style(mood) if mood else None


def options_of(settings) -> dict:
    from engines.rhythm.vocab import STYLES

    o = dict(settings.options or {})
    asked = settings.style or o.get("style") or "rock"
    style = rhythm_style(asked)  # one style word serves both music engines ("calm piano" -> jazz)
    if style is None:
        raise StudioError(f"unknown rhythm style {asked!r}; choose from {', '.join(STYLES)} "
                          "(or a mood such as calm, tense, happy, dark, epic, lo-fi)")
    keys_program = int(o.get("keys_program", 0))
    bass_program = int(o.get("bass_program", 33))
    if not (0 <= keys_program <= 127 and 0 <= bass_program <= 127):
        raise StudioError("GM programs are 0..127")
    return {"style": style, "seed": int(settings.seed), "beats_per_bar": o.get("beats_per_bar"),
            "key": o.get("key"), "keys_program": keys_program, "bass_program": bass_program,
            "temperature": float(o.get("temperature", 1.0)), "top_k": int(o.get("top_k", 8)),
            "humanize": float(o.get("humanize", 1.0)), "pause_on_still": bool(o.get("pause_on_still", True)),
            "accent_contacts": bool(o.get("accent_contacts", True)),
            "motion_sections": check_flag(o.get("motion_sections", False), "rhythm settings: motion_sections") or None}


def runs_beside(settings) -> bool:
    """It reads the analysis, the grid and its settings, never another engine's tracks, so
    ``studio.generate`` may run it beside the others; not when it follows the player's motion
    sections: the soundtrack reads the same keypoints, made once (``studio.motion_sections``)."""
    return not options_of(settings)["motion_sections"]


def follow_motion(project: Project, settings, grid, events, job) -> tuple[list, dict]:
    """The drums changed at the bars nearest the player's motion boundaries (module doc), and
    what the tracks record of it."""
    from engines.rhythm.sections import follow_sections, section_bars
    from studio.jobs import Job
    from studio.motion_sections import player_sections

    sections = player_sections(project, settings.options or {}, Job.quiet(job))
    bars = section_bars(grid.bars, [s["start_s"] for s in sections[1:]])
    labels = [sections[0]["label"]] + [_label_at(sections, grid.bars[k].start_s) for k in bars]
    events = follow_sections(events, grid.bars, bars, labels)
    named = (settings.options or {}).get("keypoints")  # kept, so a re-generation on a corrected grid finds them
    return events, {"motion_boundaries_s": [round(float(s["start_s"]), 3) for s in sections[1:]],
                    "motion_bars_s": [round(float(grid.bars[k].start_s), 3) for k in bars],
                    **({"keypoints": str(named)} if named else {})}


def _label_at(sections: list[dict], t: float) -> str:
    """The label of the motion section nearest to start at ``t`` (a bar line near its start)."""
    return min(sections[1:], key=lambda s: abs(float(s["start_s"]) - t))["label"]


def visual_accents(timeline) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    """What the drums accent: the contacts (times, strengths) and the visual beats (times, the
    onset envelope's height there)."""
    contacts = getattr(timeline, "impacts", ())
    env = np.asarray(timeline.onset_envelope, float)
    beats, heights = [], []
    for b in np.asarray(timeline.beat_times_s, float):
        k = int(round(b * timeline.rate_hz))
        if 0 <= k < len(env):
            beats.append(float(b))
            heights.append(float(env[max(0, k - 1):k + 2].max()))
    return ([i.time_s for i in contacts], [i.strength for i in contacts]), (beats, heights)


def generate(project: Project, timeline, settings, job) -> list[Track]:
    from engines.rhythm import RhythmEngine, video_to_rhythm
    from engines.rhythm.accents import accent_contacts
    from studio.grid import grid_beats

    opts = options_of(settings)
    bpb = int(opts["beats_per_bar"] or project.tempo.beats_per_bar or timeline.params.beats_per_bar)
    # the project's tempo map is the grid (set by studio.generate from the analysis and --bpm /
    # --downbeat, or corrected by the user in the app): every engine writes on the same beats
    beats, numbers = grid_beats(project.tempo, float(timeline.duration_s))
    downs = np.flatnonzero(numbers % bpb == 0)
    first_downbeat = int(downs[0]) if len(downs) else 0
    grid = video_to_rhythm(timeline, beats_per_bar=bpb, pause_on_still=opts["pause_on_still"],
                           beats=beats, first_downbeat=first_downbeat)
    if job is not None:
        job.report(0.05, "rhythm: grid")
    engine = RhythmEngine()
    try:
        state = engine.start(opts["style"], opts["seed"], opts["key"], temperature=opts["temperature"],
                             top_k=opts["top_k"], humanize=opts["humanize"])
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    events = engine.generate(grid, state, job=job.sub(0.05, 0.95) if job is not None else None)
    if opts["accent_contacts"]:  # the drums land on what you see (the Foley engine's contacts too)
        (times, strengths), visual_beats = visual_accents(timeline)
        events = accent_contacts(events, times, strengths, grid.beat_times_s, first_downbeat, bpb,
                                 visual_beats=visual_beats)
    motion = {}
    if opts["motion_sections"]:  # after the accents: the fills and crashes are the last word
        events, motion = follow_motion(project, settings, grid, events, job)
    channel = {"drums": DRUM_CHANNEL, "bass": BASS_CHANNEL, "keys": KEYS_CHANNEL}
    notes = {p: [] for p in channel}
    for e in events:
        notes[e.part].append(Note(e.start_s, e.dur_s, e.pitch, e.velocity, channel[e.part]))
    keys_name = "Guitar" if 24 <= opts["keys_program"] <= 31 else "Keys"
    provenance = {**{k: v for k, v in opts.items() if v is not None}, **motion}
    tracks = [
        Track("Drums", TrackKind.MIDI, id=TRACK_IDS["drums"], notes=notes["drums"], program=0,
              channel=DRUM_CHANNEL, engine="rhythm", settings={**provenance, "part": "drums"}),
        Track("Bass", TrackKind.MIDI, id=TRACK_IDS["bass"], notes=notes["bass"], program=opts["bass_program"],
              channel=BASS_CHANNEL, engine="rhythm", settings={**provenance, "part": "bass"}),
        Track(keys_name, TrackKind.MIDI, id=TRACK_IDS["keys"], notes=notes["keys"], program=opts["keys_program"],
              channel=KEYS_CHANNEL, engine="rhythm", settings={**provenance, "part": "keys"}),
    ]
    if job is not None:
        job.report(1.0, "rhythm: done")
    return tracks
