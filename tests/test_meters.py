"""studio.meters: block peaks of a render, read at a time; the render's overs and master fader."""
from __future__ import annotations

import math

import numpy as np
import soundfile as sf

from studio import meters, render
from studio.project import Mixer, Project, Track, TrackKind, VideoClip

SR = 48000


def project(tmp_path, gain_db: float = 0.0) -> Project:
    t = np.arange(SR) / SR
    sf.write(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    p = Project(name="m", sample_rate=SR, video=VideoClip("v.mp4", 3.0, 25.0, 64, 48))
    p.path = tmp_path / "project.json"
    p.add_track(Track("tone", TrackKind.AUDIO, id="tone", audio_path="tone.wav", offset_s=0.5,
                      mixer=Mixer(gain_db=gain_db)))
    return p


def test_block_peaks_are_the_largest_sample_of_each_block_over_both_channels():
    x = np.zeros((2, 1000), np.float32)
    x[0, 10], x[1, 700], x[1, 999] = 0.25, -0.75, 0.5
    size = meters.block_frames(SR)  # 480 frames: 10 ms
    assert size == 480
    assert meters.block_peaks(x, SR).tolist() == [0.25, 0.75, 0.5]  # a last short block too
    assert meters.block_overs(x * 2, SR).tolist() == [False, True, True]
    assert meters.block_peaks(np.zeros((2, 0), np.float32), SR).size == 0


def test_levels_read_the_render_at_a_time_and_in_a_range(tmp_path):
    r = render.render_project(project(tmp_path), loudness_lufs=None)
    lv = meters.levels_of(r)
    assert lv.read("tone", 0.2) == (-math.inf, False)  # before the tone
    db, over = lv.read("tone", 1.0)
    assert abs(db - 20 * math.log10(0.5)) < 0.05 and not over
    assert lv.read(None, 0.45, 0.6)[0] == db  # a window takes its loudest block
    assert lv.read("gone", 1.0) == (-math.inf, False) and lv.read("tone", 99.0) == (-math.inf, False)
    # a range render starts later on the timeline: read at the same times
    part = meters.levels_of(render.render_project(project(tmp_path), loudness_lufs=None, time_range=(0.4, 2.0)))
    assert part.start_s == 0.4 and part.read("tone", 0.45)[0] == -math.inf and part.read("tone", 1.0)[0] == db


def test_overs_before_the_stem_limiter_and_after_the_master_fader(tmp_path):
    p = project(tmp_path, gain_db=12.0)  # 0.5 * 4: over full scale before the stem's safety limiter
    r = render.render_project(p)
    assert np.abs(r.stems["tone"]).max() < 1.0  # the stem itself is limited
    lv = meters.levels_of(r)
    assert lv.read("tone", 1.0)[1] and not lv.read("tone", 0.2)[1] and not lv.read(None, 1.0)[1]
    p.master_fader_db = 20.0
    loud = render.render_project(p)
    assert loud.clipped and meters.levels_of(loud).read(None, 1.0)[1]
    assert abs(loud.loudness_lufs - r.loudness_lufs - 20.0) < 1e-9
    assert all(np.array_equal(loud.stems[k], r.stems[k]) for k in r.stems)
