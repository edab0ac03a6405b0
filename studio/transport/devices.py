"""Audio devices and MIDI ports, per API; nothing here runs at import time.

sounddevice (PortAudio) is imported on first use; PortAudio scans its host APIs once, so a JACK
server started later is only seen after :func:`rescan_audio`. The MIDI API is chosen quietly:
ALSA when the machine has a sequencer (``/dev/snd/seq``), else JACK when a server is running
(found by its socket, so nothing is started or printed), else the platform's own API.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.errors import DeviceError

MIDI_APIS = ("alsa", "jack", "coremidi", "winmm")


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    output_channels: int
    default_sample_rate: float
    is_default: bool


# The studio's name in other programs' port lists: the MIDI port (virtual "Studio", on JACK
# "Studio:Studio") and the JACK audio client ("Studio Audio": JACK client names are unique, so
# it cannot be "Studio" as well while the MIDI client has that name).
STUDIO_NAME = "Studio"
AUDIO_CLIENT_NAME = f"{STUDIO_NAME} Audio"
_pa_jack_name = None  # the C string PortAudio was given: it keeps a pointer, so it must live on


# -- audio ---------------------------------------------------------------------------------
def import_sounddevice():
    """sounddevice, imported now; DeviceError if PortAudio is missing. The first call names
    PortAudio's JACK client after the studio (see :func:`name_jack_audio_client`)."""
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio shared library is not installed
        raise DeviceError(f"no audio output: PortAudio is not available ({exc}); install libportaudio2") from None
    if _pa_jack_name is None:
        name_jack_audio_client(sd)
    return sd


def name_jack_audio_client(sd, name: str = AUDIO_CLIENT_NAME) -> bool:
    """Make PortAudio's JACK host API register as ``name`` instead of "PortAudio".

    PortAudio has ``PaJack_SetClientName`` (pa_jack.h; it must be called before
    ``Pa_Initialize`` and keeps the pointer), which sounddevice does not wrap: it is called
    through ctypes on the library sounddevice loaded, and since sounddevice initialises
    PortAudio when imported, PortAudio is initialised again (only while nothing else holds it).
    False when this PortAudio has no JACK host API (the name then does not matter)."""
    global _pa_jack_name
    import ctypes

    try:
        fn = ctypes.CDLL(sd._libname).PaJack_SetClientName
    except (OSError, AttributeError):
        _pa_jack_name = b""
        return False
    fn.argtypes, fn.restype = [ctypes.c_char_p], ctypes.c_int
    buf = ctypes.create_string_buffer(name.encode("utf-8"))
    if fn(buf) != 0:  # too long for JACK
        _pa_jack_name = b""
        return False
    _pa_jack_name = buf
    if getattr(sd, "_initialized", 0) == 1 and portaudio_usable():
        sd._terminate()
        sd._initialize()
    return True


def returns_within(fn, timeout_s: float, name: str) -> bool:
    """Run ``fn()`` on a daemon thread of its own; whether it returned within ``timeout_s``. For
    a driver or server call that can block for good (closing a stream or a JACK client whose
    server died or stalls): the caller goes on, and the call is left to finish when it can."""
    t = threading.Thread(target=fn, daemon=True, name=name)
    t.start()
    t.join(timeout_s)
    return not t.is_alive()


_portaudio_hung = False
_guard_installed = False


def mark_portaudio_hung() -> None:
    """A driver hung on close (e.g. the JACK server died): PortAudio is unusable from now on."""
    global _portaudio_hung
    _portaudio_hung = True


def portaudio_usable() -> bool:
    """False after a driver hung (a JACK server died): restart the app to use audio again."""
    return not _portaudio_hung


def install_exit_guard(sd) -> None:
    """Registered after sounddevice's own exit handler, so it runs first: when a driver hung on
    close, terminating PortAudio at exit would hang (or assert) too, so skip it."""
    global _guard_installed
    if _guard_installed:
        return
    _guard_installed = True

    def guard() -> None:
        if _portaudio_hung:
            sd._initialized = 0

    import atexit

    atexit.register(guard)


def rescan_audio() -> None:
    """Make PortAudio look for devices again (e.g. after starting JACK or plugging a card in)."""
    if not portaudio_usable():
        raise DeviceError("the audio system hung when a device was lost; restart the studio to use audio again")
    sd = import_sounddevice()
    if sd._initialized:
        sd._terminate()
    sd._initialize()


def list_audio_devices() -> list[AudioDevice]:
    """Output-capable devices, every host API; empty when there are none."""
    sd = import_sounddevice()
    try:
        devices, apis = sd.query_devices(), sd.query_hostapis()
        default_out = sd.default.device[1]
    except Exception as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from None
    out = []
    for i, d in enumerate(devices):
        if d["max_output_channels"] > 0:
            api = apis[d["hostapi"]]
            out.append(AudioDevice(i, d["name"], api["name"], int(d["max_output_channels"]),
                                   float(d["default_samplerate"]),
                                   i == default_out or i == api.get("default_output_device")))
    return out


def resolve_output_device(spec: int | str | None) -> tuple[int, dict]:
    """(index, info) of an output device by index, exact or partial name; None = default."""
    sd = import_sounddevice()
    outputs = list_audio_devices()
    if not outputs:
        raise DeviceError("no audio output device found; connect one, start JACK/PipeWire, "
                          "or export to WAV instead of playing")
    if spec is None:
        chosen = next((d for d in outputs if d.is_default), outputs[0])
    elif isinstance(spec, int) or str(spec).isdigit():
        chosen = next((d for d in outputs if d.index == int(spec)), None)
    else:
        s = str(spec).lower()
        chosen = next((d for d in outputs if d.name.lower() == s), None) or next(
            (d for d in outputs if s in f"{d.name} ({d.host_api})".lower()), None)
    if chosen is None:
        names = ", ".join(f"{d.index}: {d.name} ({d.host_api})" for d in outputs)
        raise DeviceError(f"no audio output device {spec!r}; available: {names}")
    return chosen.index, dict(sd.query_devices(chosen.index))


# -- MIDI ----------------------------------------------------------------------------------
def import_rtmidi():
    """python-rtmidi, imported now; DeviceError if it is missing."""
    try:
        import rtmidi
    except ImportError as exc:
        raise DeviceError(f"MIDI output needs python-rtmidi ({exc}); pip install python-rtmidi") from None
    return rtmidi


def rtmidi_api(name: str) -> int:
    """python-rtmidi's constant for a name of MIDI_APIS."""
    rtmidi = import_rtmidi()
    return {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK,
            "coremidi": rtmidi.API_MACOSX_CORE, "winmm": rtmidi.API_WINDOWS_MM}[name]


def match_port(ports: list[str], target: str) -> int | None:
    """Index of ``target`` in ``ports``: the exact name, else the first containing it (any case)."""
    for i, p in enumerate(ports):
        if p == target:
            return i
    t = target.lower()
    return next((i for i, p in enumerate(ports) if t in p.lower()), None)


def open_rtmidi_port(direction: str, api: str, name: str, target: str | None):
    """A python-rtmidi ``MidiOut`` / ``MidiIn`` (``direction`` "out" / "in") on ``api`` with the
    virtual port ``name``, or connected to the existing port ``target`` (``match_port``);
    DeviceError with what is available when it cannot open."""
    rtmidi = import_rtmidi()
    cls = rtmidi.MidiOut if direction == "out" else rtmidi.MidiIn
    try:
        port = cls(rtmidi_api(api), name=name)
    except Exception as exc:
        raise DeviceError(f"cannot open the {api} MIDI system: {exc}") from None
    try:
        if target is None:
            port.open_virtual_port(name)
        else:
            ports = port.get_ports()
            i = match_port(ports, target)
            if i is None:
                raise DeviceError(f"no MIDI port {target!r} on {api}; available: {', '.join(ports) or 'none'}")
            port.open_port(i, name)
    except DeviceError:
        port.delete()
        raise
    except Exception as exc:  # e.g. virtual ports unsupported (Windows MM)
        port.delete()
        hint = " (Windows has no virtual ports: use loopMIDI and pick its port)" if target is None else ""
        raise DeviceError(f"cannot open MIDI port {target or name!r}: {exc}{hint}") from None
    return port


def compiled_midi_apis() -> list[str]:
    rtmidi = import_rtmidi()
    have = set(rtmidi.get_compiled_api())
    return [a for a in MIDI_APIS if rtmidi_api(a) in have]


def alsa_sequencer_present() -> bool:
    return Path("/dev/snd/seq").exists() and os.access("/dev/snd/seq", os.R_OK | os.W_OK)


def jack_server_running(name: str | None = None) -> bool:
    """Whether a JACK server (``name``, else $JACK_DEFAULT_SERVER or 'default') accepts connections."""
    name = name or os.environ.get("JACK_DEFAULT_SERVER") or "default"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    dirs = [os.environ.get("JACK_PROMISCUOUS_SERVER") and "/dev/shm", "/dev/shm", "/tmp",
            os.environ.get("XDG_RUNTIME_DIR")]
    for d in filter(None, dirs):
        path = Path(d) / f"jack_{name}_{uid}_0"
        if path.exists():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(0.5)
                s.connect(str(path))
                return True
            except OSError:
                continue  # a stale socket left by a server that died
            finally:
                s.close()
    return False


def choose_midi_api(prefer: str | None = None) -> str:
    """The MIDI API to use: ``prefer`` if given (checked), else ALSA with a sequencer, else a
    running JACK server, else CoreMIDI / WinMM on those systems."""
    compiled = compiled_midi_apis()
    if prefer:
        prefer = prefer.lower()
        if prefer not in MIDI_APIS:
            raise DeviceError(f"unknown MIDI API {prefer!r}; choose from {', '.join(MIDI_APIS)}")
        if prefer not in compiled:
            raise DeviceError(f"this python-rtmidi was built without {prefer} (it has {', '.join(compiled)})")
        if prefer == "alsa" and not alsa_sequencer_present():
            raise DeviceError("this machine has no ALSA sequencer (/dev/snd/seq); load snd-seq or use JACK")
        if prefer == "jack" and not jack_server_running():
            raise DeviceError("no JACK server is running; start jackd (or PipeWire's JACK) first")
        return prefer
    if "alsa" in compiled and alsa_sequencer_present():
        return "alsa"
    if "jack" in compiled and jack_server_running():
        return "jack"
    if sys.platform == "darwin" and "coremidi" in compiled:
        return "coremidi"
    if sys.platform.startswith("win") and "winmm" in compiled:
        return "winmm"
    raise DeviceError("no MIDI system found: load the ALSA sequencer (snd-seq) or start a JACK "
                      "server, or export a MIDI file instead")


def list_midi_ports(api: str | None = None) -> dict[str, list[str]]:
    """MIDI output destinations per API; ``api`` None lists every API that is usable now."""
    rtmidi = import_rtmidi()
    apis = [api] if api else [a for a in compiled_midi_apis()
                              if (a != "alsa" or alsa_sequencer_present()) and (a != "jack" or jack_server_running())]
    out: dict[str, list[str]] = {}
    for a in apis:
        try:
            m = rtmidi.MidiOut(rtmidi_api(a), name="studio-probe")
            out[a] = list(m.get_ports())
            m.delete()
        except Exception as exc:
            raise DeviceError(f"cannot list {a} MIDI ports: {exc}") from None
    return out


def describe_devices() -> dict:
    """Everything `studio devices` prints: audio outputs and MIDI ports, per API, as plain data."""
    info: dict = {"audio": [], "midi": {}, "midi_api": None, "problems": []}
    try:
        info["audio"] = [asdict(d) for d in list_audio_devices()]
    except DeviceError as exc:
        info["problems"].append(str(exc))
    try:
        info["midi_api"] = choose_midi_api()
        info["midi"] = list_midi_ports()
    except DeviceError as exc:
        info["problems"].append(str(exc))
    return info
