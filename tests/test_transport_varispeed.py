"""Speed following (varispeed chase) of a DAW at another tempo than the project's.

Units: the rate map (audio frames -> run frames), the band-limited resampler (a sine at rate r
comes out at r times its frequency, a rate change bends it without a click), the feeder's
resampled mix, the transport's position and the MIDI scheduler's events at a rate. Then the
follower: a "DAW" thread sending clock 5 % fast to a transport on the system clock; and through a
private JACK server (tests/jack_server.py) a JACK client as the DAW, its clock written at exact
frames 5 % faster / 4 % slower than the project, wired to "Studio Sync", driving a transport with
its audio on JACK and a drum part on JACK MIDI: with varispeed the drums land within 15 ms of the
DAW's beats (one JACK client records both at their frames), the position stays near the DAW's, no resync, and
its speed is measured within 0.5 %; without, it follows by jumps.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from jack_server import jack_server, require_jack_client, wait_until  # noqa: F401

from studio.music import Note, TempoMap
from studio.transport import AudioOutput, BufferSource, MidiPart, MidiScheduler, State, Transport
from studio.transport.clock import RateMap, Timeline
from studio.transport.follow import CLOCK, START, STOP, DawFollower
from studio.transport.varispeed import VarispeedReader

SR = 48000
# after JACK's frames slip against the system clock (ClockProbe.clock_slips: the dummy driver woke
# late), the chase is off by the slip until the audio clock's anchors re-learn it: measured with
# jackd stopped for 30 ms, 25 ms slipped, the offset 3-6 ms for 5 s after, under 2 ms from then on
SLIP_SETTLE_S = 6.0


def _freq(y: np.ndarray, sr: int = SR) -> float:
    n = 1 << 19
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)  # parabolic peak
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


# -- units ----------------------------------------------------------------------------------------
def test_the_rate_map_maps_audio_frames_to_run_frames_and_back():
    m = RateMap(1.0)
    m.set(1.05, 1000)
    m.set(0.96, 3000)
    assert m.v_of(500) == 500 and m.v_of(2000) == pytest.approx(1000 + 1050)
    assert m.v_of(4000) == pytest.approx(1000 + 2100 + 960)
    for u in (0, 999.5, 1000, 2500, 3000, 10_000):
        assert m.u_of(m.v_of(u)) == pytest.approx(u)
    assert np.allclose(m.v_block(2990, 20), [m.v_of(u) for u in range(2990, 3010)])
    m.set(5.0, 3500)  # clamped to 0.5..2; a breakpoint before the last one moves to it
    m.set(0.5, 100)
    assert m.rate == 0.5 and m._pts[-1][0] == 3500
    tl = Timeline(SR, 2 * SR, loop=(2 * SR, 3 * SR), rate=2.0)
    assert tl.position_s(0.25 * SR) == pytest.approx(2.5)
    assert tl.position_s(0.75 * SR) == pytest.approx(2.5)  # 1.5 s of song later: wrapped
    assert tl.u_of(tl.v_of(12345.0)) == pytest.approx(12345.0)
    plain = Timeline(SR, SR)
    assert plain.rates is None and plain.position(100) == SR + 100 and plain.u_of(7) == 7


def _sine_source(f0: float):
    def read(out, v0):
        k = np.arange(v0, v0 + out.shape[1])
        out += np.sin(2 * np.pi * f0 * k / SR).astype(np.float32)
    return read


@pytest.mark.parametrize("rate", [0.96, 1.05, 1.5])
def test_a_sine_resampled_at_rate_r_comes_out_at_r_times_its_frequency(rate):
    f0 = 997.0
    reader = VarispeedReader(1, _sine_source(f0))
    m = RateMap(rate)
    out = np.zeros((1, 256 * 200), np.float32)
    for b in range(200):
        reader.process(out[:, b * 256:(b + 1) * 256], m.v_block(b * 256, 256), m.rate)
    y = out[0, 2048:]
    assert _freq(y) == pytest.approx(rate * f0, rel=1e-4)
    exact = np.sin(2 * np.pi * f0 * m.v_block(2048, y.size) / SR)
    assert np.max(np.abs(y - exact)) < 1e-3  # band-limited interpolation: about -80 dB
    assert abs(reader.read_frames - rate * out.shape[1]) < 64  # each source frame read once


def test_rate_changes_bend_the_pitch_without_a_click():
    f0 = 1500.0
    reader = VarispeedReader(1, _sine_source(f0))
    m = RateMap(1.0)
    blocks, u = [], 0
    for b in range(300):
        if b % 20 == 10:  # a new rate every 20 blocks, as the follower's checks do (and big jumps)
            m.set([1.05, 0.96, 1.02, 0.5, 2.0, 1.0][(b // 20) % 6], u)
        out = np.zeros((1, 256), np.float32)
        reader.process(out, m.v_block(u, 256), m.rate)
        blocks.append(out[0])
        u += 256
    y = np.concatenate(blocks)[64:]
    # a sine at up to 2x f0 moves at most 2*pi*f/sr per sample; a click would jump far more
    assert np.max(np.abs(np.diff(y))) < 2 * np.pi * 2 * f0 / SR * 1.02
    assert np.max(np.abs(y)) < 1.01


def test_the_feeder_resamples_the_mix_at_the_runs_rate():
    f0 = 800.0
    tone = np.sin(2 * np.pi * f0 * np.arange(3 * SR) / SR).astype(np.float32)
    out = AudioOutput(SR, 256, channels=2)  # never opened: the feeder's render only
    out.set_sources([BufferSource(np.stack([tone, tone]), SR)])
    out._timeline, out._vari = Timeline(SR, 0, rate=1.0), None
    out.rate = 1.05
    block = np.zeros((2, 256), np.float32)
    got = []
    for b in range(300):
        out._render(block, b * 256)
        got.append(block.copy())
    y = np.concatenate(got, axis=1)
    assert out._timeline.rates.rate == 1.05 and out._timeline.rates._pts[-1][0] == 0
    assert _freq(y[0, 1024:]) == pytest.approx(1.05 * f0, rel=1e-4)
    assert np.array_equal(y[0], y[1])
    # without varispeed the feeder mixes exactly as before (no resampler in the path)
    out._timeline = Timeline(SR, 0)
    out._render(block, SR)
    assert np.array_equal(block[0], tone[SR:SR + 256])


def test_the_transport_plays_at_its_rate_on_the_system_clock():
    t = Transport(tempo=TempoMap.constant(120.0), duration_s=60.0)
    try:
        assert t.set_rate(1.5) == 1.0  # varispeed off: rate 1
        t.set_varispeed(True)
        t.seek(10.0)
        t.set_rate(1.25)
        t.play()
        t0 = time.perf_counter()
        time.sleep(0.4)
        p1, t1 = t.position_s, time.perf_counter()
        t.set_rate(0.8)
        time.sleep(0.4)
        p2, t2 = t.position_s, time.perf_counter()
        assert (p1 - 10.0) / (t1 - t0) == pytest.approx(1.25, abs=0.05)
        assert (p2 - p1) / (t2 - t1) == pytest.approx(0.8, abs=0.05)
        t.set_varispeed(False)  # a new run at rate 1 from where it is
        assert t.rate == 1.0 and t.state is State.PLAYING and t.position_s >= p2
    finally:
        t.close()


class _LogPort:
    timed = False

    def __init__(self):
        self.sent: list[tuple[float, list[int]]] = []
        self.error = None

    def send(self, msg):
        self.sent.append((time.perf_counter(), list(msg)))
        return True

    def all_notes_off(self, channels=range(16)):
        pass

    def check(self):
        return None

    def close(self):
        pass


def test_midi_events_go_out_at_their_song_time_through_the_rate():
    port = _LogPort()
    midi = MidiScheduler(port, send_clock=False)
    notes = [Note(0.1 * k, 0.05, 60, 100, 0) for k in range(1, 9)]
    midi.set_parts([MidiPart(notes)], TempoMap.constant(120.0))
    t = Transport(tempo=TempoMap.constant(120.0), duration_s=5.0, midi=midi)
    try:
        t.set_varispeed(True)
        t.set_rate(2.0)  # 0.8 s of song in 0.4 s
        start = time.perf_counter()
        t.play()
        time.sleep(0.5)
    finally:
        t.close()
    ons = [at - start for at, m in port.sent if m[0] == 0x90]
    assert len(ons) == 8
    assert np.allclose(ons, [0.1 * k / 2.0 for k in range(1, 9)], atol=0.02), ons  # (a loaded machine)


# -- the follower ---------------------------------------------------------------------------------
def test_a_daw_five_percent_fast_is_chased_without_resyncs():
    import threading

    tempo = TempoMap.constant(120.0)
    t = Transport(tempo=tempo, duration_s=60.0)
    f = DawFollower(t, varispeed=True)
    stop = threading.Event()
    t0 = time.perf_counter_ns() + 5_000_000
    period = 60e9 / (24 * 126.0)

    def daw():
        f.feed(bytes([START]), time.perf_counter_ns())
        k = 0
        while not stop.is_set():
            due = t0 + int(k * period)
            while time.perf_counter_ns() < due:
                time.sleep(0.0005)
            f.feed(bytes([CLOCK]), due)
            k += 1

    th = threading.Thread(target=daw, daemon=True)
    th.start()
    try:
        time.sleep(3.0)
        errs = []
        for _ in range(20):  # (a sample with this thread preempted around the position is left out)
            n1 = time.perf_counter_ns()
            pos = t.position_s
            n2 = time.perf_counter_ns()
            if n2 - n1 < 2_000_000:
                errs.append(pos - tempo.time_at(((n1 + n2) / 2 - t0) * 1e-9 * 126.0 / 60.0))
            time.sleep(0.05)
        assert max(abs(e) for e in errs) < 0.015, errs
        figs = f.rate_figures()
        assert figs["resyncs"] == 0 and figs["daw_rate"] == pytest.approx(1.05, rel=0.005)
        assert t.rate == pytest.approx(1.05, rel=0.005)
        assert "1.050x" in f.tempo_warning()
    finally:
        stop.set()
        th.join(1.0)
        f.feed(bytes([STOP]), time.perf_counter_ns())
        f.close()
        t.close()
    assert t.varispeed is False


def _drums(seconds: float) -> list[Note]:
    return [Note(0.25 * k, 0.05, 36 if k % 2 == 0 else 38, 100, 9) for k in range(1, int(seconds * 4))]


def _offsets(t, daw, f0: int, tick: float, tempo, seconds: float) -> list[float]:
    """The transport's position minus the DAW's (its JACK frame now), every 50 ms for ``seconds``;
    a sample whose two frame readings around the position lie over 2 ms apart (this thread was
    preempted between them) is left out."""
    out, rates = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        j1 = daw.frame_now()[0]
        pos = t.position_s
        j2 = daw.frame_now()[0]
        if j2 - j1 < 0.002 * daw.rate:
            out.append(pos - tempo.time_at(((j1 + j2) / 2 - f0) / tick / 24))
        rates.append(t.rate)
        time.sleep(0.05)
    return out, float(np.mean(rates))


def _glitches(audio, follower, server, midi, *jack_clients) -> int:
    """What bends the master clock or the chase: audio underruns (the clock stops), the device's
    xruns and late callbacks (its anchors jump), the audio's slips against JACK's frames (whole
    periods, with no xrun reported: the MIDI mapping's ``changes``; the drums move with the audio,
    so the chase must pull both back), the follower's resyncs; the server's xruns (its
    dummy driver ran late: JACK's frames moved against the clock the DAW's ticks are stamped
    with); and the cycles the JACK clients missed (their Python callback stalled: the DAW
    stand-in's clock ticks, the drums written in that cycle, the follower's input's ticks or the
    probe's record of them are lost, or a reader gets a stale buffer again)."""
    st = audio.stats()
    slips = len(midi.mapping.changes) if midi.mapping is not None else 0
    return (st["underruns"] + st["device_xruns"] + st["late_callbacks"] + slips + follower.resyncs
            + server.xruns() + sum(c.xruns for c in jack_clients))


@pytest.fixture
def probe(jack_server):
    """Records MIDI at JACK's frames (jack.py: a missed cycle does not shift the later ones)."""
    from studio.transport.jack import ClockProbe

    with ClockProbe("vari-probe") as p:
        yield p


@pytest.mark.parametrize("daw_bpm,varispeed", [(126.0, True), (115.2, True), (126.0, False)],
                         ids=["5%-fast", "4%-slow", "5%-fast-jumps"])
def test_a_jack_daw_at_another_speed_is_chased(jack_server, probe, daw_bpm, varispeed):
    """The DAW's clock at ``daw_bpm`` against a 120 BPM project; the studio's audio on JACK and a
    drum part (eighths) on JACK MIDI. With varispeed: after 3 s the drums land within 15 ms of the
    DAW's beats (both recorded at their JACK frames by one client), the position stays within 15 ms of the DAW's
    (median), no resync, the measured speed within 0.5 %. Without: the old chase by jumps. (With
    ticks 40, 41 and 90 never sent, SyncDecoder counting them from the gaps, the drums were -8.0 to
    -8.9 ms off, +72 ms before the count; but in 2 of 18 stress runs the chase, disturbed at its
    start, had not settled by the window, so no case loses ticks (README); the count is tested in
    test_transport_follow.py.)

    An audio underrun stops the master clock (the transport falls behind by what was not played
    and chases back; the speed measured across it bends for a few seconds), an xrun or a late
    callback shifts its anchors, a cycle missed by the DAW stand-in (a Python JACK client) loses
    or doubles its clock ticks, one missed by the drums' port a note: the figures are taken over a
    1.5 s window with none of these (nor a resync) in it or in the 3 s before, and no slip of
    JACK's frames against the system clock in it or in the ``SLIP_SETTLE_S`` before; on a machine so
    loaded that no window in 10 s is clean the test skips, saying so. (This machine's virtual CPUs
    stall now and then, 5-12 ms seen by a C loop reading the clock: every JACK client misses that
    cycle at once.)"""
    from studio.transport import MidiPort
    from studio.transport.follow import SyncInput
    from studio.transport.jack_midi import JackMidiOutput

    require_jack_client()
    ratio = daw_bpm / 120.0
    tempo = TempoMap.constant(120.0)
    tone = (0.05 * np.sin(2 * np.pi * 440 * np.arange(20 * SR) / SR)).astype(np.float32)
    t = Transport(tempo=tempo, duration_s=20.0)
    follower = DawFollower(t, varispeed=varispeed)
    # the follower's input first, as the app opens it before its outputs
    sync = SyncInput(follower, name="Studio Sync", api="jack")
    audio = AudioOutput(SR, 256, ahead_s=0.1)
    audio.open()
    audio.set_sources([BufferSource(np.stack([tone, tone]), SR)])
    t.set_audio(audio)
    port = MidiPort(name="StudioVari")
    jack_server.connect("StudioVari:StudioVari", probe.midi_port)  # the drums, and (below) the DAW's clock
    t.midi = MidiScheduler(port, send_clock=False)
    t.midi.set_parts([MidiPart(_drums(16.0), channel=9)], tempo)
    drums_out = port.jack  # the drums' JACK client (the port forgets it when closed)
    inputs = [sync._jack] if sync._jack is not None else []  # the follower's JACK input: its missed cycles lose ticks
    daw = JackMidiOutput("VariDaw")
    clean = None
    try:
        daw.connect(next(p for p in daw.input_ports() if "Studio Sync" in p))
        jack_server.connect("VariDaw:VariDaw", probe.midi_port)
        tick = daw.rate * 60.0 / (daw_bpm * 24)
        f0 = int(daw.frame_now()[0] + 0.05 * daw.rate)
        daw.send_at(bytes([START]), f0 - 10)
        sent_ticks = int(15 * daw_bpm / 60 * 24)  # 15 s of clock
        for k in range(sent_ticks):
            daw.send_at(bytes([CLOCK]), int(round(f0 + k * tick)))
        assert wait_until(lambda: t.state is State.PLAYING, 2.0)
        history = [(time.monotonic(), _glitches(audio, follower, jack_server, t.midi, daw, drums_out, probe, *inputs))]
        t0_ns = time.perf_counter_ns()
        time.sleep(3.0)  # (monotonic, glitches) at the start of play and of each window
        give_up = time.monotonic() + (10.0 if varispeed else 1.5)
        while time.monotonic() < give_up:
            start, start_ns = time.monotonic(), time.perf_counter_ns()
            history.append((start, _glitches(audio, follower, jack_server, t.midi, daw, drums_out, probe, *inputs)))
            window_from_s = t.position_s
            errors, rate = _offsets(t, daw, f0, tick, tempo, 1.5)
            window_to_s = t.position_s
            figs, under = follower.rate_figures(), audio.stats()["underruns"]
            glitches = _glitches(audio, follower, jack_server, t.midi, daw, drums_out, probe, *inputs)
            print(f"DAW at {ratio:.3f}x, varispeed {varispeed}: offset max {max(map(abs, errors)) * 1e3:.1f} ms, "
                  f"median {np.median(np.abs(errors)) * 1e3:.1f} ms, mean rate {rate:.4f}; {figs}; "
                  f"underruns {under}; health {t.health}; "
                  f"audio slips {len(t.midi.mapping.changes) if t.midi.mapping else None}; "
                  f"JACK MIDI xruns: DAW {daw.xruns}, drums {drums_out.xruns}, input {[c.xruns for c in inputs]}; "
                  f"server xruns {jack_server.xruns()}; "
                  f"JACK clock slips {[(round((n - t0_ns) * 1e-9, 2), ms) for n, ms in probe.clock_slips]}")
            before = [n for m, n in history if m <= start - 3.0]  # none from 3 s before the window on
            slipped = [n for n, _ in probe.clock_slips if n >= start_ns - SLIP_SETTLE_S * 1e9]
            calm = bool(before) and glitches == before[-1] and not slipped
            if not varispeed or calm:
                clean = errors, figs, rate, window_from_s, window_to_s
                break
        trace = [(round((n - follower.history[0][0]) * 1e-9, 2), round(o * 1e3, 1), round(r, 4))
                 for n, o, r in follower.history]
    finally:
        # the follower's input first, as the app and `studio play` close it (python-rtmidi's JACK input,
        # the one before jack_midi_in.py, crashed here now and then closing after the DAW)
        sync.close()
        daw.close(drain_s=0)
        follower.close()
        t.close()
    if clean is None:
        pytest.skip(f"the machine starved the audio: underruns, xruns, late callbacks or slips of JACK's clock "
                    f"in every window "
                    f"({_glitches(audio, follower, jack_server, t.midi, daw, drums_out, probe, *inputs)}; {probe.clock_slips})")
    errors, figs, rate, window_from_s, window_to_s = clean
    # the drums against the DAW's beats, both recorded at their JACK frames by one client: the
    # eighth at song time 0.25 j must come with the DAW's tick 12 j, which it wrote at frame
    # f0 + 12 j tick, from 1.5 s before the window to its end. Each note is matched to the DAW's
    # eighth nearest to it (not by its index: a note lost or doubled in a stall before the window
    # would shift every later one); in the clean window every eighth comes exactly once, and the
    # DAW's ticks were recorded at the frames it wrote them (the measure itself is sound there).
    time.sleep(0.1)
    ev = list(probe.midi)
    ticks = np.array([f for f, b in ev if b[0] == CLOCK], float)
    ons = np.array([f for f, b in ev if b[0] == 0x99], float)
    js = np.rint((ons - f0) / (12 * tick)).astype(int)  # the DAW's eighth nearest to each note
    keep = (12 * js < sent_ticks) & (js * 0.25 >= window_from_s - 1.5) & (js * 0.25 <= window_to_s)
    note_err = (ons[keep] - (f0 + 12 * js[keep] * tick)) / SR
    print(f"drums against the DAW's ticks: median {np.median(note_err) * 1e3:.1f} ms, "
          f"p90 |err| {np.percentile(np.abs(note_err), 90) * 1e3:.1f} ms, max {np.max(np.abs(note_err)) * 1e3:.1f} ms")
    if varispeed:
        k_lo, k_hi = int(np.ceil(48 * (window_from_s - 1.5))), min(int(48 * window_to_s), sent_ticks - 1)
        scheduled = np.rint(f0 + np.arange(k_lo, k_hi + 1) * tick)  # 24 ticks a beat (the DAW near the song's)
        assert np.array_equal(ticks[(ticks >= scheduled[0]) & (ticks <= scheduled[-1])], scheduled)
        assert keep.sum() >= 8
        assert np.array_equal(js[keep], np.arange(js[keep][0], js[keep][0] + keep.sum())), js[keep]  # none lost or doubled
        # within 15 ms, and the median within 4.5 ms: the DAW's ticks stamped at their frames and
        # taken as heard one output latency later (DawFollower.stamped_at_written_frames), -2.6 to
        # +0.6 ms in 6 runs; before, stamped at their cycle's start and compared with what is
        # heard, the notes were 5.4-8.3 ms early
        assert np.percentile(np.abs(note_err), 90) < 0.015, note_err
        assert abs(np.median(note_err)) < 0.0045, note_err
    if varispeed:
        # against JACK's estimate of its frame now (the DAW's position), read from this thread while
        # the dummy server's cycles run late or early on a loaded machine: looser than the drums'
        # check above, which compares the frames JACK wrote
        assert np.median(np.abs(errors)) < 0.03 and max(map(abs, errors)) < 0.05, (errors, trace)
        assert figs["resyncs"] == 0, trace
        assert figs["daw_rate"] == pytest.approx(ratio, rel=0.005)
        assert rate == pytest.approx(ratio, rel=0.005)
    else:
        assert figs["resyncs"] > 0 and rate == 1.0
        assert max(abs(e) for e in errors) < 0.06
