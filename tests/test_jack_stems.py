"""One JACK output pair per stem (studio.transport.jack_audio): a JACK client in the test acts as
the DAW, wires its inputs to the studio's ports and records what each pair carries."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from jack_server import jack_server, require_jack_client, wait_until  # noqa: F401

from studio.errors import DeviceError
from studio.transport import Transport
from studio.transport.audio import BufferSource
from studio.transport.jack_audio import JackStemOutput, port_names
from studio.transport.jack_callback import CallbackExit

SR = 48000


class Recorder:
    """A JACK client with one input per port it is given, connected to them, keeping every
    buffer of every cycle."""

    def __init__(self, sources: list[str], name: str = "daw-recorder") -> None:
        import jack

        self.client = jack.Client(name, no_start_server=True)
        self.inputs = [self.client.inports.register(f"in_{i}") for i in range(len(sources))]
        self.blocks: list[list[np.ndarray]] = [[] for _ in sources]
        self.lock = threading.Lock()
        self._exit = CallbackExit()
        self.client.set_process_callback(self._process)
        self.client.activate()
        self._exit.activated()
        for port, src in zip(self.inputs, sources):
            self.client.connect(src, port)

    def _process(self, frames: int) -> None:
        self._exit.check()
        with self.lock:
            for keep, port in zip(self.blocks, self.inputs):
                keep.append(port.get_array().copy())

    def signals(self) -> np.ndarray:
        with self.lock:
            return np.stack([np.concatenate(b) if b else np.zeros(0, np.float32) for b in self.blocks])

    def close(self) -> None:
        assert self._exit.end()
        self.client.deactivate()
        self.client.close()


def _tone(freq: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    left = amp * np.sin(2 * np.pi * freq * t)
    right = amp * np.sin(2 * np.pi * freq * t + 0.5)
    return np.stack([left, right]).astype(np.float32)


def _lag(recorded: np.ndarray, reference: np.ndarray) -> int:
    """Where ``reference``'s start sits in ``recorded`` (first sample above silence, refined by
    the best match of the next 2000 samples within +-64)."""
    first = int(np.flatnonzero(np.abs(recorded) > 1e-4)[0])
    best, lag = np.inf, first
    for cand in range(max(0, first - 64), first + 64):
        seg = recorded[cand + 500:cand + 2500]
        if len(seg) < 2000:
            break
        err = float(np.sum((seg - reference[500:2500]) ** 2))
        if err < best:
            best, lag = err, cand
    return lag


def test_port_names_are_unique_and_jack_safe():
    assert port_names(["Mix", "Drums", "Drums", "a:b"]) == [
        "Mix L", "Mix R", "Drums L", "Drums R", "Drums 2 L", "Drums 2 R", "a b L", "a b R"]


def test_each_stem_plays_on_its_own_pair_and_the_mix_on_mix(jack_server):
    require_jack_client()
    a, b = _tone(220.0, 2.0, 0.2), _tone(330.0, 2.0, 0.1)
    mix = (a + b) * 0.5  # a "mastered" mix: not the stems' sum, played as it is
    out = JackStemOutput(["Mix", "Drums", "Pad"], name="Studio Audio")
    out.open()
    rec = None
    try:
        assert out.sample_rate == SR and out.channels == 6
        # JACK numbers a second client of the same name (PortAudio's, named so too, may be up)
        name = out.client.name
        assert name.startswith("Studio Audio")
        ports = jack_server.ports()
        for n in ("Mix L", "Mix R", "Drums L", "Drums R", "Pad L", "Pad R"):
            assert f"{name}:{n}" in ports
        out.set_sources([BufferSource(mix, SR, name="Mix"), BufferSource(a, SR, name="Drums"),
                         BufferSource(b, SR, name="Pad")])
        rec = Recorder([p.name for p in out.ports])
        t = Transport(duration_s=2.0, audio=out)
        t.play()
        assert wait_until(lambda: t.position_s > 1.0, 10.0)
        t.pause()
        time.sleep(0.1)
        got = rec.signals()
        stats = out.stats()
    finally:
        if rec is not None:
            rec.close()
        out.close()
    assert stats["callbacks"] > 100 and out.callback_error is None
    refs = [mix[0], mix[1], a[0], a[1], b[0], b[1]]
    lags = [_lag(got[ch], refs[ch]) for ch in range(6)]
    assert len(set(lags)) == 1, lags  # every pair sample-aligned with the others
    lag = lags[0]
    n = int(0.8 * SR)
    fade = out.fade + 8
    for ch in range(6):
        seg = got[ch, lag + fade:lag + n]
        ref = refs[ch][fade:n]
        # the ring carries float32 through unchanged: the pair is its source, exactly
        assert np.max(np.abs(seg - ref)) < 1e-6, ch
    # and nothing of one stem on another's pair
    drums_on_pad = abs(float(np.dot(got[4, lag + fade:lag + n], a[0][fade:n])))
    assert drums_on_pad < 1e-3 * float(np.dot(a[0][fade:n], a[0][fade:n]))


def test_more_sources_than_pairs_is_refused(jack_server):
    require_jack_client()
    out = JackStemOutput(["Mix"])
    try:
        with pytest.raises(ValueError, match="2 sources for 1 output pairs"):
            out.set_sources([BufferSource(_tone(100, 0.1, 0.1), SR), BufferSource(_tone(200, 0.1, 0.1), SR)])
    finally:
        out.close()


def test_no_jack_server_is_a_clear_error(monkeypatch):
    require_jack_client()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "no-such-server-here")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(DeviceError, match="is a JACK server running"):
        JackStemOutput(["Mix"])


def test_studio_play_jack_stems_offers_a_pair_per_track(jack_server, tmp_path):
    """``studio play --jack-stems``: a pair per audible track, named after it, with its audio."""
    import json
    import subprocess
    import sys

    import soundfile as sf

    from studio.project import Project, Track, TrackKind

    require_jack_client()
    sf.write(tmp_path / "low.wav", _tone(110.0, 3.0, 0.3).T, SR)
    sf.write(tmp_path / "high.wav", _tone(880.0, 3.0, 0.3).T, SR)
    p = Project(name="stems", sample_rate=SR)
    p.add_track(Track("Bass line", TrackKind.AUDIO, audio_path="low.wav"))
    p.add_track(Track("Bell", TrackKind.AUDIO, audio_path="high.wav"))
    p.save(tmp_path / "project.json")
    proc = subprocess.Popen([sys.executable, "-m", "studio", "-q", "play", str(tmp_path), "--jack-stems",
                             "--no-midi", "--end", "2.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=jack_server.env())
    rec = None
    try:
        def stem_ports() -> list[str]:
            ports = [q for q in jack_server.ports() if q.startswith("Studio Audio")]
            return [next((q for q in ports if q.endswith(":" + n)), None) for n in ("Bass line L", "Bell L")]

        assert wait_until(lambda: all(stem_ports()), 60.0), proc.stderr
        rec = Recorder(stem_ports(), name="cli-daw")
        out, err = proc.communicate(timeout=60)
        got = rec.signals()
    finally:
        proc.kill()
        if rec is not None:
            rec.close()
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["error"] is None and "Studio Audio" in result["audio_device"]
    # each pair carries its own track: the 110 Hz tone on "Bass line", 880 Hz on "Bell"
    for sig, own, other in ((got[0], 110.0, 880.0), (got[1], 880.0, 110.0)):
        sig = sig[np.abs(sig) > 0][: SR // 2]
        assert len(sig) >= SR // 4
        spec = np.abs(np.fft.rfft(sig * np.hanning(len(sig))))
        freqs = np.fft.rfftfreq(len(sig), 1 / SR)
        power = lambda f: spec[np.abs(freqs - f) < 5].max()  # noqa: E731
        assert power(own) > 100 * power(other)
