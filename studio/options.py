"""Options a user gives (CLI flags, the app's generate panel), checked in one place before any work.

``check_generate(settings)`` takes a ``studio.generate.GenerateSettings`` and returns it
unchanged when every value is usable, else raises :class:`~studio.errors.StudioError` with a
one-line message that names the option (the CLI prints it as ``studio: error: ...`` with exit
status 2; the app shows it in a dialog). ``check_live(settings, record_path)`` does the same
for ``studio live`` (tempo, seed, style, key, times, the ``--record`` target), so no loop ever
starts on a tempo it cannot step through.

The ranges are the engines' own: tempo ``studio.grid.MIN_BPM..MAX_BPM`` (what a user may ask
for), seed ``0..SEED_MAX`` (the engines seed numpy generators, which refuse negative seeds),
soundtrack steps 1..1024 and guidance 0..20 (``engines.soundtrack.sampler.DecodeSettings``),
beats per bar 1..16 (``studio.schema``), loudness ``studio.mastering.parse_loudness``
(-40..-5 LUFS or off), a Foley material one of ``engines.foley.materials.MATERIALS`` (or an
alias the engine knows).
"""
from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.grid import MAX_BPM, MIN_BPM

SEED_MAX = 2**32 - 1
STEPS = (1, 1024)
CFG = (0.0, 20.0)
MAX_BEATS_PER_BAR = 16
MAX_TEXT = 256  # a style word, a room name


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise StudioError(f"{name} {value!r} is not a number") from None
    value = float(value)
    if not math.isfinite(value):
        raise StudioError(f"{name} {value} is not a finite number")
    return value


def _whole(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise StudioError(f"{name} {value!r} is not a whole number")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise StudioError(f"{name} {value!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise StudioError(f"{name} {value} is outside {lo}..{hi}")
    return value


def check_flag(value: Any, name: str, *, also_false: tuple[str, ...] = ()) -> bool:
    """An engine setting that is on or off (``--option name=yes``, a project file's value):
    true/false, yes/no, on/off, 1/0 in any case (and the engine's own words for off,
    ``also_false``); another string is an error naming the setting."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("0", "false", "no", "off", "") or word in also_false:
            return False
        if word in ("1", "true", "yes", "on"):
            return True
        raise StudioError(f"{name} must be true or false, not {value!r}")
    return bool(value)


def check_bpm(value: Any, name: str = "bpm") -> float | None:
    """A tempo a user asked for: finite, within MIN_BPM..MAX_BPM (None: from the picture)."""
    if value is None:
        return None
    bpm = _number(name, value)
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise StudioError(f"{name} {bpm:g} is outside {MIN_BPM:.0f}..{MAX_BPM:.0f} beats per minute")
    return bpm


def check_seed(value: Any) -> int:
    return _whole("seed", value, 0, SEED_MAX)


def check_material(value: Any) -> str | None:
    """A Foley material the engine offers (or an alias it knows); None: proposed per hit."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise StudioError(f"material {value!r} is not a material name")
    try:
        from engines.foley.materials import ALIASES, MATERIALS
    except ImportError:  # no Foley engine in this build: the adapter refuses the engine itself
        return value
    key = value.lower().strip()
    if ALIASES.get(key, key) not in MATERIALS:
        raise StudioError(f"material {value!r} is not one of {', '.join(MATERIALS)}")
    return value


def check_loudness(value: Any) -> float | None:
    from studio.mastering import parse_loudness

    if isinstance(value, bool):
        raise StudioError(f"loudness {value!r} is not a number of LUFS or 'off'")
    if isinstance(value, float) and not math.isfinite(value):
        raise StudioError(f"loudness {value} is not a finite number of LUFS")
    try:
        return parse_loudness(value)
    except (TypeError, ValueError) as exc:
        raise StudioError(str(exc)) from None


def _text(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
        raise StudioError(f"{name} {str(value)[:40]!r} is not a word of at most {MAX_TEXT} characters")


def check_options(options: dict | None) -> dict:
    """The engine options both front ends pass (``GenerateSettings.options``); names the
    generate flags use. Unknown names pass (adapters and plug-ins read their own)."""
    if not isinstance(options, (dict, type(None))):
        raise StudioError("generate options must be a mapping of names to values")
    o = dict(options or {})
    if o.get("bpm") is not None:
        check_bpm(o["bpm"])
    if o.get("downbeat_s") is not None:
        d = _number("downbeat", o["downbeat_s"])
        if d < 0:
            raise StudioError(f"downbeat {d:g} s is before the start of the video")
    if o.get("tempo_factor") is not None and _number("tempo factor", o["tempo_factor"]) not in (0.5, 1.0, 2.0):
        raise StudioError(f"tempo factor {o['tempo_factor']} is not 0.5 (half), 1 or 2 (double)")
    if o.get("beats_per_bar") is not None:
        check_beats_per_bar(o["beats_per_bar"])
    if o.get("steps") is not None:
        _whole("steps", o["steps"], *STEPS)
    if o.get("cfg") is not None:
        cfg = _number("cfg", o["cfg"])
        if not CFG[0] <= cfg <= CFG[1]:
            raise StudioError(f"cfg {cfg:g} is outside {CFG[0]:g}..{CFG[1]:g}")
    check_material(o.get("material"))
    if o.get("region") is not None:  # re-generate a region of a track (an engine that inpaints)
        r = o["region"]
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise StudioError(f"region {r!r} is not [start, end] in seconds")
        check_span(*r)
    return o


def check_generate(settings):
    """``settings`` (a GenerateSettings) when every option is usable (its seed as an int), else
    StudioError naming the option."""
    engines = settings.engines
    if not isinstance(engines, (tuple, list)) or not all(isinstance(e, str) for e in engines):
        raise StudioError(f"engines {engines!r} is not a list of engine names")
    seed = check_seed(settings.seed)
    _text("style", settings.style)
    _text("room", settings.room)
    check_options(settings.options)
    if settings.loudness_lufs is not None:
        check_loudness(settings.loudness_lufs)
    return settings if seed == settings.seed and type(settings.seed) is int else replace(settings, seed=seed)


def check_beats_per_bar(value: Any) -> int:
    return _whole("beats per bar", value, 1, MAX_BEATS_PER_BAR)


def check_span(start: Any, end: Any = None) -> tuple[float, float | None]:
    """``play --start S --end S``: finite times, start >= 0, end after start (end None: the end)."""
    s = _number("start", start)
    if s < 0:
        raise StudioError(f"start {s:g} s is before the beginning")
    e = None if end is None else _number("end", end)
    if e is not None and e <= s:
        raise StudioError(f"end {e:g} s is not after start {s:g} s")
    return s, e


# -- live ---------------------------------------------------------------------------------------
def check_record_path(path) -> Path | None:
    """Where ``studio live --record`` will write: refused at once (before the take) when its
    folder is missing or read-only, or the path is a folder."""
    if path is None:
        return None
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise StudioError(f"--record {path}: is a folder; give a file name such as take.mid")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise StudioError(f"--record {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StudioError(f"--record {path}: the folder {parent} is not writable")
    if p.exists() and not p.is_file():
        raise StudioError(f"--record {path}: is not a regular file")
    return p


def check_live(settings, record_path=None) -> None:
    """A ``studio.live.LiveSettings`` and its recording target, before any source is opened."""
    from engines.rhythm.infer import parse_key
    from engines.rhythm.vocab import STYLES

    check_bpm(settings.bpm)
    check_seed(settings.seed)
    if settings.style not in STYLES:
        raise StudioError(f"style {settings.style!r} is not one of {', '.join(STYLES)}")
    if settings.key is not None:
        try:
            parse_key(str(settings.key))
        except ValueError as exc:
            raise StudioError(str(exc)) from None
    check_beats_per_bar(settings.beats_per_bar)
    for name, value, lo, hi in (("warmup", settings.warmup_s, 0.0, 600.0), ("lead", settings.lead_s, 0.0, 10.0),
                                ("look-ahead bars", settings.lookahead_bars, 0.0, 64.0)):
        v = _number(name, value)
        if not lo <= v <= hi:
            raise StudioError(f"{name} {v:g} is outside {lo:g}..{hi:g}")
    if settings.max_seconds is not None and not _number("seconds", settings.max_seconds) > 0:
        raise StudioError(f"seconds {settings.max_seconds:g} must be positive")
    check_record_path(record_path)
