"""The project: one video clip, its tracks, mixer state, spatial keyframes and tempo map.

Saved as JSON with a schema version next to an ``assets/`` folder (rendered audio, imported
files). Saves are atomic (temp file + rename); ``autosave()`` writes a sibling copy that a
crash leaves behind for recovery. Files from older schema versions are migrated on load;
files from a newer version are refused with a clear message instead of being misread.

The model is plain data with no Qt: the UI wraps edits in undo commands, engines produce
values (notes, audio, events) that go into tracks.
"""
from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.errors import ProjectError
from studio.fsutil import atomic_open
from studio.music import Note, TempoChange, TempoMap

SCHEMA_VERSION = 7
PROJECT_SUFFIX = ".json"
AUTOSAVE_SUFFIX = ".autosave.json"
MAX_PROJECT_BYTES = 512 * 1024 * 1024  # studio.schema.MAX_FILE_BYTES


class TrackKind(str, Enum):
    MIDI = "midi"  # notes, rendered with a GM soundfont
    AUDIO = "audio"  # an audio file in assets/
    FOLEY = "foley"  # impact events, synthesised by the Foley engine
    SOUNDTRACK = "soundtrack"  # a generated music bed (MIDI parts and/or audio)


@dataclass(frozen=True)
class Mixer:
    gain_db: float = 0.0
    pan: float = 0.0  # -1 left .. +1 right
    mute: bool = False
    solo: bool = False
    # post-fader send to the project's reverb bus (studio.mastering); None: the track role's
    # default (drums -18 dB, keys -12, Foley -24, bass none ...); -90 or less: no send
    reverb_send_db: float | None = None
    # "duck under music": the track lowered by this many dB (e.g. -9) where the generated music
    # is loud (studio.mastering.duck_gain, in the render); None: off
    duck_db: float | None = None

    def __post_init__(self) -> None:
        if not -1.0 <= self.pan <= 1.0:
            raise ValueError("pan must be within -1..1")
        if self.duck_db is not None and not -60.0 <= self.duck_db <= 0.0:
            raise ValueError("duck_db must be within -60..0 dB")


@dataclass(frozen=True)
class SpatialKeyframe:
    """Where a track's source is in its room at a time (metres, room coordinates)."""

    time_s: float
    x: float
    y: float
    z: float = 1.5


class FloatVector(Sequence):
    """An immutable sequence of floats in one float64 buffer: a Foley hit's 67 parameters take
    ~0.6 kB here against 2.2 kB as a tuple of floats (37,000 hits in a two-hour film: 60 MB).
    Equal to a tuple or list of the same values (and hashed as that tuple); ``np.asarray``
    reads it; values are kept exactly."""

    __slots__ = ("_data", "_hash")

    def __init__(self, values=()) -> None:
        self._data = values._data if isinstance(values, FloatVector) else array("d", values).tobytes()
        self._hash: int | None = None

    def _view(self) -> memoryview:
        return memoryview(self._data).cast("d")

    def __len__(self) -> int:
        return len(self._data) // 8

    def __getitem__(self, i):
        got = self._view()[i]
        return tuple(got) if isinstance(i, slice) else got

    def __iter__(self):
        return iter(self._view())

    def __eq__(self, other) -> bool:
        if isinstance(other, FloatVector):  # the bytes first; else as floats (0.0 == -0.0)
            return self._data == other._data or tuple(self) == tuple(other)
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:  # a Foley render's cache keys hash every hit's vector
            self._hash = hash(tuple(self))
        return self._hash

    def __repr__(self) -> str:
        return f"FloatVector({tuple(self)!r})"

    def __reduce__(self):
        return FloatVector, (tuple(self),)

    def __copy__(self) -> "FloatVector":
        return self

    def __deepcopy__(self, memo) -> "FloatVector":
        return self

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        return np.frombuffer(self._data, np.float64).astype(dtype or np.float64)


@dataclass(frozen=True)
class FoleyEvent:
    """One impact to be voiced: when, where on screen, how hard, what it is made of.

    ``params`` is the hit's own packed physics vector (``engines.foley.params``, 67 values) as
    sampled or measured, valid while ``params_for`` (``foley_signature``) still matches its
    material/size/strength/seed; edit those and the engine samples the hit afresh. The edit
    fields change only this hit's sound (see ``engines.foley.edits``)."""

    time_s: float
    x: float = 0.5  # 0..1 in the frame
    y: float = 0.5
    strength: float = 0.5  # 0..1
    material: str = "wood"
    size: float = 0.5  # 0 small .. 1 large
    seed: int = 0
    pitch_st: float = 0.0  # semitones on every mode
    ring: float = 1.0  # ring-time factor (mode decays divided by it)
    low_cut_hz: float = 0.0  # modes below this are removed
    brightness: float = 0.0  # dB per octave around 1 kHz
    residual_db: float = 0.0  # noise residual gain
    params: FloatVector | None = None  # given as any sequence of floats, kept as a FloatVector
    params_for: str = ""

    def __post_init__(self) -> None:
        if self.params is not None and not isinstance(self.params, FloatVector):
            object.__setattr__(self, "params", FloatVector(self.params))


def event_value(e: FoleyEvent) -> dict:
    """A Foley event as its JSON value (``params`` a list)."""
    d = asdict(e)
    if e.params is not None:
        d["params"] = list(e.params)
    return d


def foley_signature(e: FoleyEvent) -> str:
    """What a Foley event's stored ``params`` were made for."""
    return f"{e.material}|{e.size:.4f}|{e.strength:.4f}|{e.seed}"


@dataclass
class Track:
    name: str
    kind: TrackKind
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    mixer: Mixer = Mixer()
    # MIDI / soundtrack parts
    notes: list[Note] = field(default_factory=list)
    program: int = 0  # GM program, 0-based
    channel: int = 0  # 0..15; 9 = drums
    bank: str | None = None  # instrument bank id (studio.banks, e.g. "fluidr3"); None = automatic
    # audio (rendered or imported), path relative to the project folder
    audio_path: str | None = None
    offset_s: float = 0.0
    # Foley
    events: list[FoleyEvent] = field(default_factory=list)
    # spatialisation
    room: str | None = None
    spatial: list[SpatialKeyframe] = field(default_factory=list)
    # provenance, so a track can be re-generated
    engine: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    # the video's own soundtrack (studio.original): an AUDIO track no engine touches or replaces,
    # left out of an export that does not keep the original audio
    original_audio: bool = False
    # how the track looks in the app's timeline (v7): its colour ("#rrggbb"; None = its kind's)
    # and lane height in logical px (None = the kind's default). Kept in the project, not the
    # app's settings, so they travel with it, undo like any edit, and a renderer ignores them
    colour: str | None = None
    lane_height: int | None = None

    @property
    def is_drums(self) -> bool:
        return self.channel == 9

    def to_dict(self) -> dict:
        d = asdict(replace(self, notes=[], events=[]))
        d["kind"] = self.kind.value
        d["notes"] = [_note_value(n) for n in self.notes]
        d["events"] = [event_value(e) for e in self.events]
        return d

    def json_chunks(self, depth: int = 0) -> Iterator[str]:
        """``json.dumps(self.to_dict(), indent=1)`` in pieces, for a track ``depth`` levels into
        the file: its notes, hits and keyframes a batch at a time."""
        lists = {"notes": map(_note_value, self.notes), "events": map(event_value, self.events),
                 "spatial": map(asdict, self.spatial)}
        d = asdict(replace(self, notes=[], events=[], spatial=[]))
        d["kind"] = self.kind.value
        yield from _spliced(d, lists, depth)

    @classmethod
    def from_dict(cls, d: dict) -> "Track":
        """A track from its JSON value, validated like a project's (``studio.schema``)."""
        from pydantic import ValidationError

        from studio import schema

        try:
            return _track(schema.TrackModel.model_validate(d))
        except ValidationError as exc:
            raise ProjectError(f"the track is damaged: {schema.summary(exc)}") from None


def _tracks(models: list, consume: bool) -> list[Track]:
    """Tracks from their models; ``consume``: each model removed from ``models`` once built."""
    if not consume:
        return [_track(m) for m in models]
    out = []
    models.reverse()
    while models:
        out.append(_track(models.pop()))
    return out


def _track(m) -> Track:
    """A Track from its validated ``studio.schema.TrackModel``."""
    return Track(
        name=m.name, kind=TrackKind(m.kind), id=m.id, mixer=Mixer(**m.mixer.model_dump()),
        notes=[Note(*n) for n in m.notes],
        program=m.program, channel=m.channel, bank=m.bank, audio_path=m.audio_path, offset_s=m.offset_s,
        events=[FoleyEvent(**e.model_dump()) for e in m.events],
        room=m.room, spatial=[SpatialKeyframe(**k.model_dump()) for k in m.spatial], engine=m.engine,
        settings=dict(m.settings), original_audio=m.original_audio, colour=m.colour,
        lane_height=m.lane_height,
    )


@dataclass(frozen=True)
class VideoClip:
    """The project's video; ``path`` is relative to the project folder when inside it."""

    path: str
    duration_s: float
    fps: float
    width: int
    height: int
    content_hash: str = ""
    has_audio: bool = False


@dataclass
class Project:
    name: str = "Untitled"
    sample_rate: int = 48000
    video: VideoClip | None = None
    tracks: list[Track] = field(default_factory=list)
    tempo: TempoMap = TempoMap()
    created: float = field(default_factory=time.time)
    # the master fader: the mix's last gain, after the mastering stage (studio.render); the
    # mixdown and the muxed video follow it, the per-track stems do not (as in a DAW)
    master_fader_db: float = 0.0
    path: Path | None = field(default=None, compare=False)  # where it was loaded from / saved to

    # -- tracks -------------------------------------------------------------------------
    def add_track(self, track: Track) -> Track:
        if any(t.id == track.id for t in self.tracks):
            raise ProjectError(f"a track with id {track.id} already exists")
        self.tracks.append(track)
        return track

    def track(self, track_id: str) -> Track:
        for t in self.tracks:
            if t.id == track_id:
                return t
        raise ProjectError(f"no track with id {track_id}")

    def remove_track(self, track_id: str) -> Track:
        t = self.track(track_id)
        self.tracks.remove(t)
        return t

    def original_tracks(self) -> list[Track]:
        """The tracks that hold the video's own soundtrack (``Track.original_audio``)."""
        return [t for t in self.tracks if t.original_audio]

    def audible_tracks(self) -> list[Track]:
        """Tracks the mix should play, honouring mute and solo."""
        soloed = [t for t in self.tracks if t.mixer.solo]
        return [t for t in (soloed or self.tracks) if not t.mixer.mute]

    @property
    def duration_s(self) -> float:
        return self.video.duration_s if self.video else 0.0

    # -- paths --------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        if self.path is None:
            raise ProjectError("the project has not been saved yet; save it to a folder first")
        return self.path.parent

    @property
    def assets_dir(self) -> Path:
        return self.folder / "assets"

    def resolve(self, relative: str) -> Path:
        """A path stored in the project (relative to its folder, or absolute) as a real path."""
        p = Path(relative)
        return p if p.is_absolute() else self.folder / p

    def relative(self, path: str | os.PathLike) -> str:
        """How to store a path: relative to the project folder when inside it."""
        p = Path(path).resolve()
        try:
            return str(p.relative_to(self.folder.resolve()))
        except ValueError:
            return str(p)

    def missing_assets(self) -> list[str]:
        """Referenced files (video, audio) that are not where the project says they are."""
        refs = ([self.video.path] if self.video else []) + [
            t.audio_path for t in self.tracks if t.audio_path
        ]
        return [r for r in refs if not self.resolve(r).exists()]

    # -- (de)serialisation ----------------------------------------------------------------
    def to_dict(self, tracks: bool = True) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "sample_rate": self.sample_rate,
            "video": asdict(self.video) if self.video else None,
            "tempo": self.tempo.to_dict(),
            "tracks": [t.to_dict() for t in self.tracks] if tracks else [],
            "created": self.created,
            "master_fader_db": self.master_fader_db,
        }

    def to_json(self) -> str:
        """The project file's text; a ProjectError when the project is larger than a project file
        may be (``studio.schema``'s limits), so that nothing is saved that would not load again."""
        text = "".join(self.json_chunks())
        if len(text) > MAX_PROJECT_BYTES:
            raise _too_big(len(text))
        return text

    def json_chunks(self) -> Iterator[str]:
        """``json.dumps(self.to_dict(), indent=1)`` in pieces, one track at a time: the whole
        project as Python values and then as one string took 45 MB for a 10-minute film's 16,000
        notes and 3,000 Foley hits, so half a gigabyte at two hours (``save`` writes the pieces
        as they come). The project's limits are checked first (a ProjectError), the file size
        by the caller."""
        self._check_limits()
        yield from _spliced(self.to_dict(tracks=False), {"tracks": self.tracks}, 0)

    def _check_limits(self) -> None:
        from studio import schema

        if len(self.tracks) > schema.MAX_TRACKS:
            raise ProjectError(f"the project has {len(self.tracks)} tracks, more than a project can hold "
                               f"({schema.MAX_TRACKS}); remove some tracks")
        for t in self.tracks:
            for what, items, limit in (("notes", t.notes, schema.MAX_NOTES), ("Foley hits", t.events, schema.MAX_EVENTS),
                                       ("spatial keyframes", t.spatial, schema.MAX_KEYFRAMES)):
                if len(items) > limit:
                    raise ProjectError(f"track '{t.name}' has {len(items):,} {what}, more than a project can hold "
                                       f"({limit:,}); make shorter projects of this video (a range of it)")
        if len(self.tempo.changes) > schema.MAX_TEMPO_CHANGES:
            raise ProjectError(f"the tempo map has {len(self.tempo.changes):,} changes, more than a project can "
                               f"hold ({schema.MAX_TEMPO_CHANGES:,})")

    def _write(self, target: Path) -> None:
        """The project file at ``target``, atomically, written a track at a time (ASCII: the
        text's length is its size in bytes); too big a file is a ProjectError and leaves
        ``target`` as it was."""
        with atomic_open(target, "w", error=ProjectError) as fh:
            size = 0
            for chunk in self.json_chunks():
                size += len(chunk)
                if size > MAX_PROJECT_BYTES:
                    raise _too_big(size)
                fh.write(chunk)

    @classmethod
    def from_dict(cls, d: dict, source: str = "the project") -> "Project":
        """A project from its JSON value: migrated to the current schema, then validated
        (``studio.schema``: types, finite numbers, ranges, unique ids, bounded sizes); a bad
        value is a ProjectError naming the field (``tracks[2].notes[14].start_s is NaN``)."""
        return cls._from_value(d, source, owned=False)

    @classmethod
    def _from_value(cls, d: dict, source: str, owned: bool) -> "Project":
        """``from_dict``; ``owned``: ``d`` is the caller's to lose (``load``'s parsed file), so
        it is emptied once validated and each track's model dropped once built: the file's
        values, their models and the project are not all held at once (a two-hour film's
        project reloads at its peak memory otherwise)."""
        from studio import schema

        try:
            d = migrate(d)
        except ProjectError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProjectError(f"{source} is damaged or not a studio project ({exc})") from None
        m = schema.validate_project(d, source)
        if owned:
            d.clear()
        try:
            return cls(
                name=m.name,
                sample_rate=m.sample_rate,
                video=VideoClip(**m.video.model_dump()) if m.video else None,
                tempo=TempoMap(tuple(TempoChange(t, bpm) for t, bpm in m.tempo.changes),
                               m.tempo.beats_per_bar, m.tempo.beat_unit),
                tracks=_tracks(m.tracks, consume=owned),
                created=m.created if m.created is not None else time.time(),
                master_fader_db=m.master_fader_db,
            )
        except ValueError as exc:  # a dataclass's own check the schema did not foresee
            raise ProjectError(f"{source} is damaged ({exc})") from None

    def save(self, path: str | os.PathLike | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError("no file name given for the project")
        self._check_limits()
        target.parent.mkdir(parents=True, exist_ok=True)
        self._write(target)
        self.path = target
        autosave_path(target).unlink(missing_ok=True)  # a fresh save supersedes the autosave
        return target

    def autosave(self) -> Path:
        """Write the recovery copy beside the project file (the project file is untouched)."""
        target = autosave_path(self.folder / (self.path.name if self.path else "project.json"))
        self._write(target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        path = Path(path)
        if path.is_dir():
            path = path / "project.json"
        try:
            size = path.stat().st_size
            text = path.read_text(encoding="utf-8") if size <= MAX_PROJECT_BYTES else None
        except FileNotFoundError:
            raise ProjectError(f"project file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(f"cannot read project file {path}: {exc}") from None
        if text is None:
            raise ProjectError(f"{path} is {size / 2**20:.0f} MiB, more than any project the studio writes "
                               f"(at most {MAX_PROJECT_BYTES / 2**20:.0f} MiB); it is not a studio project")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(
                f"{path} is not a valid project file (JSON error at line {exc.lineno}); "
                f"an autosave copy may exist at {autosave_path(path).name}"
            ) from None
        except RecursionError:  # the parser's own guard: refuse, never crash (the UI caught only ours)
            raise ProjectError(f"{path} is not a valid project file (nested too deeply)") from None
        del text  # 77 MB at two hours, not kept through the validation
        project = cls._from_value(data, str(path), owned=True)
        project.path = path
        return project


def _note_value(n: Note) -> list:
    return [n.start_s, n.dur_s, n.pitch, n.velocity, n.channel]


_BATCH = 512  # list items encoded at once by _spliced


def _spliced(d: dict, lists: dict, depth: int) -> Iterator[str]:
    """``json.dumps(d, indent=1)`` with ``d[key]`` = the items of ``lists[key]`` (an iterable of
    JSON values, or of Tracks, which write themselves), for a value ``depth`` levels into the
    file; in pieces, without the lists ever as one value or one string. indent=1 puts each line
    one space deeper per level, and a JSON string never holds a raw newline, so a piece
    encoded on its own is shifted into place by indenting its lines."""
    marks = {key: f"\x00{uuid.uuid4().hex}\x00" for key in lists}  # stand for the lists in d's text
    text = json.dumps({k: marks.get(k, v) for k, v in d.items()}, indent=1).replace("\n", "\n" + " " * depth)
    for key in sorted(lists, key=lambda k: text.index(json.dumps(marks[k]))):
        before, text = text.split(json.dumps(marks[key]), 1)
        yield before
        yield from _list_chunks(lists[key], depth + 1)
    yield text


def _list_chunks(items, depth: int) -> Iterator[str]:
    """The JSON list of ``items`` as the value of a key ``depth`` levels in."""
    pad = "\n" + " " * depth
    first = True
    items = iter(items)
    while True:
        batch = list(itertools.islice(items, _BATCH))
        if not batch:
            break
        if isinstance(batch[0], Track):
            for t in batch:
                yield ("[" if first else ",") + pad + " "
                yield from t.json_chunks(depth + 1)
                first = False
            continue
        yield ("[" if first else ",") + json.dumps(batch, indent=1)[1:-2].replace("\n", pad)
        first = False
    yield "[]" if first else pad + "]"


def _too_big(size: int) -> ProjectError:
    return ProjectError(f"the project would take {size / 2**20:.0f} MiB or more, more than a project file may "
                        f"({MAX_PROJECT_BYTES / 2**20:.0f} MiB); make shorter projects of this video")


def autosave_path(project_path: Path) -> Path:
    name = project_path.name.removesuffix(PROJECT_SUFFIX)
    return project_path.with_name(name + AUTOSAVE_SUFFIX)


def has_newer_autosave(project_path: str | os.PathLike) -> bool:
    """True when a crash left an autosave more recent than the saved project."""
    p = Path(project_path)
    a = autosave_path(p)
    return a.exists() and (not p.exists() or a.stat().st_mtime > p.stat().st_mtime)


# -- schema migrations ---------------------------------------------------------------------
# v1 (first draft format): flat per-track "gain_db"/"pan"/"mute"/"solo" fields and a single
# project "bpm" instead of a tempo map. Each step takes the dict of version N to N+1.


def _v1_to_v2(d: dict) -> dict:
    d = dict(d)
    d["tempo"] = {"changes": [[0.0, float(d.pop("bpm", 120.0))]], "beats_per_bar": 4, "beat_unit": 4}
    tracks = []
    for t in d.get("tracks", []):
        t = dict(t)
        t["mixer"] = {k: t.pop(k) for k in ("gain_db", "pan", "mute", "solo") if k in t}
        tracks.append(t)
    d["tracks"] = tracks
    d["schema_version"] = 2
    return d


def _fields_with_defaults(version: int) -> Callable[[dict], dict]:
    """The migration to ``version`` of a schema that only gained fields whose defaults are how
    the older project sounded and looked: the data load unchanged, the version is written."""
    def migrate(d: dict) -> dict:
        d = dict(d)
        d["schema_version"] = version
        return d

    return migrate


MIGRATIONS: dict[int, Callable[[dict], dict]] = {
    1: _v1_to_v2,
    # v3: Foley events gained per-hit edit fields and their own parameter vector (older studios
    # refuse v3 files cleanly)
    2: _fields_with_defaults(3),
    # v4: MIDI tracks gained ``bank`` (None = automatic, how v3 tracks sounded up to the better
    # default banks); mixers gained ``reverb_send_db`` (None = the role's default send)
    3: _fields_with_defaults(4),
    # v5: tracks gained ``original_audio`` (studio.original) and mixers ``duck_db`` (None = off):
    # a v4 project has no original-audio track and no ducking
    4: _fields_with_defaults(5),
    # v6: projects gained ``master_fader_db`` (0 dB: a v5 project played at unity)
    5: _fields_with_defaults(6),
    # v7: tracks gained ``colour`` and ``lane_height`` (None: the kind's, how a v6 project looked)
    6: _fields_with_defaults(7),
}


def migrate(d: dict) -> dict:
    if not isinstance(d, dict) or "schema_version" not in d:
        raise ProjectError("not a studio project file (no schema_version)")
    version = d["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise ProjectError(f"unknown project schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"this project was saved by a newer studio (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); update the studio to open it"
        )
    while version < SCHEMA_VERSION:
        d = MIGRATIONS[version](d)
        version = d["schema_version"]
    return d


def new_project_for_video(video_path: str | os.PathLike, project_path: str | os.PathLike) -> Project:
    """A fresh project around a video file (probed with studio.media), saved at project_path."""
    from studio import media  # local: media pulls PyAV, which plain project edits do not need

    info = media.probe(video_path)
    if not info.has_video:
        raise ProjectError(f"{video_path} has no video stream to build a project on")
    project = Project(name=Path(video_path).stem)
    project.path = Path(project_path)
    project.video = VideoClip(
        path=project.relative(video_path),
        duration_s=info.duration_s,
        fps=info.video.fps,
        width=info.video.width,
        height=info.video.height,
        content_hash=media.file_hash(video_path),
        has_audio=info.has_audio,
    )
    return project

