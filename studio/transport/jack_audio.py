"""Audio through a JACK client of our own, with an output pair per stem (``studio play --jack-stems``).

PortAudio's JACK host API opens as many channels as the machine has physical outputs (two, on
most): it cannot offer a DAW one pair per track. :class:`JackStemOutput` is the same
:class:`~studio.transport.audio.AudioOutput` (the feeder thread, the ring buffer, the clock anchor
and the counters are the base class's) with a JACK client ("Studio Audio") as its device: the
process callback runs the base class's callback into a preallocated block and copies each column
to its port. Each source the feeder mixes gets its own pair of rows in the ring, so the first
source (the mastered mix) is "Mix L/R" and every stem after it "<track> L/R"; the mix pair is
connected to the first two physical playback ports, the stems are left for the DAW to wire.

The callback is Python (JACK-Client, cffi) and so runs under the GIL, as the MIDI output's does
(studio/transport/jack_midi.py): a late cycle is counted as a late callback, and a cycle this
client missed as the device's xrun (read from the cycles' start frames: like the MIDI output,
no JACK notification runs Python, which could hang the process; see jack_midi.py).
"""
from __future__ import annotations

import re
import threading
from typing import Sequence

import numpy as np

from studio.errors import DeviceError
from studio.transport.audio import MAX_BLOCK, DEV_XRUNS, AudioOutput
from studio.transport.devices import AUDIO_CLIENT_NAME
from studio.transport.jack_callback import CallbackExit

MIX = "Mix"


def port_names(pairs: Sequence[str]) -> list[str]:
    """JACK port short names, "<pair> L" and "<pair> R" per pair: ':' (the client/port separator)
    replaced, names made unique by a number (two tracks may share a name)."""
    seen: dict[str, int] = {}
    out = []
    for name in pairs:
        base = re.sub(r"[:\s]+", " ", str(name)).strip() or "Track"
        seen[base] = seen.get(base, 0) + 1
        unique = base if seen[base] == 1 else f"{base} {seen[base]}"
        out += [f"{unique} L", f"{unique} R"]
    return out


class JackStemOutput(AudioOutput):
    """A JACK client with one stereo output pair per name in ``pairs``; ``set_sources`` takes the
    sources in the same order (source i plays on pair i only). The sample rate and block size
    are the JACK server's."""

    def __init__(self, pairs: Sequence[str], name: str = AUDIO_CLIENT_NAME, ahead_s: float = 0.05,
                 fade_ms: float = 5.0, connect_mix: bool = True) -> None:
        if not pairs:
            raise ValueError("at least one output pair")
        try:
            import jack
        except (ImportError, OSError) as exc:
            raise DeviceError(f"JACK outputs per stem need the JACK-Client package and libjack ({exc})") from None
        self._jack = jack
        try:
            client = jack.Client(name, no_start_server=True)
        except jack.JackError as exc:
            raise DeviceError(f"cannot open the JACK client {name!r} (is a JACK server running?): {exc}") from None
        self.client = client
        self._cycle_client = client  # the callback's own reference (close() clears ``client`` first)
        super().__init__(int(client.samplerate), int(client.blocksize), device=None,
                         channels=2 * len(pairs), ahead_s=ahead_s, fade_ms=fade_ms)
        self.pair_names = list(pairs)
        self.connect_mix = connect_mix
        self._out = np.zeros((MAX_BLOCK, self.channels), np.float32)
        self._slot: dict[int, int] = {}
        self.ports = []
        self.callback_error: str | None = None
        self._last_cycle: int | None = None  # JACK's frame time at the last cycle's start
        self._exit = CallbackExit()
        self._active = False
        self._lock = threading.Lock()

    # -- device ---------------------------------------------------------------------------
    def open(self) -> None:
        """Register the ports, activate the client and wire the mix pair to the speakers."""
        jack, c = self._jack, self.client
        try:
            self.ports = [c.outports.register(n) for n in port_names(self.pair_names)]
            c.set_process_callback(self._process)
            c.set_shutdown_callback(self._shutdown)
            c.activate()
            self._exit.activated()
        except jack.JackError as exc:
            self._close_client()
            raise DeviceError(f"cannot start the JACK audio client {c.name!r}: {exc}") from None
        self._active = True
        self.device_name = f"JACK: {c.name} ({len(self.pair_names)} pairs)"
        self.finished = False
        # what this cycle writes is heard a period later at the earliest (JACK-Client has no
        # latency query; PortAudio reports the same one period for JACK's dummy driver)
        self.clock.latency_frames = self.blocksize
        if self.connect_mix:
            speakers = c.get_ports(is_audio=True, is_input=True, is_physical=True)[:2]
            for port, dst in zip(self.ports[:2], speakers):
                try:
                    port.connect(dst)
                except jack.JackError:
                    pass  # the mix still plays wherever the user wires it

    @property
    def is_open(self) -> bool:
        return self._active

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop_feeder()
        self._close_client()

    def _close_client(self) -> None:
        with self._lock:
            if self.client is None:
                return
            client, self.client, self._active = self.client, None, False
        # JACK must not cancel the callback's thread inside Python (jack_callback.py): if it did
        # not end, the client is left; it ends itself should the callback come back
        if not self.finished and not self._exit.end():
            return
        try:
            client.deactivate()
        except Exception:
            pass
        try:
            client.close()
        except Exception:
            pass

    def lost_reason(self, stall_s: float = 0.5) -> str | None:
        if not self._active:
            return None
        if self.finished:
            return "the JACK server shut down"
        if self.callback_error:
            return f"the JACK audio callback failed: {self.callback_error}"
        return super().lost_reason(stall_s)  # and a callback that stopped coming

    def _running(self) -> bool:
        return self._active

    # -- JACK threads ---------------------------------------------------------------------------
    def _silence(self) -> None:
        for port in self.ports:
            port.get_array().fill(0.0)

    def _process(self, frames: int) -> None:
        self._exit.check(self._silence)  # closing: raises, and JACK ends the thread
        try:
            start = self._cycle_client.last_frame_time  # 32 bits: the difference is taken modulo 2**32
            if self._last_cycle is not None and (start - self._last_cycle) & 0xFFFFFFFF != frames:
                self.ctl[DEV_XRUNS] += 1  # a cycle this client missed (it ran late) or saw twice
            self._last_cycle = start
            out = self._out[:frames]
            self._callback(out, frames, None, 0)
            for ch, port in enumerate(self.ports):
                port.get_array()[:] = out[:, ch]
        except Exception as exc:  # an exception would end JACK's calls into Python for good
            self.callback_error = f"{type(exc).__name__}: {exc}"

    def _shutdown(self, status, reason: str) -> None:
        self.finished = True

    # -- the feeder: one pair per source ---------------------------------------------------------
    def set_sources(self, sources) -> None:
        if len(sources) > len(self.pair_names):
            raise ValueError(f"{len(sources)} sources for {len(self.pair_names)} output pairs")
        super().set_sources(sources)
        self._slot = {id(s): i for i, s in enumerate(self.sources)}

    def _channels_of(self, block: np.ndarray, src) -> np.ndarray:
        i = self._slot[id(src)]
        return block[2 * i:2 * i + 2]


def stem_output(mix, stems: Sequence[tuple[str, object]], sample_rate: int) -> JackStemOutput:
    """An open JackStemOutput playing ``mix`` ((2, n) array at ``sample_rate``) on "Mix" and each
    (name, (2, n) array) of ``stems`` on its own pair."""
    from studio.transport.audio import BufferSource

    out = JackStemOutput([MIX] + [name for name, _ in stems])
    try:
        out.open()
        out.set_sources([BufferSource(mix, sample_rate, name=MIX)]
                        + [BufferSource(a, sample_rate, name=name) for name, a in stems])
    except BaseException:
        out.close()
        raise
    return out
