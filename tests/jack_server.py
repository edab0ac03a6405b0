"""Pytest fixtures around a private JACK dummy server (studio.transport.jack).

Tests that need it skip with a clear reason only when the JACK tools are not installed.
"""
from __future__ import annotations

import time

import pytest

from studio.transport.jack import JackServer, MidiDump, jackd_missing_reason

__all__ = ["JackServer", "MidiDump", "jack_server", "midi_dump", "require_jack", "require_jack_client",
           "unless_the_dump_missed_cycles", "wait_until"]


def require_jack() -> None:
    reason = jackd_missing_reason()
    if reason:
        pytest.skip(reason)


def require_jack_client() -> None:
    """Skip unless jackd runs here and JACK-Client with libjack can be loaded (JACK MIDI)."""
    from studio.transport.jack_midi import jack_client_missing_reason

    require_jack()
    reason = jack_client_missing_reason()
    if reason:
        pytest.skip(reason)


def wait_until(pred, timeout_s: float) -> bool:
    """Poll ``pred`` every 10 ms for up to ``timeout_s``; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


@pytest.fixture(scope="module")
def jack_server():
    """A running dummy JACK server (48 kHz, 256 frames) private to this test module."""
    require_jack()
    with JackServer(48000, 256) as server:
        from studio.transport.devices import rescan_audio

        rescan_audio()  # PortAudio scans host APIs once; make it see this server
        yield server
        release_portaudio()


def release_portaudio() -> None:
    """Shut PortAudio down while the server still runs (its JACK host API asserts otherwise)."""
    import sounddevice as sd

    while sd._initialized:
        sd._terminate()


@pytest.fixture
def midi_dump(jack_server):
    dump = MidiDump(jack_server).start()
    yield dump
    dump.stop()


def unless_the_dump_missed_cycles(dump: MidiDump, missed: int, what: str) -> None:
    """Call where ``dump``'s record disagrees with what was sent, with ``missed``: the cycles the
    dump itself missed while that was sent (``MidiDump.missed()`` read then, counted from
    ``MidiDump.mark()``; the server logs each miss under the dump's name). The test skips, saying
    so, when there were any: what was written in such a cycle may be lost from the record, so the
    record cannot judge the studio. (Stopping the dump for 30 ms three times lost 7 of 200 events,
    each missed cycle logged.) The server also logs misses that lose nothing while clients leave
    or join the graph (13-22 as a test's transport closed, none while it played), hence the count
    taken before closing, and asked only after a disagreement: a record that agrees is judged as
    it is."""
    if missed:
        pytest.skip(f"{what} differs, and {dump.client} missed {missed} JACK cycle(s) meanwhile "
                    "(the machine stalled): its record is incomplete")
