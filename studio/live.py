"""``studio live SOURCE``: drums, bass and keys from what a video or a camera shows, as it plays.

Pipeline (no Qt; threads: the caller's loop decodes and generates, a sender thread times MIDI)::

    frames (PyAV) -> gray, small -> Farneback flow -> directogram flux per frame (the analysis's
    features, computed one frame at a time) -> per-16th activation of a bar -> rhythm engine
    ``next_bar`` -> notes -> MIDI port at their wall-clock times (and a recording)

Two ways of being "live":

* **look-ahead** (a file): decoding runs up to ``lookahead_bars`` ahead of the playhead, so each
  bar is generated from its *own* pictures before it is heard: drums land on the motion they
  follow, as in offline generation, and the engine runs one bar ahead of playback.
* **causal** (a camera ``/dev/videoN``, an RTSP/HTTP URL, or ``-`` for a pipe on stdin): the
  future is not there, so bar k+1 is generated from the window that ends ``lead_s`` before bar
  k+1 starts; a visual accent is answered on the same step one bar later (the groove follows the
  picture with one bar of musical latency, as a drummer following a dancer does).

Tempo: ``bpm`` when given, else estimated from the first ``warmup_s`` of the onset envelope
(autocorrelation + beat tracking, as in studio.analysis); the bar grid starts on the first
tracked beat after the warm-up. Measured and returned: per bar the processing latency (its last
frame decoded -> its notes queued) and the slack before its first step (negative = late), per
note the send timing error, and the frame-to-feature time.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import sys
from dataclasses import replace
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.analysis.onsets import directogram_flux
from studio.errors import MediaError, StudioError
from studio.grid import MAX_BPM, MIN_BPM
from studio.jobs import Job

PART_CHANNELS = {"drums": 9, "bass": 1, "keys": 0}
HISTORY_S = 120.0  # flux kept for activations and the tempo estimate
CONTACT_HISTORY_S = 12.0  # frame pairs kept for the contacts the beat anchor snaps to
CONTACT_MARGIN_S = 0.4  # pairs before a bar the contact detector needs (its window: 3 pairs each side)
START_MARGIN_S = 0.1  # look-ahead: the first bar plays this long after it is generated
MIN_LIVE_BPM, MAX_LIVE_BPM = MIN_BPM, MAX_BPM  # what a bar loop may step at (estimates stay within 60..200)


@dataclass(frozen=True)
class LiveSettings:
    bpm: float | None = None
    style: str = "rock"
    seed: int = 0
    key: str | None = None
    beats_per_bar: int = 4
    warmup_s: float = 4.0
    lead_s: float = 0.15  # causal mode: a bar's window closes this long before it is played
    lookahead_bars: float = 1.5  # look-ahead mode: how far decoding may run ahead of playback
    max_seconds: float | None = None
    bass_program: int = 33
    keys_program: int = 0
    music: bool = True  # bass + keys besides the drums
    causal: bool | None = None  # None: causal for cameras/URLs/pipes, look-ahead for files


@dataclass
class LiveReport:
    source: str
    mode: str
    tempo_bpm: float = 0.0
    first_bar_s: float = 0.0  # media time of bar 1's downbeat
    bars: int = 0
    notes_sent: int = 0
    note_offs_sent: int = 0  # one per note-on sent (overlaps retrigger, a cut take is silenced)
    late_bars: int = 0
    media_s: float = 0.0
    bar_latency_ms: list[float] = field(default_factory=list)  # last frame of the bar -> notes queued
    bar_slack_ms: list[float] = field(default_factory=list)  # notes queued -> the bar's first step
    send_error_ms: list[float] = field(default_factory=list)  # actual - scheduled send time
    frame_ms: list[float] = field(default_factory=list)  # decode + flow + flux per frame
    error: str | None = None

    def summary(self) -> dict:
        def pct(xs, q):
            return round(float(np.percentile(xs, q)), 3) if xs else None

        return {
            "source": self.source, "mode": self.mode, "tempo_bpm": round(self.tempo_bpm, 2),
            "first_bar_s": round(self.first_bar_s, 3), "bars": self.bars,
            "notes_sent": self.notes_sent, "note_offs_sent": self.note_offs_sent, "late_bars": self.late_bars,
            "media_s": round(self.media_s, 3),
            "bar_latency_p50_ms": pct(self.bar_latency_ms, 50), "bar_latency_p99_ms": pct(self.bar_latency_ms, 99),
            "bar_slack_min_ms": round(min(self.bar_slack_ms), 3) if self.bar_slack_ms else None,
            "midi_send_error_p50_ms": pct(self.send_error_ms, 50),
            "midi_send_error_p99_ms": pct(self.send_error_ms, 99),
            "frame_p99_ms": pct(self.frame_ms, 99),
            "input_to_midi_latency": ("none: each bar is generated from its own frames before it plays"
                                      if self.mode == "look-ahead" else
                                      "one bar (a visual accent is answered on the same step of the next bar)"),
            "error": self.error,
        }


# -- sources -------------------------------------------------------------------------------------
def is_live_source(source: str) -> bool:
    s = str(source)
    return s == "-" or s.startswith(("/dev/video", "pipe:")) or "://" in s


def open_source(source: str):
    """(container, video stream) for a file, ``/dev/videoN`` (V4L2), a URL, or ``-`` (stdin)."""
    import av

    s = str(source)
    try:
        if s == "-" or s == "pipe:":
            container = av.open(sys.stdin.buffer, "r")
        elif s.startswith("/dev/video"):
            container = av.open(s, "r", format="v4l2")
        else:
            if "://" not in s and not Path(s).is_file():
                raise MediaError(f"{s} does not exist; give a video file, /dev/videoN, a URL or - for stdin")
            container = av.open(s, "r", timeout=10.0)
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises per-errno classes; the user needs one line
        raise MediaError(f"cannot open {s}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{s} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


# -- features ------------------------------------------------------------------------------------
class OnsetTracker:
    """Directogram flux of each new frame (the analysis's motion features, one frame at a time)."""

    def __init__(self, frame_size: tuple[int, int]) -> None:
        from studio.analysis.motion import MotionAnalyzer, flow_size
        from studio.analysis.timeline import AnalysisParams

        self.params = AnalysisParams()
        self.size = flow_size(frame_size, self.params.flow_max_side)
        self.motion = MotionAnalyzer(self.params, self.size)
        self._prev_dirs: np.ndarray | None = None
        self.times: list[float] = []
        self.flux: list[float] = []
        self.recent: collections.deque = collections.deque(maxlen=int(CONTACT_HISTORY_S * self.params.rate_hz))

    def contacts(self, since_s: float = -np.inf) -> tuple:
        """Contacts among the recent frame pairs from ``since_s`` on (the analysis' detector)."""
        from studio.analysis.impacts import detect_impacts
        from studio.analysis.motion import stack_pairs

        pairs = [q for q in self.recent if q.t0 >= since_s]
        if len(pairs) < 6:
            return ()
        p = stack_pairs(pairs, self.params.impact_grid)
        return detect_impacts(p["t0"], p["t1"], p["cells"], np.ones(len(p["t0"]), bool), self.params,
                              aspect=self.size[0] / self.size[1])

    def add(self, t: float, gray: np.ndarray) -> None:
        n = len(self.motion.pairs)
        self.motion.add(t, gray)
        if len(self.motion.pairs) == n:
            return
        pair = self.motion.pairs.pop()  # keep memory flat on endless streams
        self.recent.append(pair)  # bounded: for the contacts the beats are placed on
        if self._prev_dirs is not None:  # the analysis's flux, for the newest pair of pairs
            flux = directogram_flux(np.stack([self._prev_dirs, pair.directions]), np.ones(2, bool))[1]
            self.times.append(pair.t0)
            self.flux.append(float(flux))
            if self.times[0] < pair.t0 - HISTORY_S:  # bars look back 8 bars at most
                del self.times[:256], self.flux[:256]
        self._prev_dirs = pair.directions

    def activation(self, step_starts: np.ndarray, step_s: float, contacts=()) -> np.ndarray:
        """Per step: the strongest flux in it, between the recent median and 95th percentile
        (0..1), or the strength of a contact in it when that is higher (as the analysis'
        envelope has them)."""
        t = np.asarray(self.times)
        f = np.asarray(self.flux)
        recent = f[t >= step_starts[0] - 16 * step_s * 8] if len(f) else f
        # between the typical level (the flux every frame has: texture, noise) and the strong
        # one, as the analysis' envelope is after its smoothing
        floor = float(np.median(recent)) if len(recent) else 0.0
        norm = float(np.percentile(recent, 95)) - floor if len(recent) else 0.0
        out = np.zeros(len(step_starts), np.float32)
        if norm > 1e-9:
            for i, s in enumerate(step_starts):
                w = f[(t >= s - 0.5 * step_s) & (t < s + 0.5 * step_s)]  # a step owns the flux around it
                out[i] = float(np.clip((w.max() - floor) / norm, 0.0, 1.0)) if len(w) else 0.0
        for c in contacts:
            i = int(np.floor((c.time_s - step_starts[0]) / step_s + 0.5))
            if 0 <= i < len(out):
                out[i] = max(out[i], float(c.strength))
        return out

    def tempo_and_anchor(self, t_end: float, bpm: float | None, first: bool) -> tuple[float, float]:
        """Tempo (BPM) and the beat to start bars from, from the flux so far: the first tracked
        beat (``first``, when those frames are still ahead of playback) or the first after ``t_end``."""
        from studio.analysis.beats import estimate_tempo, snap_to_contacts, track_beats
        from studio.analysis.onsets import onset_envelope, with_contacts

        rate = self.params.rate_hz
        grid = np.arange(0.0, t_end, 1.0 / rate)
        env = onset_envelope(np.asarray(self.flux), np.asarray(self.times), grid, rate, self.params.onset_smooth_s)
        tempo = float(bpm) if bpm is not None else estimate_tempo(env, rate, self.params).bpm
        if not (np.isfinite(tempo) and MIN_LIVE_BPM <= tempo <= MAX_LIVE_BPM):  # the loops below must end
            raise StudioError(f"cannot play at a tempo of {tempo:g} BPM (within {MIN_LIVE_BPM:g}..{MAX_LIVE_BPM:g})")
        contacts = self.contacts()
        env = with_contacts(env, contacts, grid, rate, self.params.onset_smooth_s)
        beats = track_beats(env, rate, tempo) if env.any() else np.array([])
        beats = snap_to_contacts(beats, np.array([c.time_s for c in contacts]), 60.0 / tempo)
        period = 60.0 / tempo
        if first and len(beats):
            return tempo, float(beats[0])
        anchor = float(beats[-1]) if len(beats) else t_end
        while anchor < t_end:  # the first beat after the warm-up
            anchor += period
        return tempo, anchor


# -- MIDI out ------------------------------------------------------------------------------------
class TimedSender:
    """A thread that sends queued MIDI messages at their wall-clock (perf_counter) times, through
    a ``NoteTracker``: same-pitch overlaps retrigger and every note-on gets one note-off; on close
    the keys still sounding get theirs (then the caller sends All Notes Off)."""

    def __init__(self, port, report: LiveReport) -> None:
        from studio.transport.midi import NoteTracker

        self.port, self.report = port, report
        self.notes = NoteTracker()
        self._heap: list[tuple[float, int, list[int], bool, int | None]] = []
        self._cv = threading.Condition()
        self._n = 0
        self._ids = itertools.count()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="live-midi")
        self._thread.start()

    def put(self, when: float, msg: list[int], is_note_on: bool = False, note_id: int | None = None) -> None:
        with self._cv:
            heapq.heappush(self._heap, (when, self._n, msg, is_note_on, note_id))
            self._n += 1
            self._cv.notify()

    def put_note(self, on: float, off: float, channel: int, pitch: int, velocity: int) -> None:
        """A note's on and off, paired by one id (so an overlapping same-pitch note cannot take
        its note-off)."""
        nid = next(self._ids)
        self.put(on, [0x90 | channel, pitch, velocity], True, nid)
        self.put(max(off, on), [0x80 | channel, pitch, 0], False, nid)

    def _run(self) -> None:
        from studio.transport import realtime

        # a real-time thread like the transport's: beside the engine's pure-Python work CPython's
        # 5 ms switch interval delays every note that comes back from the port for the GIL
        realtime.hold()
        try:
            self._send_until_closed()
        finally:
            realtime.release()

    def _send_until_closed(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._heap:
                    self._cv.wait()
                if self._stop and not self._heap:
                    return
                when, _, msg, _on, nid = self._heap[0]
                wait = when - time.perf_counter()
                if wait > 0.002:
                    self._cv.wait(wait - 0.0015)  # coarse, then spin the last moment
                    continue
                heapq.heappop(self._heap)
            while time.perf_counter() < when:
                pass
            self._send(when, msg, nid)

    def _send(self, when: float, msg: list[int], nid: int | None) -> None:
        for out in self.notes.messages(msg, nid):
            sent_at = time.perf_counter()
            if not (self.port is None or self.port.send(out)):
                continue
            if out[0] & 0xF0 == 0x90:
                self.report.notes_sent += 1
                self.report.send_error_ms.append((sent_at - when) * 1e3)
            elif out[0] & 0xF0 == 0x80:
                self.report.note_offs_sent += 1

    def close(self, drain: bool = True) -> None:
        with self._cv:
            if not drain:
                self._heap.clear()
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=60)
        for msg in self.notes.release():  # cut short (error, cancel): no key is left sounding
            if self.port is None or self.port.send(msg):
                self.report.note_offs_sent += 1


class _NullPort:
    label = "none"

    def send(self, msg) -> bool:
        return True

    def check(self):
        return None

    def all_notes_off(self, channels=range(16)) -> None:
        pass

    def close(self) -> None:
        pass


# -- the session ---------------------------------------------------------------------------------
def run_live(source: str, settings: LiveSettings = LiveSettings(), *, port=None, record_path=None,
             job: Job | None = None, engine=None) -> LiveReport:
    """Run until the source ends, ``settings.max_seconds`` of media, or ``job.cancel()``."""
    from engines.rhythm import RhythmEngine

    from studio.options import check_live

    check_live(settings, record_path)  # a bad tempo, seed, style or --record target: before the take
    job = Job.quiet(job)
    live = is_live_source(source) if settings.causal is None else settings.causal
    report = LiveReport(str(source), "causal" if live else "look-ahead")
    container, stream = open_source(source)
    engine = engine or RhythmEngine()
    state = _start_engine(engine, settings, container)
    port = port if port is not None else _NullPort()
    for part, ch in PART_CHANNELS.items():
        if part != "drums":
            port.send([0xC0 | ch, settings.bass_program if part == "bass" else settings.keys_program])
    sender = TimedSender(port, report)
    take = _Take(source, settings, live, report, engine, state, port, sender, job)
    try:
        take.play(container.decode(stream))
        sender.close(drain=True)
    except BaseException:
        sender.close(drain=False)
        raise
    finally:
        container.close()
        port.all_notes_off(PART_CHANNELS.values())
    if take.tempo is None:
        raise MediaError(f"{source} ended after {take.last_t:.1f} s, before the {settings.warmup_s:g} s warm-up "
                         "that sets the tempo; use a longer source or a shorter --warmup")
    if record_path is not None:
        _record(record_path, take.recorded, take.tempo, take.first_bar, settings)
    return report


def _start_engine(engine, settings: LiveSettings, container):
    """The engine's state for this take, its sessions opened (so the first bar is not late by
    their loading time); the container is closed when that fails."""
    try:
        state = engine.start(style=settings.style, seed=settings.seed, key=settings.key,
                             music=settings.music)
    except ValueError as exc:
        container.close()
        raise StudioError(str(exc)) from None
    try:
        engine.next_bar(state, np.zeros(16, np.float32))
    except Exception:
        container.close()
        raise
    return state


class _Take:
    """One session's state from frame to frame: the onset tracker, the tempo and bar grid once the
    warm-up has set them, the wall clock of media time 0, and the notes sent (for ``--record``)."""

    def __init__(self, source, settings: LiveSettings, live: bool, report: LiveReport, engine, state,
                 port, sender: TimedSender, job: Job):
        self.source, self.settings, self.live, self.report = source, settings, live, report
        self.engine, self.state, self.port, self.sender, self.job = engine, state, port, sender, job
        self.recorded: list = []
        self.tracker: OnsetTracker | None = None
        self.wall0: float | None = None  # wall time of media time 0 (set when playback starts)
        self.tempo = self.bar_start = self.step_s = self.bar_s = self.first_bar = None
        self.last_t = 0.0

    def play(self, frames) -> None:
        """Decode until the source ends, ``max_seconds`` of media, or a cancel."""
        import av

        media0: float | None = None
        while True:
            self.job.check_cancelled()
            t_frame = time.perf_counter()
            try:
                frame = next(frames)
            except (StopIteration, KeyboardInterrupt):  # Ctrl+C ends a camera session like its end
                break
            except av.error.FFmpegError as exc:
                if self.live:
                    raise MediaError(f"the stream {self.source} failed: {exc}") from None
                break  # a damaged tail of a file ends the session like its end
            t = frame.time if frame.time is not None else self.last_t + 1 / 30
            media0 = t if media0 is None else media0
            t -= media0
            self.last_t = t
            if self.settings.max_seconds is not None and t > self.settings.max_seconds:
                break
            self._frame(t, frame.to_ndarray(format="gray"), t_frame)

    def _frame(self, t: float, gray: np.ndarray, t_frame: float) -> None:
        """Feed one frame at media time ``t``; play every bar whose window it completes."""
        settings, report = self.settings, self.report
        if self.tracker is None:
            self.tracker = OnsetTracker((gray.shape[1], gray.shape[0]))
        self.tracker.add(t, gray)
        report.frame_ms.append((time.perf_counter() - t_frame) * 1e3)
        report.media_s = t
        if self.live and self.wall0 is None:
            self.wall0 = time.perf_counter() - t  # the camera's clock is the playhead
        if self.live and not is_live_source(self.source):  # a file run as if it were a camera: real time
            ahead = (self.wall0 + t) - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        if self.tempo is None:
            if t < settings.warmup_s:
                return
            self._set_tempo(t)
        # a bar is ready when its window is covered by frames
        while True:
            # look-ahead: the bar's own frames; causal: the bar-long window closing lead_s before it
            window_end = self.bar_start - settings.lead_s if self.live else self.bar_start + self.bar_s
            window_start = window_end - self.bar_s
            if t < window_end:
                break
            self._play_bar(t, window_start, window_end)
        if not self.live and self.wall0 is not None:
            ahead = (self.wall0 + t) - time.perf_counter()  # how far decoding is ahead of playback
            if ahead > settings.lookahead_bars * self.bar_s:
                time.sleep(ahead - settings.lookahead_bars * self.bar_s)

    def _set_tempo(self, t: float) -> None:
        """The tempo and the first bar, from the warm-up's onsets (or the given bpm)."""
        settings = self.settings
        tempo, bar_start = self.tracker.tempo_and_anchor(t + (settings.lead_s if self.live else 0.0), settings.bpm,
                                                         first=not self.live)
        if not np.isfinite(bar_start):  # the tempo is checked in tempo_and_anchor
            raise StudioError(f"no first bar could be placed at {tempo:g} BPM")
        self.tempo, self.bar_start = tempo, bar_start
        self.report.tempo_bpm = tempo
        self.first_bar = self.report.first_bar_s = bar_start
        self.step_s = 15.0 / tempo
        self.bar_s = self.step_s * 4 * settings.beats_per_bar

    def _play_bar(self, t: float, window_start: float, window_end: float) -> None:
        """Generate the next bar from its window's activation and queue its notes."""
        from engines.rhythm.accents import accent_contacts

        settings, report, step_s, bar_start = self.settings, self.report, self.step_s, self.bar_start
        t_bar = time.perf_counter()
        steps = window_start + step_s * np.arange(4 * settings.beats_per_bar)
        hits = [c for c in self.tracker.contacts(window_start - CONTACT_MARGIN_S)
                if window_start - 0.5 * step_s <= c.time_s < window_end - 0.5 * step_s]
        act = self.tracker.activation(steps, step_s, hits)
        self.state = replace(self.state, tempo_bpm=self.tempo, next_start_s=bar_start)
        notes, self.state = self.engine.next_bar(self.state, act)
        if not self.live:  # look-ahead: the window is the bar itself, the drums land on its contacts
            notes = accent_contacts(notes, [c.time_s for c in hits], [c.strength for c in hits],
                                    bar_start + 4 * step_s * np.arange(settings.beats_per_bar + 1), 0,
                                    settings.beats_per_bar)
        queued = time.perf_counter()
        if self.wall0 is None:  # look-ahead: playback starts once the first bar is ready
            self.wall0 = queued + START_MARGIN_S - bar_start
        # the frame that completed the window (decode + features), then activation + engine
        report.bar_latency_ms.append(report.frame_ms[-1] + (queued - t_bar) * 1e3)
        slack = self.wall0 + bar_start - queued
        report.bar_slack_ms.append(slack * 1e3)
        report.late_bars += slack < 0
        for n in notes:
            ch = PART_CHANNELS.get(n.part, 0)
            on = self.wall0 + n.start_s
            self.sender.put_note(on, on + n.dur_s, ch, n.pitch, n.velocity)
            self.recorded.append((n, ch))
        report.bars += 1
        self.job.report(0.0 if settings.max_seconds is None else min(1.0, t / settings.max_seconds),
                        f"bar {report.bars} at {self.tempo:.1f} BPM")
        self.bar_start += self.bar_s
        err = self.port.check()
        if err:
            report.error = err


def _record(path, recorded, tempo: float, first_bar_s: float, settings: LiveSettings) -> None:
    """The session as a Standard MIDI File (one track per part)."""
    from export import smf
    from studio.music import Note, TempoMap

    parts = {}
    for n, ch in recorded:
        parts.setdefault(n.part, []).append(Note(n.start_s, n.dur_s, n.pitch, n.velocity, ch))
    programs = {"drums": 0, "bass": settings.bass_program, "keys": settings.keys_program}
    built = [smf.Part(name.capitalize(), notes, programs[name], drums=name == "drums", channel=PART_CHANNELS[name])
             for name, notes in parts.items()]
    from studio.fsutil import write_bytes_atomic

    write_bytes_atomic(path, smf.midi_bytes(built, TempoMap.constant(tempo, first_bar_s, settings.beats_per_bar)))
