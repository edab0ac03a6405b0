import numpy as np
import pytest

from studio.music import Note, TempoChange, TempoMap


def test_constant_tempo_beats_and_pickup():
    tm = TempoMap.constant(120.0, downbeat_s=0.25)
    assert tm.beat_at(0.25) == 0.0
    assert tm.beat_at(1.25) == pytest.approx(2.0)
    assert tm.beat_at(0.0) == pytest.approx(-0.5)  # pickup before the first downbeat
    assert tm.time_at(4.0) == pytest.approx(2.25)
    np.testing.assert_allclose(tm.beat_times(2.0), [0.25, 0.75, 1.25, 1.75])


def test_tempo_changes_are_piecewise_constant_and_invertible():
    tm = TempoMap((TempoChange(0.0, 60.0), TempoChange(4.0, 120.0)))
    assert tm.beat_at(4.0) == pytest.approx(4.0)
    assert tm.beat_at(5.0) == pytest.approx(6.0)
    for t in np.linspace(-1, 10, 23):
        assert tm.time_at(tm.beat_at(t)) == pytest.approx(t)
    assert tm.bpm_at(3.9) == 60.0 and tm.bpm_at(4.1) == 120.0


def test_lookups_in_a_map_of_many_changes_match_a_linear_scan():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.5, 3.0, 500))
    tm = TempoMap(tuple(TempoChange(float(t), float(b)) for t, b in zip(times, rng.uniform(60, 180, 500))))
    beats = [0.0]
    for a, b in zip(tm.changes, tm.changes[1:]):
        beats.append(beats[-1] + (b.time_s - a.time_s) * a.bpm / 60.0)
    for t in np.r_[rng.uniform(-5, times[-1] + 5, 300), times[:20]]:
        i = max([0] + [j for j, c in enumerate(tm.changes) if c.time_s <= t])
        c = tm.changes[i]
        assert tm.bpm_at(t) == c.bpm
        assert tm.beat_at(t) == beats[i] + (t - c.time_s) * c.bpm / 60.0
        assert tm.time_at(tm.beat_at(t)) == pytest.approx(t, abs=1e-9)


def test_from_beats_follows_beats_and_keeps_steady_tempo_simple():
    steady = 0.5 + np.arange(16) * 0.6  # 100 BPM
    tm = TempoMap.from_beats(steady)
    assert len(tm.changes) == 1 and tm.changes[0].bpm == pytest.approx(100.0)
    # an accelerando: every beat lands where it was seen
    beats = np.cumsum(np.r_[0.3, np.linspace(0.6, 0.4, 20)])
    tm = TempoMap.from_beats(beats, max_error_s=0.0)
    np.testing.assert_allclose([tm.time_at(i) for i in range(len(beats))], beats, atol=1e-9)


def test_round_trip_and_validation():
    tm = TempoMap((TempoChange(0.1, 90.0), TempoChange(3.0, 95.0)), beats_per_bar=7, beat_unit=8)
    assert TempoMap.from_dict(tm.to_dict()) == tm
    with pytest.raises(ValueError):
        TempoMap((TempoChange(2.0, 90.0), TempoChange(1.0, 95.0)))
    with pytest.raises(ValueError):
        TempoMap((TempoChange(0.0, -5.0),))
    with pytest.raises(ValueError):
        Note(0.0, 1.0, 128, 100)
    with pytest.raises(ValueError):
        Note(0.0, 1.0, 60, 0)
