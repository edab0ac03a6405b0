"""Pytest fixtures around a private JACK dummy server (studio.transport.jack).

Tests that need it skip with a clear reason only when the JACK tools are not installed.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from studio.transport.jack import JackServer, MidiDump, jackd_missing_reason

__all__ = ["JackServer", "MidiDump", "jack_server", "midi_dump", "require_jack", "require_jack_client",
           "judged_by_the_dump", "wait_until"]


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


@contextmanager
def judged_by_the_dump(dump: MidiDump, what: str):
    """Wraps the assertions that compare ``dump``'s record with what was sent. One that fails
    while the dump missed JACK cycles (:meth:`MidiDump.missed`: from its start or ``mark()`` to
    the last event it printed; the server logs each miss under its name) skips the test, saying
    so: what was written in a missed cycle may be lost from the record, and the frames after it
    fall a period behind, so the record cannot judge the studio. (Stopping the dump for 30 ms
    three times lost 7 of 200 events, each missed cycle logged.) A record that agrees is judged
    as it is, and a miss is asked about only after a disagreement."""
    try:
        yield
    except (AssertionError, IndexError, ValueError, StopIteration):  # and lookups in the record
        missed = dump.missed()
        if missed:
            pytest.skip(f"the record of {what} differs from what was sent, and {dump.client} missed {missed} JACK "
                        "cycle(s) meanwhile (the machine stalled): its record is incomplete")
        raise
