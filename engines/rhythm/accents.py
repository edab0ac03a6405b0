"""The groove on the contacts: the drums land on what you see.

Rhythm2Drum writes the groove on the 16th grid (conditioned on the visual activation, so its
hits already gather on the visual beats), and the grid's tempo is kept steady; a contact, though,
is where it is, to the millisecond, and the model may leave a strong one unplayed. This pass:

* moves every note that starts within a 32nd of a contact onto it, whatever the part (the kick
  and the hat that sat together stay together, the bass with them: nothing flams);
* gives a contact with no kick or snare among those notes one of its own (a kick on the bar's
  strong beats, a snare on the others, velocity from the contact's strength), unless another
  drum sits close to it but not together with it (it would flam; after the move above only an
  earlier contact's notes can be there);
* treats the visual beats (optional) the same way; of a contact and a visual beat closer than
  ``min_gap_beats`` the stronger speaks, the contact's strength counted ``CONTACT_WEIGHT`` times
  (see there);
* leaves the groove between contacts as the model wrote it.

Foley impacts come from the same contact list.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

KICK, SNARE = 36, 38
HITS = (KICK, SNARE, 35, 40)  # kicks and snares (acoustic / electric)
MOVE_BEATS = 0.125  # notes within a 32nd of a contact move onto it (further, an accent cannot flam)
# a contact beside a visual beat speaks if its strength is at least 1/1.2 of the beat's height: the
# steady grid may sit tens of ms beside the contact it stands for, and the beat's height counts
# that contact's own onset too (equal weights put the drums 40-90 ms off found contacts: sync
# suite 93 % within 25 ms, p95 32 ms; 1.2: 94.5 %, 26 ms; held out p95 66 -> 62 ms); a much
# stronger beat still wins over a weak contact beside it (the demo's hopping figure against its
# balls' off-beat bounces: 1.4 already loses one of its 23 beats)
CONTACT_WEIGHT = 1.2
FLAM_S = 0.025  # two drum hits further apart than this (and closer than a 32nd) sound as a flam


def accent_contacts(events: list, contacts_s, strengths, beats_s: np.ndarray, first_downbeat: int,
                    beats_per_bar: int, min_strength: float = 0.2, min_gap_beats: float = 0.375,
                    visual_beats: tuple = ((), ())) -> list:
    """``events`` (NoteEvent-like: start_s, dur_s, pitch, velocity, part) with the groove on the
    contacts and the ``visual_beats`` (times, strengths). Accents weaker than ``min_strength`` are
    left alone; of accents closer than ``min_gap_beats`` the strongest speaks (a cluster of small
    contacts is one accent; eighth notes are not a cluster), contacts weighted ``CONTACT_WEIGHT``.
    O(n log n) in events and accents (a two-hour film has tens of thousands of each)."""
    beats_s = np.asarray(beats_s, float)
    if len(beats_s) < 2 or not events:
        return list(events)
    period = float(np.median(np.diff(beats_s)))
    pool = [(float(t), float(s), CONTACT_WEIGHT * float(s)) for t, s in zip(contacts_s, strengths)]
    pool += [(float(t), float(s), float(s)) for t, s in zip(*visual_beats)]
    chosen = _strongest_apart(pool, min_strength, min_gap_beats * period)
    out = list(events)
    starts = np.array([e.start_s for e in out])  # where the model put them (the moves' reach)
    order = np.argsort(starts, kind="stable")
    by_start = starts[order]
    template = next((e for e in out if e.part == "drums"), None)
    moved = np.zeros(len(out), bool)
    added = []
    reach = MOVE_BEATS * period
    for t, s in sorted(chosen):
        near = _within(order, by_start, t - reach, t + reach)
        near = near[(np.abs(starts[near] - t) <= reach) & ~moved[near]]
        for i in near:  # the picture sets the moment; the end stays where the model put it
            e = out[i]
            end = e.start_s + e.dur_s
            louder = e.part == "drums" and e.pitch in HITS
            out[i] = replace(e, start_s=t, dur_s=max(0.01, end - t),
                             velocity=max(e.velocity, _velocity(s)) if louder else e.velocity)
            moved[i] = True
        if any(out[i].part == "drums" and out[i].pitch in HITS for i in near) or template is None:
            continue
        # a note now within a 16th's half of t started within that plus a move's reach of it
        span = period / 8 + reach
        drums = np.array([out[i].start_s for i in _within(order, by_start, t - span, t + span)
                          if out[i].part == "drums"])
        gaps = np.abs(drums - t)
        if np.any((gaps > FLAM_S) & (gaps < period / 8)):
            continue  # another drum is close but not together with it: an accent would flam
        k = int(np.argmin(np.abs(beats_s - t)))  # the beat it is nearest
        strong = (k - first_downbeat) % beats_per_bar in (0, beats_per_bar // 2) if beats_per_bar > 2 else True
        added.append(replace(template, start_s=t, dur_s=min(0.1, period / 4), pitch=KICK if strong else SNARE,
                             velocity=_velocity(s)))
    return sorted(out + added, key=lambda e: (e.start_s, e.part, e.pitch))


def _strongest_apart(pool: list, min_strength: float, gap: float) -> list[tuple[float, float]]:
    """(time, strength) of the accents, strongest (by rank) first, each at least ``gap`` from every
    stronger one kept; the kept times in a sorted list, so each check looks at two neighbours."""
    import bisect

    chosen: list[tuple[float, float]] = []
    kept: list[float] = []
    for t, s, _ in sorted((c for c in pool if c[1] >= min_strength), key=lambda c: -c[2]):
        j = bisect.bisect_left(kept, t)
        if (j == len(kept) or abs(t - kept[j]) >= gap) and (j == 0 or abs(t - kept[j - 1]) >= gap):
            kept.insert(j, t)
            chosen.append((t, s))
    return chosen


def _within(order: np.ndarray, by_start: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Indices (ascending) of the events whose original start lies in [lo - 1e-9, hi + 1e-9]."""
    a = np.searchsorted(by_start, lo - 1e-9, side="left")
    b = np.searchsorted(by_start, hi + 1e-9, side="right")
    return np.sort(order[a:b])


def _velocity(strength: float) -> int:
    return int(np.clip(round(70 + 57 * float(strength)), 1, 127))
