"""MIDI output: a port (virtual "Studio" or an existing one) and a scheduler thread.

The scheduler sends note and clock events at their time against the master clock: it sleeps
coarsely until shortly before an event, then in short steps until the clock says the frame is
heard (``MasterClock.heard_frames() >= u``), so it follows the audio callback instead of
accumulating ``time.sleep`` drift. MIDI clock (24 ppqn, following the tempo map) is sent with
Song Position Pointer and Start/Continue/Stop so a DAW follows. Note integrity (``NoteTracker``):
every note-on sent gets exactly one note-off and no note-off goes to a silent key, whatever the
overlaps; same-pitch overlaps retrigger (note-off, then the new note-on; the key's note-off goes
out when the last of its notes ends). Sounding notes get their note-off (and every used channel
sustain off and All Notes Off, CC 64/123) on stop, seek, loop wrap, a scheduler error and close.
A port that vanishes is reported and re-opened when it comes back; sends meanwhile are dropped.
"""
from __future__ import annotations

import atexit
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from studio.errors import DeviceError
from studio.music import Note, TempoMap
from studio.transport import realtime
from studio.transport.clock import MasterClock, Timeline
from studio.transport.devices import choose_midi_api, match_port, open_rtmidi_port
from studio.transport.jack_midi import JackMidiOutput, RunMapping, jack_client_missing_reason

CLOCK, START, CONTINUE, STOP, SPP = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
# JACK MIDI (sample-accurate) is chosen by itself only from this period on: its process callback is
# Python and needs the GIL every period; `studio bench transport` on 2 cores: at 256 and 512 frames
# note-on p99 0.000 ms with and without a CPU hog (rtmidi 4.5-5.6 ms); at 64 and 128 it misses
# cycles (xruns, events late, once a lost note-off) and does no better than rtmidi
JACK_MIN_PERIOD = 256
_PRIO_CLOCK, _PRIO_OFF, _PRIO_ON, _PRIO_OFF_OF_EMPTY = 0, 1, 2, 3


@dataclass(frozen=True)
class MidiPart:
    """Notes of one track; ``channel`` (0..15) overrides the notes' own channel when given."""

    notes: Sequence[Note]
    channel: int | None = None
    name: str = ""


class NoteTable:
    """All parts' note-on/off messages sorted by time (off before on at the same time, except the
    off of a zero-length note, which follows its own on); ``ids[k]`` is the note of message k."""

    def __init__(self, parts: Iterable[MidiPart]) -> None:
        rows = []
        for part in parts:
            for n in part.notes:
                ch = n.channel if part.channel is None else part.channel
                nid = len(rows)
                rows.append((n.start_s, _PRIO_ON, 0x90 | ch, n.pitch, n.velocity, nid))
                prio = _PRIO_OFF if n.end_s > n.start_s else _PRIO_OFF_OF_EMPTY
                rows.append((max(n.end_s, n.start_s), prio, 0x80 | ch, n.pitch, 0, nid))
        rows.sort(key=lambda r: (r[0], r[1]))
        self.times = np.array([r[0] for r in rows], float)
        self.msgs = [list(r[2:5]) for r in rows]
        self.ids = [r[5] for r in rows]
        self.channels = sorted({m[0] & 0x0F for m in self.msgs})

    @property
    def end_s(self) -> float:
        return float(self.times[-1]) if self.times.size else 0.0

    def between(self, t0: float, t1: float) -> Iterator[tuple[float, list[int]]]:
        return ((t, m) for t, m, _ in self.between_ids(t0, t1))

    def between_ids(self, t0: float, t1: float) -> Iterator[tuple[float, list[int], int]]:
        """(time, message, note id) of the messages in [t0, t1)."""
        i, j = np.searchsorted(self.times, [t0, t1], side="left")
        for k in range(i, j):
            yield float(self.times[k]), self.msgs[k], self.ids[k]


class NoteTracker:
    """The keys (channel, pitch) sounding on a port and the notes that hold each, so that every
    note-on sent gets exactly one note-off and no note-off goes to a key that is not sounding.

    Same-pitch overlaps retrigger: a note-on for a key that already sounds sends the key's
    note-off first, then the new note-on (a synth never holds two voices of one key); the key
    stays held until the last of its notes has ended, and only that end sends the note-off.
    A note-off whose note-on was not sent through this tracker (it was before a seek, or cut
    by a stop or a loop wrap, which ``release`` the keys) sends nothing. ``messages`` maps each
    wanted message to the ones to send; without a note id an off ends the key's oldest note."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], list] = {}
        self._lock = threading.Lock()

    def messages(self, msg: list[int], note_id=None) -> list[list[int]]:
        st = msg[0] & 0xF0
        if st not in (0x80, 0x90):
            return [msg]
        key = (msg[0] & 0x0F, msg[1])
        off = [0x80 | key[0], key[1], 0]
        with self._lock:
            holders = self._held.get(key)
            if st == 0x90 and msg[2] > 0:
                self._held.setdefault(key, []).append(note_id)
                return [off, msg] if holders else [msg]
            if not holders or (note_id is not None and note_id not in holders):
                return []
            holders.remove(holders[0] if note_id is None else note_id)
            if holders:
                return []
            del self._held[key]
            return [off]

    def release(self) -> list[list[int]]:
        """The note-offs of every sounding key (in key order); nothing sounds afterwards."""
        with self._lock:
            keys, self._held = sorted(self._held), {}
        return [[0x80 | ch, pitch, 0] for ch, pitch in keys]

    @property
    def sounding(self) -> list[tuple[int, int]]:
        with self._lock:
            return sorted(self._held)


class MidiPort:
    """One MIDI output: a virtual port named ``name`` (default), or the existing ``port``.

    On JACK (``api`` "jack", chosen automatically when a JACK server runs and there is no ALSA
    sequencer) it is a JACK client of our own that writes each event at its exact frame
    (jack_midi.py, ``backend`` "jack"); elsewhere, or when JACK-Client/libjack is missing, it is
    python-rtmidi (``backend`` "rtmidi", which can also be asked for). ``timed`` tells whether
    ``send_at`` (a JACK frame) is sample-accurate; ``send`` is "now" on both."""

    def __init__(self, port: str | None = None, name: str = "Studio", api: str | None = None,
                 backend: str | None = None) -> None:
        if backend not in (None, "auto", "jack", "rtmidi"):
            raise DeviceError(f"unknown MIDI backend {backend!r}; choose jack or rtmidi")
        self.api = choose_midi_api(api)
        self.name, self.target = name, port
        self.error: str | None = None  # why sends are being dropped, None when fine
        self.sent = 0
        self.dropped = 0
        self.backend = "rtmidi"
        self.fallback_reason: str | None = None  # why JACK MIDI was not used on a JACK api
        self._out = None
        self._jack: JackMidiOutput | None = None
        self._lock = threading.Lock()  # serialises sends between scheduler and control thread
        if self.api == "jack" and backend != "rtmidi":
            self.fallback_reason = jack_client_missing_reason()
            if self.fallback_reason is None:
                self._open_jack(forced=backend == "jack")
            elif backend == "jack":
                raise DeviceError(self.fallback_reason)
        elif backend == "jack":
            raise DeviceError(f"JACK MIDI asked for, but the MIDI API is {self.api}")
        if self._jack is None:
            self._open()
        _open_ports.add(self)

    @property
    def label(self) -> str:
        return f"{self.target or self.name + ' (virtual)'} [{self.api}]"

    @property
    def timed(self) -> bool:
        """True when events can be given a JACK frame (``send_at``) and are written at it."""
        return self._jack is not None

    @property
    def jack(self) -> JackMidiOutput | None:
        return self._jack

    def _open_jack(self, forced: bool) -> None:
        out = JackMidiOutput(self.name)  # DeviceError when it cannot open
        if out.period < JACK_MIN_PERIOD and not forced:
            self.fallback_reason = (f"JACK runs {out.period}-frame periods; below {JACK_MIN_PERIOD} the "
                                    "Python process callback misses cycles, so python-rtmidi serves")
            out.close(drain_s=0)
            return
        if self.target is not None:
            ports = out.input_ports()
            i = match_port(ports, self.target)
            try:
                if i is None:
                    raise DeviceError(f"no MIDI port {self.target!r} on jack; available: {', '.join(ports) or 'none'}")
                out.connect(ports[i])
            except DeviceError:
                out.close(drain_s=0)
                raise
        self._jack = out
        self.backend = "jack"

    def _open(self) -> None:
        self._out = open_rtmidi_port("out", self.api, self.name, self.target)

    def _usable(self) -> bool:
        if self._jack is not None:
            if not self._jack.alive and self.error is None:
                why = self._jack.shutdown_reason or self._jack.callback_error or "closed"
                self.error = f"MIDI port {self.label} failed: {why}"
            return self.error is None
        return self._out is not None and self.error is None

    def connected(self) -> bool | None:
        """Whether something listens: True for an existing port we opened (``port=``); for the
        virtual port on JACK (our own client) whether any port is connected to it; None when it
        cannot be told (rtmidi's virtual port): the scheduler then assumes it is connected."""
        if self.target is not None:
            return self._jack is not None or self._out is not None
        if self._jack is not None:
            try:
                return self._jack.port.number_of_connections > 0
            except Exception:
                return False
        return None

    def send(self, msg: list[int]) -> bool:
        """Send now (JACK: at the next cycle, after everything queued before)."""
        with self._lock:
            if not self._usable():
                self.dropped += 1
                return False
            try:
                if self._jack is not None:
                    self._jack.send(msg)
                else:
                    self._out.send_message(msg)
            except Exception as exc:
                self.error = f"MIDI port {self.label} failed: {exc}"
                self.dropped += 1
                return False
            self.sent += 1
            return True

    def send_at(self, msg: list[int], frame: int) -> bool:
        """Send at unwrapped JACK frame ``frame`` (``timed`` ports only; see jack_midi.py)."""
        with self._lock:
            if not self._usable():
                self.dropped += 1
                return False
            self._jack.send_at(msg, frame)
            self.sent += 1
            return True

    def _present(self) -> tuple[bool, str]:
        try:
            ports = self._jack.input_ports() if self._jack is not None else self._out.get_ports()
            return match_port(ports, self.target) is not None, "it disappeared"
        except Exception as exc:
            return False, str(exc)

    def check(self) -> str | None:
        """Notice a vanished destination (and re-open it when it is back); returns the error."""
        if self._jack is not None:
            self._usable()
            if self._jack.shutdown_reason is not None or self._jack.callback_error is not None:
                return self.error
        if self.target is None or (self._out is None and self._jack is None):
            return self.error
        present, why = self._present()
        with self._lock:
            if not present and self.error is None:
                self.error = f"MIDI port {self.label} is gone ({why}); notes are dropped until it returns"
            elif present and self.error is not None:
                try:
                    if self._jack is not None:
                        ports = self._jack.input_ports()
                        self._jack.connect(ports[match_port(ports, self.target)])
                    else:
                        self._out.close_port()
                        self._out.open_port(match_port(self._out.get_ports(), self.target), self.name)
                    self.error = None
                except Exception as exc:
                    self.error = f"MIDI port {self.label} is back but cannot be re-opened: {exc}"
        return self.error

    def all_notes_off(self, channels: Iterable[int] = range(16)) -> None:
        for ch in channels:
            self.send([0xB0 | ch, 64, 0])  # sustain off
            self.send([0xB0 | ch, 123, 0])  # all notes off

    def close(self) -> None:
        if self._out is None and self._jack is None:
            return
        self.all_notes_off()
        with self._lock:
            out, self._out = self._out, None
            jack_out, self._jack = self._jack, None
        if jack_out is not None:
            jack_out.close()  # writes what is queued (the all notes off included) first
        if out is not None:
            try:
                out.close_port()
                out.delete()
            except Exception:
                pass
        _open_ports.discard(self)


_open_ports: "weakref.WeakSet[MidiPort]" = weakref.WeakSet()


@atexit.register
def _close_all_ports() -> None:  # all notes off on exit, whatever happened before
    for port in list(_open_ports):
        port.close()


def _spp(sixteenth: int) -> list[int]:
    s = max(0, min(int(sixteenth), 0x3FFF))
    return [SPP, s & 0x7F, s >> 7]


LATE_S = 0.005  # an event sent (or handed to JACK) this long after its time counts as late


class MidiScheduler:
    """Sends a run's notes (and MIDI clock) on its own thread, timed by the master clock.

    MIDI clock: 24 ticks per quarter note at the tempo map's times, each at its frame of the run
    (on a timed JACK port written at that JACK frame; on rtmidi sent when the audio clock has
    heard that frame), so the clock is the audio sample clock and cannot drift from it. The DAW
    is told where to start only while something listens (``MidiPort.connected``): SPP then Start
    (song position 0, the first downbeat = bar 1: a pickup's notes go out before it) or Continue
    go out on the first sixteenth at which the port is connected, immediately before that
    sixteenth's clock tick; a port nobody listens to gets no position, Start or clock, so a DAW
    that connects mid-run is positioned on the next sixteenth, and again after it reconnects.
    On JACK, after an xrun (events written in that cycle may never reach the reader: a lost
    tick would leave the DAW a tick behind for good) or an audio slip, the DAW is positioned
    again on the next sixteenth: Stop, SPP, Continue, then the tick (``resyncs`` counts them).

    Health: ``late_events`` (events sent more than ``LATE_S`` after their time), ``stalls``
    (runs of late events: one per hiccup), ``max_late_ms`` and ``errors`` (runs whose thread
    ended with an exception, ``error`` says why) are cumulative; the transport reports them."""

    def __init__(self, port: MidiPort, send_clock: bool = True, lead_s: float = 0.0) -> None:
        self.port, self.send_clock, self.lead_s = port, send_clock, lead_s
        self.table = NoteTable(())
        self.tempo = TempoMap()
        self.log: list[tuple[float, float, list[int]]] | None = None  # (song s, unwrapped s, msg)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.notes = NoteTracker()
        self.error: str | None = None  # why the last run's thread ended early, None when fine
        self.errors = 0
        self.mapping: RunMapping | None = None  # the last run's frame mapping (timed ports)
        self.daw_started = False  # SPP + Start/Continue went out in this run (someone listens)
        self.late_events = 0
        self.stalls = 0
        self.max_late_ms = 0.0
        self.test_hook = None  # tests: called before each event is sent (inject a stall or an error)
        self._was_late = False
        self.resyncs = 0  # Stop + SPP + Continue sent after an xrun (cumulative)
        self._resync = False

    def set_parts(self, parts: Iterable[MidiPart], tempo: TempoMap) -> None:
        self.table, self.tempo = NoteTable(parts), tempo

    # -- run control (control thread) ------------------------------------------------------
    def start_run(self, timeline: Timeline, clock: MasterClock) -> None:
        self.stop_run()
        self._stop.clear()
        self.daw_started = False
        self._thread = threading.Thread(target=self._run, args=(timeline, clock), daemon=True, name="midi-scheduler")
        self._thread.start()

    def stop_run(self) -> None:
        """Stop sending; sounding notes get their note-off, a started DAW a Stop."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(2.0)
        self._thread = None
        self._silence()
        if self.send_clock and self.daw_started:
            self.port.send([STOP])
        self.daw_started = False

    def _out(self, msg: list[int], at: int | None) -> None:
        """Send now (``at`` None) or at JACK frame ``at`` (timed ports)."""
        if at is None:
            self.port.send(msg)
        else:
            self.port.send_at(msg, at)

    def _silence(self, at: int | None = None) -> None:
        """Note-off for every sounding key, then sustain off and All Notes Off on every channel
        the parts use; the tracker starts empty again. On a timed port ``at`` is the JACK frame
        (None: after what is queued, which the tracker has already counted)."""
        for msg in self.notes.release():
            self._out(msg, at)
        if at is None:
            self.port.all_notes_off(self.table.channels)
        else:
            for ch in self.table.channels:
                self._out([0xB0 | ch, 64, 0], at)
                self._out([0xB0 | ch, 123, 0], at)

    # -- the thread --------------------------------------------------------------------------
    def _events(self, timeline: Timeline) -> Iterator[tuple[int, float, list[int], object]]:
        """(run frame, song time, message, note id / clock tick index or None) for the whole
        run, in order; lazily. Run frames are unwrapped frames unless the run has varispeed
        (then ``timeline.u_of`` maps them, at the time of sending, through the rate map)."""
        sr = timeline.sample_rate
        for seg in timeline.segments():
            t0 = seg.pos0 / sr
            t1 = (seg.pos0 + seg.frames) / sr if seg.frames < Timeline.OPEN else float("inf")
            notes = self.table.between_ids(t0, t1)
            ticks = self._clock_events(t0, t1) if self.send_clock else iter(())
            for t, msg, nid in _merge(notes, ticks):
                yield seg.u0 + int(round((t - t0) * sr)), t, msg, nid
            if seg.frames >= Timeline.OPEN:
                return
            yield seg.u0 + seg.frames, t1, [-1], None  # wrap marker: silence, re-position the DAW

    def _clock_events(self, t0: float, t1: float) -> Iterator[tuple[float, list[int], "_Tick"]]:
        """Clock ticks in [t0, t1) from the first sixteenth at or after ``t0`` on (the DAW
        positions on sixteenths; in a pickup that is the first downbeat, song position 0)."""
        tempo = self.tempo
        b0 = tempo.beat_at(t0)
        k = 6 * max(0, int(np.ceil(b0 * 4 - 1e-6)))
        while True:
            t = tempo.time_at(k / 24)
            if t >= t1:
                return
            yield t, [CLOCK], _Tick(k)
            k += 1

    def _messages(self, msg: list[int], nid) -> list[list[int]]:
        """What to send for one event: a note through the tracker; a clock tick as itself, or
        with SPP and Start/Continue before it when the DAW is to be positioned now, or nothing
        while nobody listens."""
        if not isinstance(nid, _Tick):
            return self.notes.messages(msg, nid)
        connected = getattr(self.port, "connected", None)  # stand-in ports may not tell
        if connected is not None and connected() is False:
            self.daw_started = False  # position it again when it (re)connects
            return []
        k = nid.k
        if self.daw_started:
            if self._resync and k % 6 == 0:  # ticks may have been lost: position the DAW again
                self._resync = False
                self.resyncs += 1
                return [[STOP], _spp(k // 6), [CONTINUE], msg]
            return [msg]
        if k % 6:
            return []  # positions are sixteenths: wait for the next one
        self.daw_started = True
        return [_spp(k // 6), [START] if k == 0 else [CONTINUE], msg]

    def _late(self, late_s: float) -> None:
        """Count an event sent ``late_s`` after its time (late beyond LATE_S)."""
        if late_s > LATE_S:
            self.late_events += 1
            self.max_late_ms = max(self.max_late_ms, late_s * 1e3)
            if not self._was_late:
                self.stalls += 1
            self._was_late = True
        else:
            self._was_late = False

    def _run(self, timeline: Timeline, clock: MasterClock) -> None:
        self.error = None
        self._was_late = False
        realtime.hold()  # events go out on time beside Python-heavy threads (see realtime)
        try:
            self._send_run(timeline, clock)
        except Exception as exc:  # nothing may keep sounding after the thread is gone
            self.error = f"MIDI scheduler failed: {exc}"
            self.errors += 1
            try:
                self._silence()
            except Exception:  # the port itself failed: close() retries its All Notes Off
                pass
        finally:
            realtime.release()

    def _send_run(self, timeline: Timeline, clock: MasterClock) -> None:
        if getattr(self.port, "timed", False):
            return self._send_run_timed(timeline, clock)
        sr, lead = timeline.sample_rate, self.lead_s * timeline.sample_rate
        for v, t, msg, nid in self._events(timeline):
            if not self._wait_until(clock, v, timeline, lead):
                return
            if self.test_hook is not None:
                self.test_hook()
            u = timeline.u_of(v)
            self._late((clock.heard_frames() - (u - lead)) / sr)
            if msg[0] == -1:
                self._silence()
                if self.send_clock and self.daw_started:
                    self.port.send([STOP])
                self.daw_started = False
                continue
            for out in self._messages(msg, nid):
                self.port.send(out)
                if self.log is not None:
                    self.log.append((t, u / sr, out))

    def _send_run_timed(self, timeline: Timeline, clock: MasterClock) -> None:
        """JACK: each event is handed to the port's process callback ``horizon`` frames before
        its JACK frame (the run's frames mapped by :class:`RunMapping`), which writes it at that
        frame. What is queued goes out even when the run stops meanwhile (at most the horizon
        ahead), so the tracker's view stays what the port really sends; the stop's note-offs
        follow it. An event handed over after the cycle that holds its frame began is late."""
        sr, lead = timeline.sample_rate, self.lead_s * timeline.sample_rate
        out = self.port.jack
        mapping = self.mapping = RunMapping(out, clock)
        self._resync = False
        seen = (out.xruns, 0)
        for v, t, msg, nid in self._events(timeline):
            f = self._wait_frame(mapping, out, v, timeline, lead)
            if f is None:
                return
            u = timeline.u_of(v)
            now = (out.xruns, len(mapping.changes))
            if now != seen:  # an xrun (what was written in it may be lost) or the audio slipped
                seen, self._resync = now, self.daw_started
            if self.test_hook is not None:
                self.test_hook()
            self._late((out.frame_now()[0] + out.period - f) / sr)
            if msg[0] == -1:
                self._silence(at=f)
                if self.send_clock and self.daw_started:
                    self.port.send_at([STOP], f)
                self.daw_started = False
                continue
            for m in self._messages(msg, nid):
                self.port.send_at(m, f)
                if self.log is not None:
                    self.log.append((t, u / sr, m))

    def _wait_frame(self, mapping: RunMapping, out: JackMidiOutput, v: float, timeline: Timeline,
                    lead: float = 0.0) -> int | None:
        """Block until the JACK frame of run frame ``v`` (less ``lead`` frames) is within the
        port's horizon; that frame, or None when the run is stopped meanwhile. With varispeed
        the run frame's unwrapped frame is asked again each time (the rate may change)."""
        sr = out.rate
        while not self._stop.is_set():
            f = mapping.frame(timeline.u_of(v) - lead)
            if f is None:  # no audio callback yet in this run
                self._stop.wait(0.001)
                continue
            left = f - out.horizon_frames - out.frame_now()[0]
            if left <= 0:
                return f
            self._stop.wait(min(max(left / sr, 0.0005), 0.02))
        return None

    def _wait_until(self, clock: MasterClock, v: float, timeline: Timeline, lead: float = 0.0) -> bool:
        """Block until run frame ``v`` (less ``lead`` frames) is heard; False when the run is
        stopped meanwhile. With varispeed its unwrapped frame is asked again each time."""
        while not self._stop.is_set():
            u = timeline.u_of(v) - lead
            now = time.perf_counter_ns()
            if clock.heard_frames(now) >= u:
                return True
            due = clock.wall_ns_of(u)
            left = 0.005 if due is None else (due - now) * 1e-9
            if left > 0.003:
                self._stop.wait(min(left - 0.002, 0.02))
            else:
                time.sleep(0.0002 if left > 0.0004 else 0.00005)
        return False


@dataclass(frozen=True)
class _Tick:
    """A MIDI clock tick's index in the song (24 per quarter note from the first downbeat)."""

    k: int


def _merge(notes: Iterator, ticks: Iterator) -> Iterator[tuple[float, list[int], int | None]]:
    """Merge time-ordered (t, msg, note id) notes and (t, msg, tick) clock ticks; ticks first
    at equal times."""
    import heapq

    merged = heapq.merge(((t, 1, m, i) for t, m, i in notes), ((t, 0, m, k) for t, m, k in ticks),
                         key=lambda e: (e[0], e[1]))
    return ((t, m, i) for t, _, m, i in merged)
