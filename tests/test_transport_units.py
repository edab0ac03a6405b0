"""Transport pieces without any device: timeline, clock, ring-buffer callback, MIDI timing logic."""
from __future__ import annotations

import time

import numpy as np
import pytest

from studio.music import Note, TempoChange, TempoMap
from studio.transport import audio as A
from studio.transport.audio import AudioOutput, BufferSource
from studio.transport.clock import MasterClock, Timeline
from studio.transport.midi import CLOCK, CONTINUE, SPP, START, MidiPart, MidiScheduler, NoteTable
from studio.transport.transport import State, Transport


class RecordingPort:
    """Stands in for MidiPort: records what would go out, with the send time."""

    def __init__(self):
        self.sent: list[tuple[float, list[int]]] = []
        self.error = None

    def send(self, msg):
        self.sent.append((time.perf_counter(), list(msg)))
        return True

    def all_notes_off(self, channels=range(16)):
        for ch in channels:
            self.send([0xB0 | ch, 123, 0])

    def check(self):
        return None

    def close(self):
        self.all_notes_off()

    def notes(self):
        return [m for _, m in self.sent if m[0] & 0xE0 == 0x80]


def test_timeline_wraps_at_loop_end_and_lists_segments():
    tl = Timeline(1000, 250, loop=(200, 300))
    assert [tl.position(u) for u in (0, 49, 50, 149, 150)] == [250, 299, 200, 299, 200]
    segs = tl.segments()
    s = [next(segs) for _ in range(3)]
    assert [(x.u0, x.pos0, x.frames) for x in s] == [(0, 250, 50), (50, 200, 100), (150, 200, 100)]
    assert Timeline(1000, 50, loop=(200, 300)).position(170) == 220  # plays into the loop
    assert Timeline(1000, 400, loop=(200, 300)).loop is None  # starting after it: no loop
    assert list(Timeline(1000, 7).segments())[0].frames == Timeline.OPEN


def test_audio_clock_extrapolates_within_the_block_and_stops_after_it():
    ctl = np.zeros(16, np.int64)
    clock = MasterClock(48000, ctl, latency_frames=0)
    assert clock.heard_frames() == 0.0 and clock.wall_ns_of(100) is None
    t = time.perf_counter_ns()
    ctl[0] += 1
    ctl[1], ctl[2], ctl[3] = 4800, 256, t
    ctl[0] += 1
    assert clock.heard_frames(t) == 4800
    assert clock.heard_frames(t + 2_000_000) == pytest.approx(4800 + 96)  # 2 ms later
    assert clock.heard_frames(t + 1_000_000_000) == 4800 + 256  # stalled callback: clock stops
    assert clock.wall_ns_of(4800 + 48) == t + 1_000_000


def _callback(out: AudioOutput, frames: int) -> np.ndarray:
    buf = np.full((frames, out.channels), 7.0, np.float32)
    out._callback(buf, frames, None, 0)
    return buf


def test_callback_copies_from_ring_fades_in_zero_fills_and_counts_underruns():
    out = AudioOutput(48000, 256, fade_ms=1.0)  # 48-frame fade; no device is touched
    out.set_sources([BufferSource(np.ones((2, 48000), np.float32), 48000)])
    assert out.stream is None
    silent = _callback(out, 256)
    assert not silent.any() and out.ctl[A.PLAYED] == 0
    out.start_run(Timeline(48000, 0))
    out._stop_feeder()  # freeze the ring as filled
    filled = int(out.ctl[A.W] - out.ctl[A.R])
    first = _callback(out, 256)
    assert first[0, 0] == 0.0 and 0 < first[24, 0] < 1 and np.all(first[48:] == 1.0)
    assert out.ctl[A.STATE] == A.PLAYING
    for _ in range(filled // 256 - 1):
        _callback(out, 256)
    assert out.ctl[A.UNDERRUNS] == 0
    starved = _callback(out, 256)
    assert not starved.any() and out.ctl[A.UNDERRUNS] == 1
    assert out.ctl[A.PLAYED] == filled  # the clock only counts frames that were really played


def test_callback_fades_out_to_silence_on_halt():
    out = AudioOutput(48000, 256, fade_ms=1.0)
    out.set_sources([BufferSource(np.ones((2, 48000), np.float32), 48000)])
    out.start_run(Timeline(48000, 0))
    _callback(out, 256)
    out.ctl[A.WANT] = 0
    tail = _callback(out, 256)
    assert tail[0, 0] == 1.0 and tail[24, 0] < 1 and not tail[48:].any()
    assert out.ctl[A.STATE] == A.SILENT
    out._stop_feeder()


def test_feeder_mixes_stems_across_a_loop_seam():
    out = AudioOutput(1000, 64)
    ramp = np.arange(1000, dtype=np.float32)[None, :]
    out.set_sources([BufferSource(ramp, 1000), BufferSource(ramp, 1000, gain=0.5)])
    out._timeline = Timeline(1000, 90, loop=(50, 100))
    block = np.zeros((2, 64), np.float32)
    out._render(block, 0)
    expect = [p * 1.5 for p in list(range(90, 100)) + list(range(50, 100)) + list(range(50, 54))]
    assert np.allclose(block[1], expect)  # mono stems feed both channels


def test_buffer_source_resamples_once_to_the_device_rate():
    src = BufferSource(np.zeros((2, 44100), np.float32), 44100).resampled(48000)
    assert src.audio.shape == (2, 48000) and src.sample_rate == 48000


def test_note_table_orders_offs_first_and_applies_the_track_channel():
    a = [Note(0.0, 0.5, 60, 100, 0), Note(0.5, 0.5, 60, 90, 0)]
    t = NoteTable([MidiPart(a, channel=3), MidiPart([Note(0.25, 0.1, 36, 80, 9)])])
    assert [m for _, m in t.between(0, 2)] == [
        [0x93, 60, 100], [0x99, 36, 80], [0x89, 36, 0], [0x83, 60, 0], [0x93, 60, 90], [0x83, 60, 0]]
    assert t.channels == [3, 9]


def test_midi_clock_follows_the_tempo_map_with_song_position():
    tempo = TempoMap((TempoChange(0.0, 120.0), TempoChange(1.0, 60.0)))
    s = MidiScheduler(RecordingPort())  # a port that cannot tell whether it is connected
    s.set_parts([], tempo)
    ev = list(s._clock_events(0.0, 2.0))
    assert all(m == [CLOCK] for _, m, _ in ev) and [tick.k for *_, tick in ev] == list(range(72))
    ticks = [t for t, _, _ in ev]
    assert len(ticks) == 24 * 2 + 24 * 1  # 2 beats at 120, then 1 beat at 60
    assert np.allclose(np.diff(ticks[:48]), 0.5 / 24) and np.allclose(np.diff(ticks[48:]), 1.0 / 24)
    # the position and Start go out just before the first tick, then ticks alone
    assert [s._messages(m, k) for _, m, k in ev[:2]] == [[[SPP, 0, 0], [START], [CLOCK]], [[CLOCK]]]
    s.daw_started = False
    later = list(s._clock_events(0.3, 2.0))  # beat 0.6 -> next 16th is 3 (tick 18)
    assert later[0][0] == pytest.approx(0.375) and later[0][2].k == 18
    assert s._messages(later[0][1], later[0][2]) == [[SPP, 3, 0], [CONTINUE], [CLOCK]]


def test_scheduler_on_the_system_clock_sends_in_order_on_time_and_cuts_notes_at_a_loop():
    port = RecordingPort()
    s = MidiScheduler(port, send_clock=False)
    notes = [Note(0.02 * i, 0.03, 36 + i, 100, 9) for i in range(5)]  # 0.00 .. 0.08
    s.set_parts([MidiPart(notes)], TempoMap())
    tl = Timeline(48000, 0, loop=(0, int(0.09 * 48000)))
    clock = MasterClock(48000)
    clock.start()
    t0 = time.perf_counter()
    s.start_run(tl, clock)
    time.sleep(0.15)
    s.stop_run()
    ons = [(t - t0, m) for t, m in port.sent if m[0] == 0x99]
    assert [m[1] for _, m in ons[:7]] == [36, 37, 38, 39, 40, 36, 37]  # wrapped into pass 2
    err = [t - (0.02 * (m[1] - 36)) for t, m in ons[:5]]
    assert max(abs(e) for e in err) < 0.005
    offs = [m for _, m in port.sent if m[0] == 0x89]
    assert [o[1] for o in offs[:4]] == [36, 37, 38, 39]  # note 40 (ends at 0.11) is cut at the wrap
    assert [0xB9, 123, 0] in [m for _, m in port.sent]


def test_transport_without_audio_device_plays_pauses_seeks_and_stops():
    port = RecordingPort()
    midi = MidiScheduler(port, send_clock=False)
    midi.set_parts([MidiPart([Note(0.5, 0.1, 60, 100, 0)])], TempoMap.constant(120))
    states = []
    t = Transport(tempo=TempoMap.constant(120), duration_s=0.3, midi=midi)
    t.add_listener(lambda e, tr: states.append(tr.state) if e == "state" else None)  # not "health"
    t.seek(0.1)
    t.play()
    time.sleep(0.1)
    assert t.state is State.PLAYING and 0.17 < t.position_s < 0.3
    t.pause()
    p = t.position_s
    time.sleep(0.05)
    assert t.position_s == p and t.state is State.PAUSED
    assert t.bar_beat() == (1, pytest.approx(1 + p * 2))
    t.play()
    time.sleep(0.3)  # runs into the end (0.3 s): stops by itself and returns to the start point
    assert t.state is State.STOPPED and t.position_s == pytest.approx(0.1)
    assert states == [State.PLAYING, State.PAUSED, State.PLAYING, State.STOPPED]
    t.stop()
    assert t.position_s == 0.0
    assert not [m for _, m in port.sent if m[0] == 0x90]  # the note at 0.5 s was never reached
    t.close()


def test_midi_parts_for_a_project_honour_solo_and_the_track_channel():
    from studio.project import Mixer, Project, Track, TrackKind
    from studio.transport.transport import midi_parts_for

    p = Project()
    drums = p.add_track(Track("drums", TrackKind.MIDI, notes=[Note(0, 0.1, 36, 100, 0)], channel=9))
    p.add_track(Track("bass", TrackKind.MIDI, notes=[Note(0, 0.1, 40, 100, 0)], channel=1))
    assert [(x.name, x.channel) for x in midi_parts_for(p)] == [("drums", 9), ("bass", 1)]
    drums.mixer = Mixer(solo=True)
    parts = midi_parts_for(p)
    assert [x.name for x in parts] == ["drums"]
    assert [m for _, m in NoteTable(parts).between(0, 1)][0] == [0x99, 36, 100]
