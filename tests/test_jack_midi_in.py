"""The DAW follower's own JACK MIDI input (studio/transport/jack_midi_in.py) on a private dummy
server: each message stamped at the frame the DAW wrote it (python-rtmidi's JACK input, the one
before, stamped every message of a cycle with the cycle's processing time: 0-5.3 ms early at 256
frames, 0-21 ms at 1024), the port under the name a DAW's connection looks for, connected from a
named source, and gone from the server after close."""
from __future__ import annotations

import time

import numpy as np
import pytest

from jack_server import JackServer, require_jack_client, wait_until

from studio.errors import DeviceError
from studio.transport.follow import CLOCK
from studio.transport.jack_midi import JackMidiOutput
from studio.transport.jack_midi_in import JackMidiInput


@pytest.fixture
def jack_server():
    """A dummy server of this test's own (48 kHz, 256 frames): two servers at once in one process
    (this module's tests of other periods beside a module-wide one) crashed JACK's client library."""
    require_jack_client()
    with JackServer(48000, 256) as server:
        yield server


def _received(inp: JackMidiInput) -> list[tuple[bytes, int]]:
    out = []
    while (m := inp.get()) is not None:
        out.append(m)
    return out


def _frame_times_ns(daw: JackMidiOutput, frames: list[int]) -> np.ndarray:
    """When the DAW's frames were, on perf_counter_ns: its cycles' earliest entry (its process
    callback, a client of its own) less their frames, plus each frame."""
    k = 1e9 / daw.rate
    base = min(e - L * k for e, L in list(daw._cycle_log))
    return base + np.asarray(frames, float) * k


@pytest.mark.parametrize("period", [256, 1024])
def test_each_message_is_stamped_at_the_frame_it_was_written_at(period):
    """A DAW writes 120 clock ticks at exact frames (120 BPM, 48 kHz); the input's stamps are
    those frames' times on the system clock within a millisecond, all in order, at the
    server's default 256 frames and at a laptop's 1024."""
    require_jack_client()
    with JackServer(48000, period):
        inp = JackMidiInput("Studio Sync")
        daw = JackMidiOutput("FakeDaw")
        try:
            assert inp.port_name == "Studio Sync:Studio Sync"  # the name rtmidi's virtual port had
            daw.connect(inp.port_name)
            tick = 48000 * 60 / (120 * 24)
            f0 = int(daw.frame_now()[0] + 0.1 * 48000)
            missed = inp.xruns  # (every client here misses a cycle or two as the others join the graph)
            frames = [int(round(f0 + i * tick)) for i in range(120)]
            for f in frames:
                daw.send_at(bytes([CLOCK]), f)
            got = []
            wait_until(lambda: (got.extend(_received(inp)), len(got) >= len(frames))[1], 10.0)
            lost = len(got) != len(frames)
            err_ms = None if lost else (np.array([at for _, at in got], float) - _frame_times_ns(daw, frames)) / 1e6
        finally:
            inp.close()
            daw.close(drain_s=0)
    # (the DAW's callback runs before the input's in each cycle: the truth's own lead, 0.1-0.3 ms)
    sound = not lost and [d for d, _ in got] == [bytes([CLOCK])] * len(frames) and np.all(np.abs(err_ms) < 1.0)
    if err_ms is not None:
        print(f"period {period}: stamp - frame time median {np.median(err_ms):+.3f} ms, "
              f"p10..p90 {np.percentile(err_ms, 10):+.3f}..{np.percentile(err_ms, 90):+.3f} ms")
    if not sound and (inp.xruns > missed or daw.late):  # a stalled virtual CPU: what was written then may be lost
        pytest.skip(f"the input missed {inp.xruns - missed} JACK cycle(s), the DAW wrote {daw.late} late")
    assert not lost, f"{len(got)} of {len(frames)} received"
    assert [d for d, _ in got] == [bytes([CLOCK])] * len(frames)
    assert np.all(np.abs(err_ms) < 1.0), err_ms


def test_it_connects_from_a_named_source_and_leaves_nothing_behind(jack_server):
    """``source`` (part of an output port's name) is connected to the input; closing ends the
    client and its port on the server; a second close does nothing; a source that is not there
    is a DeviceError naming what is."""
    require_jack_client()
    daw = JackMidiOutput("NamedDaw")
    try:
        inp = JackMidiInput("Sync Named", source="NamedDaw")
        try:
            assert "Sync Named:Sync Named" in jack_server.ports()
            daw.send(bytes([0xFA]))
            got = []
            assert wait_until(lambda: (got.extend(_received(inp)), bool(got))[1], 2.0)
            assert got[0][0] == bytes([0xFA])
        finally:
            inp.close()
        inp.close()
        assert not inp.close_hung and inp.callback_error is None
        assert wait_until(lambda: "Sync Named:Sync Named" not in jack_server.ports(), 2.0)
        with pytest.raises(DeviceError, match="no MIDI port 'NoSuchDaw'.*NamedDaw"):
            JackMidiInput("Sync Missing", source="NoSuchDaw")
        assert wait_until(lambda: not any(p.startswith("Sync Missing:") for p in jack_server.ports()), 2.0)
    finally:
        daw.close(drain_s=0)


def test_a_reader_that_stops_reading_cannot_fill_the_memory(jack_server):
    """The queue keeps the newest ``max_queued`` messages when nobody reads them."""
    require_jack_client()
    inp = JackMidiInput("Sync Bounded", max_queued=16)
    daw = JackMidiOutput("FloodDaw")
    try:
        daw.connect(inp.port_name)
        f = int(daw.frame_now()[0] + 2400)
        for k in range(64):
            daw.send_at(bytes([0x90, k, 100]), f + k * 10)
        assert wait_until(lambda: inp.received >= 64, 2.0)
        got = _received(inp)
    finally:
        inp.close()
        daw.close(drain_s=0)
    assert [d[1] for d, _ in got] == list(range(48, 64))


def test_below_256_frame_periods_the_follower_reads_through_rtmidi():
    """As the MIDI output (midi.py, JACK_MIN_PERIOD): at 128 frames a Python process callback
    misses cycles, so the follower's input is python-rtmidi's, and says why; it still reads."""
    from studio.transport import Transport
    from studio.transport.follow import DawFollower, SyncInput

    require_jack_client()
    with JackServer(48000, 128):
        t = Transport(duration_s=60.0)
        sync = SyncInput(DawFollower(t), name="Short Sync", api="jack")
        daw = JackMidiOutput("ShortDaw")
        try:
            assert sync._jack is None and "128-frame periods" in sync.fallback_reason
            daw.connect(next(p for p in daw.input_ports() if "Short Sync" in p))
            daw.send(bytes([0xFA]))
            assert wait_until(lambda: sync.received >= 1, 2.0)
        finally:
            sync.close()
            daw.close(drain_s=0)
            t.close()


@pytest.mark.parametrize("direction", ["in", "out"])
def test_a_port_can_be_connected_the_moment_it_is_listed(jack_server, direction):
    """A DAW or patchbay connects to "Studio Sync" (or from the studio's MIDI output) as soon as
    the port appears: JACK refuses to connect a port of a client not active yet, so both clients
    register their port only once active (registered first, such a connection failed in 1 of 8
    runs of `studio play --follow`'s test). Here a patchbay polls the port list as fast as it can
    while the port opens, five times."""
    import threading

    import jack

    require_jack_client()
    patchbay = jack.Client("Patchbay", no_start_server=True)
    patchbay.activate()
    other = JackMidiOutput("EagerDaw") if direction == "in" else JackMidiInput("EagerSynth")
    name = "Eager Sync" if direction == "in" else "Eager Out"
    errors, connected = [], []

    def connect_at_once():
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if patchbay.get_ports(f"{name}:{name}"):
                ends = (other.port_name, f"{name}:{name}") if direction == "in" else (f"{name}:{name}", other.port_name)
                try:
                    patchbay.connect(*ends)
                    connected.append(ends)
                except jack.JackError as exc:
                    errors.append(str(exc))
                return

    try:
        for _ in range(5):
            t = threading.Thread(target=connect_at_once)
            t.start()
            port = JackMidiInput(name) if direction == "in" else JackMidiOutput(name)
            t.join(6.0)
            port.close()
        assert not errors, errors
        assert len(connected) == 5
    finally:
        other.close()
        patchbay.deactivate()
        patchbay.close()
