"""Soundtrack tokenizer, MIDI reading, style matching and window plan (no model needed)."""
import numpy as np
import pytest

from engines.soundtrack.infer import WINDOW_STEPS, window_plan
from engines.soundtrack.styles import NO_STYLE, STYLES, match_style
from engines.soundtrack.tokens import (BASS_LO, HOLD, MEL_LO, REST, STEPS_PER_BAR, PartNote, SymbolicLevels,
                                       chord_pitches, encode_chords)

LEVELS = SymbolicLevels()


def random_grid(rng, n_steps=128):
    g = np.zeros((n_steps, 4), np.int64)
    beats = rng.integers(0, 25, n_steps // 4)
    g[:, 0] = np.repeat(beats, 4)
    for lvl in (1, 2):
        g[:, lvl] = rng.choice([REST, HOLD, 2, 5, 9, 20], n_steps, p=[0.2, 0.4, 0.1, 0.1, 0.1, 0.1])
    g[:, 3] = rng.integers(0, 32, n_steps)
    return g


def test_round_trip_grid_parts_grid():
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = LEVELS.canonical(random_grid(rng))
        back = LEVELS.encode(LEVELS.decode(g), len(g))
        assert np.array_equal(back, g)


def test_decoded_parts_are_what_the_tokens_say():
    g = np.zeros((STEPS_PER_BAR, 4), np.int64)
    g[:, 0] = 1  # C major
    g[0, 1], g[1:8, 1] = 2 + (36 - BASS_LO), HOLD  # C2 for half a bar
    g[4, 2], g[5, 2], g[6, 2] = 2 + (67 - MEL_LO), HOLD, REST  # G4, two 16ths
    g[0, 3] = 1 | 4 | 16  # kick + closed hat + crash
    parts = LEVELS.decode(g)
    assert sorted(n.pitch % 12 for n in parts["keys"]) == [0, 4, 7]
    assert parts["keys"][0].dur_beats == 4.0
    assert [(n.start_beat, n.dur_beats, n.pitch) for n in parts["bass"]] == [(0.0, 2.0, 36)]
    assert [(n.start_beat, n.dur_beats, n.pitch) for n in parts["melody"]] == [(1.0, 0.5, 67)]
    assert sorted(n.pitch for n in parts["drums"]) == [36, 42, 49]


def test_chords_from_voices_and_voicing():
    am = [PartNote(0, 4, 57), PartNote(0, 4, 60), PartNote(0, 4, 64), PartNote(0, 4, 45)]
    tok = encode_chords(am, 16)
    assert set(tok.tolist()) == {1 + 2 * 9 + 1}  # A minor
    for t in range(1, 25):
        ps = chord_pitches(t)
        assert len(ps) == 3 and max(ps) - min(ps) <= 11


def test_midi_file_to_levels(tmp_path):
    import mido

    from engines.soundtrack.midifile import read_midi_parts

    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    events = [(0, "on", 9, 36), (0, "on", 0, 40), (0, "on", 0, 72), (240, "off", 9, 36),
              (240, "off", 0, 72), (0, "on", 9, 38), (480, "off", 9, 38), (960, "off", 0, 40)]
    for dt, kind, ch, note in events:
        tr.append(mido.Message("note_on" if kind == "on" else "note_off", channel=ch, note=note,
                               velocity=90 if kind == "on" else 0, time=dt))
    path = tmp_path / "x.mid"
    mid.save(path)
    parts, n_beats = read_midi_parts(path)
    g = LEVELS.encode(parts, 16)
    assert g[0, 3] == 1 and g[4, 3] == 2  # kick at 0, snare at beat 1 (480 ticks)
    assert g[0, 1] == 2 + 40 - BASS_LO and g[0, 2] == 2 + 72 - MEL_LO
    assert n_beats == pytest.approx(4.0)


def test_bad_midi_file_is_an_engine_error(tmp_path):
    from engines.errors import EngineError
    from engines.soundtrack.midifile import read_midi_parts

    p = tmp_path / "junk.mid"
    p.write_bytes(b"not midi at all")
    with pytest.raises(EngineError):
        read_midi_parts(p)


def test_style_matching():
    assert STYLES[match_style("calm piano")] == "calm"
    assert STYLES[match_style("Dark synthwave")] == "dark"
    assert STYLES[match_style("lofi study beats")] == "lo-fi"
    assert STYLES[match_style("ORCHESTRAL")] == "orchestral"
    assert match_style("") == NO_STYLE and match_style(None) == NO_STYLE
    assert match_style("zzz qqq") == NO_STYLE


def test_window_plan_covers_and_overlaps():
    for n in (64, 100 * 4, 37 * 4, 16):
        plans = window_plan(n, overlap_beats=4)
        assert plans[0].start_step == 0 and plans[0].given_steps == 0
        end = max(-(-n // 16) * 16, WINDOW_STEPS)
        assert plans[-1].start_step + WINDOW_STEPS == end
        for p in plans[1:]:
            assert p.start_step % 16 == 0 and p.given_steps >= 16  # at least one bar given
    assert len(window_plan(64 * 4, overlap_beats=4)) == 5  # 256 steps: 0, 48, 96, 144, 192
