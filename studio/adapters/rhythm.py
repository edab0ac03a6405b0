"""Rhythm engine adapter: analysed video -> Drums / Bass / Keys (or Guitar) MIDI tracks.

Settings: ``settings.style`` (rock, funk, hip-hop, electronic, latin, jazz; default rock),
``settings.seed`` and in ``settings.options``: ``bpm`` (a constant tempo instead of the visual
beats; implies ``lock``), ``lock`` (constant tempo at the visual tempo), ``beats_per_bar``
(time signature numerator, default the analysis'), ``key`` (e.g. "Am", "F#"; default per
style), ``keys_program`` (GM program of the chordal part, default 0 piano; 24-31 name the track
Guitar), ``bass_program`` (default 33, finger bass), ``temperature``, ``top_k``,
``humanize`` (0..1 scales micro-timing), ``pause_on_still``.

The project's tempo map is replaced by the grid the parts were written on: bar 1 at the first
visual downbeat (the first visual beat when the video shows none), so the MIDI file sits on the
video in a DAW.
"""
from __future__ import annotations

import re

from studio.errors import StudioError
from studio.music import DRUM_CHANNEL, Note, TempoMap
from studio.project import Project, Track, TrackKind

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
    bpm = o.get("bpm")
    if bpm is not None and not 20 <= float(bpm) <= 300:
        raise StudioError(f"--bpm {bpm} is outside 20..300")
    keys_program = int(o.get("keys_program", 0))
    bass_program = int(o.get("bass_program", 33))
    if not (0 <= keys_program <= 127 and 0 <= bass_program <= 127):
        raise StudioError("GM programs are 0..127")
    return {"style": style, "seed": int(settings.seed), "bpm": None if bpm is None else float(bpm),
            "lock": bool(o.get("lock", False)), "beats_per_bar": o.get("beats_per_bar"),
            "key": o.get("key"), "keys_program": keys_program, "bass_program": bass_program,
            "temperature": float(o.get("temperature", 1.0)), "top_k": int(o.get("top_k", 8)),
            "humanize": float(o.get("humanize", 1.0)), "pause_on_still": bool(o.get("pause_on_still", True))}


def generate(project: Project, timeline, settings, job) -> list[Track]:
    from engines.rhythm import RhythmEngine, video_to_rhythm

    opts = options_of(settings)
    bpb = int(opts["beats_per_bar"] or timeline.params.beats_per_bar)
    grid = video_to_rhythm(timeline, bpm=opts["bpm"], lock=opts["lock"], beats_per_bar=bpb,
                           pause_on_still=opts["pause_on_still"])
    if job is not None:
        job.report(0.05, "rhythm: grid")
    engine = RhythmEngine()
    try:
        state = engine.start(opts["style"], opts["seed"], opts["key"], temperature=opts["temperature"],
                             top_k=opts["top_k"], humanize=opts["humanize"])
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    events = engine.generate(grid, state, job=job.sub(0.05, 0.95) if job is not None else None)
    if len(grid.beat_times_s):
        first = int(round((grid.first_downbeat_s - grid.beat_times_s[0]) / (60.0 / grid.tempo_bpm))) \
            if grid.locked else int(abs(grid.beat_times_s - grid.first_downbeat_s).argmin())
        if grid.locked:
            project.tempo = TempoMap.constant(grid.tempo_bpm, grid.first_downbeat_s, bpb)
        else:
            project.tempo = TempoMap.from_beats(grid.beat_times_s[first:], beats_per_bar=bpb)
    channel = {"drums": DRUM_CHANNEL, "bass": BASS_CHANNEL, "keys": KEYS_CHANNEL}
    notes = {p: [] for p in channel}
    for e in events:
        notes[e.part].append(Note(e.start_s, e.dur_s, e.pitch, e.velocity, channel[e.part]))
    keys_name = "Guitar" if 24 <= opts["keys_program"] <= 31 else "Keys"
    provenance = {k: v for k, v in opts.items() if v is not None}
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
