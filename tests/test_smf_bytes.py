"""`export.smf.midi_bytes` encodes note events from arrays: the same bytes as mido writes the
same events (mido is the reference here), in a fraction of the memory."""
from __future__ import annotations

import io
import tracemalloc

import mido
import numpy as np
import pytest

from export import smf
from studio.music import Note, TempoChange, TempoMap


def breakpoint_tick(tm, t: float) -> float:
    """Seconds -> tick through the map's breakpoint tuples, one time at a time (not through
    ``TickMap``'s own arrays)."""
    if t >= tm.seconds[-1]:
        return tm.ticks[-1] + (t - tm.seconds[-1]) / tm.last_sec_per_tick
    return float(np.interp(t, list(tm.seconds), list(tm.ticks)))


def mido_reference(parts, tempo, *, origin_s=0.0, end_s=None, quantize=None, title="Studio") -> bytes:
    """The file as mido writes it: one message object per event (the studio's writer before
    2026-12-06), sorted by (tick, order) in insertion order, text as UTF-8."""
    tm = smf.tick_map(tempo, origin_s)
    mid = mido.MidiFile(type=1, ticks_per_beat=smf.PPQ)
    conductor = [(0, 0, mido.MetaMessage("track_name", name=title))]
    conductor += [(k, 1, mido.MetaMessage("time_signature", numerator=n, denominator=d, clocks_per_click=24,
                                          notated_32nd_notes_per_beat=8)) for k, n, d in tm.signatures]
    conductor += [(k, 2, mido.MetaMessage("set_tempo", tempo=us)) for k, us in zip(tm.ticks, tm.tempos_us)]
    if tempo.downbeat_s - origin_s >= 0.0:
        conductor.append((int(round(breakpoint_tick(tm, tempo.downbeat_s - origin_s))), 3,
                          mido.MetaMessage("marker", text=smf.BAR_ONE_MARKER)))
    tracks = [conductor]
    for part, ch in zip(parts, smf.assign_channels(parts)):
        events = [(0, 0, mido.MetaMessage("track_name", name=part.name[:120]))]
        if not part.drums:
            events.append((0, 1, mido.Message("program_change", channel=ch, program=part.program)))
        for n in part.notes:
            s, e = smf._quantised(n, tempo, quantize) if quantize else (n.start_s, n.end_s)
            if s < origin_s or (end_s is not None and s >= end_s):
                continue
            e = min(e, end_s) if end_s is not None else e
            k0 = int(round(breakpoint_tick(tm, s - origin_s)))
            k1 = max(k0 + 1, int(round(breakpoint_tick(tm, e - origin_s))))
            events.append((k0, 3, mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity)))
            events.append((k1, 2, mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)))
        tracks.append(events)
    for events in tracks:
        track, last = mido.MidiTrack(), 0
        for k, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=k - last))
            last = k
        track.append(mido.MetaMessage("end_of_track"))
        mid.tracks.append(track)
    buf = io.BytesIO()
    smf.utf8_tracks(mid).save(file=buf)
    return buf.getvalue()


def random_parts(seed: int, n: int = 300) -> list[smf.Part]:
    rng = np.random.default_rng(seed)

    def notes(k, spread):
        starts = np.sort(rng.uniform(0, spread, k))
        starts[5:15] = starts[5]  # chords: several notes on one tick
        return [Note(float(s), float(d), int(p), int(v)) for s, d, p, v in
                zip(starts, rng.choice([1e-4, 0.05, 0.5, 3.0], k), rng.integers(0, 128, k), rng.integers(1, 128, k))]

    return [smf.Part("Ударные 🥁", notes(n, 60.0), drums=True, channel=9),
            smf.Part("Bass", notes(n // 3, 60.0), program=33, channel=9),  # 10 is the drums': moved
            smf.Part("Pad" * 60, notes(n // 5, 7200.0), program=89, channel=3),  # deltas of 3-4 bytes
            smf.Part("empty", [], program=0)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("options", [{}, {"quantize": 0.25, "title": "Проект 鼓"},
                                     {"origin_s": 3.3, "end_s": 41.7}])
def test_the_bytes_are_midos(seed, options):
    tempo = TempoMap((TempoChange(0.37, 97.0), TempoChange(20.0, 131.5)), beats_per_bar=3)
    parts = random_parts(seed)
    assert smf.midi_bytes(parts, tempo, **options) == mido_reference(parts, tempo, **options)
    back = smf.build_midi(parts, tempo, **options)
    assert [m.name for m in back.tracks[1] if m.type == "track_name"] == ["Ударные 🥁"]


@pytest.mark.parametrize("options", [{}, {"quantize": 0.25}, {"origin_s": 13.3, "end_s": 150.0}])
def test_a_drifting_tempo_of_many_changes(options):
    """A tempo that drifts (a change every few beats, as ``from_beats`` writes for a hand-held
    video): the notes between hundreds of breakpoints, and after the last, are mido's bytes."""
    beats = 0.3 + np.cumsum(0.5 + 0.01 * np.sin(np.arange(400) / 7))
    tempo = TempoMap.from_beats(beats)
    assert len(tempo.changes) > 100
    parts = random_parts(2)
    assert smf.midi_bytes(parts, tempo, **options) == mido_reference(parts, tempo, **options)


def test_a_long_films_notes_take_little_memory():
    """450,000 note events (a two-hour film): the encoder's peak is a few arrays, not an object
    per event (mido's messages: ~280 bytes each, +135 MB)."""
    part = smf.Part("Drums", [Note(i * 0.04, 0.02, 36 + i % 12, 100) for i in range(225_000)], drums=True)
    tracemalloc.start()
    try:
        data = smf.midi_bytes([part], TempoMap.constant(120.0, 0.0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6  # ~14 bytes of the file and a few int64 columns per event
    assert len(smf.read_midi_bytes(data).tracks[1]) == 2 * 225_000 + 2
