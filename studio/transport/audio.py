"""Audio output: a lock-free ring buffer between a feeder thread and the sounddevice callback.

The feeder thread (not real-time) mixes the chosen pre-rendered stems and asks on-the-fly
engines (spatial convolution, live Foley: anything with ``render(out, frame)``) for their
audio, a block ahead of the device, into a single-producer/single-consumer ring. The callback
only copies from the ring into the device buffer, zero-fills what is missing (counting an
underrun), applies a precomputed fade ramp on start/stop and publishes the clock anchor. It
counts the device's xruns (a non-empty ``status``: PortAudio's under/overflow flags) and its
own late blocks (a callback that took longer than its block period); the transport reports both. It
takes no lock and allocates no buffers; all its state is a preallocated int64 array whose
cells each have one writer (the protocol is spelled out on :class:`AudioOutput`).

Varispeed runs (the run's Timeline has a rate map, clock.py): the feeder mixes the sources in
run frames and resamples them to the device's frames at the rate of the moment
(studio.transport.varispeed; the pitch follows the speed, as on tape); a rate asked for
(``AudioOutput.rate``) starts at the next block it renders. The callback does not change.

Nothing touches audio hardware before :meth:`AudioOutput.open`; sounddevice is imported there.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol, Sequence

import numpy as np
import numpy.ma  # noqa: F401  np.percentile (stats) imports it on first use: 15 ms holding the
# interpreter lock, which mid-play made every Python JACK callback miss its cycle at once

from studio.errors import DeviceError
from studio.transport import clock as _clk
from studio.transport import devices, realtime
from studio.transport.clock import MasterClock, Timeline

# control cells after the clock's (0..3): ring indices, requested and actual fade state, counters
W, R, WANT, STATE, GAIN, PLAYED, UNDERRUNS, DEV_XRUNS, CALLS, LATE_CALLS, STALL_NS = range(4, 15)
SILENT, FADE_IN, PLAYING, FADE_OUT = 0, 1, 2, 3
MAX_BLOCK = 16384
_TIMES = 8192  # callback durations kept for statistics


class AudioSource(Protocol):
    """Anything that adds song frames [frame, frame + out.shape[1]) into ``out`` (channels, n).

    Called from the feeder thread, never from the audio callback. ``reset(frame)`` (optional)
    is called when a run starts there, so stateful engines can drop tails or re-seed."""

    def render(self, out: np.ndarray, frame: int) -> None: ...


class BufferSource:
    """A pre-rendered buffer (channels, samples) float32 played from song frame ``offset``."""

    def __init__(self, audio: np.ndarray, sample_rate: int, gain: float = 1.0, offset_s: float = 0.0,
                 name: str = "") -> None:
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[0] > a.shape[1] and a.shape[0] > 8:
            raise ValueError("audio must be shaped (channels, samples)")
        self.audio = np.ascontiguousarray(a)
        self.sample_rate = int(sample_rate)
        self.gain = float(gain)
        self.offset_s = float(offset_s)
        self.name = name
        self._offset = 0

    def resampled(self, sample_rate: int) -> "BufferSource":
        """This buffer at another rate (done once, off the audio path)."""
        if sample_rate == self.sample_rate:
            return self
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sample_rate, self.sample_rate)
        data = resample_poly(self.audio, sample_rate // g, self.sample_rate // g, axis=1).astype(np.float32)
        return BufferSource(data, sample_rate, self.gain, self.offset_s, self.name)

    @property
    def end_s(self) -> float:
        return self.offset_s + self.audio.shape[1] / self.sample_rate

    def render(self, out: np.ndarray, frame: int) -> None:
        start = frame - int(round(self.offset_s * self.sample_rate))
        n = out.shape[1]
        lo, hi = max(start, 0), min(start + n, self.audio.shape[1])
        if hi <= lo:
            return
        src = self.audio[:, lo:hi]
        dst = out[:, lo - start:hi - start]
        if src.shape[0] == dst.shape[0]:
            dst += src * self.gain if self.gain != 1.0 else src
        else:  # mono to every channel, or first channels of a wider buffer
            for ch in range(dst.shape[0]):
                dst[ch] += src[min(ch, src.shape[0] - 1)] * self.gain


class AudioOutput:
    """A sounddevice output stream fed from a ring buffer; opened explicitly, never on import.

    Cell ownership in ``ctl``: the callback writes R, STATE, GAIN, PLAYED, the clock anchor and
    the counters; the feeder writes W; the control thread writes WANT, and R/PLAYED/W only while
    the callback is SILENT with WANT=0 (then the callback touches neither).
    """

    def __init__(self, sample_rate: int = 48000, blocksize: int = 256, device: int | str | None = None,
                 channels: int = 2, ahead_s: float = 0.05, fade_ms: float = 5.0) -> None:
        if not 0 < blocksize <= MAX_BLOCK:
            raise ValueError(f"block size must be within 1..{MAX_BLOCK}")
        self.sample_rate, self.blocksize, self.device = int(sample_rate), int(blocksize), device
        self.channels = int(channels)
        self.ahead = max(2 * blocksize, int(ahead_s * sample_rate))
        self.capacity = 1 << int(np.ceil(np.log2(self.ahead + 4 * MAX_BLOCK)))
        self.ring = np.zeros((self.capacity, self.channels), np.float32)
        self.ctl = np.zeros(_clk.CTL_SIZE, np.int64)
        self.cb_ns = np.zeros(_TIMES, np.int64)
        self.fade = max(1, int(fade_ms * 1e-3 * sample_rate))
        k = np.arange(self.fade + MAX_BLOCK, dtype=np.float32)
        self._up = np.minimum(k / self.fade, 1.0).astype(np.float32)[:, None]
        self._down = np.maximum(1.0 - k / self.fade, 0.0).astype(np.float32)[:, None]
        self.clock = MasterClock(sample_rate, self.ctl)
        self._period_ns = int(self.blocksize / self.sample_rate * 1e9)
        self.sources: list[AudioSource] = []
        self.stream = None
        self.device_name = ""
        self.finished = False  # set by PortAudio when the stream ends on its own
        self._scratch = np.zeros((self.channels, self.blocksize), np.float32)
        self._feeder: threading.Thread | None = None
        self._feed_stop = threading.Event()
        self._timeline: Timeline | None = None
        self._u_written = 0
        self.rate = 1.0  # varispeed runs: the rate the feeder applies from its next block on
        self._vari = None  # varispeed runs: the resampler (studio.transport.varispeed)
        self.feeder_errors: list[str] = []
        self.feed_ns = np.zeros(_TIMES, np.int64)
        self._feeds = 0
        self._realtime = realtime.Lease()  # realtime's short GIL switch interval, while open

    # -- device ---------------------------------------------------------------------------
    def open(self) -> None:
        """Open and start the stream (it plays silence until a run starts)."""
        sd = devices.import_sounddevice()
        devices.install_exit_guard(sd)
        index, info = devices.resolve_output_device(self.device)
        try:
            self.stream = sd.OutputStream(
                samplerate=self.sample_rate, blocksize=self.blocksize, device=index,
                channels=self.channels, dtype="float32", callback=self._callback,
                finished_callback=self._finished, latency="low")
            self.stream.start()
        except Exception as exc:  # PortAudioError, ValueError for unsupported settings
            self.stream = None
            raise DeviceError(
                f"cannot open audio device {info['name']!r} at {self.sample_rate} Hz, "
                f"{self.blocksize} frames: {exc}; pick another device, rate or block size"
            ) from None
        self.device_name = info["name"]
        self.finished = False
        self.clock.latency_frames = int(round(float(self.stream.latency) * self.sample_rate))
        self._realtime.take()  # the callback and the feeder wait at most ~1 ms for the GIL

    @property
    def is_open(self) -> bool:
        return self.stream is not None

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop feeding and close the stream; a hung driver is abandoned after ``timeout_s``."""
        self._stop_feeder()
        stream, self.stream = self.stream, None
        self._realtime.give_back()
        if stream is None:
            return
        if not devices.returns_within(lambda: _close_quietly(stream), timeout_s, "audio-close"):
            devices.mark_portaudio_hung()  # the driver hangs (e.g. the JACK server died): PortAudio is unusable now

    def _finished(self) -> None:
        self.finished = True

    def lost_reason(self, stall_s: float = 0.5) -> str | None:
        """Why the device looks gone (None while healthy): stream ended, or no callback lately."""
        if not self.is_open:
            return None
        if self.finished or not self._running():
            return "the audio stream ended"
        calls = int(self.ctl[CALLS])
        now = time.monotonic()
        if calls != getattr(self, "_seen_calls", -1):
            self._seen_calls, self._seen_at = calls, now
        elif now - self._seen_at > max(stall_s, 20 * self.blocksize / self.sample_rate):
            return f"no audio callback for {now - self._seen_at:.1f} s"
        return None

    def _running(self) -> bool:
        return bool(self.stream.active)

    # -- the real-time callback -----------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        t0 = time.perf_counter_ns()
        c = self.ctl
        if status:
            c[DEV_XRUNS] += 1
        if c[STALL_NS]:  # tests and the benchmark: a stall injected by inject_stall()
            time.sleep(c[STALL_NS] * 1e-9)
            c[STALL_NS] = 0
        want, st = c[WANT], c[STATE]
        if st == SILENT and not want:
            outdata.fill(0)
        else:
            if want:
                if st == SILENT or st == FADE_OUT:
                    st = FADE_IN
            elif st == FADE_IN or st == PLAYING:
                st = FADE_OUT
            r = c[R]
            n = min(frames, c[W] - r)
            i = r % self.capacity
            first = min(n, self.capacity - i)
            outdata[:first] = self.ring[i:i + first]
            if n > first:
                outdata[first:n] = self.ring[:n - first]
            if n < frames:
                outdata[n:].fill(0)
                if want:
                    c[UNDERRUNS] += 1
            c[R] = r + n
            g = c[GAIN]
            if st == FADE_IN:
                outdata *= self._up[g:g + frames]
                g = min(self.fade, g + n)
                if g == self.fade:
                    st = PLAYING
            elif st == FADE_OUT:
                outdata *= self._down[self.fade - g:self.fade - g + frames]
                g = max(0, g - n)
                if g == 0:
                    st = SILENT
            c[GAIN], c[STATE] = g, st
            c[_clk.SEQ] += 1
            c[_clk.CB_START], c[_clk.CB_FRAMES], c[_clk.CB_TNS] = c[PLAYED], n, t0
            c[_clk.SEQ] += 1
            c[PLAYED] += n
        took = time.perf_counter_ns() - t0
        self.cb_ns[c[CALLS] % _TIMES] = took
        if took > self._period_ns:  # this block reaches the device late
            c[LATE_CALLS] += 1
        c[CALLS] += 1

    def inject_stall(self, seconds: float) -> None:
        """Make the next audio callback sleep ``seconds`` (tests and the benchmark check that
        each stall is counted as a late callback and reported)."""
        self.ctl[STALL_NS] = int(seconds * 1e9)

    # -- runs ----------------------------------------------------------------------------
    def set_sources(self, sources: Sequence[AudioSource]) -> None:
        """What the feeder mixes (takes effect at once; buffers are resampled to the device rate)."""
        self.sources = [s.resampled(self.sample_rate) if isinstance(s, BufferSource) else s for s in sources]

    def start_run(self, timeline: Timeline, prefill_timeout_s: float = 0.5) -> None:
        """Start playing ``timeline`` from unwrapped frame 0 with a fade-in (call when halted)."""
        c = self.ctl
        self._stop_feeder()
        c[R] = c[W]
        c[PLAYED] = 0
        c[_clk.SEQ] += 1
        c[_clk.CB_START], c[_clk.CB_FRAMES], c[_clk.CB_TNS] = 0, 0, 0
        c[_clk.SEQ] += 1
        self._timeline, self._u_written = timeline, 0
        self._vari = None
        if timeline.rates is not None:
            self.rate = timeline.rates.rate
        for s in self.sources:
            reset = getattr(s, "reset", None)
            if reset is not None:
                reset(timeline.start)
        self._feed_stop.clear()
        self._feeder = threading.Thread(target=self._feed, daemon=True, name="audio-feeder")
        self._feeder.start()
        deadline = time.monotonic() + prefill_timeout_s
        while c[W] - c[R] < min(self.ahead, 4 * self.blocksize) and time.monotonic() < deadline:
            time.sleep(0.001)
        c[WANT] = 1

    def halt(self, timeout_s: float = 0.25) -> int:
        """Fade out and stop; returns the unwrapped frames played in this run."""
        c = self.ctl
        c[WANT] = 0
        deadline = time.monotonic() + timeout_s
        while c[STATE] != SILENT and time.monotonic() < deadline:
            time.sleep(0.001)
        self._stop_feeder()
        return int(c[PLAYED])

    def _stop_feeder(self) -> None:
        self._feed_stop.set()
        if self._feeder is not None and self._feeder is not threading.current_thread():
            self._feeder.join(2.0)
        self._feeder = None

    def _feed(self) -> None:
        c, period = self.ctl, self.blocksize / self.sample_rate
        while not self._feed_stop.is_set():
            filled = int(c[W] - c[R])
            if filled >= self.ahead:
                time.sleep(period / 2)
                continue
            t0 = time.perf_counter_ns()
            n = min(self.blocksize, self.capacity - filled)
            block = self._scratch[:, :n]
            self._render(block, self._u_written)
            w = int(c[W])
            i = w % self.capacity
            first = min(n, self.capacity - i)
            self.ring[i:i + first] = block[:, :first].T
            if n > first:
                self.ring[:n - first] = block[:, first:].T
            c[W] = w + n  # publish after the data is in place
            self._u_written += n
            self.feed_ns[self._feeds % _TIMES] = time.perf_counter_ns() - t0
            self._feeds += 1

    def _render(self, block: np.ndarray, u: int) -> None:
        """Unwrapped frames [u, u + n) of the run into ``block``: the mix itself, or with varispeed
        (the run has a rate map) the mix read in run frames and resampled (varispeed.py)."""
        tl = self._timeline
        if tl.rates is None:
            self._mix(block, u)
            return
        rate = self.rate
        if rate != tl.rates.rate:  # from here on: the frames before are in the ring already
            tl.rates.set(rate, u)
        if self._vari is None:
            from studio.transport.varispeed import VarispeedReader

            self._vari = VarispeedReader(block.shape[0], self._mix)
        self._vari.process(block, tl.rates.v_block(u, block.shape[1]), tl.rates.rate)

    def _mix(self, block: np.ndarray, v: int) -> None:
        """Run frames [v, v + n) of the sources, mixed into ``block`` (zeroed first)."""
        block.fill(0)
        off, n, tl = 0, block.shape[1], self._timeline
        while off < n:
            pos = tl.song_frame(v + off)
            k = n - off if tl.loop is None else min(n - off, tl.loop[1] - pos)
            for src in list(self.sources):
                try:
                    src.render(self._channels_of(block, src)[:, off:off + k], pos)
                except Exception as exc:  # an engine failing must not stop the audio
                    self.sources = [s for s in self.sources if s is not src]
                    self.feeder_errors.append(f"{getattr(src, 'name', type(src).__name__)}: {exc}")
            off += k

    def _channels_of(self, block: np.ndarray, src) -> np.ndarray:
        """The rows of the feeder's block that ``src`` adds into: all of them (the mix); an output
        with a channel pair per source (studio.transport.jack_audio) gives each its own."""
        return block

    # -- statistics ------------------------------------------------------------------------
    def stats(self) -> dict:
        calls = int(self.ctl[CALLS])
        t = self.cb_ns[:min(calls, _TIMES)] * 1e-9
        period = self.blocksize / self.sample_rate
        out = {
            "callbacks": calls,
            "underruns": int(self.ctl[UNDERRUNS]),
            "device_xruns": int(self.ctl[DEV_XRUNS]),
            "late_callbacks": int(self.ctl[LATE_CALLS]),
            "frames_played": int(self.ctl[PLAYED]),
            "block_period_ms": period * 1e3,
        }
        if t.size:
            out["callback_p50_ms"] = float(np.percentile(t, 50) * 1e3)
            out["callback_p99_ms"] = float(np.percentile(t, 99) * 1e3)
            out["callback_p99_fraction"] = out["callback_p99_ms"] / out["block_period_ms"]
        return out


def _close_quietly(stream) -> None:
    try:
        stream.abort()
        stream.close()
    except Exception:
        pass
