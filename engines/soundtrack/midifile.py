"""Reading a user's MIDI file into the tokenizer's parts (for retrieval): mido, beats from ticks.

Channel 10 notes are drums; every other note is pitched. The tokenizer then takes the lowest
line as bass, the highest as melody and the harmony of all pitched notes (per beat) as chords,
so any multi-track arrangement maps onto the four levels.
"""
from __future__ import annotations

from pathlib import Path

from engines.errors import EngineError
from engines.soundtrack.tokens import BASS_HI, MEL_LO, PartNote


def read_midi_parts(path: str | Path) -> tuple[dict[str, list[PartNote]], float]:
    """(parts keyed like SymbolicLevels.part_names, length in beats)."""
    import mido

    try:
        mid = mido.MidiFile(str(path))
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError ... on junk
        raise EngineError(f"{path} is not a readable MIDI file ({exc})") from None
    tpb = float(mid.ticks_per_beat or 480)
    pitched: list[PartNote] = []
    drums: list[PartNote] = []
    for track in mid.tracks:
        tick = 0
        on: dict[tuple[int, int], tuple[int, int]] = {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                on[(msg.channel, msg.note)] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                start = on.pop((msg.channel, msg.note), None)
                if start is None:
                    continue
                n = PartNote(start[0] / tpb, max(1, tick - start[0]) / tpb, msg.note, start[1])
                (drums if msg.channel == 9 else pitched).append(n)
    if not pitched and not drums:
        raise EngineError(f"{path} has no notes")
    end = max(n.start_beat + n.dur_beats for n in pitched + drums)
    parts = {"bass": [n for n in pitched if n.pitch <= BASS_HI + 4],
             "melody": [n for n in pitched if n.pitch >= MEL_LO],
             "other": pitched, "drums": drums}
    return parts, end
