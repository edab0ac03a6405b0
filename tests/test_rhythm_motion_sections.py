"""Rhythm --motion-sections: the drums change where the player's movement changes kind (a keypoint
file of the motion engine's synthetic actions, changes at 22 s and 38 s): a fill on the last beat
of the bar before, a crash on the bar nearest the change, another groove after it; the notes
before the first fill are the model's own, and without the option nothing changes."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engines.rhythm.sections import CLOSED_HH, CRASH, FILL_PITCHES, RIDE


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from engines.motion import synth as S
    from engines.performer.keypoints import save_keypoints
    from studio.adapters import rhythm as adapter
    from studio.bench.soundtrack import synthetic_timeline
    from studio.generate import GenerateSettings
    from studio.grid import tempo_map
    from studio.project import Project

    kp, bounds, _ = S.synthesize([("wave", 22.0), ("walk", 16.0), ("clap", 26.0)], 30.0, seed=5)
    path = tmp_path_factory.mktemp("kp") / "player.keypoints.json"
    save_keypoints(path, kp)
    base = synthetic_timeline()  # 64 s, cuts at 15.3, 29.0, 47.6 s, a tempo per shot
    # what the rhythm engine reads besides (no contacts: the accents leave the drums alone)
    tl = SimpleNamespace(**vars(base), rate_hz=1.0 / float(base.times_s[1] - base.times_s[0]),
                         motion_energy=base.motion_mean, impacts=())

    def run(**options):
        project = Project(name="t", tempo=tempo_map(tl))
        s = GenerateSettings(engines=("rhythm",), seed=3, style="rock", options={"keypoints": str(path), **options})
        return {t.settings["part"]: t for t in adapter.generate(project, tl, s, None)}

    return bounds, run(), run(motion_sections=True), run(), tempo_map(tl)


def _drums(track):
    return sorted((round(n.start_s, 4), n.pitch, n.velocity) for n in track.notes)


def test_drums_change_at_the_bars_nearest_the_motion_boundaries(runs):
    bounds, plain, moved, again, tempo = runs
    assert _drums(plain["drums"]) == _drums(again["drums"])  # deterministic: the comparison means something
    s = moved["drums"].settings
    assert "motion_bars_s" not in plain["drums"].settings
    found, bars = s["motion_boundaries_s"], s["motion_bars_s"]
    assert len(found) == 2 and all(abs(f - b) < 1.5 for f, b in zip(found, bounds)), found
    assert len(bars) == 2 and all(abs(b - f) <= 1.5 for b, f in zip(bars, found))  # a bar is ~2.4 s here
    before, after = _drums(plain["drums"]), _drums(moved["drums"])
    beat = {b: 60.0 / tempo.bpm_at(b - 0.1) for b in bars}
    first_fill = bars[0] - beat[bars[0]] - 0.05
    # the model's own notes until the fill: the option changes nothing before the first section ends
    assert [n for n in before if n[0] < first_fill - 0.2] == [n for n in after if n[0] < first_fill - 0.2]
    for bar in bars:  # the last beat of the bar before: the fill (kicks kept)
        fill = [n for n in after if bar - beat[bar] - 0.05 <= n[0] < bar - 0.01]
        assert [p for _, p, _ in fill if p != 36] == list(FILL_PITCHES), fill  # snare, toms high to low
        assert not [n for n in before if bar - beat[bar] - 0.05 <= n[0] < bar - 0.01 and n[1] in FILL_PITCHES[1:]]
        assert any(abs(t - bar) < 0.01 and p == CRASH for t, p, _ in after)
    # another groove after the boundary than the model's plain one there
    sec2 = (bars[0] + 0.01, bars[1] - beat[bars[1]])
    hats = lambda notes, pitch: sum(1 for t, p, _ in notes if sec2[0] <= t < sec2[1] and p == pitch)  # noqa: E731
    assert (hats(after, RIDE), hats(after, CLOSED_HH)) != (hats(before, RIDE), hats(before, CLOSED_HH))
    assert hats(before, CLOSED_HH) > 0


def test_bass_and_keys_are_left_as_they_are(runs):
    _, plain, moved, _, _ = runs
    for part in ("bass", "keys"):
        assert _drums(plain[part]) == _drums(moved[part])


def test_section_bars_pick_the_nearest_downbeat_and_skip_the_first():
    from engines.rhythm.sections import section_bars
    from engines.rhythm.video2rhythm import Bar

    def bar(i, t):
        steps = t + 0.125 * np.arange(16)
        return Bar(i, t, steps, np.full(16, 0.125), np.zeros(16), False, ())

    bars = (bar(-1, 0.0), bar(0, 1.0), bar(1, 3.0), bar(2, 5.0), bar(3, 7.0))
    assert section_bars(bars, [2.2, 4.4, 4.6, 0.9, 9.0]) == [2, 3, 4]


def test_a_bad_motion_sections_value_is_refused():
    from studio.adapters.rhythm import options_of
    from studio.errors import StudioError
    from studio.generate import GenerateSettings

    with pytest.raises(StudioError, match="motion_sections"):
        options_of(GenerateSettings(engines=("rhythm",), options={"motion_sections": "maybe"}))
    off = options_of(GenerateSettings(engines=("rhythm",), options={"motion_sections": "off"}))
    assert off["motion_sections"] is None
