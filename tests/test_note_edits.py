"""studio.note_edits: the piano roll's note operations, alone (issue 18, item 5), with property
tests (Hypothesis, bounded) for the rules every edit keeps: bounds, idempotent quantise,
transpose undone by the opposite transpose, the returned selection naming the edited notes."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio import note_edits as ne
from studio.music import Note, TempoChange, TempoMap

TEMPO = TempoMap.constant(120.0, 0.5)  # bar 1 at 0.5 s: a pickup before it
DRIFT = TempoMap((TempoChange(0.3, 100.0), TempoChange(4.0, 130.0)))
SIXTEENTH = ne.step_beats(16)

notes_st = st.lists(st.builds(Note, st.floats(0.0, 30.0), st.floats(0.0, 4.0), st.integers(0, 127),
                              st.integers(1, 127), st.integers(0, 15)), max_size=30)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid(notes) -> bool:
    return all(n.start_s >= 0 and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and n.dur_s >= 0 for n in notes)


def is_sorted(notes) -> bool:
    keys = [(n.start_s, n.pitch) for n in notes]
    return keys == sorted(keys)


def test_step_and_snap_follow_the_tempo_maps_grid():
    assert ne.step_beats(4) == 1.0 and ne.step_beats(16) == 0.25 and ne.step_beats(8, beat_unit=8) == 1.0
    assert ne.snap(TEMPO, 0.5 + 0.13, SIXTEENTH) == pytest.approx(0.625)  # 1/16 at 120 BPM = 0.125 s from bar 1
    assert ne.snap(TEMPO, 0.5 + 0.13, SIXTEENTH, math.floor) == pytest.approx(0.625)
    assert ne.snap(TEMPO, 0.5 + 0.12, SIXTEENTH, math.floor) == pytest.approx(0.5)
    assert ne.snap(TEMPO, 0.7, None) == 0.7
    assert ne.snap(TEMPO, 0.01, 1.0) == 0.0  # the nearest beat before 0 s: the first one at or after 0 s


def test_move_keeps_a_group_inside_the_bounds_and_reports_where_it_went():
    notes = [Note(1.0, 0.5, 60, 90), Note(2.0, 0.5, 120, 90), Note(0.2, 0.5, 50, 90)]
    e = ne.move(notes, {0, 1}, dt=-5.0, semitones=20)
    assert [(n.start_s, n.pitch) for n in e.notes] == [(0.0, 67), (0.2, 50), (1.0, 127)]
    assert e.selected == (0, 2) and is_sorted(e.notes)  # the moved ones, sorted again
    assert ne.transpose(notes, {2}, -100).notes[0].pitch == 0


def test_resize_velocity_delete_and_add():
    notes = [Note(1.0, 0.5, 60, 90), Note(2.0, 0.5, 62, 90)]
    assert ne.resize(notes, {1}, -3.0).notes[1].dur_s == ne.MIN_DUR_S
    assert ne.resize(notes, {0}, 0.25).notes[0].dur_s == pytest.approx(0.75)
    assert [n.velocity for n in ne.set_velocity(notes, {0, 1}, 300).notes] == [127, 127]
    assert ne.set_velocity(notes, {0}, -4).notes[0].velocity == 1
    assert ne.delete(notes, {0}).notes == (notes[1],)
    e = ne.add(notes, Note(1.5, 0.0, 64, 100, 3))
    assert e.notes[1] == Note(1.5, ne.MIN_DUR_S, 64, 100, 3) and e.selected == (1,)


def test_quantise_starts_and_optionally_lengths():
    notes = [Note(0.5 + 0.13, 0.2, 60, 80), Note(0.5 + 0.38, 0.01, 62, 80)]
    starts = ne.quantise(notes, None, TEMPO, SIXTEENTH)
    assert [n.start_s for n in starts.notes] == pytest.approx([0.625, 0.875])
    assert [n.dur_s for n in starts.notes] == pytest.approx([0.2, 0.01])  # lengths kept
    both = ne.quantise(notes, [1], TEMPO, SIXTEENTH, lengths=True)
    assert both.notes[0] == notes[0] and both.notes[1].dur_s == pytest.approx(0.125)  # at least one step
    with pytest.raises(ValueError):
        ne.quantise(notes, None, TEMPO, 0.0)


def test_copy_paste_and_duplicate():
    notes = [Note(1.0, 0.25, 60, 90, 2), Note(1.5, 0.25, 64, 70, 2)]
    clip = ne.copy(notes, {0, 1})
    assert [n.start_s for n in clip] == [0.0, 0.5]
    e = ne.paste(notes, clip, 4.0, channel=5)
    assert [n.start_s for n in e.notes] == [1.0, 1.5, 4.0, 4.5] and e.selected == (2, 3)
    assert {e.notes[i].channel for i in e.selected} == {5}
    assert ne.copy(notes, ()) == () and ne.paste(notes, (), 1.0).notes == tuple(notes)
    # the selection spans 1.0 .. 1.75 s = 1.5 beats: the copy goes 2 beats (whole quarter notes) later
    d = ne.duplicate(notes, {0, 1}, TEMPO, 1.0)
    assert [n.start_s for n in d.notes] == pytest.approx([1.0, 1.5, 2.0, 2.5]) and d.selected == (2, 3)
    d16 = ne.duplicate(notes, {0, 1}, TEMPO, SIXTEENTH)  # 1/16 grid: right after the last end
    assert [n.start_s for n in d16.notes][2:] == pytest.approx([1.75, 2.25])


# -- properties -------------------------------------------------------------------------------------
@PROPS
@given(notes_st, st.sampled_from([1.0, 0.5, 0.25, 0.125]), st.booleans(), st.sampled_from([TEMPO, DRIFT]))
def test_quantise_is_idempotent_and_stays_in_bounds(notes, step, lengths, tempo):
    once = ne.quantise(notes, None, tempo, step, lengths)
    twice = ne.quantise(once.notes, None, tempo, step, lengths)
    assert [n.pitch for n in twice.notes] == [n.pitch for n in once.notes]
    assert [n.start_s for n in twice.notes] == pytest.approx([n.start_s for n in once.notes], abs=1e-9)
    assert [n.dur_s for n in twice.notes] == pytest.approx([n.dur_s for n in once.notes], abs=1e-9)
    assert valid(once.notes) and is_sorted(once.notes) and len(once.notes) == len(notes)


@PROPS
@given(notes_st, st.integers(-24, 24), st.data())
def test_transpose_up_then_down_is_the_identity_within_range(notes, k, data):
    sel = data.draw(st.sets(st.integers(0, max(0, len(notes) - 1)), max_size=len(notes)))
    sel = {i for i in sel if i < len(notes)}
    up = ne.transpose(notes, sel, k)
    assert valid(up.notes)
    if all(0 <= notes[i].pitch + k <= 127 for i in sel):
        back = ne.transpose(up.notes, up.selected, -k)
        assert sorted(back.notes, key=repr) == sorted(notes, key=repr)


@PROPS
@given(notes_st, st.floats(-40.0, 40.0), st.integers(-200, 200), st.floats(-5.0, 5.0), st.integers(-300, 300),
       st.data())
def test_every_edit_keeps_the_bounds_and_selects_what_it_edited(notes, dt, k, d_dur, vel, data):
    sel = {i for i in data.draw(st.sets(st.integers(0, 29), max_size=10)) if i < len(notes)}
    for e in (ne.move(notes, sel, dt, k), ne.resize(notes, sel, d_dur), ne.set_velocity(notes, sel, vel),
              ne.duplicate(notes, sel, TEMPO, SIXTEENTH), ne.paste(notes, ne.copy(notes, sel), dt),
              ne.delete(notes, sel)):
        assert valid(e.notes) and is_sorted(e.notes)
        assert all(0 <= i < len(e.notes) for i in e.selected)
    moved = ne.move(notes, sel, dt, k)
    assert len(moved.notes) == len(notes) and len(moved.selected) == len(sel)
    if sel:  # the group kept its shape: the same time and pitch offsets between the notes
        before = [notes[i].pitch for i in sel]
        after = [moved.notes[i].pitch for i in moved.selected]
        assert sorted(p - min(before) for p in before) == sorted(p - min(after) for p in after)
        assert all(moved.notes[i].dur_s >= 0 for i in moved.selected)
    resized = ne.resize(notes, sel, d_dur)
    assert all(resized.notes[i].dur_s >= ne.MIN_DUR_S for i in resized.selected)
    assert len(ne.delete(notes, sel).notes) == len(notes) - len(sel)
