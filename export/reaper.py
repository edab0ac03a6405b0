"""A REAPER project (.rpp) that opens the exported stems (and MIDI file) in place.

RPP is REAPER's plain-text project format: nested chunks ``<NAME args`` ... ``>``, one
``KEY value...`` line per property, strings quoted. This writer keeps to the small, stable
subset REAPER itself writes and reads back from any version since 4:

    <REAPER_PROJECT 0.1 "6.0" 0
      TEMPO <bpm> <num> <den>            project tempo and time signature
      SAMPLERATE <rate> 0 0              project sample rate
      PROJOFFS 0 <measure offset> 0      when bars precede the first downbeat (a pickup bar):
                                         REAPER numbers the downbeat's bar 1, the pickup bar 0
      <TEMPOENVEX                        only when the tempo map changes (or has a pickup bar)
        PT <seconds> <bpm> 1 [<timesig>]   square-shaped tempo points; timesig = num + 65536*den
                                         (bpm in quarter notes per minute, as in the SMF)
      >
      <TRACK
        NAME "<track name>"
        <ITEM
          POSITION 0
          LENGTH <seconds>
          NAME "<file name>"
          <SOURCE WAVE|FLAC|MIDI|VIDEO
            FILE "<path relative to the .rpp>"
          >
        >
      >
    >

The project's video (``video=``) goes first, on its own track, as a ``<SOURCE VIDEO`` item at
the video's place in the exported range: POSITION is where the video starts after the range's
start (0 for a whole-project export); when the range starts inside the video, the item starts
at 0 and skips the video's first seconds with SOFFS (the take's start offset in its source).

Strings (track, item and file names) are quoted and kept to one line: control characters (CR
and LF included, which REAPER may take for a line end) become spaces, so no name can open or
close a chunk.

Every stem starts at time zero with the exported length, so it lines up with the video. The MIDI
file goes on one extra track as a file-referencing MIDI item. The tempo points are the SMF's
conductor segments (same pickup bar and tempi, see ``export.smf``), so REAPER's grid matches
the MIDI file and the first visual downbeat sits on a bar line. Bar 1 is that downbeat in the
RPP (the pickup bar is bar 0, by PROJOFFS), in the SMF (its short first bar is a pickup bar,
bar 0 by the anacrusis convention) and in the MIDI clock (song position 0 and Start are sent on
it, studio.transport.midi).
"""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Sequence

from export.smf import TickMap


def _line_safe(s: str) -> str:
    """``s`` without anything a reader could take for the end of a line or a chunk: every
    control character (C0 with tab, CR, LF and NUL; DEL; C1 with NEL) and the Unicode line and
    paragraph separators become a space."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(s))


def _q(s: str) -> str:
    """Quote a string for RPP (one line, see ``_line_safe``): double quotes unless it contains
    one, then single quotes or backticks; with all three, its double quotes become single."""
    s = _line_safe(s)
    for q in ('"', "'", "`"):
        if q not in s:
            return f"{q}{s}{q}"
    return '"' + s.replace('"', "'") + '"'


def _rel(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).resolve().as_posix()


def rpp_text(
    rpp_path: str | Path,
    items: Sequence[tuple[str, Path, float]],
    *,
    sample_rate: int,
    bpm: float,
    tick_map: TickMap,
    beats_per_bar: int,
    beat_unit: int,
    midi: tuple[str, Path, float] | None = None,
    video: tuple[str, Path, float, float] | None = None,
    measure_offset: int | None = None,
) -> str:
    """The project text; ``items`` are (track name, audio file, length s), first to last;
    ``video`` is (track name, video file, its start in seconds after the range's start, which
    is negative when the range starts inside the video, its length in seconds).
    ``measure_offset``: REAPER's project start measure less one (:func:`measure_offset`, so that
    bar 1 is the first downbeat); None: -1 with a pickup bar, else 0 (right for a file that
    starts less than a bar before the first downbeat)."""
    base = Path(rpp_path).parent
    lines = ['<REAPER_PROJECT 0.1 "6.0" 0',
             f"  TEMPO {bpm:.6f} {beats_per_bar} {beat_unit}",
             f"  SAMPLERATE {int(sample_rate)} 0 0"]
    if measure_offset is None:
        measure_offset = -1 if has_pickup_bar(tick_map) else 0
    if measure_offset:
        lines.append(f"  PROJOFFS 0 {int(measure_offset)} 0")  # bar 1 = the first downbeat
    if len(tick_map.tempos_us) > 1:
        sig_at = {k: (n, d) for k, n, d in tick_map.signatures}
        lines.append("  <TEMPOENVEX")
        for k, s, us in zip(tick_map.ticks, tick_map.seconds, tick_map.tempos_us):
            pt = f"    PT {s:.9f} {60e6 / us:.6f} 1"  # quarter notes per minute, square shape
            if k in sig_at:
                n, d = sig_at[k]
                pt += f" {n + 65536 * d}"
            lines.append(pt)
        lines.append("  >")
    if video is not None:
        name, path, start, length = video
        skip = max(0.0, -float(start))
        if length - skip > 0:
            lines += _track(name, _rel(path, base), Path(path).name, length - skip, "VIDEO",
                            position=max(0.0, float(start)), offset=skip)
    for name, path, length in items:
        kind = "FLAC" if Path(path).suffix.lower() == ".flac" else "WAVE"
        lines += _track(name, _rel(path, base), Path(path).name, length, kind)
    if midi is not None:
        name, path, length = midi
        lines += _track(name, _rel(path, base), Path(path).name, length, "MIDI")
    lines.append(">")
    return "\n".join(lines) + "\n"


def measure_offset(tempo, origin_s: float = 0.0) -> int:
    """REAPER's measure offset for a file whose time 0 is ``origin_s`` (its tick map from
    ``export.smf.tick_map(tempo, origin_s)``) so that the bar of the tempo map's first downbeat
    (beat 0) is bar 1: the file's first bar line is the map's bar ``anchor / beats_per_bar + 1``,
    and a pickup bar before it comes one bar earlier."""
    import math

    from export.smf import tick_map as _tick_map

    bpb = tempo.beats_per_bar
    anchor_beat = math.ceil(tempo.beat_at(origin_s) / bpb - 1e-9) * bpb
    return int(round(anchor_beat / bpb)) - (1 if has_pickup_bar(_tick_map(tempo, origin_s)) else 0)


def has_pickup_bar(tick_map: TickMap) -> bool:
    """Whether the file starts with a pickup bar (the SMF's first signature is the pickup's,
    the main one starts later)."""
    return len(tick_map.signatures) > 1 and tick_map.signatures[1][0] > 0


def _track(name: str, rel: str, item_name: str, length: float, kind: str, *, position: float = 0.0,
           offset: float = 0.0) -> list[str]:
    item = ["    <ITEM",
            f"      POSITION {position:.9f}" if position else "      POSITION 0",
            f"      LENGTH {length:.9f}"]
    if offset:
        item.append(f"      SOFFS {offset:.9f}")
    return ["  <TRACK",
            f"    NAME {_q(name)}",
            *item,
            f"      NAME {_q(item_name)}",
            f"      <SOURCE {kind}",
            f"        FILE {_q(rel)}",
            "      >",
            "    >",
            "  >"]
