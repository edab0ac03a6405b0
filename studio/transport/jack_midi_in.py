"""A MIDI input through a JACK client of our own (the ``JACK-Client`` package): each message
stamped at the frame it was written at, and a close that cannot race JACK's own threads.

python-rtmidi's JACK input, which the DAW follower used before, has two faults here:

* It stamps a message with the time its process callback ran, so every message of a cycle gets
  the cycle's processing time whatever frame the DAW wrote it at: a DAW's clock ticks read up
  to a period early (0-5.3 ms at 256 frames, 0-21 ms at 1024), and the follower, which takes the
  median of its ticks' offsets, puts the studio about half a period early.
* Its close unregisters the port while its client is still active, and JACK's client library
  may at that moment work out latencies over that very port on its notification thread: a
  segmentation fault in ``Jack::JackClient::HandleLatencyCallback`` (gdb; JACK2 issues #216,
  #340), seen in 3 of about 35 runs of the follower tests.

:class:`JackMidiInput` owns a client with one MIDI input port (``name:name``, the name rtmidi's
virtual port had, so a DAW's saved connection still finds it). Its process callback copies each
event with its stamp into a FIFO (a ``collections.deque``: ``append`` and ``popleft`` are atomic)
that the reading thread drains with :meth:`get`. A stamp is the event's unwrapped frame on
``perf_counter_ns`` (the system's monotonic clock): frame x ns per frame plus the lower envelope
of (callback entry - frames x ns per frame) over the last ``ENVELOPE_S`` of cycles. The callback is
Python and may enter late (waiting for the interpreter lock), never early, so the earliest entry
of recent cycles stands for the cycle's start; a late entry does not move the stamps. A slip of
JACK's clock against the system's (the dummy driver woken late) reaches the stamps after
``ENVELOPE_S``.

It closes as the studio's MIDI output does (jack_callback.py): the callback is asked to end and
return non-zero, then the client is deactivated (out of the graph) and closed, which unregisters
the port of a client no longer active.

The price of a Python callback: a cycle it misses loses what the DAW wrote in it (``xruns``
counts them). Beside a busy pure-Python thread nothing was lost (the transport's 1 ms switch
interval); beside a thread holding the interpreter lock in one C call for tens of ms at a time,
most messages were (README, "The follower's own JACK input"), where rtmidi's C callback queues
them. A helper process owning the client would remove that price.
"""
from __future__ import annotations

import time
from collections import deque

from studio.errors import DeviceError
from studio.transport import devices, realtime
from studio.transport.jack_callback import CallbackExit, close_client, open_client
from studio.transport.jack_midi import unwrap

ENVELOPE_S = 0.5  # cycles whose (entry - frame time) the stamps' lower envelope is taken over


class JackMidiInput:
    """A JACK client ``name`` with one MIDI input port ``name``, optionally connected from the
    MIDI output port ``source`` (its name or part of it). :meth:`get` returns the next
    ``(bytes, perf_counter_ns)`` received, or None."""

    def __init__(self, name: str = "Studio Sync", source: str | None = None, max_queued: int = 65536) -> None:
        import jack

        self.client = open_client(name)
        self.port = None  # registered once the client is active (below)
        self.name = self.client.name
        self.port_name = f"{self.name}:{name}"
        self.rate = int(self.client.samplerate)
        self.period = int(self.client.blocksize)
        self._ns_per_frame = 1e9 / self.rate
        self.queue: deque = deque(maxlen=max_queued)  # a reader that stopped cannot fill the memory
        self.received = 0
        self.cycles = 0
        self.xruns = 0  # cycles this client missed (or was run twice in): what the DAW wrote then may be lost
        self.callback_error: str | None = None
        self.shutdown_reason: str | None = None
        self._ref: tuple[int, int] | None = None  # (unwrapped, raw) last_frame_time of the last cycle
        self._bases: deque = deque()  # (unwrapped frame, entry ns - frame ns) of recent cycles
        self._envelope_frames = int(ENVELOPE_S * self.rate)
        self._closed = False
        self.close_hung = False
        self._realtime = realtime.Lease()
        self._exit = CallbackExit()
        self.client.set_process_callback(self._process)
        self.client.set_shutdown_callback(self._shutdown)
        self._realtime.take()  # the callback is Python: the interpreter lock handed over within 1 ms
        try:
            self.client.activate()
            self._exit.activated()
            # the port only now: it is listed as soon as it is registered, and JACK refuses to
            # connect a port of a client not active yet (a DAW or patchbay connecting to "Studio
            # Sync" the moment it appears failed so)
            self.port = self.client.midi_inports.register(name)
            self.port_name = self.port.name
            if source is not None:
                self._connect_from(source)
        except (jack.JackError, DeviceError) as exc:
            self.close()
            if isinstance(exc, DeviceError):
                raise
            raise DeviceError(f"cannot start the JACK MIDI input {name!r}: {exc}") from None

    def _connect_from(self, source: str) -> None:
        ports = [p.name for p in self.client.get_ports(is_midi=True, is_output=True)]
        i = devices.match_port(ports, source)
        if i is None:
            raise DeviceError(f"no MIDI port {source!r} on jack; available: {', '.join(ports) or 'none'}")
        self.client.connect(ports[i], self.port)

    # -- callbacks (JACK threads) ---------------------------------------------------------
    def _process(self, frames: int) -> None:
        self._exit.check()  # close() asked: raises, and JACK ends the thread
        try:
            entered = time.perf_counter_ns()
            raw = self.client.last_frame_time
            ref = self._ref
            L = unwrap(ref, raw)
            if frames != self.period:
                self.period = frames  # the server's block size changed (no missed cycle)
            elif ref is not None and L - ref[0] != frames:
                self.xruns += 1  # a cycle skipped (this callback was late) or seen twice
            self._ref = (L, raw)
            self.cycles += 1
            k = self._ns_per_frame
            bases = self._bases
            bases.append((L, entered - L * k))
            while bases[0][0] < L - self._envelope_frames:
                bases.popleft()
            base = min(b for _, b in bases)
            port = self.port
            if port is None:  # not registered yet
                return
            for offset, data in port.incoming_midi_events():
                self.queue.append((bytes(data), int(base + (L + offset) * k)))
                self.received += 1
        except Exception as exc:  # an exception would stop the callback for good
            self.callback_error = f"{type(exc).__name__}: {exc}"

    def _shutdown(self, status, reason: str) -> None:
        self.shutdown_reason = reason or "the JACK server shut down"

    # -- reading ------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self._closed and self.shutdown_reason is None and self.callback_error is None

    def get(self) -> tuple[bytes, int] | None:
        """The oldest message not read yet with its stamp (perf_counter_ns), or None."""
        try:
            return self.queue.popleft()
        except IndexError:
            return None

    def close(self, timeout_s: float = 5.0) -> None:
        """End the process callback's thread (jack_callback.py), then deactivate and close the
        client, bounded by ``timeout_s`` (:attr:`close_hung` when the server did not answer)."""
        if self._closed:
            return
        self._closed = True
        self.close_hung = close_client(self.client, self._exit, self._realtime, timeout_s, "jack-midi-in-close",
                                       server_gone=self.shutdown_reason is not None)
