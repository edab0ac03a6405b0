"""Rhythm engine (RhythmicNet style): Video2Rhythm -> Rhythm2Drum -> Drum2Music, as MIDI notes.

Run time is numpy + onnxruntime; training lives in ``engines.rhythm.train`` (torch).
"""
from engines.rhythm.infer import NoteEvent, RhythmEngine, RhythmState, parse_key
from engines.rhythm.video2rhythm import Bar, RhythmGrid, video_to_rhythm
from engines.rhythm.vocab import STYLES, VOICE_PITCH, VOICES

__all__ = ["Bar", "NoteEvent", "RhythmEngine", "RhythmGrid", "RhythmState", "STYLES", "VOICES",
           "VOICE_PITCH", "next_bar", "parse_key", "video_to_rhythm"]

_engine = None


def next_bar(state: RhythmState, rhythm_bar) -> tuple[list[NoteEvent], RhythmState]:
    """Causal API for live use: the notes of one bar and the state for the next one."""
    global _engine
    if _engine is None:
        _engine = RhythmEngine()
    return _engine.next_bar(state, rhythm_bar)
