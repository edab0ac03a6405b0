"""The codec's recorded training data: sound files of Debian packages, each with its package,
licence and category words, split train / held-out by file, decoded to 24 kHz mono.

Everything comes from packages ``packaging/debian-deps.sh`` installs (the test set carries the
three small ones the smoke training and the tests read; ``--train`` adds the two music packages),
so nothing is downloaded at run time. A package that is not installed is left out, and
:func:`files` says which are missing.

Split (deterministic, by file): within each (package, category) group sorted by path, every
fifth file from the third on (index % 5 == 2) is held out; groups of fewer than 3 files train.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.codec.dsp import SR

# package -> (glob patterns, licence as its debian/copyright says, default category words)
PACKAGES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "asterisk-moh-opsound-wav": (("/usr/share/asterisk/moh/*.wav",), "CC-BY-SA-3.0", "music"),
    "sound-theme-freedesktop": (("/usr/share/sounds/freedesktop/stereo/*.oga",),
                                "CC-BY-SA-3.0 / CC-BY-3.0 / GPL-2+ (per file)", "alert"),
    "colobot-common-sounds": (("/usr/share/games/colobot/sounds/*.wav",
                               "/usr/share/games/colobot/music/*.ogg"), "GPL-3+", "effect, machine"),
    "freeciv-data": (("/usr/share/games/freeciv/stdsounds/*.ogg",
                      "/usr/share/games/freeciv/stdmusic/*.ogg"), "GPL-2+", "effect"),
    "warzone2100-music": (("/usr/share/games/warzone2100/music/albums/*/*.opus",),
                          "CC-BY-SA-3.0 or GPL-2+ (aftermath); GPL-2+ (original, legacy)", "music"),
}
TEST_PACKAGES = ("asterisk-moh-opsound-wav", "sound-theme-freedesktop", "colobot-common-sounds")

# file-name words -> category words (freeciv's and freedesktop's names say what they are)
_NAME_WORDS = {
    "can": "cannon, explosion", "expl": "explosion", "mgbar": "gun", "mgheavy": "gun", "mortar": "explosion",
    "splash": "water", "inh2o": "water", "thover": "machine", "tread": "machine", "foot": "footsteps",
    "metbrk": "metal, impact", "woodbrk": "wood, impact", "wall": "impact", "audio-channel": "voice",
    "bell": "bell", "alarm": "bell, alert", "camera": "mechanical, click", "trash": "crumple",
}


@dataclass(frozen=True)
class SoundFile:
    path: str
    package: str
    licence: str
    category: str  # comma-separated words
    held_out: bool


def _category(package: str, path: str, default: str) -> str:
    if "/music/" in path or "/stdmusic/" in path or package in ("asterisk-moh-opsound-wav", "warzone2100-music"):
        return "music"
    name = Path(path).stem.lower()
    for key, words in _NAME_WORDS.items():
        if re.match(key, name) or key in name:
            return words
    return default


def files(packages=None) -> tuple[list[SoundFile], list[str]]:
    """The sound files of ``packages`` (default: all) that are installed, and the packages missing."""
    out, missing = [], []
    for pkg in packages or PACKAGES:
        patterns, licence, default = PACKAGES[pkg]
        paths = sorted(p for pat in patterns for p in glob.glob(pat))
        if not paths:
            missing.append(pkg)
            continue
        groups: dict[str, list[str]] = {}
        for p in paths:
            groups.setdefault(_category(pkg, p, default), []).append(p)
        for cat, ps in groups.items():
            for i, p in enumerate(ps):
                out.append(SoundFile(p, pkg, licence, cat, len(ps) >= 3 and i % 5 == 2))
    return out, missing


def decode(path: str, max_seconds: float | None = None, excerpt_s: float = 10.0) -> np.ndarray:
    """A file as float32 mono at ``SR`` (PyAV decodes and resamples). ``max_seconds``: keep at most
    that much, as ``excerpt_s`` excerpts spread evenly over the file (long music tracks)."""
    import av

    with av.open(path) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=SR)
        parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in rs.resample(fr)]
        parts += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    x = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    if max_seconds is None or len(x) <= max_seconds * SR:
        return x
    n_ex, ex = max(1, int(max_seconds // excerpt_s)), int(excerpt_s * SR)
    starts = np.linspace(0, len(x) - ex, n_ex).astype(int)
    return np.concatenate([x[s:s + ex] for s in starts])


def middle(x: np.ndarray, seconds: float) -> np.ndarray:
    """The middle ``seconds`` of a clip (all of it when shorter)."""
    n = int(seconds * SR)
    if len(x) <= n:
        return x
    s = (len(x) - n) // 2
    return x[s:s + n]


def hours(clips) -> float:
    return float(sum(len(c) for c in clips) / SR / 3600)


def usage(max_seconds: float = 60.0, min_seconds: float = 0.25, clip_s: float = 15.0) -> list[dict]:
    """Per installed package: files and hours trained on (music capped at ``max_seconds`` per file,
    effects shorter than ``min_seconds`` skipped, as the training does) and held out (the
    evaluation's ``clip_s`` per file), from the containers' durations."""
    import av

    rows: dict[str, dict] = {}
    for f in files()[0]:
        with av.open(f.path) as c:
            d = (c.duration or 0) / 1e6
        r = rows.setdefault(f.package, {"package": f.package, "licence": f.licence, "categories": set(),
                                        "train_files": 0, "train_h": 0.0, "held_out_files": 0, "held_out_h": 0.0})
        r["categories"].update(w.strip() for w in f.category.split(","))
        if f.held_out:
            r["held_out_files"] += 1
            r["held_out_h"] += min(d, clip_s) / 3600
        elif d >= min_seconds:
            r["train_files"] += 1
            r["train_h"] += (min(d, max_seconds) if f.category == "music" else d) / 3600
    return [{**r, "categories": ", ".join(sorted(r["categories"]))} for r in rows.values()]


if __name__ == "__main__":  # the model card's data table
    for r in usage():
        print(f"| {r['package']} | {r['licence']} | {r['categories']} | {r['train_files']} | {r['train_h']:.3f} "
              f"| {r['held_out_files']} | {r['held_out_h'] * 60:.1f} |")
