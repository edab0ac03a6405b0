"""Follow the DAW: the DAW's MIDI clock (or MIDI Time Code) drives the studio's transport, so a
creator presses play in the DAW and the video and the generated parts play in step with it.

:class:`SyncDecoder` turns incoming bytes into events (pure, no I/O):

* MIDI clock (24 ticks per quarter note), Start / Continue / Stop and Song Position Pointer
  (sixteenths), read as the studio writes them (transport/midi.py): song position 0 is the first
  downbeat (bar 1), so the DAW's bar 1 is the video's first downbeat, beats follow the project's
  tempo map. After Start (position 0) or Continue (the position an SPP set, or where Stop left
  it) the slave starts on the next clock tick, which stands for that position; every further
  tick is 1/24 beat later (the MIDI 1.0 rules).
* MIDI Time Code: quarter frames (8 pieces, two frames) and the full-frame SysEx a DAW sends on a
  locate. The time is read at piece 7 (two frames after piece 0's time, less a quarter frame),
  in seconds of the video plus ``mtc_offset_s`` (a DAW starting at 01:00:00:00 wants 3600).
  MTC has no Stop: quarter frames that cease for ``MTC_TIMEOUT_FRAMES`` frames mean stopped.

:class:`DawFollower` applies the events to a :class:`~studio.transport.Transport`: a locate seeks,
a start seeks to the position the DAW has reached by the time the event is handled (its age is
added) and plays, Stop pauses where the DAW stopped. While running it compares, tick by tick,
where the transport is with where the DAW says it is; when the median of the last half beat of
those differences (ticks arrive with the receiving thread's jitter) leaves ``tolerance_s`` it
seeks back onto the DAW (``resyncs``). It measures the DAW's tempo from the ticks and says so when
it differs from the project's (then the DAW's beats and the video's drift apart between resyncs:
import the project's tempo map, the SMF or the REAPER project, into the DAW). With ``varispeed``
it chases the DAW's speed instead: the transport plays at a rate (video, audio resampled with
its pitch, MIDI) set from the DAW's measured speed and a PI phase correction, seeking only
beyond ``resync_s`` (see :class:`DawFollower`).

:class:`SyncInput` is the port: a virtual MIDI input "Studio Sync" (or an existing port). On JACK
it is a client of our own (jack_midi_in.py: each message stamped at the frame the DAW wrote it,
and closed deactivated first, which python-rtmidi's JACK input could not do: it stamped a cycle's
messages with the cycle's processing time, up to a period early, and crashed JACK's latency
callback now and then as it closed). The follower then takes each stamp one output latency later
(``DawFollower.stamped_at_written_frames``): the DAW's audio for that frame is heard then, as the
studio's own, and the transport reports what is heard. Elsewhere (ALSA sequencer, CoreMIDI,
WinMM), without JACK-Client, and below 256-frame periods it is python-rtmidi. A thread of its own
takes the messages from the input's queue every millisecond (no Python callback on rtmidi's
thread: on JACK rtmidi calls it on JACK's real-time thread, and python-rtmidi's
``cancel_callback`` frees the callable while that thread may be about to call it: a fresh-clone
CI run crashed there), stamps rtmidi's messages on ``perf_counter_ns`` with the time the MIDI
API's own thread took them (rtmidi's times between messages, placed by the earliest take: a take
is only ever late, by the poll period or, on a busy machine, by tens of ms waiting for the
interpreter lock, enough to bend a measured speed by per cents) and hands them to the follower.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass

from studio.errors import DeviceError
from studio.transport.devices import choose_midi_api, open_rtmidi_port
from studio.transport.jack_midi import jack_client_missing_reason
from studio.transport.jack_midi_in import JackMidiInput
from studio.transport.midi import JACK_MIN_PERIOD

CLOCK, START, CONTINUE, STOP, SPP, QUARTER_FRAME = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2, 0xF1
MTC_RATES = (24.0, 25.0, 30000 / 1001, 30.0)  # rate codes 0..3 (29.97 drop-frame counts as 29.97)
MTC_TIMEOUT_FRAMES = 4  # no quarter frame for this many frames: the DAW stopped
TICKS_PER_BEAT = 24
STAMP_MAX_LAG_S = 0.2  # rtmidi's message times further behind than this: use the callback's
LOST_TICK_SLACK = 0.35  # a gap within this many typical gaps of a whole number of them (SyncDecoder._lost_ticks)
LOST_TICK_MIN_GAP = 0.4  # gaps shorter than this many typical ones ...
LOST_TICK_COARSE_SHARE = 0.1  # ... over this share of them: stamps too coarse to count lost ticks by


def _gaps(ticks: list[int]) -> tuple[list[int], float]:
    """The gaps between consecutive tick stamps and their median (the typical gap)."""
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return gaps, statistics.median(gaps)


@dataclass(frozen=True)
class SyncEvent:
    """``kind``: "locate" (stopped, moved to ``beat`` or ``time_s``), "play" (running from
    ``beat`` / ``time_s`` at ``at_ns``), "tick" (still running: at ``beat`` / ``time_s`` at
    ``at_ns``), "stop". Clock events carry beats, MTC events seconds."""

    kind: str
    at_ns: int
    beat: float | None = None
    time_s: float | None = None


class SyncDecoder:
    """MIDI clock, SPP, Start/Continue/Stop and MTC bytes -> :class:`SyncEvent` (see the module doc)."""

    def __init__(self) -> None:
        self.position_beat = 0.0  # where the next clock tick stands once running
        self.armed = False  # Start/Continue seen, waiting for the first tick
        self.running = False
        self.tick_ns: deque = deque(maxlen=4 * TICKS_PER_BEAT)  # arrival of recent ticks: tempo
        self._run_first_ns: int | None = None  # the tick this run started on (lost ticks are counted within a run)
        self._qf = [0] * 8
        self._qf_seen = 0  # bit mask of the pieces received since piece 0
        self.mtc_running = False
        self.mtc_last_ns = 0
        self.mtc_rate = 25.0

    def feed(self, data: bytes, at_ns: int) -> list[SyncEvent]:
        if not data:
            return []
        status = data[0]
        if status == CLOCK:
            return self._clock(at_ns)
        if status == START:
            self.position_beat, self.armed, self.running = 0.0, True, False
            return []
        if status == CONTINUE:
            self.armed, self.running = True, False
            return []
        if status == STOP:
            was = self.running or self.armed
            self.armed = self.running = False
            return [SyncEvent("stop", at_ns, beat=self.position_beat)] if was else []
        if status == SPP and len(data) >= 3:
            self.position_beat = (data[1] | (data[2] << 7)) / 4.0
            return [] if self.running else [SyncEvent("locate", at_ns, beat=self.position_beat)]
        if status == QUARTER_FRAME and len(data) >= 2:
            return self._quarter_frame(data[1], at_ns)
        if status == 0xF0 and len(data) >= 10 and data[1:5] == bytes([0x7F, 0x7F, 0x01, 0x01]):
            self._qf_seen = 0
            self.mtc_running = False
            return [SyncEvent("locate", at_ns, time_s=self._timecode(*data[5:9]))]
        return []

    def tempo_bpm(self) -> float | None:
        """The DAW's tempo from the recent ticks: the median tick period over spans of half of
        them (tick i to tick i + n/2). Long spans, because an input that stamps a whole audio
        period's messages at once biases every single interval, not a span; their median,
        because one tick stamped late (the MIDI thread waiting for a core on a loaded machine)
        moved the span from first to last tick whole: 30 ms at the end of a second of ticks read
        120 BPM as 116.4. A tick that never came (lost in a cycle the input or the DAW missed)
        counts: each gap is worth round(gap / median gap) ticks, so the spans holding it are not
        read one tick short (one lost tick in 48 read 120 BPM as 114.9 in a CI run). None
        before half a beat's worth."""
        n = len(self.tick_ns)
        if n < TICKS_PER_BEAT // 2:
            return None
        ticks = list(self.tick_ns)
        gaps, typical = _gaps(ticks)
        if typical <= 0:
            return None
        index = [0]
        for g in gaps:
            index.append(index[-1] + max(1, round(g / typical)))
        h = n // 2
        period = statistics.median((ticks[i + h] - ticks[i]) / (index[i + h] - index[i]) for i in range(n - h))
        return 60e9 / (TICKS_PER_BEAT * period) if period > 0 else None

    def mtc_timed_out(self, now_ns: int) -> bool:
        """True once (then not running) when quarter frames stopped coming."""
        if self.mtc_running and now_ns - self.mtc_last_ns > MTC_TIMEOUT_FRAMES * 1e9 / self.mtc_rate:
            self.mtc_running = False
            self._qf_seen = 0
            return True
        return False

    def _clock(self, at_ns: int) -> list[SyncEvent]:
        if self.tick_ns and at_ns - self.tick_ns[-1] > 2e9:
            self.tick_ns.clear()  # a pause in the clock is not a slow tempo
        self.tick_ns.append(at_ns)
        if self.armed:
            self.armed, self.running = False, True
            self._run_first_ns = at_ns
            ev = SyncEvent("play", at_ns, beat=self.position_beat)
        elif self.running:
            self.position_beat += self._lost_ticks() / TICKS_PER_BEAT
            ev = SyncEvent("tick", at_ns, beat=self.position_beat)
        else:
            return []  # a DAW may send clock while stopped: tempo only
        self.position_beat += 1.0 / TICKS_PER_BEAT
        return [ev]

    def _lost_ticks(self) -> int:
        """Ticks that never came before the last one (lost in a cycle the input or the DAW
        missed): MIDI clock carries no position, so without this each one would leave the
        position a tick behind until the DAW's next Song Position (sent only on a locate). Judged
        one tick late, so that a slower tempo is not taken for lost ticks: the gap before the last
        tick held k = 2..4 typical gaps (the median) and the last gap one again. Not where the
        stamps are too coarse to tell (over a tenth of the gaps under 0.4 typical: the input's
        period longer than the ticks'; one tick stamped late, whose next gap is short, is not
        that), nor before half a beat of ticks, nor across a Stop: the pause before a Continue is
        no lost tick, however short (a stop and continue within 50 ms read as two lost ticks)."""
        if len(self.tick_ns) < TICKS_PER_BEAT // 2 + 1 or self.tick_ns[-3] < self._run_first_ns:
            return 0
        gaps, typical = _gaps(list(self.tick_ns))
        short = sum(g < LOST_TICK_MIN_GAP * typical for g in gaps)
        if typical <= 0 or short > LOST_TICK_COARSE_SHARE * len(gaps):
            return 0
        before, last = gaps[-2] / typical, gaps[-1] / typical
        k = round(before)
        if 2 <= k <= 4 and abs(before - k) <= LOST_TICK_SLACK and abs(last - 1) <= LOST_TICK_SLACK:
            return k - 1
        return 0

    def _quarter_frame(self, value: int, at_ns: int) -> list[SyncEvent]:
        piece, nibble = value >> 4, value & 0x0F
        if piece == 0:
            self._qf_seen = 0
        self._qf[piece] = nibble
        self._qf_seen |= 1 << piece
        self.mtc_last_ns = at_ns
        if piece != 7 or self._qf_seen != 0xFF:
            return []
        q = self._qf
        hours_byte = q[6] | (q[7] << 4)
        t = self._timecode(hours_byte, q[4] | (q[5] << 4), q[2] | (q[3] << 4), q[0] | (q[1] << 4))
        t += 1.75 / self.mtc_rate  # piece 7 arrives 7 quarter frames after the time it carries
        kind = "tick" if self.mtc_running else "play"
        self.mtc_running = True
        return [SyncEvent(kind, at_ns, time_s=t)]

    def _timecode(self, hours_byte: int, minutes: int, seconds: int, frames: int) -> float:
        self.mtc_rate = MTC_RATES[(hours_byte >> 5) & 0x03]
        return (hours_byte & 0x1F) * 3600.0 + (minutes & 0x3F) * 60.0 + (seconds & 0x3F) + (frames & 0x1F) / self.mtc_rate


RATE_WINDOW_S = 3.0  # the DAW's speed: a line through its last seconds of (arrival, song time)
PHASE_TIME_S = 1.0  # varispeed: a phase error is worked off over about this long ...
MAX_PHASE_CORRECTION = 0.04  # ... by at most this much rate
INTEGRAL_TIME_S = 4.0  # and what stays (a speed measured a little off) over about this long
MAX_INTEGRAL_CORRECTION = 0.02
INTEGRATE_WITHIN_S = 0.012  # the integral only sums offsets this small (no wind-up from a start's lag)


class DawFollower:
    """Applies :class:`SyncEvent` to ``transport`` (see the module doc). ``tempo``: the project's
    tempo map (song beats -> seconds; the transport's own by default).

    ``varispeed``: chase the DAW's speed instead of jumping (the transport plays at a rate, see
    transport.py): at every check (half a beat of ticks, 12 MTC pieces) the rate is the DAW's
    measured speed (:attr:`daw_rate`: song seconds of the DAW per second of the transport's
    master clock, the slope of a line through the last ``RATE_WINDOW_S`` of ticks' song times
    against the master clock at their arrival, so a tempo map in both reads 1, and an audio
    device whose clock runs apart from the system's is allowed for) plus a phase correction,
    ``-offset / PHASE_TIME_S`` (at most 4 %), and its integral over ``INTEGRAL_TIME_S`` (at most
    2 %, summed only while the offset is under 12 ms, for a speed measured a little off): a
    PI-controlled PLL that closes the remaining offset gently. It seeks only beyond ``resync_s`` (and on locate and
    start); ``tolerance_s`` is the jump threshold without varispeed.

    ``stamped_at_written_frames``: the stamps are the JACK frames the DAW wrote its messages at
    (set by :class:`SyncInput` on JACK). The DAW's own audio for that moment, written at the same
    frame into the same graph, is heard one output latency later, as the studio's is; the
    transport's position is what is heard (``MasterClock.heard_frames``), so each stamp is taken
    that latency later (measured: without it the drums were written 5-8 ms before the DAW's beats,
    the audio stream's latency)."""

    def __init__(self, transport, tempo=None, mtc_offset_s: float = 0.0, tolerance_s: float = 0.02,
                 varispeed: bool = False, resync_s: float = 0.1) -> None:
        self.transport = transport
        self._tempo = tempo
        self.mtc_offset_s = float(mtc_offset_s)
        self.tolerance_s = float(tolerance_s)
        self.resync_s = float(resync_s)
        self.decoder = SyncDecoder()
        self.resyncs = 0
        self.offset_ms: float | None = None  # transport minus DAW, median of the last checks
        self.events = 0
        self._drift: deque = deque(maxlen=TICKS_PER_BEAT // 2)
        self._song: deque = deque(maxlen=512)  # (run, master clock s at arrival, DAW song s)
        self._lock = threading.Lock()
        self.daw_rate: float | None = None  # the DAW's measured speed against the project's map
        self._rates: list[float] = []  # the rates applied (figures)
        self.history: deque = deque(maxlen=400)  # (perf_counter_ns, offset s, rate) of the checks
        self._integral = 0.0  # varispeed: the integral term's rate correction
        self._last_check_ns = 0
        self.varispeed = False
        self.set_varispeed(varispeed)
        self.stamped_at_written_frames = False

    def heard_lag_s(self) -> float:
        """How much later than its stamp the DAW's moment is heard (see the class doc)."""
        if not self.stamped_at_written_frames:
            return 0.0
        clock = self.transport.clock
        return clock.latency_frames / clock.sample_rate

    def set_varispeed(self, on: bool) -> None:
        """Chase the DAW's speed (on) or follow it by jumps (off); the transport plays at rate 1
        again when off."""
        with self._lock:
            self.varispeed = bool(on)
            self.transport.set_varispeed(self.varispeed)

    def close(self) -> None:
        """Stop chasing: the transport's varispeed off (rate 1)."""
        if self.varispeed:
            self.set_varispeed(False)

    def rate_figures(self) -> dict:
        """``rate_mean`` / ``rate_min`` / ``rate_max`` of the rates applied, ``daw_rate`` (the
        DAW's measured speed), ``rate_checks`` (how many were applied) and ``resyncs``."""
        r = self._rates
        out = {"varispeed": self.varispeed, "resyncs": self.resyncs,
               "daw_rate": round(self.daw_rate, 5) if self.daw_rate else None, "rate_checks": len(r)}
        if r:
            out.update(rate_mean=round(sum(r) / len(r), 5), rate_min=round(min(r), 5), rate_max=round(max(r), 5))
        return out

    def _measure_rate(self) -> float | None:
        """Least-squares slope of DAW song time over the master clock across the window, in the
        transport's run now (None with fewer than 12 points or under a quarter second)."""
        pts = self._song
        if len(pts) < TICKS_PER_BEAT // 2:
            return None
        run, c_end = pts[-1][0], pts[-1][1]
        win = [(c - c_end, s) for r, c, s in pts if r == run and c_end - c <= RATE_WINDOW_S]
        xs = [x for x, _ in win]
        if len(xs) < TICKS_PER_BEAT // 2 or xs[-1] - xs[0] < 0.25:
            return None
        ys = [y for _, y in win]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        return sxy / sxx if sxx > 0 else None

    def feed(self, data: bytes, at_ns: int, now_ns: int | None = None) -> None:
        for ev in self.decoder.feed(bytes(data), at_ns):
            self.handle(ev, now_ns)

    def poll(self, now_ns: int | None = None) -> None:
        """Call now and then (the input thread does): stops on MTC that ceased."""
        now = time.perf_counter_ns() if now_ns is None else now_ns
        if self.decoder.mtc_timed_out(now):
            self.handle(SyncEvent("stop", now))

    @property
    def tempo(self):
        """The song's tempo map: the one given, else the transport's now (it may be corrected)."""
        return self._tempo or self.transport.tempo

    @property
    def daw_bpm(self) -> float | None:
        return self.decoder.tempo_bpm()

    def tempo_warning(self) -> str | None:
        """A line for the user when the DAW's clock runs at another tempo than the project."""
        bpm = self.daw_bpm
        if bpm is None:
            return None
        ours = self.tempo.bpm_at(self.transport.position_s)
        if abs(bpm / ours - 1.0) <= 0.01:
            return None
        if self.varispeed:
            return (f"the DAW's clock runs at {bpm:.1f} BPM, the project at {ours:.1f} BPM: the studio plays "
                    f"at {bpm / ours:.3f}x to follow it (pitch too); import the project's tempo map (its MIDI "
                    "file or REAPER project) into the DAW to play at the video's own speed")
        return (f"the DAW's clock runs at {bpm:.1f} BPM, the project at {ours:.1f} BPM: import the project's "
                "tempo map (its MIDI file or REAPER project) into the DAW")

    def _song_time(self, ev: SyncEvent) -> float:
        if ev.time_s is not None:
            return ev.time_s - self.mtc_offset_s
        return self.tempo.time_at(ev.beat)

    def handle(self, ev: SyncEvent, now_ns: int | None = None) -> None:
        from studio.transport.transport import State

        with self._lock:
            self.events += 1
            t = self.transport
            if ev.kind == "stop":
                t.pause()
                self._drift.clear()
                self._song.clear()
                if ev.beat is not None or ev.time_s is not None:  # where the DAW stopped, not where we
                    t.seek(max(0.0, self._song_time(ev)))  # were (behind, when the chase lagged)
                return
            target = self._song_time(ev)
            if ev.kind == "locate":
                self._song.clear()
                if t.state is State.PLAYING:
                    t.pause()
                t.seek(max(0.0, target))
                return
            now = time.perf_counter_ns() if now_ns is None else now_ns
            # the DAW moved on while the event waited (less its heard lag: it may not be heard yet)
            lag = self.heard_lag_s()
            age = max(0.0, (now - ev.at_ns) * 1e-9) - lag
            if t.duration_s and target + age >= t.duration_s:
                return  # the DAW plays on past the video's end: the transport stopped there stays
            if ev.kind == "play" or t.state is not State.PLAYING:
                self._drift.clear()
                self._song.clear()
                self._integral, self._last_check_ns = 0.0, 0
                if self.varispeed and ev.time_s is None and self.daw_bpm:  # clock ran while stopped
                    t.set_rate(self.daw_bpm / self.tempo.bpm_at(max(0.0, target)))
                t.seek(max(0.0, target + age))
                t.play()
                return
            clock = t.run_clock_s(now)
            if clock is not None:  # the master clock when the DAW was at ``target``
                self._song.append((clock[0], clock[1] - age, target))
            self._drift.append(t.position_s - (target + age))
            if len(self._drift) == self._drift.maxlen:  # judged every half beat / 12 MTC pieces
                off = statistics.median(self._drift)
                self.offset_ms = round(off * 1e3, 2)
                self._drift.clear()
                self.history.append((now, off, t.rate))
                if self.varispeed:
                    self._chase(off, now)
                elif abs(off) > self.tolerance_s:
                    self.resyncs += 1
                    t.seek(max(0.0, t.position_s - off))

    def _chase(self, off: float, now_ns: int) -> None:
        """Varispeed: the rate for the next half beat from the DAW's speed and the offset ``off``
        (transport minus DAW, seconds); a seek only beyond ``resync_s``."""
        t = self.transport
        measured = self._measure_rate()
        if measured is not None:
            self.daw_rate = measured
        dt = min(1.0, (now_ns - self._last_check_ns) * 1e-9) if self._last_check_ns else 0.0
        self._last_check_ns = now_ns
        if abs(off) > self.resync_s:
            self.resyncs += 1
            self._integral = 0.0
            t.seek(max(0.0, t.position_s - off))
            return
        base = self.daw_rate if self.daw_rate is not None else t.rate
        if abs(off) < INTEGRATE_WITHIN_S:  # not while a start's or an underrun's lag is chased
            self._integral = min(max(self._integral - off * dt / (PHASE_TIME_S * INTEGRAL_TIME_S),
                                     -MAX_INTEGRAL_CORRECTION), MAX_INTEGRAL_CORRECTION)
        corr = min(max(-off / PHASE_TIME_S, -MAX_PHASE_CORRECTION), MAX_PHASE_CORRECTION)
        self._rates.append(t.set_rate(base + corr + self._integral))


class SyncInput:
    """A MIDI input for the DAW's clock: a virtual port ``name`` (default "Studio Sync") or the
    existing output port ``port`` (part of its name), on ``api``: on JACK a client of our own
    (:class:`~studio.transport.jack_midi_in.JackMidiInput`, each message stamped at its frame)
    where JACK-Client loads, else python-rtmidi. Messages go to ``follower`` on a thread of this
    object's (``close()`` ends it)."""

    POLL_S = 0.001  # the input's queue is read this often (a message's stamp does not depend on it)
    IDLE_POLL_S = 0.01  # the follower's own poll (MTC that ceased) at least this often

    def __init__(self, follower: DawFollower, port: str | None = None, name: str = "Studio Sync",
                 api: str | None = None) -> None:
        self.follower = follower
        self.api = choose_midi_api(api)
        self.name, self.target = name, port
        self.received = 0
        self._jack = self._in = None
        follower.stamped_at_written_frames = self.api == "jack"  # rtmidi's: its cycle's start, close to it
        self.fallback_reason: str | None = None  # why our JACK input was not used on JACK
        if self.api == "jack":
            self.fallback_reason = jack_client_missing_reason()
            if self.fallback_reason is None:
                self._jack = JackMidiInput(name, source=port)  # DeviceError when it cannot open
                if self._jack.period < JACK_MIN_PERIOD:  # as for the MIDI output (midi.py)
                    self.fallback_reason = (f"JACK runs {self._jack.period}-frame periods; below {JACK_MIN_PERIOD} "
                                            "the Python process callback misses cycles, so python-rtmidi serves")
                    self._jack.close()
                    self._jack = None
        if self._jack is None:
            self._in = open_rtmidi_port("in", self.api, name, port)
            try:  # clock, MTC and the full-frame SysEx are what we are here for
                self._in.ignore_types(sysex=False, timing=False, active_sense=True)
            except Exception as exc:
                self._in.delete()
                raise DeviceError(f"cannot open the MIDI input {name!r}: {exc}") from None
        self._since_first_ns = 0  # rtmidi's times between messages, summed
        self._anchors: deque = deque(maxlen=64)  # perf_counter_ns - that sum, recent messages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="daw-follower")
        self._thread.start()

    @property
    def label(self) -> str:
        return f"{self.target or self.name + ' (virtual)'} [{self.api}]"

    @property
    def missed_cycles(self) -> int | None:
        """JACK cycles our input's callback missed (what the DAW wrote in them is lost; a
        thread holding the interpreter lock in one long call causes them), None on rtmidi."""
        return None if self._jack is None else self._jack.xruns

    def _stamp(self, now_ns: int, since_first_ns: int) -> int:
        """When a message arrived: rtmidi's own time of it (the time between messages, taken by
        the MIDI API's thread as it queued the message), placed on perf_counter_ns by the smallest
        (take time - rtmidi time) of recent messages (a take is only ever late); the take's own
        time where rtmidi's lags it by over ``STAMP_MAX_LAG_S`` (an API that gives no times)."""
        self._anchors.append(now_ns - since_first_ns)
        stamp = since_first_ns + min(self._anchors)
        if now_ns - stamp > STAMP_MAX_LAG_S * 1e9:
            self._anchors.clear()
            self._anchors.append(now_ns - since_first_ns)
            return now_ns
        return stamp

    def _next(self) -> tuple[bytes, int] | None:
        """The next message and its stamp (perf_counter_ns), or None; raises when the port went
        away."""
        if self._jack is not None:
            return self._jack.get()
        msg = self._in.get_message()
        if msg is None:
            return None
        now_ns = time.perf_counter_ns()
        data, delta_s = msg
        self._since_first_ns += int(round(float(delta_s) * 1e9))
        return bytes(data), self._stamp(now_ns, self._since_first_ns)

    def _take(self) -> bool:
        """Hand every message the input has queued to the follower; whether there was one."""
        got = False
        while True:
            try:
                msg = self._next()
            except Exception:  # the port went away under us: close() follows
                return got
            if msg is None:
                return got
            got = True
            self.received += 1
            try:
                self.follower.feed(*msg)
            except Exception:  # one bad message or a transport error must not end the follower
                pass

    def _run(self) -> None:
        try:
            idle_since = time.monotonic()
            while not self._stop.is_set():
                if self._take():
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= self.IDLE_POLL_S:
                    self.follower.poll()
                    idle_since = time.monotonic()
                self._stop.wait(self.POLL_S)
        finally:  # the port is closed by the thread that reads it, never under it
            try:
                if self._jack is not None:
                    self._jack.close()
                else:
                    self._in.close_port()
                    self._in.delete()
            except Exception:
                pass

    def close(self) -> None:
        """End the thread, which closes the port (at once, unless the follower is busy)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5.0)
