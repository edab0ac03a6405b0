"""The tempo map's smoother (studio.grid.steady / whittaker) against beats whose truth is known."""
from __future__ import annotations

import numpy as np

from studio import grid


def _jitter(beats: np.ndarray) -> float:
    bpm = 60.0 / np.diff(beats)
    return float(np.max(np.abs(bpm[1:] / bpm[:-1] - 1.0)))


def test_frame_jitter_is_left_out_of_a_steady_tempo():
    rng = np.random.default_rng(0)
    true = 0.4 + 0.5 * np.arange(40)  # 120 BPM
    seen = true + rng.uniform(-1 / 60, 1 / 60, len(true))  # beats on 30 fps frames
    assert _jitter(seen) > 0.05  # what a map following every beat would do
    out = grid.steady(seen)
    assert _jitter(out) < 0.01
    assert np.max(np.abs(out - true)) < 0.012


def test_a_rubato_is_followed_and_one_stray_beat_ignored():
    k = np.arange(48)
    period = 0.5 * (1 + 0.04 * np.sin(2 * np.pi * k / 16))  # tempo swelling by +-4 % over 16 beats
    true = 0.3 + np.concatenate([[0.0], np.cumsum(period[:-1])])
    seen = true.copy()
    seen[20] += 0.2  # a beat on something else, 0.4 beat late
    out = grid.steady(seen)
    line = np.polyval(np.polyfit(k, true, 1), k)  # a constant tempo: misses the swell by ~50 ms
    keep = k != 20
    assert np.max(np.abs(out - true)[keep]) < 0.5 * np.max(np.abs(line - true))
    assert abs(out[20] - true[20]) < 0.03  # put back on the curve of its neighbours
    assert _jitter(out) < _jitter(true) + 0.005  # no faster change of tempo than the truth's


def test_a_cut_may_change_the_tempo():
    a = 0.5 + 0.5 * np.arange(12)  # 120 BPM
    b = a[-1] + 0.3 + 0.75 * np.arange(12)  # 80 BPM after a cut
    out = grid.steady(np.concatenate([a, b]), cuts_s=(a[-1] + 0.2,))
    np.testing.assert_allclose(out, np.concatenate([a, b]), atol=1e-6)


def test_whittaker_solves_the_penalised_least_squares_problem():
    rng = np.random.default_rng(1)
    for n in (3, 4, 5, 11):
        b = np.cumsum(rng.uniform(0.4, 0.6, n))
        d = np.diff(np.eye(n), 2, axis=0)
        expect = np.linalg.solve(np.eye(n) + 30.0 * d.T @ d, b)
        np.testing.assert_allclose(grid.whittaker(b, 30.0, outlier=1e9), expect, atol=1e-9)
