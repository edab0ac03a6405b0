"""Bounded fuzzing of media timestamps (Hypothesis): whatever the spacing of a file's frames (a
few frames hours apart, bursts, long freezes, a single frame), the analysis ends quickly with a
valid timeline or a clean StudioError, never an internal error or a hang."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.analysis import analyze
from studio.errors import StudioError
from videogen import write_video

# gaps between consecutive frames: ordinary frame steps, pauses, and absurd spans (up to 12 h)
gap = st.one_of(st.just(1 / 30), st.floats(0.001, 0.5), st.floats(0.5, 30.0), st.floats(30.0, 12 * 3600.0))
spacing = st.lists(gap, min_size=0, max_size=40)


def _draw(t: float) -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    x = int(32 + 24 * math.sin(4 * t))
    img[20:28, max(0, x - 4):x + 4] = (240, 200, 60)
    return img


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=spacing)
def test_any_frame_spacing_gives_a_timeline_or_a_clean_error_quickly(tmp_path, steps):
    times = np.concatenate([[0.0], np.cumsum(steps)]) if steps else np.array([0.0])
    times = np.round(times * 90000) / 90000  # the writer's time base
    keep = np.concatenate([[True], np.diff(times) > 0])
    path = tmp_path / "clip.mkv"
    write_video(path, _draw, frame_times_s=times[keep].tolist(), size=(64, 48))
    started = time.perf_counter()
    try:
        tl = analyze(path, use_cache=False)
    except StudioError:
        return  # a clean, user-facing error is an acceptable answer
    assert time.perf_counter() - started < 30.0  # bounded by the frames, not the span
    assert np.isfinite(tl.duration_s) and tl.duration_s > 0
    assert np.all(np.isfinite(tl.onset_envelope)) and np.all(np.isfinite(tl.motion_energy))
    beats = np.asarray(tl.beat_times_s)
    assert np.all(np.diff(beats) > 0) and (len(beats) == 0 or (beats[0] >= 0 and beats[-1] <= tl.duration_s))
    assert 0 < tl.tempo_bpm < 1000
