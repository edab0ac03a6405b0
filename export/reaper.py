"""A REAPER project (.rpp) that opens the exported stems (and MIDI file) in place.

RPP is REAPER's plain-text project format: nested chunks ``<NAME args`` ... ``>``, one
``KEY value...`` line per property, strings quoted. This writer keeps to the small, stable
subset REAPER itself writes and reads back from any version since 4:

    <REAPER_PROJECT 0.1 "6.0" 0
      TEMPO <bpm> <num> <den>            project tempo and time signature
      SAMPLERATE <rate> 0 0              project sample rate
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
          <SOURCE WAVE|FLAC|MIDI
            FILE "<path relative to the .rpp>"
          >
        >
      >
    >

Strings (track, item and file names) are quoted and kept to one line: control characters (CR
and LF included, which REAPER may take for a line end) become spaces, so no name can open or
close a chunk.

Every stem starts at time zero with the exported length, so it lines up with the video. The MIDI
file goes on one extra track as a file-referencing MIDI item. The tempo points are the SMF's
conductor segments (same pickup bar and tempi, see ``export.smf``), so REAPER's grid matches
the MIDI file and the first visual downbeat sits on a bar line.
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
) -> str:
    """The project text; ``items`` are (track name, audio file, length s), first to last."""
    base = Path(rpp_path).parent
    lines = ['<REAPER_PROJECT 0.1 "6.0" 0',
             f"  TEMPO {bpm:.6f} {beats_per_bar} {beat_unit}",
             f"  SAMPLERATE {int(sample_rate)} 0 0"]
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
    for name, path, length in items:
        kind = "FLAC" if Path(path).suffix.lower() == ".flac" else "WAVE"
        lines += _track(name, _rel(path, base), Path(path).name, length, kind)
    if midi is not None:
        name, path, length = midi
        lines += _track(name, _rel(path, base), Path(path).name, length, "MIDI")
    lines.append(">")
    return "\n".join(lines) + "\n"


def _track(name: str, rel: str, item_name: str, length: float, kind: str) -> list[str]:
    return ["  <TRACK",
            f"    NAME {_q(name)}",
            "    <ITEM",
            "      POSITION 0",
            f"      LENGTH {length:.9f}",
            f"      NAME {_q(item_name)}",
            f"      <SOURCE {kind}",
            f"        FILE {_q(rel)}",
            "      >",
            "    >",
            "  >"]
