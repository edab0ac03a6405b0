"""Mix-and-separate data (training and evaluation only; never imported at run time).

A *source* is one rendered performance of ``dsp.CLIP_S`` seconds: random notes for one of the
performer engine's instruments (drums, guitar, violin, piano), the keypoints of a player playing
exactly those notes (``engines.performer.gestures.synthesize``: the motion is caused by the
notes) and the notes' audio rendered with a General MIDI program of the installed soundfont
(FluidSynth through pyfluidsynth; real recorded samples of Fluid R3 GM, Debian
``fluid-soundfont-gm``). A *mixture* adds two or three sources of different instruments at
random levels (+-5 dB); the target for the chosen player is its magnitude spectrogram, and its
ideal ratio mask |S_k| / sum_j |S_j|.

Seeds keep the splits apart: training sources use seeds ``TRAIN_SEED`` (0..), the held-out
evaluation ``TEST_SEED`` (900000..): every note, program, player, camera and level of a
held-out mixture is new.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.performer import gestures as G
from engines.performer.keypoints import Keypoints
from engines.separate import dsp

TRAIN_SEED, TEST_SEED = 0, 900_000
INSTRUMENTS = G.INSTRUMENTS
# GM programs per instrument (0-based; drums: kits of bank 128)
PROGRAMS = {"drums": (0, 8, 16, 32), "guitar": (24, 25, 26, 27), "violin": (40, 41, 110),
            "piano": (0, 1, 2, 4)}
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
TARGET_RMS = 0.05


@dataclass
class Source:
    instrument: str
    program: int
    notes: list  # (start_s, dur_s, pitch, velocity)
    audio: np.ndarray  # (CLIP_SAMPLES,) float32 at dsp.SR
    kp: Keypoints


def soundfont() -> str:
    """The training soundfont (Fluid R3 GM; not $STUDIO_SOUNDFONT, which the studio's tests point
    at another bank): the data are part of the recipe."""
    if Path(SOUNDFONTS[0]).exists():
        return SOUNDFONTS[0]
    raise RuntimeError(f"no {SOUNDFONTS[0]}: install the Debian package fluid-soundfont-gm")


# -- notes -------------------------------------------------------------------------------------
def _active(rng, dur):
    """A predicate of time: False inside a random rest (half the performances have one)."""
    rests = []
    if rng.random() < 0.5:
        a = rng.uniform(0.3, dur - 1.0)
        rests.append((a, a + rng.uniform(0.6, 1.5)))
    return lambda t: not any(a <= t < b for a, b in rests)


def random_notes(instrument: str, rng, dur: float = dsp.CLIP_S) -> list[tuple]:
    beat = 60.0 / rng.uniform(70, 150)
    start = rng.uniform(0.0, 0.4)
    level = rng.uniform(60, 110)
    on = _active(rng, dur)
    vel = lambda: int(np.clip(level + rng.normal(0, 12), 25, 127))  # noqa: E731
    out = []
    if instrument == "drums":
        step = beat / 2
        for i, t in enumerate(np.arange(start, dur - 0.1, step)):
            if not on(t):
                continue
            if rng.random() < 0.85:
                out.append((t, 0.1, 42, vel()))
            if i % 4 == 0 or rng.random() < 0.12:
                out.append((t, 0.1, 36, vel()))
            if i % 4 == 2 or rng.random() < 0.08:
                out.append((t, 0.1, 38, vel()))
            if rng.random() < 0.06:
                out.append((t, 0.1, int(rng.choice([45, 48, 50])), vel()))
            if i % 16 == 0 and rng.random() < 0.3:
                out.append((t, 0.1, 49, vel()))
    elif instrument == "guitar":
        step = beat * rng.choice([0.5, 1.0])
        root = int(rng.integers(40, 53))
        for i, t in enumerate(np.arange(start, dur - 0.1, step)):
            if i % 4 == 0:
                root = int(np.clip(root + rng.choice([-5, -2, 0, 2, 5, 7]), 40, 52))
            if not on(t):
                continue
            chord = [root, root + 7, root + 12, root + int(rng.choice([15, 16])), root + 19]
            v = vel()
            for k, p in enumerate(chord):
                out.append((t + 0.008 * k, step * 0.95, p, v))
    elif instrument == "violin":
        t, p = start, int(rng.integers(62, 80))
        while t < dur - 0.1:
            d = beat * float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
            if on(t):
                out.append((t, d * 0.95, p, vel()))
            p = int(np.clip(p + rng.choice([-4, -2, -1, 1, 2, 3, 5]), 55, 90))
            t += d
    elif instrument == "piano":
        t, p = start, int(rng.integers(64, 80))
        while t < dur - 0.1:
            if on(t):
                out.append((t, beat * 0.45, p, vel()))
            p = int(np.clip(p + rng.choice([-3, -2, -1, 1, 2, 4]), 60, 88))
            t += beat / 2
        for t in np.arange(start, dur - 0.1, 2 * beat):
            if on(t):
                root = int(rng.integers(40, 55))
                out += [(t, 2 * beat * 0.9, q, vel()) for q in (root, root + 4, root + 7)]
    else:
        raise ValueError(f"unknown instrument {instrument!r}")
    if not out:  # a performance always plays something
        out.append((start, 0.5, 60 if instrument != "drums" else 38, vel()))
    return [(float(a), float(b), int(c), int(d)) for a, b, c, d in sorted(out)]


# -- audio ---------------------------------------------------------------------------------------
class Renderer:
    """One FluidSynth synth (reverb and chorus off) on the GM soundfont, at dsp.SR, reused."""

    def __init__(self, path: str | None = None):
        import fluidsynth

        self.path = path or soundfont()
        self.synth = fluidsynth.Synth(gain=0.4, samplerate=float(dsp.SR),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self.sfid = self.synth.sfload(self.path)
        if self.sfid < 0:
            raise RuntimeError(f"{self.path} is not a readable soundfont")

    def render(self, notes, instrument: str, program: int, n: int = dsp.CLIP_SAMPLES) -> np.ndarray:
        s = self.synth
        s.system_reset()
        s.get_samples(dsp.SR // 4)  # let the reset settle (tails of the last render die)
        ch = 9 if instrument == "drums" else 0
        s.program_select(ch, self.sfid, 128 if ch == 9 else 0, program)
        events = sorted([(int(round(a * dsp.SR)), 1, p, v) for a, _, p, v in notes]
                        + [(int(round((a + d) * dsp.SR)), 0, p, 0) for a, d, p, _ in notes])
        out, pos = [], 0
        for at, kind, p, v in events:
            at = min(at, n)
            if at > pos:
                out.append(s.get_samples(at - pos))
                pos = at
            if kind:
                s.noteon(ch, p, v)
            else:
                s.noteoff(ch, p)
        if pos < n:
            out.append(s.get_samples(n - pos))
        st = np.concatenate(out).astype(np.float32).reshape(-1, 2) / 32768.0
        return st.mean(1)[:n]


def source(seed: int, instrument: str, renderer: Renderer) -> Source:
    rng = np.random.default_rng(seed)
    notes = random_notes(instrument, rng)
    program = int(rng.choice(PROGRAMS[instrument]))
    audio = renderer.render(notes, instrument, program)
    audio *= TARGET_RMS / max(float(np.sqrt(np.mean(audio ** 2))), 1e-6)
    fps = float(rng.choice([24.0, 25.0, 30.0, 50.0, 60.0]))
    kp = G.synthesize(notes, instrument, fps=fps, duration_s=dsp.CLIP_S, seed=seed)
    return Source(instrument, program, notes, audio.astype(np.float32), kp)


def sources(n: int, seed0: int, renderer: Renderer | None = None) -> list[Source]:
    """``n`` sources, instruments in turn (seed ``seed0 + i``)."""
    renderer = renderer or Renderer()
    return [source(seed0 + i, INSTRUMENTS[i % len(INSTRUMENTS)], renderer) for i in range(n)]


def mixtures(n_mix: int, n_src: int, seed0: int = TEST_SEED, renderer: Renderer | None = None,
             same_instrument: bool = False):
    """``n_mix`` fixed mixtures of ``n_src`` sources of different instruments (``same_instrument``:
    of one instrument, each with its own notes, program and player; never seen in training):
    list of (sources, gains); the mixture is ``sum(g * s.audio)``."""
    renderer = renderer or Renderer()
    out = []
    for m in range(n_mix):
        seed = seed0 + 1000 * n_src + 10 * m + (50_000 if same_instrument else 0)
        rng = np.random.default_rng(seed)
        inst = rng.permutation(len(INSTRUMENTS))[:n_src]
        if same_instrument:
            inst = np.full(n_src, inst[0])
        srcs = [source(seed + k, INSTRUMENTS[i], renderer) for k, i in enumerate(inst)]
        gains = 10 ** (rng.uniform(-5, 5, n_src) / 20)
        out.append((srcs, gains.astype(np.float32)))
    return out
