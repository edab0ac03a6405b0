"""MIDI notes -> stereo audio with a General MIDI soundfont (FluidSynth, offline, no audio driver).

Soundfont
    Looked up in this order: ``$STUDIO_SOUNDFONT`` (an error if it names a missing file, never a
    silent fallback), then FluidR3_GM.sf2, MuseScore_General_Lite.sf3, TimGM6mb.sf2 and the
    system's default-GM links. **FluidR3_GM is the default**: it is the most complete and
    best-sampled of the Debian GM fonts (142 MB, uncompressed), it is Debian's own default GM
    font, and because it is plain SF2 it loads in ~0.3 s here. MuseScore_General_Lite.sf3 is
    smaller on disk (40 MB) and loads fine with this libfluidsynth (2.3, built with libsndfile/
    Vorbis), but its samples are Ogg-compressed and are decoded at load time (~2.1 s, and they
    occupy about as much memory as FluidR3 once decoded), so it is second. TimGM6mb (6 MB) is
    the fallback of last resort: it loads in 30 ms but sounds thin; the tests use it for speed.

Level
    FluidSynth's output level depends on the font. Each loaded font is calibrated once: a
    velocity-100 middle C on GM program 0 (acoustic grand piano) rendered dry peaks at
    ``REFERENCE_PEAK_DBFS`` = -12 dBFS; the same synth gain is used for every program, so the
    font's own balance between instruments is kept and 12 dB of headroom remains for chords
    and several tracks. Output is float32, never clipped here (the mixdown reports clipping).

Timing
    Every event sits at its exact sample ``round(t * sample_rate)``. FluidSynth itself starts
    voices only at its internal 64-frame block boundaries (``FLUID_BUFSIZE``): a note-on sent in
    mid-block sounds from the next block, up to 1.4 ms late. To be sample-accurate, notes are
    rendered on *lanes*: several synths whose block grids are shifted against each other. A
    note goes to a lane whose grid has a boundary exactly at its sample; a lane that has fallen
    silent is re-aligned to the note; otherwise a new lane starts there (at most 64 can be
    needed, one per grid phase). Lanes are summed. A lane renders only while it sounds, so the
    cost stays that of the voices. Note-offs go to the lane that started the note, at that
    lane's nearest block boundary (release starts within 32 frames = 0.7 ms of the exact time).
    What one synth would do between notes on different lanes is reproduced: a note-on releases
    an earlier still-held note of the same key. On the drum channel the GM exclusive groups
    (open/closed/pedal hi-hat, whistles, guiros, cuicas, triangles) must choke each other, which
    FluidSynth only does within one synth: a group note that follows a still-ringing note of its
    group plays on that note's lane, at the lane's nearest block boundary (within 32 frames =
    0.67 ms at 48 kHz of its exact sample). Every other onset is exact to the sample.

Channels
    Melodic parts play on channel 0 with their GM program (bank 0); drums on channel 10 (index
    9) with drum bank 128 (``program`` then picks the kit, 0 = standard). Reverb and chorus are
    off: stems are dry and bit-identical between runs.

Loaded fonts are cached per process (FluidSynth's sample cache makes further synths on the same
file cheap: ~40 ms), and synths are pooled per (font, sample rate) and reset between uses.
"""
from __future__ import annotations

import ctypes
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from studio.errors import StudioError
from studio.jobs import Job
from studio.music import DRUM_CHANNEL, Note

__all__ = [
    "SynthError", "SOUNDFONT_ENV", "SOUNDFONT_CANDIDATES", "REFERENCE_PEAK_DBFS", "find_soundfont",
    "render_notes", "calibrated_gain",
]

SOUNDFONT_ENV = "STUDIO_SOUNDFONT"
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian: fluid-soundfont-gm
    "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",  # musescore-general-soundfont-small
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # timgm6mb-soundfont
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Arch / Fedora layouts
    "/usr/share/soundfonts/default.sf2",
)
REFERENCE_PEAK_DBFS = -12.0
_FLUID_WARN = 2  # fluid_log_level
BLOCK = 64  # FluidSynth's FLUID_BUFSIZE: voices start on these boundaries
MAX_TAIL_S = 20.0  # when no length is given, render release tails at most this long
DRUM_BANK = 128

# GM drum keys that share an exclusive class in GM soundfonts (one cuts the other off)
_CHOKE_GROUPS = ((42, 44, 46), (71, 72), (73, 74), (78, 79), (80, 81))
_CHOKE = {k: g for g in _CHOKE_GROUPS for k in g}


class SynthError(StudioError):
    """The synthesiser cannot run: FluidSynth library or soundfont missing or unreadable."""


# ----------------------------------------------------------------------------- library

_fs_module = None
_lib_lock = threading.Lock()


def _fluidsynth():
    """Import pyfluidsynth lazily; it loads libfluidsynth with ctypes at import time."""
    global _fs_module
    with _lib_lock:
        if _fs_module is None:
            try:
                import fluidsynth  # noqa: PLC0415
            except (ImportError, OSError) as exc:
                raise SynthError(
                    "the FluidSynth library is missing; install the Debian package libfluidsynth3 "
                    f"(and pip package pyfluidsynth) to render MIDI ({exc})"
                ) from None
            lib = fluidsynth._fl
            lib.fluid_synth_process.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                                ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
            lib.fluid_synth_process.restype = ctypes.c_int
            lib.fluid_synth_set_gain.argtypes = [ctypes.c_void_p, ctypes.c_float]
            lib.fluid_synth_set_gain.restype = None
            lib.fluid_synth_get_active_voice_count.argtypes = [ctypes.c_void_p]
            lib.fluid_synth_get_active_voice_count.restype = ctypes.c_int
            lib.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
            lib.fluid_set_log_function.restype = ctypes.c_void_p
            _fs_module = fluidsynth
    return _fs_module


# ----------------------------------------------------------------------------- soundfont


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path:
    """The soundfont to use: ``explicit``, else ``$STUDIO_SOUNDFONT``, else the first installed
    of :data:`SOUNDFONT_CANDIDATES`."""
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise SynthError(f"soundfont {p} does not exist; choose an existing .sf2/.sf3 file")
        return p
    env = os.environ.get(SOUNDFONT_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise SynthError(
                f"{SOUNDFONT_ENV}={env} does not name an existing soundfont; fix or unset it "
                "(without it the studio uses the Debian package fluid-soundfont-gm)"
            )
        return p
    for c in SOUNDFONT_CANDIDATES:
        if Path(c).is_file():
            return Path(c)
    raise SynthError(
        "no General MIDI soundfont found; install the Debian package fluid-soundfont-gm "
        f"or point {SOUNDFONT_ENV} at a .sf2/.sf3 file"
    )


@dataclass
class _Synth:
    synth: object  # fluidsynth.Synth
    sfid: int
    rendered: int = 0  # frames rendered so far; FluidSynth's block phase is this mod BLOCK


class _Font:
    """One soundfont at one sample rate: a pool of loaded synths and the calibrated gain."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path, self.sample_rate = path, sample_rate
        self._free: list[_Synth] = []
        self._lock = threading.Lock()
        self.gain = 1.0
        probe = self._new()
        self.gain = self._calibrate(probe)
        lib = _fluidsynth()._fl
        lib.fluid_synth_set_gain(probe.synth.synth, self.gain)
        self.release(probe)

    def _new(self) -> _Synth:
        fs = _fluidsynth()
        synth = fs.Synth(
            gain=float(self.gain), samplerate=float(self.sample_rate), channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": POLYPHONY,
               "synth.cpu-cores": 1},
        )
        sfid = synth.sfload(str(self.path))
        if sfid < 0:
            synth.delete()
            raise SynthError(f"{self.path} is not a readable soundfont (FluidSynth refused it); "
                             "choose another .sf2/.sf3 file")
        s = _Synth(synth, sfid)
        _settle(s)
        return s

    def _calibrate(self, s: _Synth) -> float:
        s.synth.program_select(0, s.sfid, 0, 0)
        out = np.zeros((2, self.sample_rate), np.float32)
        s.synth.noteon(0, 60, 100)
        _process(s, out, 0, out.shape[1])
        _settle(s)
        peak = float(np.abs(out).max())
        if not peak > 0:
            raise SynthError(f"{self.path} has no playable piano preset; choose a General MIDI soundfont")
        return 10 ** (REFERENCE_PEAK_DBFS / 20) / peak

    def acquire(self) -> _Synth:
        with self._lock:
            if self._free:
                return self._free.pop()
        s = self._new()
        _fluidsynth()._fl.fluid_synth_set_gain(s.synth.synth, self.gain)
        return s

    def release(self, s: _Synth) -> None:
        _settle(s)
        with self._lock:
            self._free.append(s)


_fonts: dict[tuple[str, int], _Font] = {}
_fonts_lock = threading.Lock()


def _font(path: Path, sample_rate: int) -> _Font:
    key = (str(path.resolve()), int(sample_rate))
    with _fonts_lock:
        font = _fonts.get(key)
        if font is None:
            font = _fonts[key] = _Font(path, int(sample_rate))
        return font


def calibrated_gain(sample_rate: int = 48000, soundfont: str | os.PathLike | None = None) -> float:
    """FluidSynth ``synth.gain`` used for this font (see the module doc: -12 dBFS reference)."""
    return _font(find_soundfont(soundfont), sample_rate).gain


def _process(s: _Synth, out: np.ndarray, start: int, stop: int) -> None:
    """Render ``stop - start`` frames, *adding* them into ``out[:, start:stop]``."""
    n = stop - start
    if n <= 0:
        return
    s.rendered += n
    base0, base1 = out[0].ctypes.data, out[1].ctypes.data
    ptrs = (ctypes.c_void_p * 2)(base0 + 4 * start, base1 + 4 * start)
    _fluidsynth()._fl.fluid_synth_process(s.synth.synth, n, 0, None, 2, ptrs)


POLYPHONY = 256


def _settle(s: _Synth) -> None:
    """Bring a synth into one canonical state, whatever it played before.

    FluidSynth ramps a voice's amplitude over its first block from the value its voice slot
    was left with; a slot whose last voice was cut off by a reset keeps that voice's level.
    So the same note would render slightly differently (up to ~-45 dB) depending on what the
    synth played earlier. Filling every slot with a quiet note and resetting leaves all slots
    in the same state, which makes renders bit-identical however synths are pooled.
    """
    lib = _fluidsynth()._fl
    s.synth.system_reset()
    _drain(s)
    previous = lib.fluid_set_log_function(_FLUID_WARN, None, None)  # a full pool warns per note
    try:
        key = 0
        while lib.fluid_synth_get_active_voice_count(s.synth.synth) < POLYPHONY and key < 16 * 128:
            if key % 128 == 0:
                s.synth.program_select(key // 128, s.sfid, 0, 0)
            s.synth.noteon(key // 128, key % 128, 1)
            key += 1
        scratch = np.zeros((2, BLOCK), np.float32)
        _process(s, scratch, 0, BLOCK)
    finally:
        lib.fluid_set_log_function(_FLUID_WARN, previous, None)
    s.synth.system_reset()
    _drain(s)


def _drain(s: _Synth) -> None:
    """Let voices killed by a reset finish and consume FluidSynth's partly used block, so the
    next user starts from silence exactly on a block boundary."""
    scratch = np.zeros((2, BLOCK * 16), np.float32)
    _process(s, scratch, 0, (-s.rendered) % BLOCK)
    for _ in range(64):
        if _fluidsynth()._fl.fluid_synth_get_active_voice_count(s.synth.synth) == 0:
            return
        scratch[:] = 0
        _process(s, scratch, 0, scratch.shape[1])


# ----------------------------------------------------------------------------- lanes


class _Lane:
    """One synth whose 64-frame grid starts at ``origin`` (an output frame)."""

    def __init__(self, s: _Synth, origin: int, channel: int) -> None:
        self.s, self.origin, self.pos, self.channel = s, origin, origin, channel
        self.held: dict[int, int] = {}  # key -> id of the note holding it
        self.groups: set[tuple[int, ...]] = set()  # exclusive drum groups started since rephase
        self.idle = True

    def aligned(self, p: int) -> bool:
        return (p - self.origin) % BLOCK == 0

    def render_to(self, q: int, out: np.ndarray) -> None:
        """Render up to frame q (a grid boundary of this lane, or the end of ``out``)."""
        if self.idle or q <= self.pos:
            return
        q = min(q, out.shape[1])
        _process(self.s, out, self.pos, q)
        self.pos = q
        if not self.held and _fluidsynth()._fl.fluid_synth_get_active_voice_count(self.s.synth.synth) == 0:
            self.idle = True

    def floor(self, p: int) -> int:
        return p - (p - self.origin) % BLOCK

    def nearest(self, p: int) -> int:
        f = self.floor(p)
        return max(self.pos, f + BLOCK if p - f > BLOCK // 2 else f)

    def rephase(self, p: int) -> None:
        self.origin = self.pos = p
        self.groups.clear()


def render_notes(
    notes: Sequence[Note],
    sample_rate: int,
    *,
    program: int = 0,
    drums: bool = False,
    n_samples: int | None = None,
    soundfont: str | os.PathLike | None = None,
    job: Job | None = None,
) -> np.ndarray:
    """Render notes to float32 stereo ``(2, n)`` at ``sample_rate``.

    ``program`` is the 0-based GM program (for drums: the kit in bank 128). ``drums`` plays the
    part on channel 10; otherwise channel 0 (``Note.channel`` is ignored: one part per call).
    ``n_samples`` fixes the length (notes and tails beyond it are cut); without it the buffer
    ends when the last release tail has died away (at most ``MAX_TAIL_S`` after the last note).
    """
    job = Job.quiet(job)
    sample_rate = int(sample_rate)
    if sample_rate < 8000 or sample_rate > 192000:
        raise SynthError(f"sample rate {sample_rate} Hz is outside 8000..192000")
    if not 0 <= int(program) <= 127:
        raise SynthError(f"GM program {program} outside 0..127")
    font = _font(find_soundfont(soundfont), sample_rate)
    channel = DRUM_CHANNEL if drums else 0
    bank = DRUM_BANK if drums else 0

    # events: (frame, kind 0=off 1=on, note index)
    events: list[tuple[int, int, int]] = []
    for i, n in enumerate(notes):
        on = int(round(n.start_s * sample_rate))
        off = max(on + 1, int(round(n.end_s * sample_rate)))
        if on < 0:
            continue
        events.append((on, 1, i))
        events.append((off, 0, i))
    events.sort()
    last = max((e[0] for e in events), default=0)
    length = int(n_samples) if n_samples is not None else last + int(MAX_TAIL_S * sample_rate)
    out = np.zeros((2, max(0, length)), np.float32)

    lanes: list[_Lane] = []
    owner: dict[int, _Lane] = {}

    def new_lane(p: int) -> _Lane:
        s = font.acquire()
        if s.synth.program_select(channel, s.sfid, bank, int(program)) != 0 and drums:
            s.synth.program_select(channel, s.sfid, bank, 0)  # kit missing: standard kit
        lane = _Lane(s, p, channel)
        lanes.append(lane)
        return lane

    try:
        for k, (p, kind, i) in enumerate(events):
            if p >= length:
                break
            if k % 256 == 0:
                job.report(k / max(1, len(events)), "rendering notes")
            note = notes[i]
            if kind == 0:
                lane = owner.pop(i, None)
                if lane is not None and lane.held.get(note.pitch) == i:
                    lane.render_to(lane.nearest(p), out)
                    lane.s.synth.noteoff(channel, note.pitch)
                    del lane.held[note.pitch]
                continue
            group = _CHOKE.get(note.pitch) if drums else None
            lane = None
            if group is not None:  # exclusive drum group still ringing on a lane: share it
                lane = next((ln for ln in lanes if not ln.idle and group in ln.groups), None)
            if lane is not None:
                # FluidSynth's exclusive class cuts the earlier sound; the onset goes to that
                # lane's nearest block boundary (<= 32 frames off; see the module doc)
                lane.render_to(lane.nearest(p), out)
            else:
                # a note-on releases a still-held note of the same key (as one synth would)
                for other in lanes:
                    held = other.held.get(note.pitch)
                    if held is None:
                        continue
                    other.render_to(other.nearest(p), out)
                    other.s.synth.noteoff(channel, note.pitch)
                    owner.pop(other.held.pop(note.pitch), None)
                lane = next((ln for ln in lanes if not ln.idle and ln.aligned(p)), None)
                if lane is None:
                    for ln in lanes:
                        if not ln.idle:
                            ln.render_to(ln.floor(p), out)
                        if ln.idle:
                            lane = ln
                            break
                if lane is None:
                    lane = new_lane(p)
                if lane.idle:
                    lane.rephase(p)
                    lane.idle = False
                lane.render_to(p, out)
            if group is not None:
                lane.groups.add(group)
            lane.s.synth.noteon(channel, note.pitch, int(note.velocity))
            lane.held[note.pitch] = i
            owner[i] = lane
        # tails: every lane until silent or the end
        end = 0
        for lane in lanes:
            while not lane.idle and lane.pos < length:
                lane.render_to(min(length, lane.pos + BLOCK * 256), out)
            end = max(end, lane.pos)
    finally:
        for lane in lanes:
            font.release(lane.s)
    job.report(1.0, "notes rendered")
    if n_samples is None:
        out = out[:, : max(end, last)]
    return out


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else float("-inf")
