"""studio/room_response.py: the measures against known cases (a synthetic exponential decay of
known T60, a direct impulse over a tail of known energy, flat spectra), and a track's response
against the renderer's own filter and output."""
from __future__ import annotations

import math

import numpy as np
import pytest

from studio import room_response as rr
from studio.errors import StudioError
from studio.project import SpatialKeyframe, Track, TrackKind

FS = 48000


def decaying_noise(t60_s: float, length_s: float, seed: int = 0, ears: int = 2) -> np.ndarray:
    """Gaussian noise whose energy falls 60 dB in ``t60_s`` (independent per ear)."""
    t = np.arange(int(length_s * FS)) / FS
    noise = np.random.default_rng(seed).standard_normal((ears, len(t)))
    return noise * 10 ** (-3.0 * t / t60_s)


@pytest.mark.parametrize("t60", [0.3, 0.5, 1.2])
def test_t30_of_a_known_exponential_decay_is_within_5_percent(t60):
    r = rr.measure(decaying_noise(t60, 2.5 * t60, seed=int(t60 * 10)), FS)
    assert r.decay.method == "T30"
    assert abs(r.decay.t60_s - t60) / t60 < 0.05, r.decay
    # the fitted line is the line drawn: -60 dB per T60, through the curve where it was fitted
    assert r.decay.slope_db_per_s == pytest.approx(-60.0 / r.decay.t60_s)
    i = int(round((r.decay.start_s + r.decay.end_s) / 2 * FS))
    assert abs(r.decay.line(i / FS) - r.edc_both_db[i]) < 1.0


def test_a_decay_cut_short_by_the_end_of_the_ir_is_not_measured():
    """T60 3 s in a 1 s IR: the curve reaches -25 dB only where the truncation bends it down,
    so neither T30 nor T20 is fitted (a number there would be the truncation's, not the room's)."""
    d = rr.measure(decaying_noise(3.0, 1.0), FS).decay
    assert d.method == "" and math.isnan(d.t60_s)


def test_t20_when_the_curve_does_not_reach_minus_35_db_in_time():
    ir = decaying_noise(0.5, 0.33)  # ends at -40 dB: too near -35 for T30, far enough below -25
    d = rr.measure(ir, FS).decay
    assert d.method == "T20" and abs(d.t60_s - 0.5) / 0.5 < 0.05


def test_energy_decay_curve_of_constant_energy_is_the_remaining_fraction():
    edc = rr.energy_decay_db(np.ones(1000))
    assert edc[0] == 0.0
    assert np.allclose(edc[:-1], 10 * np.log10((1000 - np.arange(999)) / 1000))
    assert np.all(np.diff(edc) <= 0)


def test_drr_of_a_direct_impulse_over_a_tail_of_known_energy():
    ir = np.zeros((2, FS // 2))
    ir[0, 480] = 1.0  # direct sound at 10 ms: left ear 1, right ear 0.5 (energy 1.25)
    ir[1, 480] = 0.5
    tail = decaying_noise(0.4, 0.48, seed=3)  # from 20 ms, after the 2.5 ms direct window
    tail *= math.sqrt(0.25 / np.sum(tail ** 2))
    ir[:, 960:960 + tail.shape[1]] = tail
    assert rr.drr_db(ir, FS) == pytest.approx(10 * math.log10(1.25 / 0.25), abs=1e-9)
    assert rr.first_arrival(ir) == 480
    m = rr.measure(ir, FS)
    assert (m.direct_start, m.direct_end) == (480, 600) and m.drr_db == rr.drr_db(ir, FS)
    assert rr.drr_db(ir[0], FS) == pytest.approx(10 * math.log10(1.0 / np.sum(tail[0] ** 2)), abs=1e-9)
    dry = np.zeros(1000)
    dry[100] = 1.0
    assert rr.drr_db(dry, FS) == math.inf
    with pytest.raises(StudioError, match="silent"):
        rr.drr_db(np.zeros(1000), FS)


def test_magnitude_of_an_impulse_is_flat_at_its_gain():
    ir = np.zeros((2, 4800))
    ir[0, 0], ir[1, 10] = 1.0, 0.5
    f, mag = rr.magnitude_db(ir, FS)
    assert f[0] == pytest.approx(20.0) and f[-1] == pytest.approx(20000.0)
    assert np.allclose(np.diff(np.log(f)), np.log(f[1] / f[0]))  # log-spaced
    assert np.allclose(mag[0], 0.0, atol=1e-9) and np.allclose(mag[1], 20 * math.log10(0.5), atol=1e-9)


def test_measure_refuses_what_is_not_a_binaural_ir():
    with pytest.raises(StudioError, match=r"\(2, n\)"):
        rr.measure(np.zeros(100), FS)


# ----------------------------------------------------------------------------- a track's


def placed(room="living_room", frames=((0.0, 6.0, 3.0),)) -> Track:
    return Track("Drums", TrackKind.MIDI, id="drums", room=room,
                 spatial=[SpatialKeyframe(t, x, y, 1.5) for t, x, y in frames])


def test_a_tracks_response_is_the_renderers_filter_and_output():
    from engines.spatial import infer, render
    from studio.adapters import spatial

    track = placed()
    r = rr.track_response(track)
    field = infer.field("living_room")
    room = field.room
    pose = (room.from_stage(6.0, 3.0, 1.5), np.asarray(room.listener), room.listener_yaw)
    assert np.array_equal(r.ir, render.brir(field, pose, FS).astype(np.float64))
    # what the renderer makes of an impulse on this track is this IR
    impulse = np.zeros((2, 256), np.float32)
    impulse[:, 0] = 1.0
    out = spatial.spatialize(impulse, track, None, FS)
    assert np.allclose(out[:, :r.ir.shape[1]], r.ir, atol=1e-6)
    # 2 m to the listener's right on the stage, 0.3 m above the ears (1.5 m against 1.2 m)
    assert r.distance_m == pytest.approx(math.hypot(2.0, 0.3)) and r.azimuth_deg == pytest.approx(90.0, abs=0.5)
    assert r.room == "living_room" and r.decay.method == "T30" and 0.3 < r.decay.t60_s < 1.5
    assert -20 < r.drr_db < 10


def test_a_moving_source_is_measured_where_it_is_at_that_time():
    from engines.spatial import infer, render

    track = placed(frames=((0.0, 2.0, 3.0), (2.0, 6.0, 3.0)))  # left to right through 1 s
    room = infer.field("living_room").room
    r = rr.track_response(track, 1.5)
    pose = (room.from_stage(5.0, 3.0, 1.5), np.asarray(room.listener), room.listener_yaw)
    assert np.array_equal(r.ir, render.brir(infer.field("living_room"), pose, FS).astype(np.float64))
    assert r.azimuth_deg == pytest.approx(90.0, abs=0.5) and r.distance_m == pytest.approx(math.hypot(1.0, 0.3))
    assert rr.track_response(track, 0.0).azimuth_deg == pytest.approx(-90.0, abs=0.5)


def test_another_room_to_compare_and_clear_errors():
    hall = rr.track_response(placed(), room="hall")
    assert hall.room == "hall" and hall.decay.t60_s > rr.track_response(placed(), room="studio").decay.t60_s
    with pytest.raises(StudioError, match="Drums is not placed in a room"):
        rr.track_response(placed(room=None))
    with pytest.raises(StudioError, match="unknown room 'cave'"):
        rr.track_response(placed(), room="cave")
    assert set(rr.available_rooms()) == {"studio", "living_room", "hall"}
