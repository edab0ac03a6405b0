"""Transport benchmark through a private JACK dummy server (48 kHz).

Audio: 8 stems are pre-mixed by the feeder worker thread (not in the callback); the callback
only copies from the ring. Its time (p50/p99, measured inside our callback, so PortAudio's and
sounddevice's own wrapper time are not included) is compared with the baseline, the block
period (256 frames = 5.33 ms); target p99 < 30 %. The worker's mix time per block is reported.

MIDI: a 16th-note drum groove goes to the virtual "Studio" port while the 8 stems play,
``jack_midi_dump -a`` records arrival frames, and the timing error is arrival minus scheduled
time with the constant offset (median) removed; target p99 < 2 ms. A second part of long
overlapping same-pitch notes checks note integrity: note-ons and note-offs received are counted
(``midi_notes_hanging`` = ons - offs, should be 0). python-rtmidi's JACK
backend writes every event at frame 0 of the next JACK cycle, so the error cannot be below
the period's quantisation (uniform over one period: p99 ~ period/2 after centring). The run
is repeated at 64 frames to show that floor moving with the period.

The studio's MIDI now goes to JACK through its own JACK client (studio/transport/jack_midi.py):
each event is written in the process callback at its exact frame, mapped from the audio clock,
so the main stages measure that path. ``midi_matrix`` compares it with the rtmidi path in the
same run: at 64/128/256/512 frames, each backend plays the groove with 2 stems (the audio clock
drives both), without and with a CPU hog (a busy-looping Python subprocess); one fresh
``jack_midi_dump`` per run. Flat keys ``midi_<backend>_<period>[_hog]_p99_ms``; targets for the
JACK path: p99 <= 0.5 ms at 256 frames, <= 1 ms with the hog. ``midi_jack_*_late`` counts
events handed to the callback after their cycle, ``*_audio_slips`` the times the audio clock
slipped against JACK time (MIDI follows the audio), ``*_jack_xruns`` the server's xruns,
``*_dump_missed`` the cycles ``jack_midi_dump`` itself missed up to its last event (each loses that
cycle's events and shifts the frames it prints after it a period early: a run with any measures
the recorder on a stalled machine, not the studio).

Clock (``clock_*``): the MIDI clock against the audio sample clock, in one frame domain. The
studio plays a click on every beat (one sample, from the feeder) and sends MIDI clock; a JACK
client of the bench's (``ClockProbe``) records the clicks' arrival frames on an audio input and
the clock ticks' on a MIDI input. For each beat, (frame of its 24th-ppqn tick) - (frame of its
click), as a DAW following the clock counts beats (SPP, Start/Continue, ticks);
``clock_drift_ms`` is how far that moved from the run's first tenth of beats to its last
(medians), ``clock_drift_ms_per_min`` that per minute; target <= 1 ms over the run. Beats hit by
an xrun or a stall (late by more than 1 ms against the median) are transients, counted apart
(``clock_beats_off_1ms``, ``clock_max_transient_ms``): the clock is re-positioned after them.
``clock_offset_steps``: [seconds, ms] where the beats' offset settled at a new value (five beats
within 1 ms), ``clock_audio_slip_times``: [seconds, frames] where the audio-to-JACK offset of the
MIDI mapping changed, and ``clock_jack_clock_slips``: [seconds, ms] where JACK's frames moved
against the system clock (the dummy driver woke late), to lay beside them. The stage lasts 60 s (``quick``:
10 s; ``minutes=M``, ``studio bench transport --minutes 10``: M minutes, the long stage), on the
JACK path and, shorter, on rtmidi (whose ticks sit at frame 0 of a cycle: jitter up to a period,
but no drift). Stalls (``stalls_*``): sleeps injected into the audio callback
(``AudioOutput.inject_stall``) and into the MIDI scheduler (its ``test_hook``), one at a time;
``stalls_*_reported`` counts those the transport reported ("health" events whose late-callback
or MIDI-stall count grew), which should equal ``stalls_*_injected``.

Busy Python thread (``busy_python_*``): 8 stems and the drums while another thread of this
process runs pure Python, with the transport's 1 ms GIL switch interval and, as the baseline in
the same run, CPython's default 5 ms (``busy_python_baseline_*``): underruns, xruns, MIDI.
"""
from __future__ import annotations

import time

import numpy as np

SR = 48000
AHEAD_S = 0.15


def _spatial_sources(seconds: float) -> tuple[list, str | None]:
    """Two mono stems moving around the listener in the studio room, convolved live by the
    spatial engine in the feeder thread (empty with the reason when that engine is absent)."""
    try:
        from engines.spatial.render import keyframe_path
        from studio.transport.spatial_source import SpatialStreamSource
    except ImportError as exc:
        return [], f"spatial engine missing ({exc})"
    rng = np.random.default_rng(1)
    n = int((seconds + 1) * SR)
    stems = [rng.standard_normal(n).astype(np.float32) * 0.01 for _ in range(2)]
    listener = np.array([2.5, 2.0, 1.6])
    times = np.linspace(0.0, seconds, 9)
    paths = []
    for k in range(2):
        ang = np.linspace(0, 2 * np.pi, len(times)) + k * np.pi  # circling, one on each side
        pos = np.stack([listener[0] + 1.2 * np.cos(ang), listener[1] + 1.2 * np.sin(ang),
                        np.full(len(times), 1.5)], axis=1)
        paths.append(keyframe_path(times, pos, listener, 0.0))
    try:
        return [SpatialStreamSource("studio", stems, paths, SR, name="2 moving spatial stems")], None
    except Exception as exc:  # a missing/damaged field model: the rest of the benchmark still runs
        return [], f"spatial stems unavailable: {exc}"


def _groove(seconds: float) -> tuple[list, list]:
    """The timed drum groove (channel 10) and a channel-1 part of long, overlapping same-pitch
    notes (each C3 sounds 3 sixteenths and a new one starts every 2: retriggers)."""
    from studio.music import Note

    step = 60.0 / 120 / 4
    drums = [Note(0.1 + i * step, step / 2, (36, 42, 38, 42)[i % 4], 100, 9)
             for i in range(int((seconds - 0.3) / step))]
    overlaps = [Note(0.1 + i * 2 * step, 3 * step, 48, 80, 0) for i in range(int((seconds - 0.4) / (2 * step)))]
    return drums, overlaps


def _play(server, dump, period: int, seconds: float, n_stems: int, spatial: bool,
          backend: str | None = None, wall_limit_s: float | None = None, after_run=None) -> dict:
    """One run of the stems and the MIDI parts; every device it opens is closed on the way out.
    ``backend``: the MIDI port's ("jack", "rtmidi"; None: what the studio picks).
    ``wall_limit_s``: stop there if the run has not reached its end (a starved transport crawls).
    ``after_run``: called when the run ends, before anything is closed."""
    from studio.music import TempoMap
    from studio.transport import AudioOutput, BufferSource, MidiPart, MidiPort, MidiScheduler, State, Transport

    rng = np.random.default_rng(0)
    stems = [BufferSource(rng.standard_normal((2, int((seconds + 1) * SR))).astype(np.float32) * 0.01, SR)
             for _ in range(n_stems)]
    notes, overlaps = _groove(seconds)
    port = MidiPort(name="StudioBench", backend=backend)
    midi = MidiScheduler(port, send_clock=False)
    jack_out = port.jack
    spatial_sources, spatial_problem = _spatial_sources(seconds) if spatial else ([], "not asked")
    # live convolution renders in 512-frame blocks: the feeder keeps AHEAD_S of audio queued
    audio = AudioOutput(SR, period, ahead_s=AHEAD_S if spatial_sources else 0.05)
    t = Transport(duration_s=seconds, audio=audio, midi=midi)
    try:
        server.connect("StudioBench:StudioBench", dump.port)
        midi.set_parts([MidiPart(notes, 9), MidiPart(overlaps, 0)], TempoMap.constant(120))
        audio.open()
        audio.set_sources(stems + spatial_sources)
        xruns0 = server.xruns()
        t.play()
        deadline = time.monotonic() + wall_limit_s if wall_limit_s else float("inf")
        while t.state is State.PLAYING and time.monotonic() < deadline:
            time.sleep(0.05)
        if after_run is not None:
            after_run()
        stats = audio.stats()
        feeds = audio.feed_ns[:min(audio._feeds, audio.feed_ns.size)] * 1e-6
        mapping = midi.mapping
    finally:
        t.close()  # stops the run, silences MIDI, closes the port and the audio stream
    time.sleep(0.2)
    out = {
        "period_frames": period,
        **{k: stats[k] for k in ("block_period_ms", "callback_p50_ms", "callback_p99_ms",
                                 "callback_p99_fraction", "callbacks", "underruns", "device_xruns",
                                 "frames_played")},
        "worker_mix_p99_ms": float(np.percentile(feeds, 99)) if feeds.size else None,
        "jack_xruns": server.xruns() - xruns0,
        "spatial_stems": 2 * len(spatial_sources),
        "ring_ahead_ms": audio.ahead / SR * 1e3,
        "spatial_problem": spatial_problem,
        "feeder_errors": list(audio.feeder_errors),
        "midi_backend": port.backend,
        "midi_late": jack_out.late if jack_out is not None else None,
        "midi_audio_slips": len(mapping.changes) if mapping is not None else None,
    }
    return {**out, **_midi_figures(dump, notes, overlaps)}


def _midi_figures(dump, notes: list, overlaps: list) -> dict:
    """Drum timing (note-ons on channel 10) and note integrity over everything received: every
    note-on matched by a note-off (``midi_notes_hanging`` = ons - offs, should be 0)."""
    from studio.transport.jack import timing_errors_s

    events = dump.events()
    ons = [f for f, b in events if b[0] == 0x99]
    n_on = sum(1 for _, b in events if b[0] & 0xF0 == 0x90 and b[2] > 0)
    n_off = sum(1 for _, b in events if b[0] & 0xF0 == 0x80 or (b[0] & 0xF0 == 0x90 and b[2] == 0))
    out = {"midi_notes_sent": len(notes), "midi_notes_received": len(ons),
           "midi_overlapping_notes": len(overlaps), "midi_note_ons": n_on, "midi_note_offs": n_off,
           "midi_notes_hanging": n_on - n_off,
           # cycles the recorder itself missed (the server's log): each loses that cycle's events
           # and moves every later frame it prints a period early, so the figures are its, not the studio's
           "midi_dump_missed": dump.missed()}
    if len(ons) == len(notes):
        err, _ = timing_errors_s(ons, [n.start_s for n in notes], SR)
        a = np.abs(err) * 1e3
        out["midi_p50_ms"] = float(np.percentile(a, 50))
        out["midi_p99_ms"] = float(np.percentile(a, 99))
        out["midi_max_ms"] = float(a.max())
    return out


def _release_portaudio() -> None:
    """Shut PortAudio down while the server still runs (its JACK host API asserts otherwise)."""
    from studio.transport.devices import import_sounddevice

    sd = import_sounddevice()
    while sd._initialized:
        sd._terminate()


def _midi_run(server, period: int, seconds: float, backend: str, hog: bool) -> dict:
    """The groove through one MIDI backend with 2 stems playing, into a fresh jack_midi_dump."""
    from contextlib import nullcontext

    from studio.bench._hog import CpuHog
    from studio.transport.jack import MidiDump

    with (CpuHog() if hog else nullcontext()), MidiDump(server, f"bench-{backend}-{period}") as dump:
        r = _play(server, dump, period, seconds, 2, False, backend=backend)
    keep = ("midi_backend", "midi_p50_ms", "midi_p99_ms", "midi_max_ms", "midi_notes_sent", "midi_notes_received",
            "midi_notes_hanging", "midi_late", "midi_audio_slips", "jack_xruns", "device_xruns", "underruns",
            "midi_dump_missed")
    return {"period_frames": period, "hog": hog, **{k: r.get(k) for k in keep}}


def _measure(period: int, seconds: float, n_stems: int = 8, spatial: bool = True,
             matrix: tuple = ()) -> dict:
    """One stage on its own private JACK server; the server, ``jack_midi_dump`` and every port
    are ended in ``finally`` blocks, and what is left of them is reported (should be nothing).
    ``matrix``: (backend, hog, seconds) MIDI runs on the same server afterwards."""
    from studio.transport.devices import rescan_audio
    from studio.transport.jack import JackServer, MidiDump

    with JackServer(SR, period) as server:
        try:
            rescan_audio()
            if seconds:
                with MidiDump(server, "bench-monitor") as dump:
                    out = _play(server, dump, period, seconds, n_stems, spatial)
            else:
                out = {}
            out["midi_matrix"] = [_midi_run(server, period, secs, backend, hog) for backend, hog, secs in matrix]
        finally:
            _release_portaudio()
        out["jack_ports_left"] = server.client_ports()
    out["jack_server"] = server.name
    out["jack_files_left"] = [p.name for p in server.files()]
    return out


def _busy_python(seconds: float) -> dict:
    """8 stems and the drums at 256 frames while another thread of this process runs pure Python
    (as an engine's sampling loop does during a regenerate): with the transport's 1 ms GIL switch
    interval (``studio.transport.realtime``) and, as the baseline in the same run, with CPython's
    default 5 ms, each given ``seconds`` + 2 s of wall time. Returns the keys
    ``busy_python_<figure>`` and ``busy_python_baseline_<figure>``, and under "server" the
    server's name with what is left of it (as ``_measure`` reports them)."""
    import sys
    import threading

    from studio.bench._hog import busy_python
    from studio.transport import realtime
    from studio.transport.devices import rescan_audio
    from studio.transport.jack import JackServer, MidiDump

    keep = ("underruns", "device_xruns", "jack_xruns", "callbacks", "midi_notes_sent", "midi_notes_received",
            "midi_p99_ms", "midi_late", "midi_dump_missed")
    # and played_s: the song seconds played in the run's wall time
    out: dict = {}
    shipped, default = realtime.SWITCH_INTERVAL_S, sys.getswitchinterval()
    with JackServer(SR, 256) as server:
        try:
            rescan_audio()
            for label, interval in (("busy_python_baseline", 0.005), ("busy_python", shipped)):
                realtime.SWITCH_INTERVAL_S = interval
                sys.setswitchinterval(0.005)
                stop = threading.Event()
                worker = threading.Thread(target=busy_python, args=(stop,), daemon=True)
                try:
                    with MidiDump(server, f"bench-{label}") as dump:
                        worker.start()
                        # the load stops with the run: closing JACK clients beside it at 5 ms
                        # can hang (what the transport's own clients hold 1 ms against)
                        r = _play(server, dump, 256, seconds, 8, False, wall_limit_s=seconds + 2.0,
                                  after_run=stop.set)
                finally:
                    stop.set()
                    if worker.ident is not None:  # (not started when the dump failed to start)
                        worker.join()
                out.update({f"{label}_{k}": r.get(k) for k in keep})
                out[f"{label}_played_s"] = round(r["frames_played"] / SR, 3)
                out[f"{label}_switch_interval_ms"] = interval * 1e3
        finally:
            realtime.SWITCH_INTERVAL_S = shipped
            sys.setswitchinterval(default)
            _release_portaudio()
        ports_left = server.client_ports()
    out["busy_python_note"] = ("8 stems + drums at 256 frames beside a thread of this process running pure "
                               "Python; baseline: CPython's default 5 ms GIL switch interval, same run")
    out["server"] = {"jack_server": server.name, "jack_ports_left": ports_left,
                     "jack_files_left": [p.name for p in server.files()]}
    return out


def _matrix_rows(stages: list[dict]) -> tuple[list[dict], dict]:
    """The MIDI matrix runs of every stage, by period, hog and backend, and the same as flat
    keys ``midi_<backend>_<period>[_hog]_<figure>``."""
    rows = sorted((r for stage in stages for r in stage["midi_matrix"]),
                  key=lambda r: (r["period_frames"], r["hog"], r["midi_backend"]))
    flat = {}
    for r in rows:
        key = f"midi_{r['midi_backend']}_{r['period_frames']}{'_hog' if r['hog'] else ''}"
        for k in ("p50_ms", "p99_ms", "max_ms", "late", "audio_slips"):
            if r.get(f"midi_{k}") is not None:
                flat[f"{key}_{k}"] = r[f"midi_{k}"]
        flat[f"{key}_jack_xruns"] = r["jack_xruns"]
        flat[f"{key}_notes_received"] = r["midi_notes_received"]
        flat[f"{key}_notes_hanging"] = r["midi_notes_hanging"]
        flat[f"{key}_dump_missed"] = r["midi_dump_missed"]
    return rows, flat


class _Clicks:
    """An audio source: one sample at 0.5 on every beat of ``tempo`` from beat 1 on (beat 0 is
    under the start's fade-in)."""

    def __init__(self, tempo, sample_rate: int = SR) -> None:
        self.tempo, self.sr = tempo, sample_rate

    def render(self, out: np.ndarray, frame: int) -> None:
        t0, t1 = frame / self.sr, (frame + out.shape[1]) / self.sr
        b = max(1, int(np.ceil(self.tempo.beat_at(t0) - 1e-9)))
        while True:
            f = int(round(self.tempo.time_at(b) * self.sr)) - frame
            if f >= out.shape[1] or self.tempo.time_at(b) >= t1 + 1:
                return
            if f >= 0:
                out[:, f] += 0.5
            b += 1


def _clock_run(server, period: int, seconds: float, backend: str | None, stalls: int = 0) -> dict:
    """The MIDI clock and a click per beat for ``seconds``, both recorded by a ClockProbe; with
    ``stalls``, that many audio callback stalls and as many MIDI scheduler stalls, one at a time."""
    from studio.music import TempoMap
    from studio.transport import AudioOutput, MidiPort, MidiScheduler, State, Transport
    from studio.transport.devices import AUDIO_CLIENT_NAME
    from studio.transport.jack import ClockProbe

    tempo = TempoMap.constant(120)
    port = MidiPort(name="StudioClock", backend=backend)
    midi = MidiScheduler(port, send_clock=True)
    midi.set_parts([], tempo)
    audio = AudioOutput(SR, period)
    t = Transport(tempo=tempo, duration_s=seconds, audio=audio, midi=midi)
    injected = {"audio": 0, "midi": 0}
    reported = {"audio": 0, "midi": 0}
    pending: list[float] = []

    def hook():
        if pending:
            time.sleep(pending.pop())

    midi.test_hook = hook
    try:
        with ClockProbe("bench-clock-probe") as probe:
            audio.open()
            audio.set_sources([_Clicks(tempo)])
            # PortAudio numbers a stream's ports on from the last stream's (out_2, out_3, ...)
            outs = sorted((p for p in server.ports() if p.startswith(f"{AUDIO_CLIENT_NAME}:out_")),
                          key=lambda p: int(p.rsplit("_", 1)[1]))
            if not outs:
                raise RuntimeError(f"no {AUDIO_CLIENT_NAME} audio port among {server.client_ports()}")
            server.connect(outs[0], probe.audio_port)
            server.connect(port.jack.port_name if port.jack else "StudioClock:StudioClock", probe.midi_port)
            xruns0 = server.xruns()
            t0_ns = time.perf_counter_ns()
            t.play()
            deadline = time.monotonic() + seconds + 10
            time.sleep(min(1.0, seconds / 4))
            for k in range(stalls):
                for kind, key in (("audio", "late_callbacks"), ("midi", "midi_stalls")):
                    seen = t.health.get(key, 0)
                    if kind == "audio":
                        audio.inject_stall(0.03)
                    else:
                        pending.append(0.05)
                    injected[kind] += 1
                    until = time.monotonic() + 2.0
                    while time.monotonic() < until and t.health.get(key, 0) <= seen:
                        time.sleep(0.01)
                    reported[kind] += t.health.get(key, 0) > seen
                    time.sleep(0.3)
            while t.state is State.PLAYING and time.monotonic() < deadline:
                time.sleep(0.05)
            health = dict(t.health)
            sent = port.sent  # messages the studio sent (the stop's Stop and all-notes-off follow)
            stats = audio.stats()
            changes = list(midi.mapping.changes) if midi.mapping is not None else None
            time.sleep(0.1)
            midi_events, onsets, slips = list(probe.midi), list(probe.onsets), list(probe.clock_slips)
    finally:
        t.close()
    msgs = [b for _, b in midi_events]
    received_before_stop = msgs.index(bytes([0xFC])) if bytes([0xFC]) in msgs else len(msgs)
    out = {"midi_sent": sent, "midi_received": received_before_stop, "backend": port.backend,
           "period_frames": period, "seconds": seconds, "jack_xruns": server.xruns() - xruns0,
           "device_xruns": stats["device_xruns"], "late_callbacks": stats["late_callbacks"],
           "audio_slips": None if changes is None else len(changes), "health": health,
           # when the audio-to-JACK offset changed (seconds into the run, frames): to lay beside the
           # beats' offset steps
           "audio_slip_times": None if changes is None else [[round((tns - t0_ns) / 1e9, 2), int(D)]
                                                             for tns, D in changes],
           # [seconds, ms] where JACK's frames moved against the system clock (the dummy driver woke
           # late: ClockProbe.clock_slips), which the audio clock's anchors re-learn over seconds
           "jack_clock_slips": [[round((tns - t0_ns) / 1e9, 2), ms] for tns, ms in slips]}
    if stalls:
        out.update({"stalls_audio_injected": injected["audio"], "stalls_audio_reported": reported["audio"],
                    "stalls_midi_injected": injected["midi"], "stalls_midi_reported": reported["midi"]})
    return _clock_against_clicks(out, midi_events, onsets)


def _clock_against_clicks(out: dict, midi_events: list, onsets: list) -> dict:
    """``out`` with the clock against the clicks: per beat a DAW counts from the ticks, its tick's
    frame minus its click's; offset, drift from the first tenth of the beats to the last, resyncs."""
    from studio.transport.midi import CONTINUE, START

    msgs = [b for _, b in midi_events]
    if bytes([START]) not in msgs:
        return {**out, "problem": "no MIDI Start received"}
    ticks, beat_ticks = _daw_view(midi_events)  # beats 1, 2, ... as a DAW following the clock counts them
    onsets = np.array(onsets, float)
    diffs, times = [], []
    for b, f in beat_ticks:
        if not onsets.size:
            break
        j = int(np.argmin(np.abs(onsets - f)))
        if abs(onsets[j] - f) < 0.25 * SR:  # a quarter of a beat: its own click
            diffs.append(f - onsets[j])
            times.append(b * 0.5)
    d = np.array(diffs) / SR * 1e3
    out.update({"beats": len(beat_ticks), "beats_matched": len(d), "clicks": int(onsets.size),
                "ticks_received": len(ticks), "resyncs": msgs.count(bytes([CONTINUE]))})
    if d.size >= 4:
        # drift = how far the clock moved against the audio from the run's first tenth of beats
        # to its last (medians: a beat hit by an xrun is a transient, counted apart)
        tenth = max(1, d.size // 10)
        first, last = float(np.median(d[:tenth])), float(np.median(d[-tenth:]))
        span_min = (np.mean(times[-tenth:]) - np.mean(times[:tenth])) / 60.0
        med = float(np.median(d))
        dev = np.abs(d - med)
        out.update({"clock_offset_ms": med, "clock_drift_ms": abs(last - first),
                    "clock_drift_ms_per_min": (last - first) / span_min if span_min > 0 else None,
                    "clock_beats_off_1ms": int(np.sum(dev > 1.0)),
                    "clock_max_transient_ms": float(dev.max()),
                    "tick_spacing_max_err_frames": float(np.max(np.abs(np.diff(ticks) - SR * 60 / 120 / 24))),
                    "clock_offset_steps": _offset_steps(np.asarray(times), d)})
    return out


def _offset_steps(times_s: np.ndarray, offsets_ms: np.ndarray, beats: int = 5, min_ms: float = 1.0) -> list:
    """Where the beats' offset settles at a new value: [seconds, ms] at the first beat and the
    start of each later run of ``beats`` beats within ``min_ms`` of each other that differs from
    the last settled value by more than ``min_ms`` (a beat hit by an xrun alone is no step)."""
    steps: list = []
    for i in range(len(offsets_ms) - beats + 1):
        w = offsets_ms[i:i + beats]
        if np.ptp(w) > min_ms:
            continue
        value = float(np.median(w))
        if not steps or abs(value - steps[-1][1]) > min_ms:
            steps.append([round(float(times_s[i]), 1), round(value, 2)])
    return steps


def _daw_view(midi_events: list) -> tuple[list[int], list[int]]:
    """What a DAW following the clock makes of it: (frames of all ticks received while running,
    (beat, frame) of the ticks it counts as beats 1, 2, ...): SPP sets the position (in sixteenths),
    Start/Continue run, Stop halts, each tick while running is the position's then advances it."""
    from studio.transport.midi import CLOCK, CONTINUE, SPP, START, STOP

    pos, running, ticks, beats = 0, False, [], {}
    for f, b in midi_events:
        if b[0] == SPP:
            pos = 6 * (b[1] | b[2] << 7)
        elif b[0] == START:
            pos, running = 0, True
        elif b[0] == CONTINUE:
            running = True
        elif b[0] == STOP:
            running = False
        elif b[0] == CLOCK and running:
            ticks.append(f)
            if pos % 24 == 0 and pos > 0:
                beats.setdefault(pos // 24, f)
            pos += 1
    return ticks, sorted(beats.items())


def _clock_stage(job, quick: bool, minutes: float | None) -> dict:
    """The clock drift runs (JACK MIDI, then rtmidi) and the stall run, on one private server."""
    from studio.transport.devices import rescan_audio
    from studio.transport.jack import JackServer

    secs = 60.0 * float(minutes) if minutes else (10.0 if quick else 60.0)
    with JackServer(SR, 256) as server:
        try:
            rescan_audio()
            job.report(0.0, f"MIDI clock against the audio, {secs:.0f} s (JACK MIDI)")
            jack_run = _clock_run(server, 256, secs, "jack")
            job.report(0.6, "MIDI clock against the audio (rtmidi)")
            rt_run = _clock_run(server, 256, min(secs, 10.0 if quick else 30.0), "rtmidi")
            job.report(0.8, "injected stalls")
            stall_run = _clock_run(server, 256, 6.0 if quick else 10.0, "jack", stalls=3 if quick else 5)
        finally:
            _release_portaudio()
        left = server.client_ports()
    return {"jack": jack_run, "rtmidi": rt_run, "stalls": stall_run, "jack_ports_left": left,
            "jack_files_left": [p.name for p in server.files()]}


def _stages(job, quick: bool) -> tuple[dict, dict, list[dict], dict]:
    """The 256-frame stage (stems, spatial, MIDI), the 64-frame one and (not ``quick``) 128 and
    512 frames for the MIDI matrix alone: rtmidi vs JACK MIDI, without and with a CPU hog (quick:
    no hog, short runs); then the busy-Python stage (its figures, its server under "server")."""
    secs = 1.2 if quick else 3.0
    matrix = tuple((b, h, secs) for h in ((False,) if quick else (False, True)) for b in ("rtmidi", "jack"))
    job.report(0.0, "8 stems + 2 spatial stems + drums at 256 frames")
    main = (_measure(256, 2.0, 2, spatial=False, matrix=matrix) if quick
            else _measure(256, 6.0, matrix=matrix))
    job.report(0.4, "MIDI at 64 frames")
    # MIDI timing floor; no 512-frame convolution at 64
    small = _measure(64, 1.5 if quick else 4.0, 2 if quick else 8, spatial=False, matrix=matrix)
    extra = []
    if not quick:
        for k, period in enumerate((128, 512)):
            job.report(0.6 + 0.2 * k, f"MIDI at {period} frames")
            extra.append(_measure(period, 0, matrix=matrix))
    job.report(0.9, "8 stems beside a busy Python thread")
    busy = _busy_python(1.5 if quick else 4.0)
    job.report(1.0)
    return main, small, extra, busy


def run(job=None, quick: bool = False, minutes: str | float | None = None, clock_only: bool = False) -> dict:
    """Both stages (``quick``: 2 s and 1.5 s, 2 stems, no spatial stems, for checks) and the
    clock stage (``minutes``: its JACK run's length; ``clock_only``: that stage alone)."""
    from studio.jobs import Job
    from studio.transport.jack import jackd_missing_reason

    reason = jackd_missing_reason()
    if reason:
        return {"name": "transport", "skipped": reason}
    job = Job.quiet(job)
    if minutes is not None:
        minutes = float(str(minutes).split(",")[0])
    clock = _clock_figures(_clock_stage(job, quick, minutes))
    if clock_only:
        return {"name": "transport", "sample_rate_hz": SR, "quick": quick, **clock}
    main, small, extra, busy = _stages(job, quick)
    rows, flat = _matrix_rows([main, small, *extra])
    extra.append(busy.pop("server"))  # the busy-Python stage's server: checked for leftovers too
    return {
        **clock,
        "name": "transport",
        "sample_rate_hz": SR,
        "quick": quick,
        "stems": 2 if quick else 8,
        "spatial_stems": main["spatial_stems"],
        "spatial_problem": main["spatial_problem"],
        "ring_ahead_ms": main["ring_ahead_ms"],
        "feeder_errors": main["feeder_errors"],
        "stem_mixing": "8 stems pre-mixed and 2 moving sources convolved live (spatial engine, studio "
                       "room) by the feeder worker thread; the callback only copies from the ring",
        "baseline": "block period (256 frames at 48 kHz)",
        "baseline_ms": main["block_period_ms"],
        "callback_p50_ms": main["callback_p50_ms"],
        "callback_p99_ms": main["callback_p99_ms"],
        "callback_p99_fraction": main["callback_p99_fraction"],
        "callback_target_fraction": 0.30,
        "worker_mix_p99_ms": main["worker_mix_p99_ms"],
        "targets": [{"key": "callback_p99_fraction", "target": 0.30, "better": "lower"},
                    {"key": "midi_p99_ms", "target": 2.0, "better": "lower"},
                    {"key": "midi_64_p99_ms", "target": 2.0, "better": "lower"},
                    {"key": "midi_jack_256_p99_ms", "target": 0.5, "better": "lower"},
                    {"key": "midi_jack_256_hog_p99_ms", "target": 1.0, "better": "lower"},
                    {"key": "clock_drift_ms", "target": 1.0, "better": "lower"}],
        "underruns": main["underruns"],
        "device_xruns": main["device_xruns"],
        "jack_xruns": main["jack_xruns"],
        "jack_xruns_64": small["jack_xruns"],  # the server's, in the 64-frame stage
        "midi_notes_sent": main["midi_notes_sent"],
        "midi_notes_received": main["midi_notes_received"],
        "midi_dump_missed": main["midi_dump_missed"], "midi_dump_missed_64": small["midi_dump_missed"],
        **{k: main[k] + small[k] for k in ("midi_note_ons", "midi_note_offs", "midi_notes_hanging")},
        "midi_overlapping_notes": main["midi_overlapping_notes"],
        "jack_ports_left": main["jack_ports_left"] + small["jack_ports_left"] + [p for e in extra for p in e["jack_ports_left"]],
        "jack_files_left": main["jack_files_left"] + small["jack_files_left"] + [p for e in extra for p in e["jack_files_left"]],
        "jack_servers": [main["jack_server"], small["jack_server"]] + [e["jack_server"] for e in extra],
        "midi_backend": main["midi_backend"],
        "midi_late": main["midi_late"],
        "midi_audio_slips": main["midi_audio_slips"],
        "midi_matrix": rows,
        "midi_matrix_note": "rtmidi vs JACK MIDI (studio/transport/jack_midi.py) in the same run, 2 stems "
                            "playing, hog = one busy-looping Python subprocess; p99 of |note-on arrival - "
                            "schedule| with the median removed",
        **flat,
        "midi_p50_ms": main.get("midi_p50_ms"),
        "midi_p99_ms": main.get("midi_p99_ms"),
        "midi_max_ms": main.get("midi_max_ms"),
        "midi_target_p99_ms": 2.0,
        "midi_quantum_ms": main["block_period_ms"],
        "midi_p99_over_half_period": (main["midi_p99_ms"] / (main["block_period_ms"] / 2)
                                      if main.get("midi_p99_ms") is not None else None),
        "midi_note": "main stages: the studio's default MIDI path (midi_backend); rtmidi's JACK backend "
                     "stamps events at frame 0 of the next cycle (error quantised to the period), the "
                     "JACK path writes them at their frame: see midi_matrix",
        "midi_64_p50_ms": small.get("midi_p50_ms"),
        "midi_64_p99_ms": small.get("midi_p99_ms"),
        "callback_64_p99_fraction": small["callback_p99_fraction"],
        "underruns_64": small["underruns"],
        "jack_xruns_64": small["jack_xruns"],
        **busy,
    }


def _clock_figures(stage: dict) -> dict:
    """Flat keys of the clock stage: ``clock_*`` (JACK MIDI), ``clock_rtmidi_*``, ``stalls_*``."""
    j, r, st = stage["jack"], stage["rtmidi"], stage["stalls"]
    keys = ("clock_offset_ms", "clock_drift_ms", "clock_drift_ms_per_min", "clock_beats_off_1ms",
            "clock_max_transient_ms", "tick_spacing_max_err_frames", "beats", "beats_matched", "ticks_received", "resyncs",
            "audio_slips", "jack_xruns", "late_callbacks", "problem", "clock_offset_steps", "audio_slip_times",
            "jack_clock_slips")
    out = {"clock_seconds": j["seconds"], "clock_backend": j["backend"]}
    out.update({k if k.startswith("clock_") else f"clock_{k}": j[k] for k in keys if k in j})
    out.update({f"clock_rtmidi_{k.removeprefix('clock_')}": r[k] for k in keys if k in r})
    out["clock_rtmidi_seconds"] = r["seconds"]
    out.update({k: st[k] for k in st if k.startswith("stalls_")})
    out["stalls_health"] = st["health"]
    out["stalls_clock_drift_ms"] = st.get("clock_drift_ms")
    out["stalls_clock_beats_off_1ms"] = st.get("clock_beats_off_1ms")
    out["stalls_clock_resyncs"] = st.get("resyncs")
    out["clock_jack_ports_left"] = stage["jack_ports_left"]
    out["clock_jack_files_left"] = stage["jack_files_left"]
    return out
