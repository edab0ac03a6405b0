"""Rhythm engine units: vocabularies, Video2Rhythm grid, sampling, ONNX inference, next_bar."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from engines.rhythm import vocab as V
from engines.rhythm.metrics import beat_hit_rate, music_report, ndb
from engines.rhythm.video2rhythm import video_to_rhythm


def timeline(seconds=8.0, bpm=120.0, first=0.5, rate=30.0, downbeat_offset=0, still=None, cuts=()):
    n = int(seconds * rate)
    beats = first + np.arange(int((seconds - first) * bpm / 60)) * 60 / bpm
    env = np.zeros(n)
    env[np.clip(np.round(beats * rate).astype(int), 0, n - 1)] = 1.0
    motion = np.full(n, 0.3)
    if still is not None:
        a, b = (int(x * rate) for x in still)
        motion[a:b] = 0.0
        env[a:b] = 0.0
    return SimpleNamespace(duration_s=seconds, rate_hz=rate, times_s=np.arange(n) / rate, onset_envelope=env,
                           motion_energy=motion, tempo_bpm=bpm, beat_times_s=beats,
                           downbeat_times_s=beats[downbeat_offset::4], cuts_s=tuple(cuts),
                           params=SimpleNamespace(beats_per_bar=4))


def test_drum_tokens_roundtrip():
    rng = np.random.default_rng(0)
    g = (rng.random((V.N_VOICES, V.STEPS)) < 0.2).astype(np.float32)
    toks = V.grid_to_tokens(g)
    assert toks[0] == V.D_BOS and toks[-1] == V.D_EOS and toks[1:-1] == sorted(toks[1:-1])
    np.testing.assert_array_equal(V.tokens_to_grid(toks), g)
    assert V.fold_pitch(35) == 0 and V.fold_pitch(44) == 2 and V.fold_pitch(81) == 8


def test_music_tokens_roundtrip():
    notes = [(0, 0, 36, 4), (0, 1, 60, 8), (0, 1, 64, 8), (4, 0, 43, 4), (8, 1, 67, 8)]
    toks = V.notes_to_tokens(V.chord_token(0, 0), notes)
    chord, back = V.tokens_to_notes(toks)
    assert chord == V.chord_token(0, 0) and sorted(back) == sorted(notes)
    assert len(toks) <= V.M_MAXLEN


def test_grid_follows_visual_beats_and_bars_start_on_first_downbeat():
    tl = timeline(downbeat_offset=1)
    g = video_to_rhythm(tl)
    np.testing.assert_allclose(g.beat_times_s[:len(tl.beat_times_s)], tl.beat_times_s)
    assert g.first_downbeat_s == pytest.approx(tl.beat_times_s[1])
    assert g.bars[0].index == -1 and g.bars[0].steps == 4 and g.bars[0].first_step == 12  # pickup
    full = [b for b in g.bars if b.index >= 0]
    assert full[0].start_s == pytest.approx(tl.beat_times_s[1]) and full[0].steps == 16
    # activation: strong on the beats, quiet between
    a = full[0].activation
    assert a[[0, 4, 8, 12]].min() > 0.9 and np.delete(a, [0, 4, 8, 12]).max() < 0.1
    assert g.tempo_bpm == pytest.approx(120, rel=0.01)


def test_user_tempo_locks_a_constant_grid_from_the_first_beat():
    tl = timeline(bpm=100)
    g = video_to_rhythm(tl, bpm=90)
    assert g.locked and g.beat_times_s[0] == pytest.approx(tl.beat_times_s[0])
    np.testing.assert_allclose(np.diff(g.beat_times_s), 60 / 90)
    g2 = video_to_rhythm(tl, lock=True)
    np.testing.assert_allclose(np.diff(g2.beat_times_s), 60 / 100, rtol=1e-6)


def test_time_signature_and_pauses_and_cuts():
    g = video_to_rhythm(timeline(seconds=10), beats_per_bar=3)
    assert all(b.steps == 12 for b in g.bars[:-1])
    tl = timeline(seconds=12, still=(4.5, 8.5), cuts=(9.03,))
    g = video_to_rhythm(tl)
    rests = [b for b in g.bars if b.rest]
    assert rests and all(4.4 <= b.start_s and b.start_s + b.step_dur_s.sum() <= 8.6 for b in rests)
    cut_bars = [b for b in g.bars if b.cut_steps]
    assert len(cut_bars) == 1 and abs(cut_bars[0].step_times_s[cut_bars[0].cut_steps[0]] - 9.03) < 0.07
    with pytest.raises(ValueError):
        video_to_rhythm(tl, beats_per_bar=0)


def test_metrics():
    rng = np.random.default_rng(0)
    x = (rng.random((200, 9, 16)) < 0.2).astype(float)
    r = ndb(x[:100], x[100:150], x[150:], k=5)
    assert 0 <= r["ndb"] <= 5
    far = ndb(x[:100], x[100:150], np.ones((50, 9, 16)), k=5)
    assert far["ndb"] > r["ndb"]
    bars = [[(0, 0, 36, 4), (0, 1, 60, 8), (8, 1, 64, 8)]] * 5
    rep = music_report(bars, bars)
    assert rep["pitch_class_overlap"] == 1.0 and rep["ioi"]["overlap"] == 1.0
    note = SimpleNamespace
    assert beat_hit_rate([1.0, 2.0], [note(start_s=1.02, pitch=36), note(start_s=2.2, pitch=38)]) == 0.5


# -- ONNX models --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    from engines.rhythm import RhythmEngine

    return RhythmEngine()


def test_generate_is_seeded_and_lands_on_the_grid(engine):
    g = video_to_rhythm(timeline(seconds=8))
    a = engine.generate(g, engine.start("funk", seed=3))
    b = engine.generate(g, engine.start("funk", seed=3))
    c = engine.generate(g, engine.start("funk", seed=4))
    assert a == b and a != c
    parts = {p: [e for e in a if e.part == p] for p in ("drums", "bass", "keys")}
    assert all(parts.values())
    assert {e.pitch for e in parts["drums"]} <= set(V.VOICE_PITCH)
    assert all(1 <= e.velocity <= 127 for e in a)
    # bass and keys stay in the key (E minor for funk: scale of the mode + raised 7th)
    scale = {(p + 4) % 12 for p in V.SCALE_PCS[1]}
    assert all(e.pitch % 12 in scale for e in parts["bass"] + parts["keys"])
    assert all(V.BASS_LO - 6 <= e.pitch <= V.BASS_HI + 6 for e in parts["bass"])
    # drum hits sit within half a 16th of a grid step
    step = 60 / 120 / 4
    for e in parts["drums"]:
        d = (e.start_s - 0.5) / step
        assert abs(d - round(d)) <= 0.5 + 1e-6


def test_next_bar_is_causal_and_matches_offline(engine):
    from engines.rhythm import next_bar

    g = video_to_rhythm(timeline(seconds=8))
    state = engine.start("rock", seed=5)
    offline = engine.generate(g, state)
    live, lat = [], []
    for bar in g.bars:
        t = time.perf_counter()
        notes, state = next_bar(state, bar)
        lat.append(time.perf_counter() - t)
        live += notes
    assert state.bar_index == len(g.bars) and len(state.chords) == len([b for b in g.bars if b.index >= 0])
    drums = lambda ns: sorted((round(e.start_s, 4), e.pitch) for e in ns if e.part == "drums")  # noqa: E731
    assert drums(live) == drums(offline)
    assert np.median(lat) < 0.2  # speed targets live in the benchmark; this only catches blow-ups
    # a bare activation array works too (live input without a grid)
    notes, st = engine.next_bar(engine.start("jazz", seed=1, tempo_bpm=100), np.tile([1, 0, 0, 0], 4))
    assert notes and st.next_start_s == pytest.approx(2.4)


def test_bad_style_and_key_are_value_errors(engine):
    with pytest.raises(ValueError):
        engine.start("polka")
    with pytest.raises(ValueError):
        engine.start("rock", key="H")


def test_adapter_options_three_four_guitar_and_key():
    from studio.adapters import rhythm
    from studio.errors import StudioError
    from studio.generate import GenerateSettings
    from studio.project import Project

    from studio import grid

    tl = timeline(seconds=8, bpm=120)
    project = Project()
    project.tempo = grid.tempo_map(tl, beats_per_bar=3)  # as studio.generate sets it
    s = GenerateSettings(seed=2, style="latin", options={"beats_per_bar": 3, "key": "G", "keys_program": 25})
    tracks = rhythm.generate(project, tl, s, None)
    assert [t.name for t in tracks] == ["Drums", "Bass", "Guitar"]
    assert tracks[2].program == 25 and tracks[2].channel == 2 and tracks[1].channel == 1
    assert project.tempo.beats_per_bar == 3 and project.tempo.downbeat_s == pytest.approx(0.5)
    scale = {(p + 7) % 12 for p in V.SCALE_PCS[0]}
    assert all(n.pitch % 12 in scale for t in tracks[1:] for n in t.notes)
    # nothing of the 4/4 model leaks past a 3/4 bar: bass/keys notes end in the bar they start in
    bar_s = 3 * 0.5
    assert all((n.start_s - 0.5 + 1e-6) // bar_s == (n.end_s - 0.5 - 1e-6) // bar_s
               for t in tracks[1:] for n in t.notes)
    with pytest.raises(StudioError):
        rhythm.generate(Project(), tl, GenerateSettings(style="polka"), None)
    with pytest.raises(StudioError):
        rhythm.generate(Project(), tl, GenerateSettings(options={"key": "H"}), None)


def test_drum_rows_decoded_in_batches_give_the_same_notes(engine, monkeypatch):
    """Issue 23: ``generate`` decodes the drum rows in batches (one batch of a 2-hour video's
    rows held about 1.2 GB of decoder cache); every row has its own generator, so the notes are
    those of one batch."""
    from engines.rhythm import infer

    grid = video_to_rhythm(timeline(seconds=40.0))
    whole = engine.generate(grid, engine.start("funk", seed=3))
    monkeypatch.setattr(infer, "DRUM_BATCH", 5)  # many batches, rows split across bars
    batched = engine.generate(grid, engine.start("funk", seed=3))
    assert len(whole) > 50 and batched == whole


def test_an_older_export_of_the_decoder_step_is_named_not_a_crash():
    """Models exported before the encoder gave the cross-attention keys and values (a custom
    models folder): the step reads ``memory`` and a stacked cache; the engine says how to convert
    them instead of failing on a missing input."""
    from engines.errors import EngineError
    from engines.rhythm.infer import _Stepper

    def session(inputs, outputs):
        names = [SimpleNamespace(name=n) for n in inputs]
        outs = [SimpleNamespace(name=n) for n in outputs]
        return SimpleNamespace(get_inputs=lambda: names, get_outputs=lambda: outs)

    old_step = session(["token", "pos", "memory", "past_k", "past_v"], ["logits", "present_k", "present_v"])
    old_encoder = session(["src", "style"], ["memory"])
    with pytest.raises(EngineError, match="engines.rhythm.train.step_graph"):
        _Stepper(old_step, old_encoder, [np.zeros((1, 17, 64), np.float32)])
