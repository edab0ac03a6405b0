"""One clock, told honestly (issue 24, item 4), through a private dummy JACK server.

MIDI clock, Song Position Pointer and Start/Continue only go out while something listens to the
port (a DAW connecting mid-run is positioned on the next sixteenth); Start is the first downbeat
(bar 1) and pickup notes go out before it; late audio callbacks and MIDI scheduler stalls that a
test injects are each counted and reported as a Transport "health" event, and a scheduler thread
that dies is reported as an "error". Bounds are loose (a loaded 2-core machine, a non-real-time
dummy driver): the tight figures (clock drift against the audio frames) are
``studio bench transport``'s.
"""
from __future__ import annotations

import threading
import time

import pytest
from jack_server import (MidiDump, jack_server, judged_by_the_dump, midi_dump,  # noqa: F401
                         require_jack_client, wait_until)

from studio.music import Note, TempoMap
from studio.transport import AudioOutput, BufferSource, MidiPart, MidiPort, MidiScheduler, State, Transport
from studio.transport.midi import CLOCK, CONTINUE, SPP, START, STOP

SR = 48000


@pytest.fixture(autouse=True)
def _needs_jack_client():
    require_jack_client()


def _spp_value(b: bytes) -> int:
    return b[1] | (b[2] << 7)


def test_position_and_start_wait_until_a_daw_connects(jack_server, midi_dump):
    tempo = TempoMap.constant(150)  # 60 clock ticks a second
    port = MidiPort(name="StudioLateDaw")
    assert port.timed and port.connected() is False
    midi = MidiScheduler(port, send_clock=True)
    midi.set_parts([], tempo)
    t = Transport(tempo=tempo, midi=midi)
    try:
        t.play()
        time.sleep(0.5)  # nobody listens: nothing may be sent (SPP sent now would be lost)
        assert not midi.daw_started
        midi_dump.mark()
        jack_server.connect("StudioLateDaw:StudioLateDaw", midi_dump.port)
        assert wait_until(lambda: midi.daw_started, 2.0)
        time.sleep(0.6)
        t.pause()
        pos = t.position_s
        time.sleep(0.05)  # the pause's Stop written
    finally:
        t.close()
    time.sleep(0.1)
    msgs = [b for _, b in midi_dump.events()]
    with judged_by_the_dump(midi_dump, "the DAW's messages"):
        assert msgs[0][0] == SPP and msgs[1] == bytes([CONTINUE]) and msgs[2] == bytes([CLOCK])
        s = _spp_value(msgs[0])
        assert 0.5 * 10 <= s <= (pos + 0.05) * 10  # 10 sixteenths a second, after the connection
        # the clock that follows counts on from that position up to where the transport paused
        stop = len(msgs) - 1 - msgs[::-1].index(bytes([STOP]))  # the pause's (an xrun may add a resync's)
        ticks = sum(m == bytes([CLOCK]) for m in msgs[:stop])
        expected = pos * 60 - 6 * s
        assert abs(ticks - expected) <= 3, (ticks, expected)


def test_start_is_the_first_downbeat_and_the_pickup_goes_before_it(jack_server, midi_dump):
    tempo = TempoMap.constant(120, downbeat_s=0.6)  # a pickup of 1.2 beats
    notes = [Note(0.25, 0.1, 60, 90, 0), Note(0.6, 0.1, 62, 90, 0), Note(1.1, 0.1, 64, 90, 0)]
    port = MidiPort(name="StudioPickup")
    jack_server.connect("StudioPickup:StudioPickup", midi_dump.port)
    midi = MidiScheduler(port, send_clock=True)
    midi.set_parts([MidiPart(notes)], tempo)
    t = Transport(tempo=tempo, duration_s=1.3, midi=midi)  # the system clock: one fixed mapping
    xruns0 = jack_server.xruns()
    try:
        t.play()
        assert wait_until(lambda: t.state is State.STOPPED, 5.0)
        # events the JACK callback got after their cycle, and the server's xruns (the reader may
        # then stamp an event a cycle off): a busy machine; without either, frames are exact
        late = port.jack.late + jack_server.xruns() - xruns0
    finally:
        t.close()
    time.sleep(0.1)
    ev = midi_dump.events()
    msgs = [b for _, b in ev]
    with judged_by_the_dump(midi_dump, "the clock and the notes"):
        i_spp, i_start = msgs.index(bytes([SPP, 0, 0])), msgs.index(bytes([START]))
        assert i_start == i_spp + 1 and msgs[i_start + 1] == bytes([CLOCK])
        assert msgs.index(bytes([START])) < (msgs.index(bytes([CONTINUE])) if bytes([CONTINUE]) in msgs else len(msgs))
        pickup_on = next(i for i, m in enumerate(msgs) if m == bytes([0x90, 60, 90]))
        down_on = next(i for i, m in enumerate(msgs) if m == bytes([0x90, 62, 90]))
        assert pickup_on < i_spp < down_on  # the pickup is played before Start, the downbeat after
        f_pickup, f_start, f_down = ev[pickup_on][0], ev[i_start][0], ev[down_on][0]
        if late == 0:  # nothing late, no xrun: exact frames
            assert f_start == f_down  # Start and the downbeat's note at the same frame
            assert abs((f_start - f_pickup) - round(0.35 * SR)) <= 2
        ticks = [f for f, b in ev if b == bytes([CLOCK])]
        off_grid = [b - a for a, b in zip(ticks, ticks[1:]) if b - a != SR * 60 // 120 // 24]
        assert ticks[0] == f_start and len(off_grid) <= 2 * late, (off_grid, late)  # each at its frame


def _groove(seconds: float, step: float = 0.0625):
    return [Note(0.05 + i * step, step / 2, 42, 80, 9) for i in range(int((seconds - 0.1) / step))]


def test_every_injected_stall_is_reported(jack_server, midi_dump):
    """Audio callback stalls (sleeps in the callback) and MIDI scheduler stalls (sleeps in its
    test hook), each one reported by a "health" event whose counts grew; then a scheduler thread
    that raises is reported as an "error"."""
    tempo = TempoMap.constant(120)
    port = MidiPort(name="StudioStalls")
    jack_server.connect("StudioStalls:StudioStalls", midi_dump.port)
    midi = MidiScheduler(port, send_clock=True)
    midi.set_parts([MidiPart(_groove(12.0), 9)], tempo)
    audio = AudioOutput(SR, 256)
    audio.open()
    events: list[tuple[str, dict]] = []
    t = Transport(tempo=tempo, duration_s=12.0, audio=audio, midi=midi)
    t.add_listener(lambda e, tr: events.append((e, dict(tr.health))))
    pending = []
    lock = threading.Lock()

    def hook():
        with lock:
            stall = pending.pop() if pending else None
        if isinstance(stall, Exception):
            raise stall
        if stall:
            time.sleep(stall)

    midi.test_hook = hook
    n = 3
    try:
        audio.set_sources([BufferSource(_noise(12.0), SR)])
        t.play()
        time.sleep(0.3)
        for k in range(n):  # one at a time: each must be reported before the next
            seen = t.health.get("late_callbacks", 0)
            n_events = len(events)
            audio.inject_stall(0.04)
            assert wait_until(lambda: t.health.get("late_callbacks", 0) > seen, 3.0), f"audio stall {k} not counted"
            assert any(e == "health" and h.get("late_callbacks", 0) > seen for e, h in events[n_events:])
            time.sleep(0.2)
        for k in range(n):
            seen = t.health.get("midi_stalls", 0)
            n_events = len(events)
            with lock:
                pending.append(0.06)
            assert wait_until(lambda: t.health.get("midi_stalls", 0) > seen, 3.0), f"MIDI stall {k} not counted"
            assert any(e == "health" and h.get("midi_stalls", 0) > seen for e, h in events[n_events:])
            time.sleep(0.2)
        assert t.health["late_callbacks"] >= n and t.health["midi_stalls"] >= n
        assert t.health["midi_max_late_ms"] >= 20  # a 60 ms stall less the queueing horizon
        assert "late audio block" in t.health_message and "MIDI late" in t.health_message
        with lock:
            pending.append(RuntimeError("injected"))
        assert wait_until(lambda: t.error is not None, 3.0)
        assert "MIDI scheduler failed: injected" in t.error and any(e == "error" for e, _ in events)
        assert t.health["midi_errors"] == 1 and t.state is State.PLAYING  # the audio plays on
    finally:
        t.close()
    assert not midi.notes.sounding


def _noise(seconds: float):
    import numpy as np

    return (np.random.default_rng(0).standard_normal((2, int(seconds * SR))) * 0.01).astype(np.float32)
