"""The project file's schema: every value a project may hold, checked before the model is built.

``studio.project`` keeps its dataclasses as the in-memory model; a file (or any dict handed to
``Project.from_dict``) is first migrated to the current schema version, then validated here
(pydantic v2), and only then turned into dataclasses. Whatever is wrong is reported as one
:class:`~studio.errors.ProjectError` whose message names the field, e.g.
``tracks[2].notes[14].start_s is NaN; it should be a finite number``.

What is checked:

* **types**, strictly: a number is a JSON number (not ``"loud"``, not ``true``), a flag is
  ``true``/``false`` (not ``"no"``), a name is a string (not ``7``); a whole number may be
  written ``60`` or ``60.0`` but not ``60.5``;
* **finite numbers** everywhere (no NaN, no infinity) and **ranges**: MIDI channel 0..15,
  pitch 0..127, velocity 1..127, program 0..127, gain (tracks and master fader) -120..+24 dB,
  pan -1..1, stored tempi ``STORED_BPM`` (a tempo map follows the picture, so one change may lie outside the range a
  user may type, ``studio.grid.MIN_BPM..MAX_BPM``), beats per bar 1..16, times within
  +-``MAX_TIME_S``;
* **unique track ids** (the export names stems and REAPER tracks by them);
* **bounded sizes**: tracks, notes, Foley events and spatial keyframes per track, tempo changes,
  string lengths, the file itself (``MAX_FILE_BYTES``);
* **bounded nesting**: the JSON parser's recursion is caught (``load_json``) and a track's free
  ``settings`` may nest at most ``MAX_SETTINGS_DEPTH`` levels.

Unknown fields are refused (as the dataclasses always did), so a typo is named, not ignored.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, StrictStr, ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from studio.errors import ProjectError

# -- limits -------------------------------------------------------------------------------------
MAX_TRACKS = 256
# per track. What the engines write grows with the video: on the pipeline bench's busy 30-minute
# video, 21,908 drum notes, 9,358 Foley hits and 17,277 spatial keyframes (two per hit); the old
# limits (200k / 50k / 10k) made that project unloadable. These hold about 15 hours of such a video;
# the file's own limit (about 38 MB an hour of it, mostly the Foley hits) comes first, at ~13 h.
# ``Project.save`` refuses to write past any of them, so a saved project always loads
MAX_NOTES = 1_500_000
MAX_EVENTS = 300_000  # Foley hits
MAX_KEYFRAMES = 2 * MAX_EVENTS + 2  # spatial keyframes (a Foley track's: the hit and its hold)
MAX_TEMPO_CHANGES = 100_000
MAX_TEXT = 4096  # characters of a name, a path, an id
MAX_TIME_S = 86_400.0  # one day: any time or duration in a project
STORED_BPM = (1.0, 1000.0)
MAX_BEATS_PER_BAR = 16
BEAT_UNITS = (1, 2, 4, 8, 16, 32)
GAIN_DB = (-120.0, 24.0)
SEND_DB = (-200.0, 24.0)  # -90 or less: no send (studio.mastering)
DUCK_DB = (-60.0, 0.0)  # how far "duck under music" lowers a track (studio.mastering.duck_gain)
MAX_PARAMS = 1024  # a Foley hit's packed physics vector (67 values today)
MAX_SETTINGS_DEPTH = 16
MAX_FILE_BYTES = 512 * 1024 * 1024
MIN_LANE_H, MAX_LANE_H = 32, 600  # a timeline lane's height (v7), logical px
SEED_MAX = 2**63 - 1  # a Foley hit's own seed (the run's seed * 100003 + k)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _whole(v: Any) -> Any:
    """A whole number written as ``60.0`` is 60; ``60.5``, ``true`` and ``"60"`` are not."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return v


def _float(lo: float, hi: float, *, gt: bool = False):
    bound = {"gt": lo} if gt else {"ge": lo}
    return Annotated[float, Strict(), Field(allow_inf_nan=False, le=hi, **bound)]


def _int(lo: int, hi: int):
    return Annotated[int, BeforeValidator(_whole), Strict(), Field(ge=lo, le=hi)]


Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]
Time = _float(-MAX_TIME_S, MAX_TIME_S)
Duration = _float(0.0, MAX_TIME_S)
Unit = _float(0.0, 1.0)
Metres = _float(-1000.0, 1000.0)
Channel = _int(0, 15)
Midi7 = _int(0, 127)
Velocity = _int(1, 127)


# a note is stored as [start_s, dur_s, pitch, velocity, channel] (channel optional: 0); checked
# as a tuple (a list in JSON) of strict items, which is ~4x faster than a model per note
NOTE_FIELDS = ("start_s", "dur_s", "pitch", "velocity", "channel")
NoteRow = Annotated[tuple[Time, Duration, Midi7, Velocity, Channel], Strict(False)]
TEMPO_FIELDS = ("time_s", "bpm")
TempoRow = Annotated[tuple[Time, _float(*STORED_BPM)], Strict(False)]


def _rows_of(n: int):
    """Rows one value short get the default last value (a note without its channel)."""
    def fill(v: Any) -> Any:
        if isinstance(v, list):
            return [r + [0] if isinstance(r, list) and len(r) == n - 1 else r for r in v]
        return v
    return fill


class MixerModel(_Strict):
    gain_db: _float(*GAIN_DB) = 0.0
    pan: _float(-1.0, 1.0) = 0.0
    mute: StrictBool = False
    solo: StrictBool = False
    reverb_send_db: _float(*SEND_DB) | None = None
    duck_db: _float(*DUCK_DB) | None = None  # v5: duck under music (None: off)


class FoleyEventModel(_Strict):
    time_s: Time
    x: _float(-10.0, 10.0) = 0.5
    y: _float(-10.0, 10.0) = 0.5
    strength: Unit = 0.5
    material: Annotated[StrictStr, Field(min_length=1, max_length=64)] = "wood"
    size: Unit = 0.5
    seed: _int(0, SEED_MAX) = 0
    pitch_st: _float(-96.0, 96.0) = 0.0
    ring: _float(0.0, 1000.0, gt=True) = 1.0
    low_cut_hz: _float(0.0, 200_000.0) = 0.0
    brightness: _float(-96.0, 96.0) = 0.0
    residual_db: _float(-200.0, 96.0) = 0.0
    # a list in JSON, a studio.project.FloatVector in memory (Project.from_dict(project.to_dict()): the app's snapshots)
    params: Annotated[list[_float(-1e9, 1e9)], Strict(False), Field(max_length=MAX_PARAMS)] | None = None
    params_for: Text = ""


class KeyframeModel(_Strict):
    time_s: Time
    x: Metres
    y: Metres
    z: Metres = 1.5


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (iterative: no recursion however deep it is)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_SETTINGS_DEPTH:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


class TrackModel(_Strict):
    name: Text
    kind: Literal["midi", "audio", "foley", "soundtrack"]
    id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    mixer: MixerModel = MixerModel()
    notes: Annotated[list[NoteRow], BeforeValidator(_rows_of(len(NOTE_FIELDS))),
                     Field(max_length=MAX_NOTES)] = []
    program: Midi7 = 0
    channel: Channel = 0
    bank: Annotated[StrictStr, Field(max_length=256)] | None = None
    audio_path: Text | None = None
    offset_s: Time = 0.0
    events: Annotated[list[FoleyEventModel], Field(max_length=MAX_EVENTS)] = []
    room: Annotated[StrictStr, Field(max_length=256)] | None = None
    spatial: Annotated[list[KeyframeModel], Field(max_length=MAX_KEYFRAMES)] = []
    engine: Annotated[StrictStr, Field(max_length=256)] | None = None
    settings: dict[str, Any] = {}
    original_audio: StrictBool = False  # v5: the video's own soundtrack (studio.original)
    colour: Annotated[StrictStr, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None  # v7: the lane's colour
    lane_height: _int(MIN_LANE_H, MAX_LANE_H) | None = None  # v7: logical px in the timeline

    @field_validator("settings")
    @classmethod
    def _shallow(cls, v: dict) -> dict:
        if _depth(v) > MAX_SETTINGS_DEPTH:
            raise PydanticCustomError("too_deep", "is nested more than {n} levels deep", {"n": MAX_SETTINGS_DEPTH})
        return v


class VideoModel(_Strict):
    path: Text
    duration_s: Duration
    fps: _float(0.0, 10_000.0)  # 0: unknown (studio.media)
    width: _int(0, 65_536)
    height: _int(0, 65_536)
    content_hash: Annotated[StrictStr, Field(max_length=256)] = ""
    has_audio: StrictBool = False


class TempoModel(_Strict):
    changes: Annotated[list[TempoRow], Field(min_length=1, max_length=MAX_TEMPO_CHANGES)]
    beats_per_bar: _int(1, MAX_BEATS_PER_BAR) = 4
    beat_unit: Annotated[int, BeforeValidator(_whole)] = 4

    @field_validator("beat_unit")
    @classmethod
    def _unit(cls, v: int) -> int:
        if v not in BEAT_UNITS:
            raise PydanticCustomError("beat_unit", "should be one of {units}",
                                      {"units": ", ".join(map(str, BEAT_UNITS))})
        return v


class ProjectModel(_Strict):
    schema_version: int
    name: Text
    sample_rate: _int(8000, 384_000)
    video: VideoModel | None = None
    tempo: TempoModel
    tracks: Annotated[list[TrackModel], Field(max_length=MAX_TRACKS)]
    created: Annotated[float, Field(allow_inf_nan=False)] | None = None
    master_fader_db: _float(*GAIN_DB) = 0.0  # v6: the mix's last gain (studio.render)


# -- messages -----------------------------------------------------------------------------------
def where(loc) -> str:
    """``('tracks', 2, 'notes', 14, 'start_s')`` -> ``tracks[2].notes[14].start_s``."""
    out = ""
    for i, part in enumerate(loc):
        row = loc[i - 2] if i >= 2 and isinstance(loc[i - 1], int) else None
        if isinstance(part, int) and row in ("notes", "changes"):
            names = NOTE_FIELDS if row == "notes" else TEMPO_FIELDS
            out += "." + names[part] if part < len(names) else f"[{part}]"
        elif isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "constrained-")):  # pydantic's own wrapper steps
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "the file"


def describe(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "infinite" if value > 0 else "-infinite"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value)) if abs(value) >= 1 or value == 0 else f"{value:g}"
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return f"a {'list' if isinstance(value, list) else 'mapping'} of {len(value)}"
    text = json.dumps(value) if isinstance(value, (str, bool, type(None))) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem(err: dict) -> str:
    """One pydantic error as a sentence that names the field."""
    at, kind = where(err["loc"]), err["type"]
    loc = err["loc"]
    if len(loc) >= 2 and loc[-2] in ("notes", "changes") and isinstance(loc[-1], int) or (
            len(loc) >= 3 and loc[-3] in ("notes", "changes") and kind == "missing"):
        if kind in ("tuple_type", "too_short", "too_long", "missing"):  # a row of the wrong shape
            rows = loc[:-1] if kind == "missing" else loc
            names = NOTE_FIELDS if rows[-2] == "notes" else TEMPO_FIELDS
            value = err.get("input") if kind != "missing" else None
            return (f"{where(rows)} is " + (describe(value) + "; it" if kind != "missing" else "too short; it")
                    + f" should be a list [{', '.join(names)}]")
    if kind == "missing":
        return f"{at} is missing"
    if kind == "extra_forbidden":
        return f"{at} is not a field the studio knows"
    msg = err["msg"]
    for lead in ("Input should be ", "Value error, "):
        if msg.startswith(lead):
            msg = "should be " + msg[len(lead):] if lead.startswith("Input") else msg[len(lead):]
    if kind in ("too_long", "too_short"):
        return f"{at} {msg[0].lower() + msg[1:]}"
    ctx = err.get("ctx") or {}
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        word = {"greater_than_equal": "at least", "greater_than": "more than",
                "less_than_equal": "at most", "less_than": "less than"}[kind]
        msg = f"should be {word} {describe(bound)}"
    elif kind == "finite_number":
        msg = "should be a finite number"
    elif kind in ("float_type", "float_parsing"):
        msg = "should be a number"
    elif kind in ("int_type", "int_from_float", "int_parsing"):
        msg = "should be a whole number"
    elif kind == "bool_type":
        msg = "should be true or false"
    elif kind == "string_type":
        msg = "should be a string"
    elif kind in ("list_type", "dict_type", "model_type"):
        msg = "should be a " + ("list" if kind == "list_type" else "JSON object")
    return f"{at} is {describe(err.get('input'))}; it {msg}"


def summary(exc: ValidationError, limit: int = 1) -> str:
    found = list(dict.fromkeys(problem(e) for e in exc.errors(include_url=False)))  # one per row
    shown = "; ".join(found[:limit])
    more = len(found) - limit
    return shown + (f" (and {more} more problem{'s' * (more != 1)})" if more > 0 else "")


# -- entry points -------------------------------------------------------------------------------
def validate_project(data: Any, source: str = "the project") -> ProjectModel:
    """``data`` (migrated to the current schema) as a checked ``ProjectModel``, else ProjectError."""
    if not isinstance(data, dict):
        raise ProjectError(f"{source} is not a studio project (a JSON object is needed)")
    try:
        model = ProjectModel.model_validate(data)
    except ValidationError as exc:
        raise ProjectError(f"{source} is damaged: {summary(exc)}") from None
    seen: dict[str, int] = {}
    for i, t in enumerate(model.tracks):
        if t.id in seen:
            raise ProjectError(f"{source} is damaged: tracks[{i}].id {t.id!r} is also the id of "
                               f"tracks[{seen[t.id]}]; track ids must be unique")
        seen[t.id] = i
    times = [c[0] for c in model.tempo.changes]
    for i, (a, b) in enumerate(zip(times, times[1:])):
        if b < a:
            raise ProjectError(f"{source} is damaged: tempo.changes[{i + 1}].time_s {b:g} is before "
                               f"tempo.changes[{i}].time_s {a:g}; tempo changes must be in time order")
    return model


def load_json(path: Path, error: type[Exception] = ProjectError, what: str = "file",
              max_bytes: int = MAX_FILE_BYTES) -> Any:
    """A JSON file's value, bounded: its size (``max_bytes``) and its nesting (the parser's
    recursion limit, reported as ``error`` instead of escaping as RecursionError)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise error(f"{what} {path} is {size / 2**20:.0f} MiB, more than the {max_bytes / 2**20:.0f} MiB "
                    "the studio reads; it is not a file the studio wrote")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise error(f"{path} is nested too deeply to be a {what}") from None
