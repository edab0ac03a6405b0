"""studio.synth: soundfont lookup, sample-accurate timing, level, drums, tails, errors."""
from __future__ import annotations

import numpy as np
import pytest

from studio import synth
from studio.music import Note

SF = "/usr/share/sounds/sf2/TimGM6mb.sf2"
pytestmark = pytest.mark.skipif(not __import__("os").path.exists(SF), reason="timgm6mb-soundfont not installed")


def onset(audio: np.ndarray, threshold: float = 1e-4, start: int = 0) -> int:
    level = np.abs(audio).max(axis=0)
    idx = np.nonzero(level[start:] > threshold)[0]
    return start + int(idx[0]) if idx.size else -1


@pytest.mark.parametrize("sr", [44100, 48000])
def test_onsets_within_1ms_at_non_round_times(sr):
    times = [0.1234, 0.50017, 0.9, 1.33331, 1.777]
    for t in times:
        a = synth.render_notes([Note(t, 0.2, 60, 100)], sr, soundfont=SF)
        err_s = (onset(a) - round(t * sr)) / sr
        assert 0 <= err_s < 1e-3, (t, err_s)


def test_timing_is_sample_exact_between_grid_phases():
    """The same note at two times whose offsets differ by a non-multiple of FluidSynth's block
    gives the same samples, shifted by exactly the difference (no block quantisation)."""
    sr = 48000
    p1, p2 = 4800, 4800 + 37 * 64 + 29
    a = synth.render_notes([Note(p1 / sr, 0.3, 67, 90)], sr, soundfont=SF, n_samples=sr)
    b = synth.render_notes([Note(p2 / sr, 0.3, 67, 90)], sr, soundfont=SF, n_samples=sr)
    assert np.all(a[:, :p1] == 0) and np.all(b[:, :p2] == 0)
    n = 20000
    np.testing.assert_array_equal(a[:, p1:p1 + n], b[:, p2:p2 + n])


@pytest.fixture
def fresh_synths(monkeypatch):
    """Fonts and their pooled synths made afresh for one test. In a long test session a pooled
    synth had been seen to render a note up to 7e-6 (-100 dB) off what a fresh one renders; one
    cause was found on 2026-12-06 (a release still ringing into the slot refill, see
    ``test_a_release_still_ringing_when_a_render_ends_does_not_reach_the_next_one``). The
    superposition below is exact only between synths with the same history, so it keeps fresh
    ones."""
    monkeypatch.setattr(synth, "_fonts", {})


def test_overlapping_notes_at_many_phases_each_start_on_time(fresh_synths):
    """Several notes sounding together at unrelated sample phases (several lanes): what each note
    adds to the render is exactly that note rendered alone (same samples, same place)."""
    sr = 48000
    starts = [0.1, 0.1 + 13 / sr, 0.1 + 101 / sr, 0.2 + 7 / sr, 0.23 + 51 / sr]
    notes = [Note(t, 0.8, 48 + 5 * i, 100) for i, t in enumerate(starts)]
    full = synth.render_notes(notes, sr, soundfont=SF, n_samples=sr)
    prev = np.zeros_like(full)
    for i in range(len(notes)):
        upto = synth.render_notes(notes[: i + 1], sr, soundfont=SF, n_samples=sr)
        diff = upto - prev
        p = round(starts[i] * sr)
        assert np.abs(diff[:, :p]).max() < 1e-6, i  # only float summation order differs
        solo = synth.render_notes([notes[i]], sr, soundfont=SF, n_samples=sr)
        np.testing.assert_allclose(diff, solo, atol=1e-6)  # exactly the note alone, in place
        prev = upto
    np.testing.assert_allclose(prev, full, atol=1e-6)


def test_reference_level_and_determinism():
    sr = 48000
    a = synth.render_notes([Note(0.0, 1.0, 60, 100)], sr, soundfont=SF)
    peak = 20 * np.log10(np.abs(a).max())
    assert abs(peak - synth.REFERENCE_PEAK_DBFS) < 0.5
    b = synth.render_notes([Note(0.0, 1.0, 60, 100)], sr, soundfont=SF)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape[0] == 2
    # velocity matters
    soft = synth.render_notes([Note(0.0, 1.0, 60, 30)], sr, soundfont=SF)
    assert np.abs(soft).max() < 0.5 * np.abs(a).max()


def test_release_tail_beyond_last_note_and_fixed_length():
    sr = 44100
    a = synth.render_notes([Note(0.1, 0.2, 60, 100)], sr, soundfont=SF)
    end = round(0.3 * sr)
    assert a.shape[1] > end + 0.05 * sr  # the release rings on after the note-off
    assert np.abs(a[:, end + int(0.01 * sr):]).max() > 1e-3
    b = synth.render_notes([Note(0.1, 0.2, 60, 100)], sr, soundfont=SF, n_samples=12345)
    assert b.shape == (2, 12345)
    # note-off ends the note: a long note is still loud where the short one has faded
    long = synth.render_notes([Note(0.1, 2.0, 60, 100)], sr, soundfont=SF, n_samples=2 * sr)
    w = slice(int(1.5 * sr), int(1.6 * sr))
    assert np.abs(long[:, w]).max() > 5 * np.abs(a[:, w]).max() if a.shape[1] > w.stop else True


def test_drums_use_the_drum_bank_and_programs_differ():
    sr = 48000
    snare = synth.render_notes([Note(0.0, 0.1, 38, 100, 9)], sr, drums=True, soundfont=SF, n_samples=sr // 2)
    piano = synth.render_notes([Note(0.0, 0.1, 38, 100)], sr, program=0, soundfont=SF, n_samples=sr // 2)
    bass = synth.render_notes([Note(0.0, 0.1, 38, 100)], sr, program=33, soundfont=SF, n_samples=sr // 2)
    assert np.abs(snare).max() > 0.01
    # a snare is noise: much higher zero-crossing rate than a piano D2
    zc = lambda x: np.mean(np.abs(np.diff(np.sign(x[0, : sr // 10]))) > 0)  # noqa: E731
    assert zc(snare) > 3 * zc(piano)
    assert not np.allclose(piano, bass, atol=1e-3)


def test_hihat_choke_across_lanes():
    """A closed hi-hat cuts an open one even when they start at different block phases."""
    sr = 48000
    open_hat = [Note(0.0, 1.0, 46, 110, 9)]
    choked = open_hat + [Note(0.3 + 17 / sr, 0.05, 42, 1, 9)]  # a very soft closed hat
    a = synth.render_notes(open_hat, sr, drums=True, soundfont=SF, n_samples=sr)
    b = synth.render_notes(choked, sr, drums=True, soundfont=SF, n_samples=sr)
    w = slice(int(0.6 * sr), int(0.9 * sr))
    assert np.abs(b[:, w]).max() < 0.3 * np.abs(a[:, w]).max()


def test_missing_soundfont_errors(monkeypatch, tmp_path):
    monkeypatch.setenv(synth.SOUNDFONT_ENV, str(tmp_path / "nope.sf2"))
    with pytest.raises(synth.SynthError, match="STUDIO_SOUNDFONT"):
        synth.render_notes([Note(0, 0.1, 60, 100)], 48000)
    monkeypatch.delenv(synth.SOUNDFONT_ENV)
    monkeypatch.setattr(synth, "SOUNDFONT_CANDIDATES", (str(tmp_path / "x.sf2"),))
    with pytest.raises(synth.SynthError, match="fluid-soundfont-gm"):
        synth.find_soundfont()


def test_missing_library_is_a_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "fluidsynth":
            raise OSError("libfluidsynth.so.3: cannot open shared object file")
        return real(name, *a, **k)

    monkeypatch.setattr(synth, "_fs_module", None)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(synth.SynthError, match="libfluidsynth3"):
        synth._fluidsynth()


def test_default_soundfont_order(monkeypatch):
    monkeypatch.delenv(synth.SOUNDFONT_ENV, raising=False)
    # the preferred GM bank first (MuseScore General HQ), then Fluid R3 (tests/test_banks.py
    # checks the fallback when the better banks are missing)
    assert synth.SOUNDFONT_CANDIDATES[0].endswith("MuseScore_General_Full.sf2")  # uncompressed
    assert synth.SOUNDFONT_CANDIDATES[1].endswith("MuseScore_General_Full.sf3")
    assert synth.SOUNDFONT_CANDIDATES[2].endswith("FluidR3_GM.sf2")
    found = synth.find_soundfont()
    assert found.is_file()


def test_the_soundfont_is_read_once_per_process_however_many_lanes(monkeypatch):
    """Every lane is a synth of its own; they share the one loaded font (fluid_synth_add_sfont),
    so the file is read once, not once per synth, and a second render reads nothing."""
    import fluidsynth

    monkeypatch.setattr(synth, "_fonts", {})
    loads = []
    real = fluidsynth.Synth.sfload
    monkeypatch.setattr(fluidsynth.Synth, "sfload", lambda self, *a, **k: loads.append(a) or real(self, *a, **k))
    sr = 48000
    notes = [Note(0.1 + k * 7 / sr, 0.8, 48 + 3 * k, 100) for k in range(6)]  # six phases: six lanes
    a = synth.render_notes(notes, sr, soundfont=SF, n_samples=sr)
    font = synth._fonts[next(iter(synth._fonts))]
    assert len(font._free) >= 6 and len(loads) == 1 and font.loads == 1
    b = synth.render_notes(notes, sr, soundfont=SF, n_samples=sr)
    assert len(loads) == 1
    np.testing.assert_array_equal(a, b)
    # a shared font sounds exactly like a font loaded by the synth itself
    solo = [synth.render_notes([n], sr, soundfont=SF, n_samples=sr) for n in notes]
    np.testing.assert_allclose(a, np.sum(solo, axis=0), atol=1e-6)


@pytest.mark.parametrize("t2", [2.0, 3.0, 12.0, 2.65])
def test_a_note_on_the_grid_after_a_pause_sounds(t2):
    """A lane whose ring had died away before a note that lands on its block grid went idle in
    the render up to that note and never rendered it: after a pause, a note a whole number of
    blocks after the last onset (2.0 s after 0.5 s: a quantised note, often) was silent."""
    sr = 48000
    notes = [Note(0.5, 0.3, 60, 90), Note(t2, 0.3, 64, 90)]
    a = synth.render_notes(notes, sr, soundfont=SF, n_samples=14 * sr)
    alone = synth.render_notes(notes[1:], sr, soundfont=SF, n_samples=14 * sr)
    span = slice(int(t2 * sr), int((t2 + 0.3) * sr))
    assert onset(a, start=int(1.5 * sr)) == onset(alone) and 0 <= onset(alone) - round(t2 * sr) < sr // 1000
    np.testing.assert_allclose(a[:, span], alone[:, span], atol=1e-6)


def test_a_warm_up_loads_the_parts_presets_and_a_render_waits_for_it(monkeypatch):
    """``warm_up`` returns at once and loads the fonts and holds the presets on a thread; a
    render started meanwhile waits for it (FluidSynth plays in one thread at a time), and plays
    exactly what it plays without one."""
    import threading
    import time

    monkeypatch.setattr(synth, "_fonts", {})
    sr = 44100
    notes = [Note(0.05, 0.3, 40, 100), Note(0.2, 0.3, 47, 90)]
    plain = synth.render_notes(notes, sr, program=33, soundfont=SF, n_samples=sr // 2)
    monkeypatch.setattr(synth, "_fonts", {})
    gate = threading.Event()
    real = synth._bank_font
    loading = []

    def slow_font(bank, rate):
        loading.append(threading.current_thread().name)
        gate.wait(5)
        return real(bank, rate)

    monkeypatch.setattr(synth, "_bank_font", slow_font)
    t = time.perf_counter()
    synth.warm_up([(notes, 33, False, None)], sr, soundfont=SF)
    assert time.perf_counter() - t < 0.5  # returned without loading
    rendered = []
    render = threading.Thread(target=lambda: rendered.append(
        synth.render_notes(notes, sr, program=33, soundfont=SF, n_samples=sr // 2)))
    render.start()
    time.sleep(0.3)
    assert not rendered  # waiting for the warm-up
    gate.set()
    render.join(10)
    assert loading[0] == "synth-warm-up"
    font = synth._fonts[next(iter(synth._fonts))]
    assert (0, 33) in font._held and font.loads == 1
    np.testing.assert_array_equal(rendered[0], plain)


def test_a_failing_warm_up_leaves_the_error_to_the_render(tmp_path):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    synth.warm_up([([Note(0.0, 0.1, 60, 100)], 0, False, None)], 44100, soundfont=bad)
    with pytest.raises(synth.SynthError, match="not a readable soundfont"):
        synth.render_notes([Note(0.0, 0.1, 60, 100)], 44100, soundfont=bad)


@pytest.mark.parametrize("bank", ["musescore", "musescore-lossless"])  # Ogg-compressed, uncompressed
def test_a_render_on_reused_synths_is_the_first_renders_on_every_font(monkeypatch, bank):
    """Every voice slot is refilled and reset between uses (``_settle``), also on a font whose
    presets start no voice at velocity 1 (MuseScore General's piano): its first render, on new
    synths, and the next ones, on synths that played it, are the same samples (the first chord
    once differed by -33 dB)."""
    if synth.banks.bank_by_id(bank) is None:
        pytest.skip(f"{bank} not installed (packaging/debian-deps.sh)")
    monkeypatch.setattr(synth, "_fonts", {})
    sr = 48000
    notes = [Note(0.5092, 0.9, p, 76) for p in (59, 64, 71)] + [Note(0.995 + 0.26 * k, 0.4, 57 + k, 66)
                                                                for k in range(6)]
    renders = [synth.render_notes(notes, sr, bank=bank, n_samples=3 * sr) for _ in range(3)]
    assert np.abs(renders[0]).max() > 0.05
    np.testing.assert_array_equal(renders[0], renders[1])
    np.testing.assert_array_equal(renders[1], renders[2])


@pytest.mark.skipif(synth.banks.bank_by_id("avl-black-pearl") is None, reason="avldrums.lv2-soundfont not installed")
def test_a_drum_kits_render_on_reused_synths_is_the_first_renders(monkeypatch):
    """After a render one slot refill was not enough: a recorded kit's hits in the next render
    differed from those on new synths by up to -26 dB; a used synth is settled twice before its
    next use."""
    monkeypatch.setattr(synth, "_fonts", {})
    sr = 48000
    notes = []
    for k in range(8):
        notes.append(Note(0.25 * k, 0.1, 42, 90 + k, 9))
        if k % 2 == 0:
            notes.append(Note(0.25 * k, 0.1, (36, 38)[k % 4 // 2], 105, 9))
    notes += [Note(2.0, 0.1, p, v, 9) for p, v in ((36, 115), (42, 103), (49, 110), (51, 104))]
    renders = [synth.render_notes(notes, sr, drums=True, bank="avl-black-pearl", n_samples=3 * sr) for _ in range(3)]
    assert np.abs(renders[0]).max() > 0.05
    np.testing.assert_array_equal(renders[0], renders[1])
    np.testing.assert_array_equal(renders[1], renders[2])


@pytest.mark.parametrize("bank", ["timgm6mb", "musescore", "musescore-lossless", "avl-black-pearl"])
def test_a_replayed_slot_fill_renders_as_the_full_search_does(monkeypatch, bank):
    """A settle replays the note-ons of its font's first slot fill that started a voice
    (``_Fill``) instead of searching every key again: renders on synths filled that way, new and
    reused, are the samples of synths filled by the search, with a small part of its note-ons
    (MuseScore General's piano starts no voice at velocity 1: its search plays 2,124)."""
    if synth.banks.bank_by_id(bank) is None:
        pytest.skip(f"{bank} not installed")
    drums = bank == "avl-black-pearl"
    sr = 48000
    if drums:
        notes = [Note(0.25 * k + 7 / sr * k, 0.1, (36, 42, 38, 42)[k % 4], 80 + 5 * k, 9) for k in range(8)]
    else:
        notes = [Note(0.1 + 0.13 * k + 11 / sr * k, 0.5, 55 + 3 * k, 40 + 9 * k) for k in range(8)]

    import fluidsynth

    calls = [0]
    noteon = fluidsynth.Synth.noteon

    def counted(self, *args):
        calls[0] += 1
        return noteon(self, *args)

    def renders() -> list[np.ndarray]:
        monkeypatch.setattr(synth, "_fonts", {})
        out = [synth.render_notes(notes, sr, drums=drums, bank=bank, n_samples=3 * sr) for _ in range(2)]
        font = synth._bank_font(synth.banks.bank_by_id(bank), sr)  # the one the renders played
        monkeypatch.setattr(fluidsynth.Synth, "noteon", counted)
        calls[0] = 0
        synth._settle(font.acquire(), font._fill)
        monkeypatch.setattr(fluidsynth.Synth, "noteon", noteon)
        assert font._fill.voices == synth.POLYPHONY
        return out + [calls[0]]

    *replayed, replay_calls = renders()
    search = synth._Fill.run

    def always_search(self, s):
        self.steps = None
        search(self, s)

    monkeypatch.setattr(synth._Fill, "run", always_search)
    *searched, search_calls = renders()
    assert np.abs(searched[0]).max() > 0.01
    for a, b in zip(replayed, searched):
        np.testing.assert_array_equal(a, b)
    assert replay_calls < search_calls
    if bank.startswith("musescore"):
        assert replay_calls < search_calls / 5


def test_a_release_still_ringing_when_a_render_ends_does_not_reach_the_next_one(monkeypatch):
    """A reset stops held notes, not released ones: bells (TimGM6mb's glockenspiel rings 18 s
    after its note-off) still sounding when a render ends must have died out before their synths
    are refilled for the next render (``_drain``); when the wait was 1.4 s, a slot kept them and
    the next render on those synths differed from the same render on new synths."""
    sr = 48000
    bells = [Note(0.05 + 0.01 * k + 5 * k / sr, 0.2, 72 + 3 * k, 120) for k in range(6)]
    chord = [Note(0.1 + 7 * k / sr, 0.4, 55 + 4 * k, 60 + 10 * k) for k in range(6)]
    monkeypatch.setattr(synth, "_fonts", {})
    fresh = synth.render_notes(chord, sr, soundfont=SF, n_samples=sr)
    monkeypatch.setattr(synth, "_fonts", {})
    synth.render_notes(bells, sr, program=9, soundfont=SF, n_samples=sr // 2)  # released, ringing at the end
    font = next(iter(synth._fonts.values()))
    assert sum(s.used for s in font._free) >= 4  # the chord's lanes are taken from those synths
    reused = synth.render_notes(chord, sr, soundfont=SF, n_samples=sr)
    assert np.abs(fresh).max() > 0.01
    np.testing.assert_array_equal(reused, fresh)
