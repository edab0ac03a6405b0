"""Soundtrack on the project's grid: one key per section (sections from the cuts), notes on project.tempo."""
import numpy as np
import pytest

from engines.soundtrack.features import N_FEATURES
from engines.soundtrack.infer import WINDOW_STEPS, SoundtrackModel
from engines.soundtrack.keys import (N_KEYS, allowed_tokens, changes_at_boundaries, key_changes, key_chords,
                                     key_name, key_pitch_classes, out_of_key, plan_sections, read_key)
from engines.soundtrack.sampler import DecodeSettings, autoregressive, maskgit
from engines.soundtrack.tokens import BASS_LO, MEL_LO, STEPS_PER_BAR, SymbolicLevels

VOCAB = SymbolicLevels.vocab_sizes
RATES = SymbolicLevels.token_rates


@pytest.fixture(scope="module")
def model():
    return SoundtrackModel()


def noisy_logits(tokens, visual, style, keep):
    rng = np.random.default_rng(int(tokens.sum()) % 1000)
    return [rng.normal(0, 3, (tokens.shape[0], tokens.shape[1], v)).astype(np.float32) for v in VOCAB]


def test_keys_scales_and_chords():
    assert key_name(0) == "C" and key_name(19) == "Am" and key_name(23) == "Bm"
    assert np.flatnonzero(key_pitch_classes(0)).tolist() == [0, 2, 4, 5, 7, 9, 11]
    assert np.flatnonzero(key_pitch_classes(19)).tolist() == [0, 2, 4, 5, 7, 8, 9, 11]  # A minor + G#
    chords = sorted(key_chords(0))  # C Dm Em F G Am
    assert chords == sorted([1, 2 * 2 + 2, 2 * 4 + 2, 1 + 2 * 5, 1 + 2 * 7, 2 * 9 + 2])
    ok = allowed_tokens(0, VOCAB)
    assert ok[0][0] and ok[1][0] and ok[1][1] and ok[2][0] and ok[3].all()  # no chord, rest, hold, drums
    assert ok[1][2 + 36 - BASS_LO] and not ok[1][2 + 37 - BASS_LO]  # C yes, C# no
    assert not ok[2][2 + 66 - MEL_LO]  # F#


def test_sections_from_cuts_merge_short_ones():
    assert plan_sections([], 10) == [0]
    assert plan_sections([27.9, 52.2], 20) == [0, 7, 13]  # nearest bar lines
    assert plan_sections([8.0, 36.0], 20) == [0, 9]  # a 2-bar first section joins the next
    assert plan_sections([28.0, 36.0, 60.0], 20) == [0, 7, 15]  # 2-bar section 7-9 joins 9-15
    assert plan_sections([12.0], 6) == [0]  # 3 + 3 bars: one section
    assert plan_sections([12.0], 6, min_bars=3) == [0, 3]
    assert plan_sections([-3.0, 0.4, 200.0], 10) == [0]  # cuts outside the grid start nothing


def test_sampler_never_draws_a_disallowed_token():
    T = WINDOW_STEPS
    masks = [np.stack([allowed_tokens(0 if t < 32 else 14, VOCAB)[lvl] for t in range(T)]) for lvl in range(4)]
    given = np.full((T, 4), -1, np.int64)
    given[:4, 2] = 2 + 61 - MEL_LO  # a given C# stays, allowed or not
    vis = np.zeros((16, N_FEATURES), np.float32)
    for fn in (maskgit, autoregressive):
        out = fn(noisy_logits, vis, 0, VOCAB, given, DecodeSettings(steps=8, seed=1), rates=RATES, allowed=masks)
        assert (out[:4, 2] == given[:4, 2]).all()
        assert not out_of_key(out[:32], 0, VOCAB)[4:].any() and not out_of_key(out[32:], 14, VOCAB).any()
        free = fn(noisy_logits, vis, 0, VOCAB, given, DecodeSettings(steps=8, seed=1), rates=RATES)
        assert out_of_key(free, 0, VOCAB).any()  # the noise model alone leaves the key
    with pytest.raises(ValueError):
        maskgit(noisy_logits, vis, 0, VOCAB, given, rates=RATES, allowed=[np.zeros((T, VOCAB[0]), bool)])


def test_read_key_follows_the_proposal_and_keeps_the_previous_key():
    T = 32
    g = np.zeros((T, 4), np.int64)
    g[:16, 0], g[16:, 0] = 1, 2 * 9 + 2  # C then Am
    g[0:16:4, 2] = [2 + p - MEL_LO for p in (60, 64, 67, 72)]
    steps = np.ones(T, bool)
    assert read_key(g, steps, VOCAB, RATES) == 0  # C major: fits, and its tonic triad is there
    g[20, 2] = 2 + 68 - MEL_LO  # G#: only A minor holds it all
    assert read_key(g, steps, VOCAB, RATES) == 19
    assert read_key(g, steps, VOCAB, RATES, previous=0) == 0  # one stray note is no modulation
    g[24:32:2, 2] = 2 + 66 - MEL_LO  # F# four times: G major / E minor territory
    g[24:32, 0] = 1 + 2 * 7  # G
    assert read_key(g, steps, VOCAB, RATES, previous=0) not in (0, 19)


def test_key_changes_measure():
    pcs = np.zeros((8, 12))
    pcs[:4, [0, 4, 7, 5, 2]] = 1  # C major material
    pcs[4:, [7, 11, 2, 6, 9]] = 1  # G major material
    found = key_changes(pcs)
    assert found["changes"] == [4] and found["out_of_key_notes"] == 0
    a, b = found["intervals"][0]
    assert a <= 4 <= b
    assert changes_at_boundaries(found["intervals"], [4]) == 1 and changes_at_boundaries(found["intervals"], [7]) == 0
    pcs[2, 1] = 1  # one chromatic note: not worth a change
    assert key_changes(pcs)["changes"] == [4]


def test_engine_keeps_one_key_per_section_across_windows(model):
    """48 beats = 4 overlapping windows; sections at bars 0, 5 and 9: every pitched token of a
    section is in that section's key, and keys differ only from one section to the next."""
    rng = np.random.default_rng(0)
    vis = rng.uniform(0, 1, (48, N_FEATURES)).astype(np.float32)
    for seed in (1, 2):
        grid, keys = model.generate(vis, "calm", DecodeSettings(seed=seed, steps=8), sections=(0, 5, 9),
                                    return_keys=True)
        assert [b for b, _ in keys] == [0, 5, 9] and all(0 <= k < N_KEYS for _, k in keys)
        bounds = [b * STEPS_PER_BAR for b, _ in keys] + [len(grid)]
        for (b, key), a, e in zip(keys, bounds, bounds[1:]):
            assert not out_of_key(grid[a:e], key, VOCAB, RATES).any(), (seed, b, key_name(key))
    # fixed keys are honoured (C, then G, then the model's choice)
    grid, keys = model.generate(vis, None, DecodeSettings(seed=3, steps=8), sections=(0, 5, 9),
                                section_keys=(0, 14, None), return_keys=True)
    assert [k for _, k in keys][:2] == [0, 14]
    assert not out_of_key(grid[:5 * STEPS_PER_BAR], 0, VOCAB, RATES).any()
    assert not out_of_key(grid[5 * STEPS_PER_BAR:9 * STEPS_PER_BAR], 14, VOCAB, RATES).any()
    # without sections the decoding is the free one it always was
    free = model.generate(vis, "calm", DecodeSettings(seed=1, steps=8), sections=None)
    assert free.shape == grid.shape


# ----------------------------------------------------------------------------- through the adapter


def generate_on(timeline, tempo, seed, **options):
    from studio.adapters import soundtrack as adapter
    from studio.generate import GenerateSettings
    from studio.project import Project

    project = Project(name="t", tempo=tempo)
    project.tracks = adapter.generate(project, timeline, GenerateSettings(engines=("soundtrack",), seed=seed,
                                                                           style="calm", options=options))
    return project


@pytest.fixture(scope="module")
def long_timeline():
    from studio.bench.soundtrack import synthetic_timeline

    return synthetic_timeline()  # 64 s, cuts at 15.3, 29.0, 47.6 s, a tempo per shot


def test_key_changes_only_at_section_starts_on_a_timeline_with_cuts(long_timeline):
    from studio.bench.soundtrack import key_figures
    from studio.grid import tempo_map

    tl = long_timeline
    tempo = tempo_map(tl)
    changed = 0
    for seed in (1, 4, 5):
        p = generate_on(tl, tempo, seed)
        sections = p.tracks[0].settings["sections"]
        assert all(t.settings["sections"] == sections for t in p.tracks)
        # sections start at the cuts' bar lines (none merged here: every shot is >= 4 bars)
        assert len(sections) == len(tl.cuts_s) + 1
        for s, cut in zip(sections[1:], tl.cuts_s):
            assert abs(s["start_s"] - cut) <= 2 * 60.0 / 96  # nearest bar line: within half a bar
        # every pitched note is in the key of its section
        starts = np.array([s["beat"] for s in sections])
        for t in p.tracks:
            if t.channel == 9:
                continue
            for n in t.notes:
                beat = tempo.beat_at(n.start_s) + 1e-6
                key = sections[int(np.searchsorted(starts, beat, side="right")) - 1]["key"]
                pcs = key_pitch_classes([key_name(k) for k in range(N_KEYS)].index(key))
                assert pcs[n.pitch % 12], (seed, t.name, n, key)
        keys = [s["key"] for s in sections]
        changed += sum(a != b for a, b in zip(keys, keys[1:]))
        # measured from the notes alone: every key change could lie at a section start
        fig = key_figures(p, tl)
        assert fig["key_changes_at_section_start"] == fig["key_changes"]
        assert fig["out_of_key_notes"] <= 2
    assert changed >= 1  # sections may change key (these seeds do), only at their starts


def test_soundtrack_notes_sit_on_project_tempo_beats(long_timeline):
    """The soundtrack writes on project.tempo, whatever that grid is: the analysis' own map or a
    user's correction (here a constant 90 BPM with bar 1 at 1 s) that the visual beats do not
    follow."""
    from studio.grid import GridCorrection, grid_beats, tempo_map

    tl = long_timeline
    for tempo in (tempo_map(tl), tempo_map(tl, GridCorrection(bpm=90.0, downbeat_s=1.0))):
        p = generate_on(tl, tempo, 2, steps=8)
        beats, numbers = grid_beats(tempo, tl.duration_s)
        on_beat = 0
        for t in p.tracks:
            for n in t.notes:
                pos = tempo.beat_at(n.start_s) * 4
                assert abs(pos - round(pos)) < 1e-6 or n.start_s == 0.0, (t.name, n)
                assert 0 <= n.start_s < tl.duration_s and n.end_s <= tl.duration_s + 1e-6
                on_beat += bool(np.min(np.abs(beats - n.start_s)) < 1e-6)
        assert on_beat > 0.3 * sum(len(t.notes) for t in p.tracks)  # the beats themselves carry notes
        drums = next(t for t in p.tracks if t.channel == 9)
        bar_lines = {round(tempo.time_at(b), 6) for b in numbers if b % tempo.beats_per_bar == 0}
        assert any(round(n.start_s, 6) in bar_lines for n in drums.notes)


def test_bench_figures_on_the_synthetic_timeline(long_timeline):
    from studio.bench.soundtrack import tempo_jitter
    from studio.grid import tempo_map
    from studio.music import TempoMap

    tl = long_timeline
    j = tempo_jitter(tempo_map(tl), tl.duration_s, tl.cuts_s)
    assert j["tempo_jitter_max"] < 1e-6 and j["tempo_pairs"] > 80  # smooth within shots, jumps only at cuts
    jumpy = TempoMap.from_beats(tl.beat_times_s + np.resize([0.0, 0.05], len(tl.beat_times_s)))
    assert tempo_jitter(jumpy, tl.duration_s, tl.cuts_s)["tempo_jitter_p95"] > 0.1


def test_key_sections_option(long_timeline):
    from studio.errors import StudioError
    from studio.grid import tempo_map

    p = generate_on(long_timeline, tempo_map(long_timeline), 1, steps=4, key_sections=False)
    assert p.tracks[0].settings["sections"] == [] and p.tracks[0].settings["key_sections"] is False
    for bad in ({"key_sections": "maybe"}, {"min_section_bars": 0}, {"min_section_bars": "x"}):
        with pytest.raises(StudioError):
            generate_on(long_timeline, tempo_map(long_timeline), 1, **bad)


def test_motion_sections_start_soundtrack_sections(long_timeline, tmp_path):
    """--motion-sections: where the player's movement changes kind (a keypoint file of the motion
    engine's synthetic actions, changes at 22 s and 38 s, inside shots) a section starts as at a
    cut; without the option only the cuts start sections (sections of at least 2 bars here)."""
    from engines.motion import synth as S
    from engines.performer.keypoints import save_keypoints
    from studio.grid import tempo_map

    kp, bounds, _ = S.synthesize([("wave", 22.0), ("walk", 16.0), ("clap", 26.0)], 30.0, seed=5)
    assert bounds == pytest.approx([22.0, 38.0])
    path = tmp_path / "player.keypoints.json"
    save_keypoints(path, kp)
    tl = long_timeline
    tempo = tempo_map(tl)
    plain = generate_on(tl, tempo, 1, steps=4, min_section_bars=2)
    moved = generate_on(tl, tempo, 1, steps=4, min_section_bars=2, motion_sections=True, keypoints=str(path))
    found = moved.tracks[0].settings["motion_boundaries_s"]
    assert len(found) == 2 and all(abs(f - b) < 1.5 for f, b in zip(found, bounds)), found
    starts = [s["start_s"] for s in moved.tracks[0].settings["sections"]]
    assert len(starts) == len(plain.tracks[0].settings["sections"]) + 2
    for b in found:  # at the nearest bar line (a bar at 96 BPM is 2.5 s)
        assert min(abs(s - b) for s in starts) <= 2 * 60.0 / 96
    assert plain.tracks[0].settings["motion_boundaries_s"] == []
