"""Drum bars made by people: Hydrogen demo songs (.h2song) and LMMS demo projects (.mmpz).

Both store 48 ticks per quarter (192 per 4/4 bar, 12 per 16th). A note at tick t goes to step
round(t / 12) with micro-timing offset t / 12 - step (a fraction of a 16th, DESIGN.md); notes
rounding to step 16 belong to the next bar. Instruments are mapped to the 9 GM classes by
their names (and LMMS sample file names); unknown instruments (bells, claps, zaps, synths)
are dropped, claps and rimshots count as snare, shakers as closed hi-hat, congas as toms.

Debian packages: ``hydrogen-data`` (GPL-2+) and ``lmms-common`` (demo projects: GPL-2+,
BSD-2-clause, CC-BY-SA-3.0/4.0 by file; see /usr/share/doc/*/copyright). The trained weights
are statistics of these patterns; the model card records this.
"""
from __future__ import annotations

import glob
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np

from engines.rhythm.vocab import N_VOICES, STEPS, STYLES, VOICES

HYDROGEN_DIR = "/usr/share/hydrogen/data/demo_songs"
LMMS_DIR = "/usr/share/lmms/projects"
TICKS_PER_STEP = 12
TICKS_PER_BAR = 192

# style of each demo song (by file-name prefix; chosen by listening to names / kits / tempo)
STYLE_OF = {
    "GM_kit_Diddley": "rock", "GM_kit_Jazzy": "jazz", "GM_kit_demo1": "rock", "GM_kit_demo2": "rock",
    "GM_kit_demo3": "rock", "TR808kit-demo": "electronic", "tutorial_georgyporgy": "funk",
    "Alf42red-Mauiwowi": "latin", "CapDan-ReggaeTry": "latin", "CapDan-ReggaetonTry": "latin",
    "Momo64-esp": "hip-hop", "Crunk(Demo)": "hip-hop", "DirtyLove": "hip-hop",
    "Thomasso-AxeFromThe80s": "rock",
}
DEFAULT_STYLE = "electronic"  # the other LMMS demos are electronic dance/chip music
# held out for evaluation (whole songs, never seen in training)
HELD_OUT = ("GM_kit_demo3", "tutorial_georgyporgy", "CapDan-ReggaeTry", "Impulslogik-Zen",
            "Momo64-esp", "Saber-FinalStep")

_RULES = [  # (regex on the lower-cased name, voice) — first match wins
    (r"open|hat_o|hh_?o|ohh|opened|o-hihat", "open_hh"),
    (r"pedal|closed|hat|hh|shaker|hihat|hi-hat|tamb", "closed_hh"),
    (r"kick|bd|bass ?drum|bassdrum", "kick"),
    (r"snare|sd|clap|rim|stick", "snare"),
    (r"floor|tom ?low|tom_l|low ?tom|tom 2|conga|cga|tom1? ?low", "low_tom"),
    (r"tom ?mid|mid ?tom|tom 1", "mid_tom"),
    (r"tom|hi ?tom|tom_h|tom hi", "high_tom"),
    (r"crash|cymbal|splash|china", "crash"),
    (r"ride", "ride"),
]


def voice_of(name: str) -> int | None:
    n = name.lower()
    if "bass" in n and "drum" not in n and "bassdrum" not in n:
        return None  # bass synths
    for pat, voice in _RULES:
        if re.search(pat, n):
            return VOICES.index(voice)
    return None


def style_of(path: str) -> str:
    stem = Path(path).name.split(".")[0]
    return STYLE_OF.get(stem, DEFAULT_STYLE)


def is_held_out(source: str) -> bool:
    return any(Path(source.split("#")[0]).name.startswith(h) for h in HELD_OUT)


def _bars_from_events(events, source: str, style: str) -> list[dict]:
    """events: (abs_tick, voice, velocity 0..1) of one container -> unique bar records."""
    bars: dict[int, dict] = {}
    for tick, voice, vel in events:
        pos = tick / TICKS_PER_STEP
        step = int(np.floor(pos + 0.5))
        bar, s = divmod(step, STEPS)
        b = bars.setdefault(bar, {"hits": np.zeros((N_VOICES, STEPS), np.float32),
                                  "vel": np.zeros((N_VOICES, STEPS), np.float32),
                                  "off": np.zeros((N_VOICES, STEPS), np.float32)})
        if vel > b["vel"][voice, s]:
            b["hits"][voice, s] = 1.0
            b["vel"][voice, s] = float(np.clip(vel, 0.02, 1.0))
            b["off"][voice, s] = float(np.clip(pos - step, -0.5, 0.5))
    out, seen = [], set()
    for bar in sorted(bars):
        b = bars[bar]
        if b["hits"].sum() < 2:
            continue
        key = (b["hits"].tobytes(), np.round(b["vel"], 2).tobytes(), np.round(b["off"], 2).tobytes())
        if key in seen:
            continue
        seen.add(key)
        out.append({**b, "style": style, "source": f"{source}#{bar}"})
    return out


def hydrogen_bars(path: str) -> list[dict]:
    root = ET.parse(path).getroot()
    voices = {}
    for ins in root.iter("instrument"):
        if ins.find("name") is not None and ins.find("id") is not None:
            voices[ins.findtext("id")] = voice_of(ins.findtext("name") or "")
    out = []
    plist = root.find("patternList")
    for k, pat in enumerate(plist.findall("pattern") if plist is not None else []):
        if int(pat.findtext("size") or 0) != TICKS_PER_BAR:
            continue
        events = []
        for n in pat.iter("note"):
            v = voices.get(n.findtext("instrument"))
            if v is None:
                continue
            tick = float(n.findtext("position") or 0) + 5.0 * float(n.findtext("leadlag") or 0)
            events.append((tick, v, float(n.findtext("velocity") or 0.8)))
        out += _bars_from_events(events, f"{path}@{k}", style_of(path))
    return out


def _read_lmms(path: str) -> ET.Element:
    data = Path(path).read_bytes()
    if path.endswith(".mmpz"):
        data = zlib.decompress(data[4:])  # Qt qCompress: 4-byte length, then zlib
    return ET.fromstring(data)


def lmms_bars(path: str) -> list[dict]:
    root = _read_lmms(path)
    head = root.find("head")
    if head is not None and head.get("timesig_numerator", "4") != "4":
        return []
    out = []
    for ci, cont in enumerate(root.iter("trackcontainer")):
        events = []
        for track in cont.findall("track"):
            if track.get("type") != "0":
                continue
            names = [track.get("name") or ""]
            for afp in track.iter("audiofileprocessor"):
                names.append(Path(afp.get("src") or "").name)
            voice = None
            for nm in names:
                voice = voice_of(nm)
                if voice is not None:
                    break
            if voice is None:
                continue
            for pat in track.findall("pattern"):
                p0 = float(pat.get("pos") or 0)
                for n in pat.findall("note"):
                    vol = float(n.get("vol") or 100)
                    events.append((p0 + float(n.get("pos") or 0), voice, min(1.0, vol / 125.0)))
        out += _bars_from_events(events, f"{path}@c{ci}", style_of(path))
    return out


def demo_song_files(hydrogen: bool = True, lmms: bool = True) -> list[str]:
    files = []
    if hydrogen:
        files += sorted(glob.glob(f"{HYDROGEN_DIR}/*.h2song"))
    if lmms:
        files += sorted(glob.glob(f"{LMMS_DIR}/**/*.mmp*", recursive=True))
    return files


def load_bars(hydrogen: bool = True, lmms: bool = True) -> list[dict]:
    bars = []
    for f in demo_song_files(hydrogen, lmms):
        try:
            bars += hydrogen_bars(f) if f.endswith(".h2song") else lmms_bars(f)
        except (ET.ParseError, zlib.error, OSError, ValueError):
            continue
    return bars


# -- the rhythm a bar implies, and augmentation ------------------------------------------------
# how strongly each voice "hits" (Rhythm2Drum input, like RhythmicNet's rhythm from onsets)
VOICE_WEIGHT = np.array([1.0, 0.95, 0.35, 0.45, 0.8, 0.8, 0.8, 0.9, 0.35], np.float32)


def activation_of(hits: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """(16,) 0..1: the strongest weighted hit on each step."""
    a = (hits * np.maximum(vel, 0.3) * VOICE_WEIGHT[:, None]).max(axis=0)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def noisy_activation(act: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make a clean activation look like a visual one: gain, noise, leaks, drop-outs."""
    a = act * rng.uniform(0.6, 1.2)
    a = a + rng.normal(0, 0.06, a.shape) * (rng.random() < 0.8)
    if rng.random() < 0.4:  # smear into neighbouring steps (motion blur of an onset)
        a = np.maximum(a, 0.35 * np.roll(a, 1) * rng.random())
    drop = rng.random(a.shape) < 0.08
    a = np.where(drop, a * 0.2, a)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def augment(bar: dict, rng: np.random.Generator) -> dict:
    """Velocity scaling/jitter, timing jitter, hat<->ride swaps and ghost-note drop-outs."""
    from engines.rhythm.train.genre_library import HUMAN_JITTER

    h, v, o = bar["hits"].copy(), bar["vel"].copy(), bar["off"].copy()
    v = np.clip(v * rng.uniform(0.85, 1.15) + rng.normal(0, 0.05, v.shape), 0.05, 1.0) * h
    jit = HUMAN_JITTER.get(bar["style"], 0.03) if bar["source"].startswith("library") else 0.0
    o = np.clip(o + rng.normal(0, jit, o.shape), -0.5, 0.5) * h
    if rng.random() < 0.15:  # closed hat <-> ride
        h[[2, 8]] = h[[8, 2]]
        v[[2, 8]] = v[[8, 2]]
        o[[2, 8]] = o[[8, 2]]
    ghost = (v < 0.35) & (rng.random(v.shape) < 0.3)
    h = np.where(ghost, 0, h)
    return {**bar, "hits": h, "vel": v * h, "off": o * h}


def style_index(style: str) -> int:
    return STYLES.index(style)
