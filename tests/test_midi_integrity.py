"""Note integrity without a device: every note-on gets exactly one note-off, no note-off goes to a
key that is not sounding, whatever the same-pitch overlaps, seeks, stops, loop wraps and errors
(``NoteTracker`` in the transport's scheduler and in ``studio live``'s timed sender)."""
from __future__ import annotations

import time

import pytest

from studio.music import Note, TempoMap
from studio.transport.clock import MasterClock, Timeline
from studio.transport.midi import MidiPart, MidiScheduler, NoteTable, NoteTracker
from studio.transport.transport import State, Transport


class RecordingPort:
    def __init__(self):
        self.sent: list[list[int]] = []
        self.error = None

    def send(self, msg):
        self.sent.append(list(msg))
        return True

    def all_notes_off(self, channels=range(16)):
        for ch in channels:
            self.send([0xB0 | ch, 64, 0])
            self.send([0xB0 | ch, 123, 0])

    def check(self):
        return None

    def close(self):
        self.all_notes_off()


def check_integrity(msgs) -> tuple[int, int]:
    """Walk a MIDI stream: a note-on only for a silent key, a note-off only for a sounding one,
    nothing sounding at the end; returns (ons, offs)."""
    sounding: set[tuple[int, int]] = set()
    ons = offs = 0
    for i, m in enumerate(msgs):
        st, key = m[0] & 0xF0, (m[0] & 0x0F, m[1] if len(m) > 1 else None)
        if st == 0x90 and m[2] > 0:
            assert key not in sounding, f"message {i}: note-on {m} for a key already sounding"
            sounding.add(key)
            ons += 1
        elif st == 0x80 or (st == 0x90 and m[2] == 0):
            assert key in sounding, f"message {i}: note-off {m} for a key that is not sounding"
            sounding.discard(key)
            offs += 1
    assert not sounding, f"left sounding: {sorted(sounding)}"
    return ons, offs


def _overlapping(n=12, step=0.02):
    """Same pitch every ``step`` for 2.5 steps (overlaps of 2-3 notes), a second channel's
    pitch overlapping every other step, and zero-length notes."""
    notes = [Note(0.01 + i * step, 2.5 * step, 60, 100, 0) for i in range(n)]
    notes += [Note(0.01 + i * 2 * step, 3 * step, 40, 90, 1) for i in range(n // 2)]
    notes += [Note(0.015 + i * 3 * step, 0.0, 72, 80, 0) for i in range(n // 3)]
    return notes


def test_tracker_retriggers_same_pitch_overlaps_and_sends_the_last_off():
    tr = NoteTracker()
    on, off = [0x90, 60, 100], [0x80, 60, 0]
    assert tr.messages(on, 1) == [on]
    assert tr.messages(on, 2) == [off, on]  # retrigger: off first
    assert tr.messages(off, 1) == []  # note 2 still holds the key
    assert tr.messages(off, 7) == []  # a note that never sounded here
    assert tr.messages(off, 2) == [off]  # the last one ends: the key's only off
    assert tr.messages(off, 2) == [] and tr.sounding == []
    assert tr.messages([0x91, 40, 90]) == [[0x91, 40, 90]]  # without ids: oldest first
    assert tr.messages([0x91, 40, 90]) == [[0x81, 40, 0], [0x91, 40, 90]]
    assert tr.messages([0x91, 40, 0]) == []  # velocity-0 note-on is an off
    assert tr.sounding == [(1, 40)] and tr.release() == [[0x81, 40, 0]] and tr.sounding == []
    assert tr.messages([0xB0, 7, 100]) == [[0xB0, 7, 100]]


def test_note_table_puts_a_zero_length_notes_off_after_its_on():
    t = NoteTable([MidiPart([Note(0.5, 0.0, 60, 100, 0), Note(0.0, 0.5, 61, 100, 0)])])
    assert [m for _, m in t.between(0, 1)] == [[0x90, 61, 100], [0x80, 61, 0], [0x90, 60, 100],
                                                [0x80, 60, 0]]


def test_a_whole_run_of_overlapping_notes_sends_one_off_per_on():
    notes = _overlapping()
    port = RecordingPort()
    s = MidiScheduler(port, send_clock=True)
    s.set_parts([MidiPart(notes)], TempoMap.constant(120))
    clock = MasterClock(48000)
    clock.start()
    s.start_run(Timeline(48000, 0), clock)
    time.sleep(0.45)
    s.stop_run()
    ons, offs = check_integrity(port.sent)
    assert ons == offs == len(notes)  # every note heard (retriggered), every one ended
    assert [0xB0, 123, 0] in port.sent and [0xB1, 123, 0] in port.sent


def test_seeks_stops_and_loop_wraps_leave_nothing_sounding():
    notes = _overlapping(n=30)
    port = RecordingPort()
    midi = MidiScheduler(port, send_clock=False)
    midi.set_parts([MidiPart(notes)], TempoMap.constant(120))
    t = Transport(tempo=TempoMap.constant(120), duration_s=0.7, midi=midi)
    t.play()
    time.sleep(0.12)
    t.seek(0.33)  # mid-note: its off must not come from the old run
    time.sleep(0.1)
    t.seek(0.05)  # backwards
    time.sleep(0.08)
    t.stop()
    t.set_loop(0.1, 0.23)
    t.play()
    time.sleep(0.35)  # a few wraps, each cutting notes
    t.pause()
    t.set_loop(None)
    t.play()
    time.sleep(0.1)
    t.close()
    ons, offs = check_integrity(port.sent)
    assert ons == offs > 20
    assert t.state is State.STOPPED


def test_a_failing_scheduler_silences_what_it_started():
    port = RecordingPort()
    s = MidiScheduler(port, send_clock=False)
    s.set_parts([MidiPart([Note(0.0, 1.0, 60, 100, 0), Note(0.0, 1.0, 64, 100, 0)])], TempoMap())
    real = s.table.between_ids

    def broken(t0, t1):
        yield from list(real(t0, t1))[:2]  # the two note-ons, then the engine fails
        raise RuntimeError("boom")

    s.table.between_ids = broken
    clock = MasterClock(48000)
    clock.start()
    s.start_run(Timeline(48000, 0), clock)
    time.sleep(0.1)
    assert s.error and "boom" in s.error
    assert check_integrity(port.sent) == (2, 2) and [0xB0, 123, 0] in port.sent
    s.stop_run()


@pytest.mark.parametrize("drain", [True, False])
def test_live_sender_keeps_integrity_with_overlaps_drained_or_cut(drain):
    from studio.live import LiveReport, TimedSender

    port = RecordingPort()
    report = LiveReport("x", "look-ahead")
    sender = TimedSender(port, report)
    t0 = time.perf_counter() + 0.02
    for n in _overlapping():
        sender.put_note(t0 + n.start_s, t0 + n.end_s, n.channel, n.pitch, n.velocity)
    time.sleep(0.15)  # cut mid-way when not draining
    sender.close(drain=drain)
    ons, offs = check_integrity(port.sent)
    assert ons == offs == report.notes_sent == report.note_offs_sent
    assert ons == len(_overlapping()) if drain else 0 < ons < len(_overlapping())
