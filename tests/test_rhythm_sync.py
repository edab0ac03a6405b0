"""Sync on the synthetic BPM fixtures: generated kicks/snares on the visual beats.

Issue 4: at least 80 % of the visual beats have a generated kick or snare within 50 ms
(beat hit rate). The fixed-backbeat baseline on the same grid is measured beside it.
"""
from __future__ import annotations

import numpy as np
import pytest

import rhythm_fixtures as rf
from engines.rhythm import baseline, video_to_rhythm
from engines.rhythm.infer import NoteEvent
from engines.rhythm.metrics import beat_hit_rate
from studio import grid
from studio.analysis import analyze
from studio.generate import GenerateSettings
from studio.project import Project

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _baseline_notes(grid) -> list[NoteEvent]:
    h, _, _ = baseline.fixed_pattern(1)
    out = []
    for bar in grid.bars:
        for v, s in zip(*np.nonzero(h[0])):
            s = s - bar.first_step
            if 0 <= s < bar.steps:
                out.append(NoteEvent(float(bar.step_times_s[s]), 0.1, (36, 38, 42)[v], 90, "drums"))
    return out


@pytest.mark.parametrize("bpm,style", [(90, "rock"), (120, "funk"), (150, "electronic")])
def test_beat_hit_rate_on_fixtures(tmp_path, bpm, style):
    from studio.adapters import rhythm

    truth = rf.beat_video(tmp_path / "beat.mp4", bpm, duration_s=8.0, fps=30)
    tl = analyze(tmp_path / "beat.mp4", use_cache=False)
    rates = []
    for seed in (0, 1):
        project = Project()
        project.tempo = grid.tempo_map(tl)  # as studio.generate sets it
        tracks = rhythm.generate(project, tl, GenerateSettings(seed=seed, style=style), None)
        drums = next(t for t in tracks if t.is_drums)
        rates.append(beat_hit_rate(truth.beat_times_s, drums.notes, 0.05))
        assert {t.name for t in tracks} == {"Drums", "Bass", "Keys"}
        assert all(n.channel == 9 for n in drums.notes)
    base = beat_hit_rate(truth.beat_times_s, _baseline_notes(video_to_rhythm(tl)), 0.05)
    print(f"beat hit rate {bpm} BPM {style}: model {rates} baseline {base:.3f}")
    assert min(rates) >= 0.8, (rates, base)
