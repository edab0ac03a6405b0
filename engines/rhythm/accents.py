"""Drum accents on the contacts: the drums land on what you see.

Rhythm2Drum writes the groove on the 16th grid (conditioned on the visual activation, so its
hits already gather on the visual beats); a contact, though, can fall between two 16ths, and the
model may leave a strong one unplayed. This pass makes every contact audible where it happens:
a kick or snare within 6 % of a beat of a contact moves onto it (the model chose the drum, the
picture chooses the moment); a contact with no drum near gets one of its own (a kick on the
bar's strong beats, a snare on the others, velocity from the contact's strength); next to
another drum hit (not together with it: 25 ms to a 32nd away) it gets none (it would flam). The groove between
contacts is left as the model wrote it. Foley impacts come from the same contact list.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

KICK, SNARE = 36, 38
HITS = (KICK, SNARE, 35, 40)  # kicks and snares (acoustic / electric)
MOVE_BEATS = 0.06  # a kick/snare this close (in beats) to a contact moves onto it
FLAM_S = 0.025  # two drum hits further apart than this (and closer than a 32nd) sound as a flam


def accent_contacts(events: list, contacts_s, strengths, beats_s: np.ndarray, first_downbeat: int,
                    beats_per_bar: int, min_strength: float = 0.2, min_gap_beats: float = 0.5) -> list:
    """``events`` (NoteEvent-like: start_s, pitch, velocity, part) with the drums on the contacts.

    Contacts weaker than ``min_strength`` are left alone; of contacts closer than
    ``min_gap_beats`` the strongest speaks (a cluster of small contacts is one accent)."""
    beats_s = np.asarray(beats_s, float)
    if len(beats_s) < 2:
        return list(events)
    contacts = sorted((float(t), float(s)) for t, s in zip(contacts_s, strengths) if s >= min_strength)
    period = float(np.median(np.diff(beats_s)))
    chosen: list[tuple[float, float]] = []
    for t, s in sorted(contacts, key=lambda c: -c[1]):
        if all(abs(t - c) >= min_gap_beats * period for c, _ in chosen):
            chosen.append((t, s))
    out = list(events)
    drum_idx = [i for i, e in enumerate(out) if e.part == "drums" and e.pitch in HITS]
    starts = np.array([out[i].start_s for i in drum_idx]) if drum_idx else np.zeros(0)
    any_drum = np.array(sorted(e.start_s for e in out if e.part == "drums"))
    template = next((e for e in out if e.part == "drums"), None)
    taken: set[int] = set()
    added = []
    for t, s in sorted(chosen):
        near = np.flatnonzero(np.abs(starts - t) <= MOVE_BEATS * period) if len(starts) else np.zeros(0, int)
        near = [j for j in near if j not in taken]
        if near:  # the model's kick/snare is a hair off the contact: the picture sets the moment
            j = min(near, key=lambda j: abs(starts[j] - t))
            taken.add(j)
            i = drum_idx[j]
            out[i] = replace(out[i], start_s=t, velocity=max(out[i].velocity, _velocity(s)))
            continue
        gaps = np.abs(any_drum - t) if len(any_drum) else np.zeros(0)
        if template is None or np.any((gaps > FLAM_S) & (gaps < period / 8)):
            continue  # another drum is close but not together with it: an accent would flam
        k = int(np.argmin(np.abs(beats_s - t)))  # the beat it is nearest
        strong = (k - first_downbeat) % beats_per_bar in (0, beats_per_bar // 2) if beats_per_bar > 2 else True
        added.append(replace(template, start_s=t, dur_s=min(0.1, period / 4), pitch=KICK if strong else SNARE,
                             velocity=_velocity(s)))
    return sorted(out + added, key=lambda e: (e.start_s, e.part, e.pitch))


def _velocity(strength: float) -> int:
    return int(np.clip(round(70 + 57 * float(strength)), 1, 127))
