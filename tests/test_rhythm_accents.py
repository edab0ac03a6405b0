"""The groove on the contacts (engines.rhythm.accents): where the kicks and snares end up."""
import numpy as np

from engines.rhythm.accents import HITS, KICK, accent_contacts
from engines.rhythm.infer import NoteEvent

BEAT = 0.5  # 120 BPM
BEATS = np.arange(0, 17) * BEAT


def _groove(offset_s: float = 0.0) -> list[NoteEvent]:
    """A kick on every beat and a hat on every eighth, ``offset_s`` late (as the model's grid
    may sit beside the picture)."""
    notes = [NoteEvent(b + offset_s, 0.1, KICK, 90, "drums") for b in BEATS[:-1]]
    notes += [NoteEvent(b + offset_s + BEAT / 2, 0.05, 42, 60, "drums") for b in BEATS[:-1]]
    return notes


def _hits(events) -> np.ndarray:
    return np.array(sorted(e.start_s for e in events if e.part == "drums" and e.pitch in HITS))


def test_a_contact_wins_over_a_visual_beat_of_about_its_height_beside_it():
    contact = 2.06  # 60 ms after the grid's beat at 2.0: the picture's moment
    out = accent_contacts(_groove(), [contact], [0.8], BEATS, 0, 4, visual_beats=([2.0], [0.9]))
    hits = _hits(out)
    assert np.min(np.abs(hits - contact)) < 1e-9
    assert not np.any(np.abs(hits - 2.0) < 1e-9), "the beat beside the contact would flam with it"


def test_a_much_stronger_visual_beat_wins_over_a_weak_contact_beside_it():
    out = accent_contacts(_groove(), [2.06], [0.4], BEATS, 0, 4, visual_beats=([2.0], [0.9]))
    hits = _hits(out)
    assert np.min(np.abs(hits - 2.0)) < 1e-9
    assert not np.any(np.abs(hits - 2.06) < 1e-9)


def test_a_visual_beat_far_from_every_contact_gets_its_hit():
    out = accent_contacts(_groove(offset_s=0.04), [1.0], [0.6], BEATS, 0, 4,
                          visual_beats=([3.0], [0.5]))
    hits = _hits(out)
    assert np.min(np.abs(hits - 1.0)) < 1e-9
    assert np.min(np.abs(hits - 3.0)) < 1e-9  # the groove's kick at 3.04 moved onto the beat


def test_contacts_on_every_eighth_each_get_a_hit():
    # two balls, one on the beat, one between, each found a few ms off (as real contacts are)
    contacts = 1.0 + BEAT / 2 * np.arange(8) + np.array([0, -6, 4, -5, 0, -7, 3, -4]) * 1e-3
    out = accent_contacts(_groove(), contacts, np.full(8, 0.5), BEATS, 0, 4)
    hits = _hits(out)
    assert all(np.min(np.abs(hits - c)) < 1e-9 for c in contacts)


def test_weak_contacts_and_a_cluster_speak_once():
    out = accent_contacts(_groove(offset_s=0.1), [5.0, 5.06, 6.0], [0.5, 0.8, 0.1], BEATS, 0, 4)
    hits = _hits(out)
    assert np.sum(np.abs(hits - 5.03) < 0.05) == 1  # the stronger of the cluster, alone
    assert np.min(np.abs(hits - 5.06)) < 1e-9
    assert not np.any(np.abs(hits - 6.0) < 1e-9)  # below the strength floor: the groove stays
