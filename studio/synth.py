"""MIDI notes -> stereo audio with a General MIDI soundfont (FluidSynth, offline, no audio driver).

Banks (which soundfont a part plays through; ids and files in :mod:`studio.banks`)
    Decided per part, by :func:`resolve_bank`, first match wins:

    1. the track's own choice (``Track.bank``, a bank id such as ``"fluidr3"`` or
       ``"avl-black-pearl"``) when that bank is installed here and fits the part (a drum kit
       only plays drum parts); otherwise a warning is logged and the choice is ignored, so a
       project made on another machine still renders;
    2. an explicit ``soundfont=`` path given by the caller, then ``$STUDIO_SOUNDFONT`` (an
       error if it names a missing file, never a silent fallback): one file for every part;
    3. automatic: a drum part plays the first installed recorded kit (AVL Drumkits: Black
       Pearl, then Red Zeppelin), a melodic part (and a drum part when no kit is installed) the
       first installed GM bank of MuseScore_General_Full.sf2 (lossless), MuseScore_General_Full.sf3,
       FluidR3_GM.sf2, MuseScore_General_Lite.sf3, TimGM6mb.sf2, the system's default-GM links
       (:data:`SOUNDFONT_CANDIDATES`).

    **MuseScore General (HQ) is the preferred GM bank**: it is Fluid R3 reworked (a sampled
    Splendid Grand piano, VSCO strings, recorded drumline), with velocity layers on the piano
    and the kits. Its lossless SF2 (490 MB, 16-bit samples) is read, not decoded: the presets a
    soundtrack plays (piano, two basses) load in 0.2 CPU-s. Its SF3 (86 MB, Ogg-compressed
    samples, the fallback) is decoded preset by preset as a channel selects one: 2.2 CPU-s for
    the same presets, 3 more for the strings, once per process (fonts are cached, and presets
    held selected, :meth:`_Font.hold`: FluidSynth unloads a preset's samples whenever no synth
    holds it, so every render re-decoded them). FluidR3_GM (142 MB SF2) loads in ~0.2 s;
    TimGM6mb (6 MB) in 30 ms but sounds thin: the tests use it for speed. The AVL kits (19/27
    MB SF2) load in ~60 ms.

    A recorded kit does not follow the GM drum map everywhere: its notes are translated by the
    bank's ``note_map`` (:data:`studio.banks.AVL_GM_MAP`), and GM drum notes the kit has no
    sound for are played by the GM bank (step 2 or 3) on its standard kit, mixed into the same
    stem. The kit and the GM bank each get their own lanes (below), so both stay exact.

Level
    FluidSynth's output level depends on the font. Each loaded font is calibrated once: a
    velocity-100 middle C on GM program 0 (acoustic grand piano) rendered dry peaks at
    ``REFERENCE_PEAK_DBFS`` = -12 dBFS; the same synth gain is used for every program, so the
    font's own balance between instruments is kept and 12 dB of headroom remains for chords
    and several tracks. A drum-kit bank has no piano: a velocity-100 snare (key 38) peaks at
    ``DRUM_REFERENCE_PEAK_DBFS`` = -6.5 dBFS, where the GM banks' own kits put it after their
    piano calibration (FluidR3 -6.3, MuseScore -6.8, TimGM6mb -3.6 dBFS), so switching a drum
    track to a recorded kit keeps the balance. Output is float32, never clipped here (the
    mixdown reports clipping).

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
    FluidSynth only does within one synth (the groups are read from the font's exclusive
    classes, :func:`studio.banks.exclusive_groups`; a repeated hit of a key with a class chokes
    its own earlier ring too): a group note that follows a still-ringing note of its
    group plays on that note's lane, at the lane's nearest block boundary (within 32 frames =
    0.67 ms at 48 kHz of its exact sample). Every other onset is exact to the sample.

Channels
    Melodic parts play on channel 0 with their GM program (bank 0); drums on channel 10 (index
    9) with drum bank 128 (``program`` then picks the kit, 0 = standard; a recorded-kit bank
    has one kit, its ``drum_preset``). Reverb and chorus are
    off: stems are dry and bit-identical between runs.

Loaded fonts are cached per process (FluidSynth's sample cache makes further synths on the same
file cheap: ~70 ms for Fluid R3, ~200 ms for MuseScore General, whose preset tables are larger),
and synths are pooled per (font, sample rate) and reset between uses: the first render in a
process pays for its lanes' synths, later ones reuse them. A released synth is reset when it is
next taken, not when it is given back, so a one-shot render (the CLI) resets none of the lanes it
ends with. :func:`warm_up` loads the fonts and
presets of parts about to be rendered on a thread of its own (``studio.generate`` calls it as each
engine's parts come in), and :func:`render_notes` waits for it: the same samples either way.
"""
from __future__ import annotations

import ctypes
import logging
import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from studio import banks, diskaudio
from studio.banks import Bank
from studio.errors import StudioError
from studio.jobs import Job
from studio.music import DRUM_CHANNEL, Note

__all__ = [
    "SynthError", "SOUNDFONT_ENV", "SOUNDFONT_CANDIDATES", "REFERENCE_PEAK_DBFS",
    "DRUM_REFERENCE_PEAK_DBFS", "find_soundfont", "resolve_bank", "available_banks", "render_notes",
    "calibrated_gain",
]
log = logging.getLogger(__name__)

SOUNDFONT_ENV = "STUDIO_SOUNDFONT"
# the GM banks' files, best first (studio.banks.KNOWN_BANKS: MuseScore General HQ lossless, then
# Ogg-compressed, Fluid R3, MuseScore General Lite, TimGM6mb, the system's default-GM links)
SOUNDFONT_CANDIDATES = tuple(p for k in banks.KNOWN_BANKS if k.kind == banks.GM for p in k.paths)
REFERENCE_PEAK_DBFS = -12.0
DRUM_REFERENCE_PEAK_DBFS = -6.5  # velocity-100 snare of a drum-kit bank (module doc: Level)
_FLUID_WARN = 2  # fluid_log_level
BLOCK = 64  # FluidSynth's FLUID_BUFSIZE: voices start on these boundaries
MAX_TAIL_S = 20.0  # when no length is given, render release tails at most this long
DRUM_BANK = 128

# GM drum keys that share an exclusive class in GM soundfonts (one cuts the other off); used
# only when a font's own exclusive classes cannot be read (studio.banks.exclusive_groups)
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
            lib.fluid_synth_get_sfont_by_id.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.fluid_synth_get_sfont_by_id.restype = ctypes.c_void_p
            lib.fluid_synth_add_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            lib.fluid_synth_add_sfont.restype = ctypes.c_int
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


def available_banks() -> list[Bank]:
    """The banks installed here (GM banks best first, then recorded drum kits)."""
    return banks.discover()


def _gm_bank(soundfont: str | os.PathLike | None) -> Bank:
    """Steps 2-3 of the module doc for a GM bank: explicit path, $STUDIO_SOUNDFONT, automatic."""
    return banks.bank_for_path(find_soundfont(soundfont))


def resolve_bank(bank: str | None = None, *, drums: bool = False,
                 soundfont: str | os.PathLike | None = None) -> Bank:
    """The bank a part plays through: ``bank`` (an id) when installed and fitting, else the
    explicit ``soundfont`` path or ``$STUDIO_SOUNDFONT``, else automatic (module doc: Banks)."""
    if bank:
        chosen = banks.bank_by_id(bank)
        if chosen is not None and (drums or chosen.kind == banks.GM):
            return chosen
        why = ("is not installed here" if chosen is None else "is a drum kit and this part is melodic")
        log.warning("bank %r %s; using the automatic choice instead", bank, why)
    if soundfont is not None or os.environ.get(SOUNDFONT_ENV):
        chosen = _gm_bank(soundfont)
        if not drums and chosen.kind != banks.GM:
            raise SynthError(f"{chosen.path} is a drum kit, not a General MIDI soundfont; it cannot "
                             "play a melodic part (choose a GM .sf2/.sf3 file)")
        return chosen
    if drums:
        kit = next((b for b in banks.discover() if b.kind == banks.DRUMS), None)
        if kit is not None:
            return kit
    return _gm_bank(None)


@dataclass
class _Synth:
    synth: object  # fluidsynth.Synth
    sfid: int
    rendered: int = 0  # frames rendered so far; FluidSynth's block phase is this mod BLOCK
    used: bool = False  # played since it was last settled: settled (twice) before its next use


class _Font:
    """One soundfont at one sample rate: a pool of loaded synths and the calibrated gain."""

    def __init__(self, path: Path, sample_rate: int, kit: bool = False) -> None:
        self.path, self.sample_rate, self.kit = path, sample_rate, kit
        self._free: list[_Synth] = []
        self._lock = threading.Lock()
        self.gain = 1.0
        self._sfont = None  # the font as FluidSynth loaded it (fluid_sfont_t*), shared by every synth
        self.loads = 0  # times the file was read (sfload): one per process and rate
        self._fill = _Fill()  # recorded by the first synth's settle, before any other thread sees the font
        # presets kept selected on a synth that never plays (so never settled), so their samples
        # stay decoded: with dynamic sample loading a preset no channel selects is unloaded, so
        # after a part's last lane is reset (_settle) the next part or render would decode it
        # again (MuseScore General's piano: about 1 s). Made first: each reset and refill of the
        # probe's settles below would otherwise unload and decode the defaults again (5 x 0.14 s)
        self._holder = self._new(settle=False)
        self._held: dict[tuple[int, int], int] = {}  # (bank, program) -> the holder's channel
        probe = self._new()
        self.gain = self._calibrate(probe)
        lib = _fluidsynth()._fl
        lib.fluid_synth_set_gain(probe.synth.synth, self.gain)
        _settle_used(probe, self._fill)  # here, on the warm-up thread, rather than on a render's
        self._free.append(probe)
        for preset in ((0, 0),) if kit else ((0, 0), (DRUM_BANK, 0)):  # what a reset selects
            self.hold(*preset)

    def _new(self, settle: bool = True) -> _Synth:
        fs = _fluidsynth()
        synth = fs.Synth(
            gain=float(self.gain), samplerate=float(self.sample_rate), channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": POLYPHONY,
               "synth.cpu-cores": 1, "synth.dynamic-sample-loading": DYNAMIC_SAMPLES},
        )
        if self._sfont is None:
            # the file is read once: the first synth loads it, every later synth (one per lane,
            # see _render_part) adds that loaded font to its own stack (fluid_synth_add_sfont:
            # presets and samples shared, nothing parsed or decoded again; measured 0.23 s per
            # extra synth of MuseScore General's sf3 otherwise). Synths of a font are never
            # deleted (delete_fluid_synth frees every font in a synth's stack).
            sfid = synth.sfload(str(self.path))
            if sfid < 0:
                synth.delete()
                raise SynthError(f"{self.path} is not a readable soundfont (FluidSynth refused it); "
                                 "choose another .sf2/.sf3 file")
            self.loads += 1
            self._sfont = fs._fl.fluid_synth_get_sfont_by_id(synth.synth, sfid)
        else:
            # (its program reset warns about a drum kit's missing bank 128 on channel 10: quiet)
            previous = fs._fl.fluid_set_log_function(_FLUID_WARN, None, None)
            try:
                sfid = fs._fl.fluid_synth_add_sfont(synth.synth, self._sfont)
            finally:
                fs._fl.fluid_set_log_function(_FLUID_WARN, previous, None)
            if sfid < 0:
                raise SynthError(f"FluidSynth could not share the loaded soundfont {self.path}")
        s = _Synth(synth, sfid)
        if settle:
            _settle(s, self._fill)
        else:
            s.synth.system_reset()  # the default presets selected (and decoded)
        return s

    def _calibrate(self, s: _Synth) -> float:
        # a GM bank on its piano's middle C, a drum-kit bank (one kit, bank 0 program 0: the AVL
        # kits) on its snare; see the module doc (Level)
        key, target = (38, DRUM_REFERENCE_PEAK_DBFS) if self.kit else (60, REFERENCE_PEAK_DBFS)
        s.synth.program_select(0, s.sfid, 0, 0)
        out = np.zeros((2, self.sample_rate), np.float32)
        s.synth.noteon(0, key, 100)
        _process(s, out, 0, out.shape[1])
        _settle(s, self._fill)
        peak = float(np.abs(out).max())
        if not peak > 0:
            what = "snare (key 38)" if self.kit else "piano preset"
            raise SynthError(f"{self.path} has no playable {what}; choose a General MIDI soundfont")
        return 10 ** (target / 20) / peak

    def hold(self, bank: int, program: int) -> None:
        """Keep preset (bank, program) decoded for the process's life (up to 16 presets, the
        holder's channels; a 17th replaces the oldest)."""
        key = (int(bank), int(program))
        with self._lock:
            if key in self._held:
                return
            if len(self._held) >= 16:
                ch = self._held.pop(next(iter(self._held)))
            else:
                ch = len(self._held)
            if self._holder.synth.program_select(ch, self._holder.sfid, *key) == 0:
                self._held[key] = ch

    def acquire(self) -> _Synth:
        """A synth in the canonical state: a settled one when there is one, else a used one
        settled now (about 20 ms), else a new one."""
        with self._lock:
            fresh = [i for i, s in enumerate(self._free) if not s.used]
            s = self._free.pop(fresh[-1] if fresh else -1) if self._free else None
        if s is None:
            s = self._new()
            _fluidsynth()._fl.fluid_synth_set_gain(s.synth.synth, self.gain)
        elif s.used:
            _settle_used(s, self._fill)
        return s

    def release(self, s: _Synth) -> None:
        # settled when next taken (acquire): the lanes a render ends with are never reset in a
        # process that renders once (the 22 the 60 s bench project ends with: 0.2 s of its render)
        s.used = True
        with self._lock:
            self._free.append(s)


_fonts: dict[tuple[str, int], _Font] = {}
_fonts_lock = threading.Lock()


def _font(path: Path, sample_rate: int, kit: bool = False) -> _Font:
    key = (str(path.resolve()), int(sample_rate))
    with _fonts_lock:
        font = _fonts.get(key)
        if font is None:
            font = _fonts[key] = _Font(path, int(sample_rate), kit)
        return font


def _bank_font(bank: Bank, sample_rate: int) -> _Font:
    return _font(bank.path, sample_rate, kit=bank.kind == banks.DRUMS)


def calibrated_gain(sample_rate: int = 48000, soundfont: str | os.PathLike | None = None,
                    *, bank: str | None = None) -> float:
    """FluidSynth ``synth.gain`` used for this font (see the module doc: Level). Loads the font
    (the first time in a process), so it also serves to preload a bank."""
    chosen = resolve_bank(bank, drums=True, soundfont=soundfont) if bank else _gm_bank(soundfont)
    return _bank_font(chosen, sample_rate).gain


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
# FluidSynth decodes a preset's samples when a channel selects it, not the whole font at load:
# MuseScore General (sf3) took 7 s and 450 MB to load whole; only what the parts play is read
DYNAMIC_SAMPLES = 1


SETTLE_VELOCITIES = (1, 16, 64, 127)


class _Fill:
    """How a font's synths fill their voice slots (``_settle``): the note-ons of the first fill,
    recorded, less those that started no voice on a key no earlier note-on of the fill had
    sounded (such a note-on changes no voice: FluidSynth's only effect of one on the voices is to
    release an earlier voice of the same channel and key, and there is none). Later fills replay
    the rest, so they leave the slots as the full search does: MuseScore General's piano starts no
    voice at velocity 1, and its search played 2,124 note-ons to start voices with 76 of them
    (the 60 s bench project's export refills 80 times: 4.1 -> 3.75 s)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int, int]] | None = None  # (channel, key, velocity); key -1: select
        self.voices = 0  # active voices the recorded fill ended with

    def run(self, s: _Synth) -> None:
        lib = _fluidsynth()._fl
        active = lib.fluid_synth_get_active_voice_count(s.synth.synth)
        if self.steps is not None and active == 0:
            for channel, key, velocity in self.steps:
                if key < 0:
                    s.synth.program_select(channel, s.sfid, 0, 0)
                else:
                    s.synth.noteon(channel, key, velocity)
            if lib.fluid_synth_get_active_voice_count(s.synth.synth) == self.voices:
                return
            # never seen; a replay that does not end as recorded leaves the slots to the search
            s.synth.system_reset()
            _drain(s)
            active = lib.fluid_synth_get_active_voice_count(s.synth.synth)
        # a voice still sounding after the reset's drain (one that never ends: ``DRAIN_BLOCKS``)
        # is left to the search; only a fill from no voice is recorded
        record = self.steps is None and active == 0
        steps, sounded = [], set()
        # velocity 1 first; a font whose presets have no sample that soft (MuseScore General's
        # piano starts no voice below velocity ~10) gets louder notes until every slot is filled:
        # left unfilled, slots kept what the last render played there, and a render then
        # differed from the one before it (MuseScore General's first piano chord by -33 dB)
        for velocity in SETTLE_VELOCITIES:
            key = 0
            while active < POLYPHONY and key < 16 * 128:
                channel = key // 128
                if key % 128 == 0:
                    s.synth.program_select(channel, s.sfid, 0, 0)
                    steps.append((channel, -1, 0))
                s.synth.noteon(channel, key % 128, velocity)
                now = lib.fluid_synth_get_active_voice_count(s.synth.synth)
                if now != active or (channel, key % 128) in sounded:
                    steps.append((channel, key % 128, velocity))
                    sounded.add((channel, key % 128))
                active = now
                key += 1
            if active >= POLYPHONY:
                break
        if record:
            self.steps, self.voices = steps, active


def _settle(s: _Synth, fill: _Fill) -> None:
    """Bring a synth into one canonical state, whatever it played before.

    FluidSynth ramps a voice's amplitude over its first block from the value its voice slot
    was left with; a slot whose last voice was cut off by a reset keeps that voice's level.
    So the same note would render slightly differently (up to ~-45 dB) depending on what the
    synth played earlier. Filling every slot with a quiet note (``fill``, its font's) and
    resetting leaves all slots in the same state, which makes renders bit-identical however
    synths are pooled.
    """
    lib = _fluidsynth()._fl
    s.synth.system_reset()
    _drain(s)
    previous = lib.fluid_set_log_function(_FLUID_WARN, None, None)  # a full pool warns per note
    try:
        fill.run(s)
        scratch = np.zeros((2, BLOCK), np.float32)
        _process(s, scratch, 0, BLOCK)
    finally:
        lib.fluid_set_log_function(_FLUID_WARN, previous, None)
    s.synth.system_reset()
    _drain(s)


def _settle_used(s: _Synth, fill: _Fill) -> None:
    # twice: after a render one pass left a state that still depended on what was played
    # (the AVL kit's hits in the next render differed from a new synth's by up to -26 dB);
    # the second pass starts from a refill's state and ends where a new synth's one does
    _settle(s, fill)
    _settle(s, fill)
    s.used = False


DRAIN_BLOCKS = 2048  # 1024-frame blocks a drain waits at most: 44 s at 48 kHz (a voice that never ends)


def _drain(s: _Synth) -> None:
    """Let the voices a reset leaves finish and consume FluidSynth's partly used block, so the
    next user starts from silence exactly on a block boundary. A reset stops held notes but lets
    released ones ring out: a long release (bells, pads, strings: 6-19 s; 2.3 s left on the bench
    project) kept sounding past the 1.4 s this waited until 2026-12-06, into the slot refill,
    which then left a slot as the last render had (the next render on that synth up to 2e-5 off
    a new one's)."""
    scratch = np.zeros((2, BLOCK * 16), np.float32)
    _process(s, scratch, 0, (-s.rendered) % BLOCK)
    for _ in range(DRAIN_BLOCKS):
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


def _parts(notes: Sequence[Note], program: int, drums: bool, bank: str | None,
           soundfont) -> list[tuple[Bank, list[Note], int, int]]:
    """(bank, its notes, soundfont bank number, program) per part of a track: a recorded kit
    plays the GM notes it has (translated to its keys), the GM bank's standard kit the others."""
    chosen = resolve_bank(bank, drums=drums, soundfont=soundfont)
    parts: list[tuple[Bank, list[Note], int, int]] = []
    if drums and chosen.kind == banks.DRUMS:
        nmap = chosen.note_map
        mine = [n if nmap is None else replace(n, pitch=nmap[n.pitch])
                for n in notes if nmap is None or n.pitch in nmap]
        parts.append((chosen, mine, *chosen.drum_preset))
        rest = [] if nmap is None else [n for n in notes if n.pitch not in nmap]
        if rest:
            parts.append((_gm_bank(soundfont), rest, DRUM_BANK, int(program)))
    else:
        parts.append((chosen, list(notes), DRUM_BANK if drums else 0, int(program)))
    return parts


_warming: threading.Thread | None = None
_warming_lock = threading.Lock()


def warm_up(tracks: Sequence[tuple[Sequence[Note], int, bool, str | None]], sample_rate: int,
            soundfont: str | os.PathLike | None = None) -> None:
    """Start loading, on a thread of its own, the fonts and presets that ``tracks`` ((notes,
    program, drums, bank id) each, as :func:`render_notes` takes them) will play, and return at
    once: a font's first load decodes its presets' samples (MuseScore General's piano and kit:
    about 1.2 s), which then overlaps what the caller does next (``studio.generate`` starts it
    as each engine's parts come in, while the next engine runs). :func:`render_notes` waits for
    a warm-up still running; what fails here is left for the render to report."""
    global _warming
    todo = [(notes, int(program), bool(drums), bank) for notes, program, drums, bank in tracks]
    rate = int(sample_rate)

    def work(previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()
        for notes, program, drums, bank in todo:
            try:  # a note per pitch decides which presets play (a film's part has 100,000s)
                for b, part, sf_bank, prog in _parts(list({n.pitch: n for n in notes}.values()), program, drums,
                                                     bank, soundfont):
                    if part:
                        _bank_font(b, rate).hold(sf_bank, prog)
            except Exception as exc:  # noqa: BLE001  (the render raises it with its context)
                log.debug("warm-up of a part failed: %s", exc)

    with _warming_lock:
        _warming = threading.Thread(target=work, args=(_warming,), name="synth-warm-up", daemon=True)
        _warming.start()


def warm_up_default_banks(sample_rate: int) -> None:
    """:func:`warm_up` of the banks a part plays through when it names none (the GM bank, the
    default kit). ``studio.generate`` starts it as soon as the analysis is done when an engine
    of the run makes parts: the first load of MuseScore General (~1.5 CPU-s, its piano decoded)
    then runs beside the engines, where two cores are not busy, instead of after the first
    engine's parts, when it reached into the export (the 60 s pipeline, four runs each in turn:
    9.39 -> 8.92 s mean). Started before the analysis it only slowed the analysis."""
    note = Note(start_s=0.0, dur_s=0.1, pitch=60, velocity=64)
    warm_up([([note], 0, False, None), ([replace(note, pitch=38)], 0, True, None)], sample_rate)


def _await_warm_up() -> None:
    with _warming_lock:
        pending = _warming
    if pending is not None and pending is not threading.current_thread():
        pending.join()


def render_notes(
    notes: Sequence[Note],
    sample_rate: int,
    *,
    program: int = 0,
    drums: bool = False,
    n_samples: int | None = None,
    soundfont: str | os.PathLike | None = None,
    bank: str | None = None,
    job: Job | None = None,
) -> np.ndarray:
    """Render notes to float32 stereo ``(2, n)`` at ``sample_rate``.

    ``program`` is the 0-based GM program (for drums: the kit in bank 128). ``drums`` plays the
    part on channel 10; otherwise channel 0 (``Note.channel`` is ignored: one part per call).
    ``bank`` is the part's bank id (``Track.bank``; None = automatic) and ``soundfont`` an
    explicit file; which one plays is decided as the module doc (Banks) says.
    ``n_samples`` fixes the length (notes and tails beyond it are cut); without it the buffer
    ends when the last release tail has died away (at most ``MAX_TAIL_S`` after the last note).
    """
    job = Job.quiet(job)
    sample_rate = int(sample_rate)
    if sample_rate < 8000 or sample_rate > 192000:
        raise SynthError(f"sample rate {sample_rate} Hz is outside 8000..192000")
    if not 0 <= int(program) <= 127:
        raise SynthError(f"GM program {program} outside 0..127")
    parts = _parts(notes, int(program), drums, bank, soundfont)
    _await_warm_up()  # a warm-up still loading these fonts: FluidSynth plays in one thread at a time
    last = 0
    for n in notes:
        on = int(round(n.start_s * sample_rate))
        if on >= 0:
            last = max(last, on + 1, int(round(n.end_s * sample_rate)))
    length = int(n_samples) if n_samples is not None else last + int(MAX_TAIL_S * sample_rate)
    out = diskaudio.buffer(2, max(0, length))  # on disk when long: a film's track is GBs
    end = 0
    for k, (b, part, sf_bank, prog) in enumerate(parts):
        if part:
            sub = job.sub(k / len(parts), (k + 1) / len(parts))
            end = max(end, _render_part(part, _bank_font(b, sample_rate), sf_bank, prog, drums, out, sub))
    job.report(1.0, "notes rendered")
    if n_samples is None:
        out = out[:, : max(end, last)]
    return out


def _render_part(notes: Sequence[Note], font: _Font, bank: int, program: int, drums: bool,
                 out: np.ndarray, job: Job) -> int:
    """Render one part into ``out`` (adding) on lanes of one font; the frame its tails end."""
    sample_rate, length = font.sample_rate, out.shape[1]
    channel = DRUM_CHANNEL if drums else 0
    choke = _choke_map(font.path, bank, program) if drums else {}
    events = _note_events(notes, sample_rate)
    lanes: list[_Lane] = []
    owner: dict[int, _Lane] = {}  # note index -> the lane that holds it
    released = [0]

    def new_lane(p: int) -> _Lane:
        s = font.acquire()
        if s.synth.program_select(channel, s.sfid, bank, int(program)) == 0:
            font.hold(bank, program)
        elif drums:
            s.synth.program_select(channel, s.sfid, bank, 0)  # kit missing: standard kit
            font.hold(bank, 0)
        lane = _Lane(s, p, channel)
        lanes.append(lane)
        return lane

    try:
        for k, (p, kind, i) in enumerate(events):
            if p >= length:
                break
            if k % 256 == 0:
                job.report(k / max(1, len(events)), "rendering notes")
            _release_behind(p, out, released)
            note = notes[i]
            if kind == 0:
                lane = owner.pop(i, None)
                if lane is not None and lane.held.get(note.pitch) == i:
                    lane.render_to(lane.nearest(p), out)
                    lane.s.synth.noteoff(channel, note.pitch)
                    del lane.held[note.pitch]
                continue
            group = choke.get(note.pitch)
            lane = _lane_for_note_on(note, group, p, lanes, owner, channel, out, new_lane)
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
        diskaudio.release(out)
    finally:
        for lane in lanes:
            font.release(lane.s)
    return end


def _release_behind(p: int, out: np.ndarray, released: list[int]) -> None:
    """Hand what lies more than a block before the event at ``p`` back to the page cache, from
    the start each time (a busy lane left far behind, its ring dying unseen while other lanes
    took the notes, may still write there: the data stays in the file and is read back, then
    released again), so the memory held stays about a block however long the part."""
    mark = p - diskaudio.BLOCK_FRAMES
    if mark - released[0] >= diskaudio.BLOCK_FRAMES:
        diskaudio.release(out, 0, mark)
        released[0] = mark


def _note_events(notes: Sequence[Note], sample_rate: int) -> list[tuple[int, int, int]]:
    """The notes' on and off events, sorted: (frame, kind 0=off 1=on, note index); notes that
    start before 0 are left out."""
    events: list[tuple[int, int, int]] = []
    for i, n in enumerate(notes):
        on = int(round(n.start_s * sample_rate))
        off = max(on + 1, int(round(n.end_s * sample_rate)))
        if on < 0:
            continue
        events.append((on, 1, i))
        events.append((off, 0, i))
    events.sort()
    return events


def _lane_for_note_on(note: Note, group: int | None, p: int, lanes: list[_Lane], owner: dict[int, _Lane],
                      channel: int, out: np.ndarray, new_lane) -> _Lane:
    """The lane a note-on at frame ``p`` plays on, rendered up to its onset: the lane of its
    exclusive drum group while that rings, else (after releasing a held note of the same key) a
    busy lane aligned on ``p``, an idle one, or a new one."""
    lane = None
    if group is not None:  # exclusive drum group still ringing on a lane: share it
        lane = next((ln for ln in lanes if not ln.idle and group in ln.groups), None)
    if lane is not None:
        # FluidSynth's exclusive class cuts the earlier sound; the onset goes to that
        # lane's nearest block boundary (<= 32 frames off; see the module doc)
        lane.render_to(lane.nearest(p), out)
        lane.idle = False  # its ring may have just died away in that render: the note-on follows
        return lane
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
    lane.render_to(p, out)
    # busy from here: an aligned lane whose last tail died away within that render would
    # otherwise stay idle, and its note never render (a note on the grid after a pause was lost)
    lane.idle = False
    return lane


_choke_cache: dict[tuple[str, int, int], dict[int, frozenset[int]]] = {}


def _choke_map(path: Path, bank: int, program: int) -> dict[int, frozenset[int]]:
    """Drum key -> its exclusive group, read from the font (the kit FluidSynth falls back to
    when ``program`` is missing is kit 0); the GM table when the font's cannot be read."""
    key = (str(path), bank, program)
    groups = _choke_cache.get(key)
    if groups is None:
        groups = banks.exclusive_groups(path, bank, program)
        if not groups and bank == DRUM_BANK and program != 0:
            groups = banks.exclusive_groups(path, bank, 0)
        if not groups:
            groups = {k: frozenset(g) for k, g in _CHOKE.items()}
        _choke_cache[key] = groups
    return groups


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else float("-inf")
