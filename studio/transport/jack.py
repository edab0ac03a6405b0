"""A private JACK server (dummy driver), for tests, the transport benchmark and headless checks.

``JackServer(period=256)`` starts ``jackd -n <unique> -d dummy`` with JACK_DEFAULT_SERVER set
in this process's environment (so PortAudio, rtmidi and the jack_* tools find it), waits until
``jack_lsp`` answers, and kills it on ``stop()``. ``MidiDump`` runs ``jack_midi_dump -a``
(absolute frame times) as a real MIDI client and parses what it received.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path


def jackd_missing_reason() -> str | None:
    missing = [t for t in ("jackd", "jack_lsp", "jack_connect", "jack_midi_dump") if shutil.which(t) is None]
    return f"JACK tools missing ({', '.join(missing)}): apt install jackd2" if missing else None


def _clear_stale_registry() -> bool:
    """Remove JACK's shared-memory registry and our test servers' semaphores when no jackd is
    running at all (so nothing can still use them); True when something was removed."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("jackd", "jackdbus"):
                return False
        except OSError:
            continue
    stale = [p for p in Path("/dev/shm").glob("jack*") if p.name == "jack-shm-registry" or "studio-test-" in p.name]
    for p in stale:
        try:
            p.unlink()
        except OSError:
            pass
    return bool(stale)


class JackServer:
    def __init__(self, rate: int = 48000, period: int = 256, name: str | None = None) -> None:
        self.rate, self.period = rate, period
        self.name = name or f"studio-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile("w+", prefix="jackd-", suffix=".log", delete=False)
        self._old_env: str | None = None

    def env(self) -> dict:
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1"}

    def start(self, timeout_s: float = 10.0) -> "JackServer":
        # a jackd that was SIGKILLed (the device-loss test does it) keeps its slot in the
        # shared-memory registry, and after 8 such slots no server starts on this machine: with
        # no JACK server running, nothing can use the registry, so it starts afresh
        _clear_stale_registry()
        return self._start(timeout_s)

    def _start(self, timeout_s: float) -> "JackServer":
        self.proc = subprocess.Popen(
            ["jackd", "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)
        self._old_env = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jackd exited at start:\n{self.log()}")
            if "system:playback_1" in self.ports():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jackd did not come up in {timeout_s} s:\n{self.log()}")

    def ports(self) -> list[str]:
        r = subprocess.run(["jack_lsp"], capture_output=True, text=True, env=self.env(), timeout=5)
        return r.stdout.split("\n") if r.returncode == 0 else []

    def connect(self, src: str, dst: str) -> None:
        subprocess.run(["jack_connect", src, dst], check=True, env=self.env(), timeout=5)

    def log(self) -> str:
        self._log.flush()
        with open(self._log.name) as f:
            return f.read()

    def xruns(self) -> int:
        return len(re.findall(r"xrun", self.log(), flags=re.I))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        if os.environ.get("JACK_DEFAULT_SERVER") == self.name:
            if self._old_env is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = self._old_env

    def __enter__(self) -> "JackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass


_LINE = re.compile(r"^\s*(\d+):((?:\s[0-9a-f]{2})+)")


class MidiDump:
    """``jack_midi_dump -a`` on the server: port ``<client>:input``; events as (frame, bytes)."""

    def __init__(self, server: JackServer, client: str = "midi-monitor") -> None:
        self.server, self.client = server, client
        self.port = f"{client}:input"
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout_s: float = 5.0) -> "MidiDump":
        self.proc = subprocess.Popen(["stdbuf", "-oL", "jack_midi_dump", "-a", self.client],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=self.server.env(), start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout_s
        while self.port not in self.server.ports():
            if time.monotonic() > deadline:
                raise RuntimeError("jack_midi_dump did not register its port")
            time.sleep(0.05)
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def events(self) -> list[tuple[int, bytes]]:
        out = []
        for line in list(self.lines):
            m = _LINE.match(line)
            if m:
                out.append((int(m.group(1)), bytes(int(x, 16) for x in m.group(2).split())))
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        self.proc = None


def timing_errors_s(arrival_frames, scheduled_s, sample_rate: int):
    """Per-event timing error (s) of arrivals against their scheduled times with the constant
    offset removed (the median: clock origins differ, and a DAW compensates a fixed latency);
    returns (errors, offset_s)."""
    import numpy as np

    arr = np.asarray(arrival_frames, float) / sample_rate
    sched = np.asarray(scheduled_s, float)
    offset = arr - sched
    median = float(np.median(offset))
    return offset - median, median
