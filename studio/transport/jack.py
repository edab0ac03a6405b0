"""A private JACK server (dummy driver), for tests, the transport benchmark and headless checks.

``JackServer(period=256)`` starts ``jackd -n <unique> -d dummy`` with JACK_DEFAULT_SERVER set
in this process's environment (so PortAudio, rtmidi and the jack_* tools find it), waits until
``jack_lsp`` answers, and ends it on ``stop()``. ``MidiDump`` runs ``jack_midi_dump -a``
(absolute frame times) as a real MIDI client and parses what it received. Both are context
managers that own their process (it is ended in ``stop``/``__exit__``, and gets SIGTERM if this
process dies first); nothing here removes a JACK file that a live server or any process that
maps JACK's shared memory (this one included) may use.
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
from collections import Counter
from pathlib import Path


def jackd_missing_reason() -> str | None:
    missing = [t for t in ("jackd", "jack_lsp", "jack_connect", "jack_midi_dump") if shutil.which(t) is None]
    return f"JACK tools missing ({', '.join(missing)}): apt install jackd2" if missing else None


def _jack_shm_files() -> list[Path]:
    return [p for p in Path("/dev/shm").glob("jack*") if p.is_file() or p.is_socket()]


def _jack_in_use() -> bool:
    """True when a JACK server runs on this machine or a process we can see (this one included:
    libjack maps the registry once per process and keeps it after its clients close) maps one of
    JACK's shared-memory files."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() in ("jackd", "jackdbus"):
                return True
            if "/dev/shm/jack" in (proc / "maps").read_text():
                return True
        except OSError:  # gone meanwhile, or another user's (it could not use our files anyway)
            continue
    return False


def _clear_stale_registry() -> bool:
    """Remove JACK's shared-memory registry and our test servers' files, only when no server
    runs and no process maps any of them (so nothing can still use them); True when something
    was removed. jackd reclaims a dead server's registry slot only under the same name, so
    slots of uniquely named servers that were SIGKILLed by someone else pile up (8 at most)."""
    if _jack_in_use():
        return False
    stale = [p for p in _jack_shm_files() if p.name == "jack-shm-registry" or "studio-test-" in p.name]
    for p in stale:
        try:
            p.unlink()
        except OSError:
            pass
    return bool(stale)


def die_with_parent() -> None:
    """preexec_fn: the helper gets SIGTERM when the process that started it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM a helper's process group, SIGKILL it if it does not go (its pipes stay open)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            proc.wait(5)


def end_helper(proc: subprocess.Popen | None) -> int | None:
    """End a helper process (:func:`_terminate`) and close its pipes; its exit status (also for
    other owned helper processes, e.g. the transport bench's CPU hog)."""
    if proc is None:
        return None
    _terminate(proc)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return proc.returncode


class JackServer:
    """A private jackd, owned by this object: ``with JackServer() as s:`` (or start/stop in a
    ``finally``) ends it, frees its registry slot and removes the files named after it."""

    def __init__(self, rate: int = 48000, period: int = 256, name: str | None = None) -> None:
        self.rate, self.period = rate, period
        self.name = name or f"studio-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile("w+", prefix="jackd-", suffix=".log", delete=False)
        self._old_env: str | None = None
        self._env_set = False
        # the log's xruns counted as it grows (a dump's reader asks at every event it prints)
        self._log_lock = threading.Lock()
        self._log_read = 0  # bytes of the log counted
        self._xruns_total = 0
        self._not_finished: Counter = Counter()  # client name -> cycles it did not finish

    def env(self) -> dict:
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1"}

    def start(self, timeout_s: float = 10.0) -> "JackServer":
        # a jackd that was SIGKILLed elsewhere keeps its slot in the shared-memory registry, and
        # after 8 such slots no server starts on this machine: when no server runs and no
        # process maps JACK's files, the registry starts afresh (never under a live user)
        _clear_stale_registry()
        try:
            return self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(
            ["jackd", "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True,
            preexec_fn=die_with_parent)

    def _wait_up(self, proc: subprocess.Popen, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"jackd exited at start:\n{self.log()}")
            if "system:playback_1" in self.ports():
                return
            time.sleep(0.1)
        raise RuntimeError(f"jackd did not come up in {timeout_s} s:\n{self.log()}")

    def _start(self, timeout_s: float) -> "JackServer":
        self.proc = self._spawn()
        if not self._env_set:
            self._old_env, self._env_set = os.environ.get("JACK_DEFAULT_SERVER"), True
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        self._wait_up(self.proc, timeout_s)
        return self

    def ports(self) -> list[str]:
        try:
            r = subprocess.run(["jack_lsp"], capture_output=True, text=True, env=self.env(), timeout=5)
        except subprocess.TimeoutExpired:
            return []
        return r.stdout.split("\n") if r.returncode == 0 else []

    def client_ports(self) -> list[str]:
        """Ports of clients other than the server's own (``system``): should be none at the end."""
        return [p for p in self.ports() if p.strip() and not p.startswith("system:")]

    def connect(self, src: str, dst: str) -> None:
        subprocess.run(["jack_connect", src, dst], check=True, env=self.env(), timeout=5)

    def log(self) -> str:
        self._log.flush()
        with open(self._log.name) as f:
            return f.read()

    def xruns(self, client: str | None = None) -> int:
        """The xruns the server logged; of ``client``: the cycles that client itself did not
        finish in time (the server names it, "client = NAME was not finished")."""
        with self._log_lock:
            self._log.flush()
            with open(self._log.name, "rb") as f:
                f.seek(self._log_read)
                new = f.read()
            new = new[:new.rfind(b"\n") + 1]  # whole lines only: a line being written is counted later
            self._log_read += len(new)
            text = new.decode("utf-8", "replace")
            self._xruns_total += len(_XRUN.findall(text))
            self._not_finished.update(_NOT_FINISHED.findall(text))
            return self._xruns_total if client is None else self._not_finished[client]

    def files(self) -> list[Path]:
        """The shared-memory files and sockets named after this server."""
        return [p for p in _jack_shm_files() if f"_{self.name}_" in p.name]

    def stop(self) -> None:
        """End jackd (it unregisters itself); if it died of a signal meanwhile, a second jackd
        under the same name reclaims its registry slot and files, then ends cleanly. Files named
        after this server that its killed clients left are removed: the name is unique and no
        server runs under it any more."""
        proc, self.proc = self.proc, None
        if proc is not None:
            died = proc.poll()
            end_helper(proc)
            if died is not None and died < 0:
                self._reclaim()
        for p in self.files():
            try:
                p.unlink()
            except OSError:
                pass
        if self._env_set:
            if os.environ.get("JACK_DEFAULT_SERVER") == self.name:
                if self._old_env is None:
                    os.environ.pop("JACK_DEFAULT_SERVER", None)
                else:
                    os.environ["JACK_DEFAULT_SERVER"] = self._old_env
            self._env_set = False

    def _reclaim(self) -> None:
        proc = self._spawn()
        try:
            self._wait_up(proc, 5.0)
        except RuntimeError:
            pass
        finally:
            end_helper(proc)

    def __enter__(self) -> "JackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass


_XRUN = re.compile(r"xrun", re.I)
_NOT_FINISHED = re.compile(r"client = (.+?) was not finished")
_LINE = re.compile(r"^\s*(\d+):((?:\s[0-9a-f]{2})+)")


class MidiDump:
    """``jack_midi_dump -a`` on the server: port ``<client>:input``; events as (frame, bytes).
    Owned by this object: ``with MidiDump(server) as dump:`` (or stop in a ``finally``) ends it.

    A cycle the dump misses (a stalled machine: the server logs it) loses what was written in it,
    and its frame count, which counts the cycles it ran in, falls a period behind JACK's for good:
    :meth:`missed` says how many it missed between :meth:`mark` (or its start) and the last event
    it printed (:class:`ClockProbe` keeps JACK's own frames)."""

    def __init__(self, server: JackServer, client: str = "midi-monitor") -> None:
        self.server, self.client = server, client
        self.port = f"{client}:input"
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None
        self._missed0 = 0
        self._missed_at_event = 0  # the server's count of this dump's misses as its last event came

    def start(self, timeout_s: float = 10.0) -> "MidiDump":
        err = tempfile.TemporaryFile("w+")  # what it says if it does not come up
        try:
            self.proc = subprocess.Popen(["stdbuf", "-oL", "jack_midi_dump", "-a", self.client],
                                         stdout=subprocess.PIPE, stderr=err, text=True,
                                         env=self.server.env(), start_new_session=True,
                                         preexec_fn=die_with_parent)
            self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
            self._reader.start()
            deadline = time.monotonic() + timeout_s
            while self.port not in (ports := self.server.ports()):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    err.seek(0)
                    raise RuntimeError(f"jack_midi_dump did not register {self.port} (exit status "
                                       f"{self.proc.poll()}; said {err.read()[-500:]!r}; the server's "
                                       f"ports: {[p for p in ports if p.strip()][:12]})")
                time.sleep(0.05)
            self.mark()  # a module's dumps share the name and the server's log
        except BaseException:
            self.stop()
            raise
        finally:
            err.close()
        return self

    def _read(self, stream) -> None:
        try:
            for line in stream:
                if _LINE.match(line):
                    self._missed_at_event = self.server.xruns(self.client)
                self.lines.append(line)
        except (OSError, ValueError):  # closed by stop()
            pass

    def mark(self) -> None:
        """Count :meth:`missed` from now: where what is measured begins."""
        self._missed0 = self.server.xruns(self.client)

    def missed(self) -> int:
        """Cycles this dump did not finish in time from :meth:`mark` (or its start) to the last
        event it printed, read from the server's log as each event came. Why not up to now: the
        server also logs misses that lose nothing as clients leave the graph (13-22 as a test's
        transport closed, none while it played), and a miss that loses an event is logged before
        the next event comes."""
        return max(0, self._missed_at_event - self._missed0)

    def events(self) -> list[tuple[int, bytes]]:
        out = []
        for line in list(self.lines):
            m = _LINE.match(line)
            if m:
                out.append((int(m.group(1)), bytes(int(x, 16) for x in m.group(2).split())))
        return out

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            _terminate(proc)  # the pipe stays open until the reader has read to its end
        if self._reader is not None:
            self._reader.join(2)  # reads what was printed up to its end
            self._reader = None
        end_helper(proc)  # closes its pipe

    def __enter__(self) -> "MidiDump":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


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


class ClockProbe:
    """A JACK client (JACK-Client) with one audio and one MIDI input that records, in JACK
    frames, every MIDI event and every audio onset (a sample above ``threshold`` at least
    ``gap`` frames after the previous one): the MIDI clock and the audio it should follow,
    measured in one frame domain. For the transport benchmark and tests; a context manager.

    The frames are JACK's own (each cycle's ``last_frame_time``), so a cycle this client misses
    (a stalled machine) loses that cycle's events only, and counts in ``xruns``.
    ``jack_midi_dump -a`` (:class:`MidiDump`) counts the frames of the cycles it ran in instead:
    after each cycle it misses, every later frame it prints is a period early.

    ``clock_slips``: (perf_counter_ns, ms) where JACK's frames moved against the system clock, the
    earliest cycle start of a quarter second (the driver's wake-up, the cycles' lower envelope)
    against the last quarter's by over ``SLIP_MS``. The dummy driver does that when it wakes late
    (the machine stalled): it starts its cycles afresh from then on, with no xrun logged, so every
    client's frames fall behind the system clock for good. A sound card's clock does not stop so;
    a check that compares JACK's frames with something stamped on the system clock (MIDI input
    times, the audio clock's anchors) is off by the slip until that re-learns it."""

    SLIP_MS = 2.0
    SLIP_BIN_NS = 250_000_000

    def __init__(self, name: str = "clock-probe", threshold: float = 0.25, gap: int = 2400) -> None:
        self.name, self.threshold, self.gap = name, threshold, gap
        self.midi: list[tuple[int, bytes]] = []
        self.onsets: list[int] = []
        self.xruns = 0
        self.clock_slips: list[tuple[int, float]] = []
        self._last: int | None = None
        self._frames = 0  # JACK's frame time, unwrapped
        self._bin_end = 0  # the lower envelope of (cycle start - frames) per SLIP_BIN_NS: this bin's end,
        self._bin_min = self._prev_min = None  # its minimum and the last bin's (ns)
        self.client = None

    def start(self) -> "ClockProbe":
        import jack

        from studio.transport.jack_callback import CallbackExit

        self._exit = CallbackExit()
        self.client = self._c = jack.Client(self.name, no_start_server=True)
        self.audio_in = self.client.inports.register("audio")
        self.midi_in = self.client.midi_inports.register("midi")
        self.audio_port, self.midi_port = self.audio_in.name, self.midi_in.name
        self._ns_per_frame = 1e9 / self.client.samplerate
        self.client.set_process_callback(self._process)
        self.client.activate()
        self._exit.activated()
        return self

    def _process(self, frames: int) -> None:
        import numpy as np

        self._exit.check()  # stop() asked: JACK ends the thread (jack_callback.py)
        entered = time.perf_counter_ns()
        base = self._c.last_frame_time  # 32 bits: wraps after ~25 h at 48 kHz
        if self._last is not None:
            step = (base - self._last) % (1 << 32)
            self._frames += step
            if step != frames:
                self.xruns += 1
        self._last = base
        self._watch_clock(entered, entered - self._frames * self._ns_per_frame)
        for off, data in self.midi_in.incoming_midi_events():
            self.midi.append((base + off, bytes(data)))
        hits = np.flatnonzero(self.audio_in.get_array() > self.threshold)
        for i in hits:
            f = base + int(i)
            if not self.onsets or f - self.onsets[-1] >= self.gap:
                self.onsets.append(f)

    def _watch_clock(self, now: int, start: float) -> None:
        """``start``: this cycle's entry on the system clock less its frames' time (see the class
        doc); a quarter's minimum that moved from the last one's is a slip."""
        if now < self._bin_end:
            if start < self._bin_min:
                self._bin_min = start
            return
        if self._prev_min is not None and abs(self._bin_min - self._prev_min) > self.SLIP_MS * 1e6:
            self.clock_slips.append((now, round((self._bin_min - self._prev_min) * 1e-6, 2)))
        self._prev_min, self._bin_min, self._bin_end = self._bin_min, start, now + self.SLIP_BIN_NS

    def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None and self._exit.end():
            try:
                client.deactivate()
                client.close()
            except Exception:
                pass

    def __enter__(self) -> "ClockProbe":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
