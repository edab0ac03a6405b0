"""Sample-accurate MIDI output through a JACK client of our own (the ``JACK-Client`` package).

python-rtmidi's JACK backend writes every message at frame 0 of the next JACK cycle, whenever
the sending thread got to it: the timing error is the thread's jitter plus up to one period.
:class:`JackMidiOutput` instead owns a JACK client with one MIDI output port and writes each
event into the process callback's MIDI buffer at its exact frame offset.

Events are handed over with an *absolute* JACK frame time through a FIFO (a ``collections.deque``:
``append`` and ``popleft`` are atomic, so the sending thread and the callback share it without a
lock). Each cycle the callback clears the port buffer and drains the events due before the cycle
ends: ``offset = due - last_frame_time``; an event already due before the cycle started goes out
at offset 0 and is counted in :attr:`JackMidiOutput.late`; an event without a time (``send``:
"now") goes out at the next cycle, after everything queued before it. Offsets never decrease
within a cycle (JACK refuses out-of-order events), and the queue is kept in time order by
clamping a time earlier than the last queued one to that one.

Frame times: JACK's 32-bit frame counter is unwrapped to a Python int in the callback (it wraps
after ~25 h at 48 kHz). :class:`RunMapping` maps a transport run's unwrapped frames (clock.py)
onto JACK frames: with the audio clock, each audio callback's anchor (block start ``start``,
``perf_counter_ns``) is placed in the JACK cycle it ran in: the cycle whose MIDI process
callback (this client's, woken by the server for the same cycle) entered nearest in time, with
that cycle's exact ``last_frame_time`` (the last ``CYCLE_MEMORY`` cycles are remembered);
``jack_frame_time``, JACK's clock-driven estimate, only when no such callback is within a
period. So ``jack = start + D`` with ``D`` an integer; ``D`` starts as the majority of the first
anchors and follows a strict majority of the last 31 anchors either way: the audio slipped
against JACK time (a skipped cycle, an underrun), which is permanent, while an audio callback
that ran late (the GIL, a busy machine) lands in a later cycle now and then and is outvoted.
(The estimate alone misled it: in a traced 10-minute run, after each burst of xruns the
estimated cycles stepped down one period at a time for 1-2 s and then sat a period early for up
to 5 s, a majority either way, so the MIDI went a period early; a ``D`` that could only grow
would be left a period late for good.) With the system clock (no audio device) ``D`` is the JACK frame at
the run's start. Audio and MIDI are then aligned in the
buffer domain: the MIDI event for frame ``u`` is written in the same JACK cycle, at the same
offset, as the audio sample ``u`` the studio hands to PortAudio (exact when the audio block size
equals the JACK period, the default; with a smaller block it can sit up to a period minus a block
early, constantly).

The process callback is Python (cffi), so it runs under the GIL: it may start late, but the frame
offsets it writes do not depend on when it runs; only an event handed over after its cycle has
passed is late. The sending thread therefore queues events ``horizon`` frames ahead.

No other JACK callback runs Python but the shutdown one (the server died): xruns and block-size
changes are read from the cycles themselves. JACK calls those notifications on the client's
notification thread, which must keep reading what the server sends: parked in Python, waiting
for the GIL, it stopped doing so while another thread held the GIL in a call that waits for the
server (python-rtmidi opening a port does), the server blocked on the full notification socket,
and the process hung for good (seen with a clock-sending port beside a follower being opened).
"""
from __future__ import annotations

import bisect
import time
from collections import Counter, deque

from studio.errors import DeviceError
from studio.transport import realtime
from studio.transport.jack_callback import CallbackExit, close_client, open_client

_WRAP = 1 << 32
_HALF = 1 << 31


def jack_client_missing_reason() -> str | None:
    """None when the JACK-Client package and libjack can be loaded, else why not."""
    try:
        import jack  # noqa: F401  (raises OSError when libjack is missing)
    except ImportError as exc:
        return f"JACK-Client is not installed ({exc}); pip install JACK-Client"
    except OSError as exc:
        return f"libjack is missing ({exc}); apt install libjack-jackd2-0"
    return None


def _signed32(d: int) -> int:
    d &= _WRAP - 1
    return d - _WRAP if d >= _HALF else d


def unwrap(ref: tuple[int, int] | None, raw: int) -> int:
    """JACK's 32-bit frame count ``raw`` as an unwrapped one, from the last (unwrapped, raw)
    pair ``ref`` seen (``raw`` itself when there is none yet)."""
    return raw if ref is None else ref[0] + _signed32(raw - ref[1])


class JackMidiOutput:
    """A JACK client ``name`` with one MIDI output port ``name`` (``name:name``), optionally
    connected to ``target``; events are written at their frame by the process callback."""

    CYCLE_MEMORY = 256  # cycles whose start time and frame are kept (1.4 s at 256 frames, 48 kHz)

    def __init__(self, name: str = "Studio", target: str | None = None, horizon_s: float = 0.012) -> None:
        import jack

        self._jack = jack
        self.client = open_client(name)
        self.port = None  # registered once the client is active (below)
        self.name = self.client.name
        self.port_name = f"{self.name}:{name}"
        self.rate = int(self.client.samplerate)
        self.period = int(self.client.blocksize)
        self.horizon_s = float(horizon_s)
        self.queue: deque = deque()
        self.late = 0  # timed events written after their cycle had passed (at offset 0)
        self.written = 0
        self.lost = 0  # events the port buffer refused (full)
        self.cycles = 0
        self.xruns = 0  # cycles this client missed (or was run twice in): its own xruns
        self.callback_error: str | None = None
        self.shutdown_reason: str | None = None
        self._last_due = 0  # latest absolute time queued (keeps the FIFO in time order)
        self._ref: tuple[int, int] | None = None  # (unwrapped, raw) last_frame_time of the last cycle
        # (perf_counter_ns at the process callback's entry, unwrapped last_frame_time) of recent cycles
        self._cycle_log: deque = deque(maxlen=self.CYCLE_MEMORY)
        self._closed = False
        self.close_hung = False  # close() gave up waiting for the server to deactivate the client
        self._realtime = realtime.Lease()
        self._exit = CallbackExit()
        self.client.set_process_callback(self._process)
        self.client.set_shutdown_callback(self._shutdown)
        # the process callback is Python on JACK's real-time thread: it must not wait 5 ms for
        # the GIL every cycle (beside a busy Python thread, deactivate() then hung for minutes)
        self._realtime.take()
        try:
            self.client.activate()
            self._exit.activated()
            # the port only now: JACK refuses to connect a port of a client not active yet, and a
            # patchbay connects one the moment it is listed (jack_midi_in.py, where that failed)
            self.port = self.client.midi_outports.register(name)
            self.port_name = self.port.name
            raw = int(self.client.frame_time)
            if self._ref is None:
                self._ref = (raw, raw)
            if target is not None:
                self.client.connect(self.port, target)
        except jack.JackError as exc:
            self.close(drain_s=0)
            raise DeviceError(f"cannot start the JACK MIDI output {name!r}: {exc}") from None

    # -- callbacks (JACK threads) ---------------------------------------------------------
    def _process(self, frames: int) -> None:
        self._exit.check(self._silence)  # close() asked: raises, and JACK ends the thread
        try:
            entered = time.perf_counter_ns()
            port = self.port
            if port is not None:  # (not registered yet in the first cycles)
                port.clear_buffer()
            raw = self.client.last_frame_time
            ref = self._ref
            L = unwrap(ref, raw)
            self._ref = (L, raw)  # one assignment: readers see a consistent pair
            self._cycle_log.append((entered, L))
            if frames != self.period:
                self.period = frames  # the server's block size changed
            elif self.cycles and L - ref[0] != frames:  # ref: the last cycle's start, from the 2nd on
                self.xruns += 1  # a cycle skipped (this callback was late) or seen twice
            self.cycles += 1
            if port is None:
                return
            q = self.queue
            end = L + frames
            last = 0
            while q:
                due, data = q[0]
                if due is not None and due >= end:
                    break
                q.popleft()
                if due is None:
                    off = last
                else:
                    off = due - L
                    if off < 0:
                        off = 0
                        self.late += 1
                    if off < last:
                        off = last
                try:
                    port.write_midi_event(off, data)
                    self.written += 1
                except self._jack.JackError:
                    self.lost += 1
                last = off
        except Exception as exc:  # an exception would stop the callback for good
            self.callback_error = f"{type(exc).__name__}: {exc}"

    def _silence(self) -> None:
        port = self.port
        if port is not None:
            port.clear_buffer()

    def _shutdown(self, status, reason: str) -> None:
        self.shutdown_reason = reason or "the JACK server shut down"

    # -- time ---------------------------------------------------------------------------------
    def frame_now(self) -> tuple[float, int]:
        """(estimated unwrapped JACK frame, perf_counter_ns) for the same instant."""
        for _ in range(5):
            t1 = time.perf_counter_ns()
            raw = int(self.client.frame_time)
            t2 = time.perf_counter_ns()
            if t2 - t1 < 200_000:  # not pre-empted between the two reads
                break
        return float(unwrap(self._ref, raw)), (t1 + t2) // 2

    def frame_at_ns(self, t_ns: int) -> float:
        """Unwrapped JACK frame (estimate) at ``perf_counter_ns`` time ``t_ns``."""
        j, now = self.frame_now()
        return j - (now - t_ns) * 1e-9 * self.rate

    def cycle_at_ns(self, t_ns: int) -> int:
        """Start frame of the JACK cycle running at ``t_ns`` (another client's process callback
        entered then): the cycle whose process callback here entered nearest to it, when one did
        within a period; else ``jack_frame_time``'s estimate snapped to the callback's grid."""
        log = list(self._cycle_log)  # one C-level copy under the GIL: the callback cannot append meanwhile
        if log:
            k = bisect.bisect_left(log, (t_ns,))
            near = min(log[max(0, k - 1):k + 1], key=lambda c: abs(c[0] - t_ns))
            if abs(near[0] - t_ns) < self.period * 1e9 / self.rate:
                return near[1]
        j = self.frame_at_ns(t_ns)
        L = self._ref[0]
        return L + int((j - L) // self.period) * self.period

    @property
    def horizon_frames(self) -> int:
        return max(2 * self.period, int(self.horizon_s * self.rate))

    # -- sending ------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self._closed and self.shutdown_reason is None and self.callback_error is None

    def send_at(self, msg, frame: int) -> None:
        """Queue ``msg`` for unwrapped JACK frame ``frame`` (not before what is queued already)."""
        frame = int(frame)
        if frame < self._last_due:
            frame = self._last_due
        self._last_due = frame
        self.queue.append((frame, bytes(msg)))

    def send(self, msg) -> None:
        """Queue ``msg`` for the next cycle, after everything queued before it."""
        self.queue.append((None, bytes(msg)))

    def pending(self) -> int:
        return len(self.queue)

    def drain(self, timeout_s: float = 1.0) -> bool:
        """Wait until every queued event has been written (and its cycle is over)."""
        deadline = time.monotonic() + timeout_s
        while self.queue and self.alive and time.monotonic() < deadline:
            time.sleep(0.002)
        c = self.cycles
        while self.cycles < c + 2 and self.alive and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self.queue

    # -- connections --------------------------------------------------------------------------
    def input_ports(self) -> list[str]:
        return [p.name for p in self.client.get_ports(is_midi=True, is_input=True)]

    def connect(self, target: str) -> None:
        try:
            self.client.connect(self.port, target)
        except self._jack.JackError as exc:
            if target not in [p.name for p in self.port.connections]:
                raise DeviceError(f"cannot connect {self.port_name} to {target}: {exc}") from None

    def close(self, drain_s: float = 1.0, timeout_s: float = 5.0) -> None:
        """Let queued events go out (up to ``drain_s``), end the process callback's thread
        (jack_callback.py: JACK must not cancel it inside Python), then deactivate and close the
        client; a server that does not answer is left to it after ``timeout_s``
        (:attr:`close_hung`)."""
        if self._closed:
            return
        if drain_s and self.shutdown_reason is None:
            self.drain(drain_s)
        self._closed = True
        self.close_hung = close_client(self.client, self._exit, self._realtime, timeout_s, "jack-midi-close",
                                       server_gone=self.shutdown_reason is not None)


class RunMapping:
    """Maps one transport run's unwrapped frames (clock.py) to JACK frames for ``out``: ``D``, the
    JACK cycle of an audio callback minus the run frame it starts, voted over the last
    ``WINDOW`` callbacks. A strict majority moves ``D`` either way: up when the audio slipped (a
    cycle the callback missed), down when a run of late-measured callbacks had outvoted the
    true offset for a while and has passed (a ``D`` that could only grow kept the MIDI a period
    late for good after such a run)."""

    WINDOW = 31
    FIRST = 3  # anchors seen before the first mapping (one late callback cannot decide it)

    def __init__(self, out: JackMidiOutput, clock) -> None:
        self.out, self.clock = out, clock
        self.D: float | None = None
        self.first_D: float | None = None  # the run's first offset (before any of ``changes``)
        self._seen = 0
        self._votes: deque = deque(maxlen=self.WINDOW)
        self.changes: list[tuple[int, int]] = []  # (anchor perf_counter_ns, new D): audio slips

    def frame(self, u: float) -> int | None:
        """JACK frame of unwrapped frame ``u``; None until the run's clock has started."""
        self.update()
        return None if self.D is None else int(round(u + self.D))

    def update(self) -> None:
        clock = self.clock
        if clock.ctl is None:  # system clock: fixed at the run's start
            if self.D is None and clock.running:
                self.D = self.out.frame_at_ns(clock.origin_ns)
            return
        start, _frames, tns = clock.anchor()
        if tns == 0 or tns == self._seen:
            return
        self._seen = tns
        self._votes.append(self.out.cycle_at_ns(tns) - start)
        if len(self._votes) < self.FIRST:
            return
        counts = Counter(self._votes)
        best, n = counts.most_common(1)[0]
        if self.D is None:
            self.D = self.first_D = best if n * 2 > len(self._votes) else min(self._votes)
        elif best != self.D and n * 2 > len(self._votes):
            self.D = best
            self.changes.append((tns, best))  # the audio slipped against JACK time (or back)

