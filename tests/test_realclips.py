"""Sync on real footage (studio.realclips; make setup fetches the clips from Debian packages),
and the two analysis rules that real footage asked for: a turn across a still frame pair, and no
beat shorter than four frames."""
from __future__ import annotations

import numpy as np
import pytest

from studio import realclips
from studio.analysis import AnalysisParams, analyze
from studio.analysis import beats as B
from studio.analysis import impacts as I


def _clip(name: str) -> realclips.RealClip:
    clip = realclips.by_name(name)
    if not clip.path.is_file():
        pytest.skip(f"{clip.path} missing: `python -m studio.realclips` fetches it (package {clip.package})")
    return clip


# contact frames picked by eye (the frame where the ball is nearest the floor), at 25 fps
BALL_CONTACT_FRAMES = (52, 132.5, 194.5, 243)


def test_ball_tracker_truth_matches_the_frames():
    truth = realclips.ball_contacts(_clip("balle-jbart"))
    assert len(truth) == len(BALL_CONTACT_FRAMES)
    assert np.all(np.abs(truth - np.array(BALL_CONTACT_FRAMES) / 25.0) <= 0.04)


def test_real_ball_contacts_found_within_one_frame():
    clip = _clip("balle-jbart")
    truth = realclips.ball_contacts(clip)
    tl = analyze(clip.path, use_cache=False)
    # four bounces slowing down (3.2, 2.5, 2.0 s apart) are no steady pulse
    assert len(tl.beat_times_s) == 0
    found = np.array([i.time_s for i in tl.impacts])
    err = np.abs(found[:, None] - truth[None, :]).min(axis=1)
    assert np.all(err <= 0.04), f"false contacts at {found[err > 0.04]}"  # precision 1
    assert (np.abs(truth[:, None] - found[None, :]).min(axis=1) <= 0.04).sum() >= 3  # recall >= 3/4


@pytest.mark.parametrize("name", ["vtest", "megamind", "city", "cockatoo"])
def test_real_scenes_never_read_at_the_edge_of_the_tempo_range(name):
    tl = analyze(_clip(name).path)
    p = tl.params
    if len(tl.beat_times_s):
        assert p.tempo_min_bpm * 1.03 < tl.tempo_bpm < p.tempo_max_bpm * 0.97
    if name == "vtest":  # walkers filmed at 10 fps with uneven frame timing: no pulse
        assert len(tl.beat_times_s) == 0 and tl.tempo_bpm == B.DEFAULT_BPM


def _cadence_envelope(rate: float = 30.0, fps: float = 10.0, seconds: float = 60.0) -> np.ndarray:
    """Motion sampled at ``fps`` whose every third frame interval is longer (uneven capture)."""
    n = int(seconds * rate)
    env = np.full(n, 0.2)
    frame = np.arange(int(seconds * fps))
    spikes = frame[frame % 3 == 0] * rate / fps
    env[np.clip(np.round(spikes).astype(int), 0, n - 1)] += 1.0
    return env


def test_a_periodicity_faster_than_four_frames_is_not_a_beat():
    env, p = _cadence_envelope(), AnalysisParams()
    assert B.estimate_tempo(env, 30.0, p).bpm == pytest.approx(200.0, rel=0.02)  # the old reading
    est = B.estimate_tempo(env, 30.0, p, frame_rate=10.0)
    assert not est.rhythmic or est.bpm <= 150.0
    # under 8 frames a second no beat of the range can be seen at all
    assert not B.estimate_tempo(env, 30.0, p, frame_rate=5.0).rhythmic


def test_a_pulse_of_four_frames_or_more_is_still_found():
    rate, fps, bpm = 30.0, 10.0, 100.0  # 6 frames a beat
    n = int(60 * rate)
    env = np.full(n, 0.1)
    env[np.round(np.arange(0, 60, 60 / bpm) * rate).astype(int)] += 1.0
    est = B.estimate_tempo(env, rate, AnalysisParams(), frame_rate=fps)
    assert est.rhythmic and est.bpm == pytest.approx(bpm, rel=0.04)


def test_a_turn_across_a_still_pair_is_a_contact():
    # a small object falls to a surface and back; the pair holding the contact shows no
    # difference at all (it came in and went out between the two frames)
    mid = np.arange(40) / 25.0 + 0.02
    t_c = mid[20]
    pos = 0.9 - 1.2 * np.abs(mid - t_c)
    mass = np.full(40, 3.0)
    mass[19:22] = (2.0, 0.0, 1.5)  # fading against the surface, then nothing
    pos = np.where(mass > I.MIN_MASS, pos, np.nan)
    bad = np.zeros(41, int)
    found = I._reversals(pos[:, None, None], mass[:, None, None], mid, bad, AnalysisParams(), downward=True)
    times = found[1]  # columns: dv, time, gy, gx, position, pair index
    assert len(times) and abs(times[0] - t_c) < 0.02
    # with the still pair filled in (no gap) the same sag of the mass is an apex-like slow-down
    mass_full = mass.copy()
    mass_full[20] = 1.0
    pos_full = 0.9 - 1.2 * np.abs(mid - t_c)
    assert not len(I._reversals(pos_full[:, None, None], mass_full[:, None, None], mid, bad, AnalysisParams(),
                                downward=True)[1])
