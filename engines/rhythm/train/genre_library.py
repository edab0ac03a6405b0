"""A genre-pattern library written for this project (public domain, CC0, by the studio authors).

Each pattern is one bar of 4/4 in 16ths. Rows are drum voices (engines.rhythm.vocab.VOICES);
a cell is '-' (no hit) or a dynamic: 'X' accent (vel 1.0), 'x' normal (0.78), 'o' soft (0.55),
'g' ghost (0.3). Micro-timing is per style (fractions of a 16th, DESIGN.md):

* rock, electronic: on the grid (electronic exactly, rock with small human jitter in training);
* funk: 16th off-beats (steps 1, 3 of each beat) late by 0.10 (light 16th swing);
* hip-hop: 16th off-beats late by 0.22 (the "MPC swing" of ~58 %), snare laid back by 0.06;
* jazz: swung 8ths written on the 4th 16th of the beat ("ding - ding-ga"), played early by
  0.33 so they land on the last triplet 8th (2:1 swing);
* latin: clave-like figures on the grid, ride/cowbell-like parts on the ride voice.

These are common textbook figures (backbeat, four-on-the-floor, boom-bap, bossa, songo, jazz
ride), written out by hand; they fill styles the packaged demo songs barely cover.
"""
from __future__ import annotations

import numpy as np

from engines.rhythm.vocab import N_VOICES, STEPS, VOICES

LEVEL = {"X": 1.0, "x": 0.78, "o": 0.55, "g": 0.3}

# style -> list of {voice: 16-char row}
PATTERNS: dict[str, list[dict[str, str]]] = {
    "rock": [
        {"kick": "x-------x-------", "snare": "----x-------x---", "closed_hh": "x-x-x-x-x-x-x-x-"},
        {"kick": "x-------x-x-----", "snare": "----x-------x---", "closed_hh": "x-x-x-x-x-x-x-x-"},
        {"kick": "x------xx-------", "snare": "----X-------X---", "closed_hh": "X-x-X-x-X-x-X-x-"},
        {"kick": "x-x-----x-x-----", "snare": "----x-------x---", "ride": "x-x-x-x-x-x-x-x-"},
        {"kick": "x-------x-------", "snare": "----x-------x---", "open_hh": "x-x-x-x-x-x-x-x-",
         "crash": "X---------------"},
        {"kick": "x-------x-------", "snare": "----x-------xxxx", "closed_hh": "x-x-x-x-x-x-----"},
        {"kick": "x-------x-------", "snare": "----x---x---", "high_tom": "------------xx--"[:16],
         "mid_tom": "--------------xx", "closed_hh": "x-x-x-x-x-------"},
        {"kick": "x--x--x-x--x--x-", "snare": "----x-------x---", "closed_hh": "xxxxxxxxxxxxxxxx"},
    ],
    "funk": [
        {"kick": "x-----x---x-----", "snare": "----x--g-g--x--g", "closed_hh": "xoxoxoxoxoxoxoxo"},
        {"kick": "x--x--x---x--x--", "snare": "----x-------x---", "closed_hh": "xxxxxxxxxxxxxxxx"},
        {"kick": "x-x----x--x-----", "snare": "----X--g---gX---", "closed_hh": "x-x-x-x-x-x-x-x-",
         "open_hh": "-------x--------"},
        {"kick": "x------x-x------", "snare": "-g--x-g--g--x-g-", "closed_hh": "xoxoxoxoxoxoxoxo"},
        {"kick": "x--x---x--x-----", "snare": "----x--g-g--x---", "closed_hh": "x-x-x-x-x-x-x-o-",
         "open_hh": "--------------x-"},
        {"kick": "x-----x-x--x----", "snare": "----x-------x-g-", "closed_hh": "xxxxxxxxxxxxxxxx"},
    ],
    "hip-hop": [
        {"kick": "x------x-x------", "snare": "----x-------x---", "closed_hh": "x-x-x-x-x-x-x-x-"},
        {"kick": "x-x-------x-----", "snare": "----x-------x---", "closed_hh": "x-x-x-x-x-x-x-x-"},
        {"kick": "x------x--x-x---", "snare": "----X-------X---", "closed_hh": "xoxoxoxoxoxoxoxo"},
        {"kick": "x--x------x--x--", "snare": "----x-------x---", "closed_hh": "x-x-x-x-x-x-x-x-",
         "open_hh": "--------------x-"},
        {"kick": "x-------xx------", "snare": "----x--g----x---", "closed_hh": "x-xxx-x-x-xxx-x-"},
        {"kick": "x------x-xx-----", "snare": "----x-------x--g", "ride": "x-x-x-x-x-x-x-x-"},
    ],
    "electronic": [
        {"kick": "x---x---x---x---", "snare": "----x-------x---", "open_hh": "--x---x---x---x-"},
        {"kick": "x---x---x---x---", "closed_hh": "xxxxxxxxxxxxxxxx", "snare": "----x-------x---"},
        {"kick": "x---x---x---x---", "open_hh": "--x---x---x---x-", "closed_hh": "x-o-x-o-x-o-x-o-"},
        {"kick": "x--x--x---x--x--", "snare": "----x-------x---", "closed_hh": "x-x-x-x-x-x-x-x-"},
        {"kick": "x---------x-----", "snare": "----x-------x---", "closed_hh": "xxxxxxxxxxxxxxxx"},
        {"kick": "x---x---x---x---", "snare": "------------xxxx", "crash": "X---------------",
         "closed_hh": "x-x-x-x-x-x-x-x-"},
        {"kick": "x---x---x---x-x-", "snare": "----x-------x---", "ride": "--x---x---x---x-"},
    ],
    "latin": [
        # son clave 3-2 on the snare (rim), tumbao kick
        {"kick": "---x------x-x---", "snare": "x--x---x--x-x---", "closed_hh": "x-x-x-x-x-x-x-x-"},
        # bossa nova
        {"kick": "x--xx--xx--xx--x", "snare": "x--x--x---x--x--", "closed_hh": "xxxxxxxxxxxxxxxx"},
        # songo-like
        {"kick": "---x------x-----", "snare": "--x--x-g-x--x-x-", "ride": "x-xxx-xxx-xxx-xx"},
        # samba
        {"kick": "x--xx--xx--xx--x", "snare": "x-x-xx-x-x-xx-x-", "closed_hh": "xoxoxoxoxoxoxoxo"},
        # reggaeton (dembow)
        {"kick": "x---x---x---x---", "snare": "---x--x----x--x-", "closed_hh": "x-x-x-x-x-x-x-x-"},
        # cascara on ride, rumba clave
        {"kick": "x-------x-------", "snare": "x--x----x-x--x--", "ride": "x-xx-x-xx-x-xx-x"[:16],
         "low_tom": "------x-------x-"},
    ],
    "jazz": [
        {"ride": "x--xx--xx--xx--x"[:16], "closed_hh": "----x-------x---", "kick": "x-------------g-",
         "snare": "-----------g----"},
        {"ride": "x---x--xx---x--x", "closed_hh": "----x-------x---", "snare": "---g---g---g----"},
        {"ride": "x---x--xx---x--x", "closed_hh": "----x-------x---", "kick": "x-------x-------",
         "snare": "-------g-------o"},
        {"ride": "x---x--xx---x--x", "closed_hh": "----x-------x---", "snare": "--------------x-",
         "kick": "g---g---g---g---"},
        {"ride": "x---x---x---x---", "closed_hh": "----x-------x---", "snare": "-------o-------o",
         "kick": "x---------------"},
    ],
}

# per style: (late shift of 16th off-beats, extra shift of the snare, early shift of swung 8ths)
TIMING = {"rock": (0.0, 0.0, 0.0), "funk": (0.10, 0.0, 0.0), "hip-hop": (0.22, 0.06, 0.0),
          "electronic": (0.0, 0.0, 0.0), "latin": (0.0, 0.0, 0.0), "jazz": (0.0, 0.0, 0.33)}
HUMAN_JITTER = {"rock": 0.04, "funk": 0.03, "hip-hop": 0.03, "electronic": 0.0, "latin": 0.04, "jazz": 0.05}


def pattern_arrays(style: str, pattern: dict[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One written pattern -> (hits (9,16), velocity (9,16), offset (9,16)) without jitter."""
    hits = np.zeros((N_VOICES, STEPS), np.float32)
    vel = np.zeros_like(hits)
    off = np.zeros_like(hits)
    late16, snare_lay, swing8 = TIMING[style]
    for name, row in pattern.items():
        v = VOICES.index(name)
        row = row.ljust(STEPS, "-")[:STEPS]
        for s, c in enumerate(row):
            if c == "-":
                continue
            hits[v, s] = 1.0
            vel[v, s] = LEVEL[c]
            o = 0.0
            if s % 2 == 1:
                o += late16
            if swing8 and s % 4 == 3:
                o -= swing8
            if name == "snare":
                o += snare_lay
            off[v, s] = float(np.clip(o, -0.5, 0.5))
    return hits, vel, off


def library_bars() -> list[dict]:
    """Every library pattern as a bar record (same shape as the demo-song parsers give)."""
    out = []
    for style, pats in PATTERNS.items():
        for i, p in enumerate(pats):
            h, v, o = pattern_arrays(style, p)
            out.append({"hits": h, "vel": v, "off": o, "style": style, "source": f"library:{style}:{i}"})
    return out
