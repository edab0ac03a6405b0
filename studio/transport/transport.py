"""The transport: play / pause / stop / seek / loop, one master clock for audio, MIDI and video.

State machine: STOPPED -> PLAYING <-> PAUSED, any -> STOPPED. Each start is a *run* (see
clock.py): the audio ring is refilled from the new position and faded in over a few ms; each
halt fades out first, so starts, stops and seeks do not click. The master clock is the audio
callback's when an audio output is open, else the system clock (the "no audio device" state:
MIDI and the video preview still play). The video preview reads :attr:`Transport.position_s`
at its own frame rate; the MIDI scheduler waits on the same clock.

Varispeed (:meth:`Transport.set_varispeed`, used to chase a DAW at another speed): runs then play
at :attr:`Transport.rate` song seconds per second of the master clock (0.5..2); the video,
the audio (resampled by the feeder: pitch follows speed, as on tape) and the MIDI parts all
follow the run's rate map (clock.RateMap). :meth:`Transport.set_rate` changes it while playing
without a new run, so nothing fades or jumps.

A monitor thread (20 Hz, not real-time) stops at the song end, notices a lost audio device
(transport stops, position kept, a DeviceError message for the user, the stream is closed and
playback can resume on another device or none) and a vanished MIDI port (reported; MIDI resumes
when it is back). Listeners get ``(event, transport)`` with event in {"state", "error", "midi",
"health"} from whichever thread made the change; a Qt adapter queues them to the GUI thread.

Health: the monitor also adds up, per transport, the audio callback's late blocks and the
device's xruns (its ``status``), ring underruns, the MIDI scheduler's late events and stalls
and the JACK MIDI client's xruns and late writes (:attr:`Transport.health`); whenever one grows
it emits "health" with :attr:`Transport.health_message` for the status bar. A MIDI scheduler
thread that ends with an error is reported as an "error" (``Transport.error``), as a lost
device is.
"""
from __future__ import annotations

import threading
import time
from enum import Enum
from typing import Callable

from studio.errors import DeviceError
from studio.music import TempoMap
from studio.transport.audio import DEV_XRUNS, LATE_CALLS, UNDERRUNS, AudioOutput
from studio.transport.clock import MasterClock, Timeline
from studio.transport.midi import MidiScheduler

Listener = Callable[[str, "Transport"], None]


class State(str, Enum):
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


class Transport:
    def __init__(self, sample_rate: int = 48000, tempo: TempoMap | None = None, duration_s: float = 0.0,
                 audio: AudioOutput | None = None, midi: MidiScheduler | None = None) -> None:
        self.sample_rate = int(audio.sample_rate if audio else sample_rate)
        self.tempo = tempo or TempoMap()
        self.duration_s = float(duration_s)  # 0: no automatic stop at the end
        self.audio, self.midi = audio, midi
        self.state = State.STOPPED
        self.loop: tuple[float, float] | None = None
        self.error: str | None = None  # the last problem for the user (device lost, port gone)
        self.varispeed = False  # runs follow self.rate (set_varispeed)
        self.rate = 1.0  # song seconds per second of the master clock (varispeed only)
        self._runs = 0  # runs started (run_clock_s)
        self._pos = 0.0
        self._home = 0.0  # where stop() returns: the position the last play started from
        self._timeline: Timeline | None = None
        self._clock: MasterClock | None = None
        self._system_clock = MasterClock(self.sample_rate)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._monitor: threading.Thread | None = None
        self._closing = threading.Event()
        self._midi_error: str | None = None
        self.health: dict[str, float] = {}  # cumulative problem counts (see the module doc)
        self.health_message: str | None = None
        self._health_seen: dict[str, tuple[int, float]] = {}  # key -> (id of its source, last value)
        self._midi_errors_seen = 0

    # -- observers ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _emit(self, event: str) -> None:
        for fn in list(self._listeners):
            try:
                fn(event, self)
            except Exception:  # a broken listener must not stop the transport
                pass

    # -- position and tempo -------------------------------------------------------------------
    @property
    def position_s(self) -> float:
        """Song position being heard now (the master clock); the video preview shows this frame."""
        with self._lock:
            if self.state is State.PLAYING and self._timeline is not None:
                return self._timeline.position_s(self._clock.heard_frames())
            return self._pos

    @property
    def clock(self) -> MasterClock:
        return self.audio.clock if self.audio and self.audio.is_open else self._system_clock

    def beat(self) -> float:
        return self.tempo.beat_at(self.position_s)

    def bar_beat(self) -> tuple[int, float]:
        """(bar from 1, beat in bar from 1) of the current position; bar 0 and below are pickups."""
        b = self.beat()
        bar, beat = divmod(b, self.tempo.beats_per_bar)
        return int(bar) + 1, beat + 1

    def bpm(self) -> float:
        return self.tempo.bpm_at(self.position_s)

    # -- commands -----------------------------------------------------------------------------
    def play(self) -> None:
        with self._lock:
            if self.state is State.PLAYING:
                return
            if self.duration_s and self._pos >= self.duration_s and not self.loop:
                self._pos = 0.0
            if self.state is State.STOPPED:
                self._home = self._pos
            self._start_run()
            self._set_state(State.PLAYING)
        self._ensure_monitor()

    def pause(self) -> None:
        with self._lock:
            if self.state is State.PLAYING:
                self._pos = self._halt_run()
                self._set_state(State.PAUSED)

    def stop(self) -> None:
        """Stop and return to where playback last started (press again to go to the start)."""
        with self._lock:
            if self.state is State.PLAYING:
                self._halt_run()
                self._pos = self._home
            else:
                self._pos = self._home = 0.0 if self.state is State.STOPPED else self._home
            self._set_state(State.STOPPED)

    def seek(self, time_s: float) -> None:
        with self._lock:
            t = max(0.0, float(time_s))
            if self.duration_s:
                t = min(t, self.duration_s)
            if self.state is State.PLAYING:
                self._halt_run()
                self._pos = t
                self._start_run()
            else:
                self._pos = t
                if self.state is State.STOPPED:
                    self._home = t

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        """Loop [start_s, end_s) (None clears); applied at once when playing."""
        with self._lock:
            if start_s is None:
                self.loop = None
            else:
                if end_s is None or end_s - start_s < 1.0 / self.sample_rate:
                    raise ValueError("a loop needs an end after its start")
                self.loop = (max(0.0, float(start_s)), float(end_s))
            if self.state is State.PLAYING:
                self._pos = self._halt_run()
                self._start_run()

    def set_varispeed(self, on: bool) -> None:
        """Let runs play at :attr:`rate` (off: back to rate 1). Applied at once when playing
        (a new run from where it is)."""
        with self._lock:
            on = bool(on)
            if on == self.varispeed:
                return
            self.varispeed = on
            self.rate = 1.0
            if self.state is State.PLAYING:
                self._pos = self._halt_run()
                self._start_run()

    def set_rate(self, rate: float) -> float:
        """Play at ``rate`` (clamped to 0.5..2) from now on: the audio from the next block the
        feeder renders (a block ahead of the speaker), MIDI and the position from then too; on the
        system clock from the frame heard now. Needs varispeed on; returns the rate applied."""
        from studio.transport.clock import clamp_rate

        with self._lock:
            if not self.varispeed:
                return 1.0
            self.rate = clamp_rate(rate)
            tl = self._timeline
            if self.state is State.PLAYING and tl is not None and tl.rates is not None:
                if self.audio is not None and self.audio.is_open:
                    self.audio.rate = self.rate  # the feeder puts the breakpoint where it writes
                else:
                    tl.rates.set(self.rate, self._clock.heard_frames())
            return self.rate

    def run_clock_s(self, t_ns: int | None = None) -> tuple[int, float] | None:
        """(number of the run, seconds of the master clock heard in it at ``t_ns``, now if None)
        while playing, else None: the follower measures the DAW's speed against this clock (the
        audio's, which may run apart from the system clock) rather than against wall time."""
        with self._lock:
            if self.state is not State.PLAYING or self._timeline is None:
                return None
            return self._runs, self._clock.heard_frames(t_ns) / self.sample_rate

    def set_audio(self, audio: AudioOutput | None) -> None:
        """Switch audio output (None: no audio device); playback continues where it was."""
        with self._lock:
            playing = self.state is State.PLAYING
            if playing:
                self._pos = self._halt_run()
            old, self.audio = self.audio, audio
            if old is not None and old is not audio:
                old.close()
            if audio is not None:
                self.sample_rate = audio.sample_rate
                self._system_clock = MasterClock(self.sample_rate)
            if playing:
                self._start_run()

    def close(self) -> None:
        """Stop, silence MIDI, close the devices; safe to call twice."""
        self._closing.set()
        with self._lock:
            if self.state is State.PLAYING:
                self._halt_run()
            self.state = State.STOPPED
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(1.0)
        if self.midi is not None:
            self.midi.port.close()
        if self.audio is not None:
            self.audio.close()

    # -- runs ---------------------------------------------------------------------------------
    def _start_run(self) -> None:
        sr = self.sample_rate
        loop = (int(round(self.loop[0] * sr)), int(round(self.loop[1] * sr))) if self.loop else None
        self._timeline = Timeline(sr, int(round(self._pos * sr)), loop, rate=self.rate if self.varispeed else None)
        self._runs += 1
        self._clock = self.clock
        if self.audio is not None and self.audio.is_open:
            self.audio.start_run(self._timeline)
        else:
            self._clock.start()
        if self.midi is not None:
            self.midi.start_run(self._timeline, self._clock)

    def _halt_run(self) -> float:
        """Stop MIDI and audio (fading out); returns the position heard when asked to halt."""
        pos = self._timeline.position_s(self._clock.heard_frames())
        if self.midi is not None:
            self.midi.stop_run()
        if self.audio is not None and self.audio.is_open:
            self.audio.halt()
        else:
            self._clock.halt()
        self._timeline = None
        return pos

    def _set_state(self, state: State) -> None:
        changed = state is not self.state
        self.state = state
        if changed:
            self._emit("state")

    # -- monitor ------------------------------------------------------------------------------
    def _ensure_monitor(self) -> None:
        if self._monitor is None or not self._monitor.is_alive():
            self._monitor = threading.Thread(target=self._watch, daemon=True, name="transport-monitor")
            self._monitor.start()

    def _raw_health(self) -> dict[str, tuple[int, float]]:
        """The counters of the devices open now: key -> (id of the object counting, value)."""
        out: dict[str, tuple[int, float]] = {}
        a = self.audio
        if a is not None:
            c = a.ctl
            for key, cell in (("late_callbacks", LATE_CALLS), ("device_xruns", DEV_XRUNS), ("underruns", UNDERRUNS)):
                out[key] = (id(a), int(c[cell]))
        m = self.midi
        if m is not None:
            for key in ("late_events", "stalls", "errors"):
                out[f"midi_{key}"] = (id(m), getattr(m, key))
            jack = getattr(m.port, "jack", None)
            if jack is not None:
                out["jack_xruns"] = (id(jack), jack.xruns)
                out["jack_late"] = (id(jack), jack.late)
        return out

    def check_health(self) -> bool:
        """Add what the counters gained since the last check to :attr:`health`; True (and a
        "health" event, and an "error" for a MIDI scheduler that failed) when one grew."""
        grew = False
        for key, (owner, value) in self._raw_health().items():
            seen_owner, seen = self._health_seen.get(key, (owner, 0))
            if seen_owner != owner:
                seen = 0  # a new device or port counts from zero
            if value > seen:
                self.health[key] = self.health.get(key, 0) + (value - seen)
                grew = True
            self._health_seen[key] = (owner, value)
        if self.midi is not None:
            self.health["midi_max_late_ms"] = round(self.midi.max_late_ms, 1)
        if not grew:
            return False
        self.health_message = _health_text(self.health)
        self._emit("health")
        errors = int(self.health.get("midi_errors", 0))
        if errors > self._midi_errors_seen:
            self._midi_errors_seen = errors
            self.error = self.midi.error if self.midi is not None and self.midi.error else "MIDI scheduler failed"
            self._emit("error")
        return True

    def _watch(self) -> None:
        last_port_check = 0.0
        while not self._closing.wait(0.05):
            try:
                self.check_health()
            except Exception:  # a counter that cannot be read must not end the monitor
                pass
            if self.state is State.PLAYING:
                if self.audio is not None and self.audio.is_open:
                    reason = self.audio.lost_reason()
                    if reason:
                        self._device_lost(reason)
                        continue
                if self.duration_s and not self.loop and self.position_s >= self.duration_s:
                    with self._lock:
                        if self.state is State.PLAYING and not self.loop:
                            self._halt_run()
                            self._pos = self._home
                            self._set_state(State.STOPPED)
            now = time.monotonic()
            if self.midi is not None and now - last_port_check > 0.5:
                last_port_check = now
                err = self.midi.port.check()
                if err != self._midi_error:
                    self._midi_error = err
                    if err:
                        self.error = err
                    self._emit("midi")

    def _device_lost(self, reason: str) -> None:
        with self._lock:
            if self.state is not State.PLAYING:
                return
            pos = self._timeline.position_s(self._clock.heard_frames())
            name = self.audio.device_name
            if self.midi is not None:
                self.midi.stop_run()
            self._timeline = None
            self.audio.close(timeout_s=0.5)
            self.audio = None
            self._pos = pos
            self.error = str(DeviceError(
                f"audio device {name!r} was lost ({reason}); playback stopped at {pos:.2f} s. "
                f"Reconnect it or choose another device, then press play to continue from there"))
            self._set_state(State.STOPPED)
            self._home = pos
        self._emit("error")


def _health_text(h: dict) -> str:
    """One line for the status bar: what went wrong in playback so far."""
    parts = []
    n = int(h.get("late_callbacks", 0))
    if n:
        parts.append(f"{n} late audio block{'s' * (n != 1)}")
    n = int(h.get("device_xruns", 0)) + int(h.get("jack_xruns", 0))
    if n:
        parts.append(f"{n} xrun{'s' * (n != 1)}")
    n = int(h.get("underruns", 0))
    if n:
        parts.append(f"{n} audio underrun{'s' * (n != 1)}")
    n = int(h.get("midi_stalls", 0))
    if n:
        parts.append(f"MIDI late {n} time{'s' * (n != 1)} ({int(h.get('midi_late_events', 0))} events, "
                     f"up to {h.get('midi_max_late_ms', 0):.0f} ms)")
    n = int(h.get("jack_late", 0))
    if n:
        parts.append(f"{n} MIDI event{'s' * (n != 1)} written after their JACK cycle")
    n = int(h.get("midi_errors", 0))
    if n:
        parts.append(f"MIDI scheduler failed {n} time{'s' * (n != 1)}")
    return "playback: " + (", ".join(parts) if parts else "no problems")


def midi_parts_for(project) -> list:
    """One MidiPart per audible track with notes (mute/solo honoured), on the track's channel."""
    from studio.transport.midi import MidiPart

    return [MidiPart(t.notes, t.channel, t.name) for t in project.audible_tracks() if t.notes]


def open_transport(project=None, stems=None, sample_rate: int = 48000, audio_device=None,
                   blocksize: int = 256, midi_port: str | None = None, midi_api: str | None = None,
                   virtual_port: bool = True, no_audio: bool = False, send_clock: bool = True,
                   audio_output=None) -> Transport:
    """A ready transport for `studio play`: audio on ``audio_device`` (None: the default; no
    audio device at all is allowed and falls back to the system clock), MIDI of the project's
    tracks to ``midi_port`` (an existing port) or the virtual "Studio" port.

    ``stems`` is a list of ((channels, n) float32 array, sample_rate) pairs, e.g. a render's
    stems for the chosen tracks. Raises DeviceError with a user message when a named device or
    port cannot be opened. ``send_clock=False`` when the DAW is the clock master (following it).
    ``audio_output``: an open output with its sources set (e.g. studio.transport.jack_audio's
    pair per stem), used instead of opening ``audio_device``."""
    from studio.errors import DeviceError
    from studio.transport.audio import AudioOutput, BufferSource
    from studio.transport.midi import MidiPort

    tempo = project.tempo if project is not None else TempoMap()
    duration = project.duration_s if project is not None else 0.0
    audio = audio_output
    if audio is not None:
        duration = max([duration] + [s.end_s for s in audio.sources if hasattr(s, "end_s")])
    elif not no_audio:
        audio = AudioOutput(sample_rate, blocksize, device=audio_device)
        try:
            audio.open()
        except DeviceError:
            if audio_device is not None:
                raise
            audio = None  # nothing to play on: run on the system clock
        else:
            audio.set_sources([BufferSource(a, sr) for a, sr in (stems or [])])
            duration = max([duration] + [s.end_s for s in audio.sources])
    midi = None
    parts = midi_parts_for(project) if project is not None else []
    if parts and (midi_port is not None or virtual_port):
        midi = MidiScheduler(MidiPort(port=midi_port, api=midi_api), send_clock=send_clock)
        midi.set_parts(parts, tempo)
        duration = max(duration, midi.table.end_s)
    return Transport(sample_rate, tempo, duration, audio, midi)
