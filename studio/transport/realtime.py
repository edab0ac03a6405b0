"""A short GIL switch interval while the transport's real-time threads run.

The audio callback (PortAudio's thread entering Python), the feeder that mixes ahead of it, the
MIDI scheduler and the JACK MIDI client's process callback each need the GIL many times a second. When another thread of the process
runs pure Python (an engine's sampling loop during a regenerate, a project being serialised,
the timeline being laid out), CPython lets it keep the GIL for its whole switch interval, 5 ms
by default, before a waiting thread gets it: about a 256-frame block at 48 kHz. Measured on
the JACK dummy server, 8 stems playing for 8 s beside a busy Python thread: 1,041 underruns
and 545 device xruns at 5 ms, 0 and 1 at 1 ms; beside the rhythm engine's offline generate
22 device xruns and lost MIDI notes at 5 ms, 1 xrun and MIDI within 5.3 ms (p99) at 1 ms; and
closing a JACK MIDI client beside a busy thread at 5 ms could hang for minutes.
Threads that release the GIL often (NumPy, OpenCV, FFmpeg) are not affected either way.

The interval is process-wide, so it is lowered while at least one real-time user holds it and
given back when the last one lets go (unless someone else changed it meanwhile).
"""
from __future__ import annotations

import sys
import threading

SWITCH_INTERVAL_S = 0.001

_lock = threading.Lock()
_holders = 0
_saved: float | None = None


def hold() -> None:
    """A real-time thread starts: the switch interval is at most ``SWITCH_INTERVAL_S`` until the
    matching :func:`release`."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = sys.getswitchinterval()
            if _saved > SWITCH_INTERVAL_S:
                sys.setswitchinterval(SWITCH_INTERVAL_S)
        _holders += 1


def release() -> None:
    """The matching end of :func:`hold`; the last one restores the interval it found."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _saved is not None and _saved > SWITCH_INTERVAL_S \
                and sys.getswitchinterval() == SWITCH_INTERVAL_S:
            sys.setswitchinterval(_saved)
        if _holders == 0:
            _saved = None


class Lease:
    """One owner's hold (an open audio output, an active JACK client): taken and given back
    once however often :meth:`take` / :meth:`give_back` are called, so a reopened device or a
    second close counts once."""

    def __init__(self) -> None:
        self._held = False
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if not self._held:
                hold()
                self._held = True

    def give_back(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                release()


def holders() -> int:
    with _lock:
        return _holders
