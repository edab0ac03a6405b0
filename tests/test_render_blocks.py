"""The render and export on disk, block by block (studio.diskaudio, studio.mastering_blocks):
the same samples and figures as the whole-array functions of studio.mastering, blocks made
small here so that every stage crosses many block boundaries."""
from __future__ import annotations

import dataclasses
import errno
import os

import numpy as np
import pytest
import soundfile as sf

from export import wav
from studio import diskaudio as da
from studio import mastering as mst
from studio import mastering_blocks as mb
from studio import render
from studio.errors import StudioError
from studio.project import Mixer, Project, Track, TrackKind, VideoClip

SR = 48000


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch, tmp_path):
    monkeypatch.setattr(da, "BLOCK_FRAMES", 8192)
    monkeypatch.setattr(da, "IN_MEMORY_FRAMES", 8192)
    monkeypatch.setenv(da.RENDER_DIR_ENV, str(tmp_path))
    render.clear_render_cache()
    yield
    render.clear_render_cache()


def _signal(n: int, amp: float, seed: int = 1) -> np.ndarray:
    """Noise with loud tone bursts three times a second (the limiters have work to do)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, n)) * 0.05 * amp).astype(np.float32)
    t = np.arange(n) / SR
    for k in range(0, n, SR // 3):
        x[:, k:k + 2000] += (amp * np.sin(2 * np.pi * 3000 * t[k:k + 2000])).astype(np.float32)
    return x


def _on_disk(x: np.ndarray) -> np.ndarray:
    d = da.disk_array(*x.shape)
    d[:] = x
    return d


@pytest.mark.parametrize("n, amp", [(3 * SR + 7, 0.2), (6 * SR + 123, 1.5), (50000, 3.0)])
def test_block_mastering_is_the_whole_array_mastering(n, amp):
    x = _signal(n, amp)
    d = _on_disk(x)
    assert mb.integrated_lufs(d, SR) == mst.integrated_lufs(x, SR)
    assert mb.true_peak_dbtp(d) == mst.true_peak_dbtp(x)
    for role in ("drums", "pad", "foley", "audio"):
        assert mb.stage_gain_db(d, SR, role) == mst.stage_gain_db(x, SR, role)
    whole, reduction = mst.true_peak_limit(x, SR)
    blocks, reduction_b = mb.true_peak_limit(d, da.disk_array(*x.shape), SR)
    assert reduction_b == reduction and np.array_equal(np.asarray(blocks), whole)
    for m in (mst.Mastering(), mst.Mastering(loudness_lufs=-8.0), mst.Mastering.off(limiter=True),
              mst.Mastering(ceiling_dbtp=None)):
        whole, rep = mst.master_mix(x, SR, m)
        blocks, rep_b = mb.master_mix(d, SR, m)
        assert np.array_equal(np.asarray(blocks), whole), m
        assert dataclasses.replace(rep_b, timings_s={}) == dataclasses.replace(rep, timings_s={}), m


def _levels_kept(monkeypatch) -> list:
    """The ``_Level`` of every limiter run, as it is measured."""
    made, real = [], mb._measured

    def spy(levels, n, keep):
        level = real(levels, n, keep)
        made.append(level)
        return level

    monkeypatch.setattr(mb, "_measured", spy)
    return made


def test_the_limiter_keeps_the_level_only_where_it_nears_the_ceiling(monkeypatch):
    """A stem under its ceiling writes no level at all; one loud burst keeps its chunks alone;
    the samples and figures stay the whole-array limiter's."""
    made = _levels_kept(monkeypatch)
    quiet = _signal(4 * SR, 0.2)
    out, reduction = mb.true_peak_limit(_on_disk(quiet), da.disk_array(*quiet.shape), SR)
    assert reduction == 0.0 and np.array_equal(np.asarray(out), quiet)
    assert made[-1].disk is None and not made[-1].kept.any()
    x = (np.random.default_rng(3).standard_normal((2, 4 * SR)) * 0.01).astype(np.float32)
    x[:, 100_000:102_000] = 1.6 * np.sin(np.arange(2000) * 0.4)  # one burst over the ceiling
    whole, reduction = mst.true_peak_limit(x, SR)
    blocks, reduction_b = mb.true_peak_limit(_on_disk(x), da.disk_array(*x.shape), SR)
    assert reduction_b == reduction > 3 and np.array_equal(np.asarray(blocks), whole)
    kept = np.flatnonzero(made[-1].kept)
    assert list(kept) == sorted({100_000 // 8192, 101_999 // 8192}), kept


def test_a_retry_below_the_kept_margin_measures_every_chunk_again(monkeypatch):
    """With no margin kept (the level only in chunks that reach the first target), a retry's
    lower target must not read a left-out chunk as silence: the level is measured again in
    full. A retry (rare: the first gain overshot) is forced here, and the result must be the one
    with every chunk's level kept. Fails if a retry reads the first, partial level."""
    ceiling = 10.0 ** (mst.CEILING_DBTP / 20.0)
    t = np.arange(4 * SR)
    x = np.zeros((2, t.size), np.float32)
    x[:, 20_000:22_000] = 1.6 * np.sin(t[:2000] * 0.05)  # over the ceiling
    x[:, 90_000:92_000] = 0.985 * ceiling * np.sin(t[:2000] * 0.05)  # just under the first target
    real = mb._apply_gain

    def overshoot_once(*args):
        worst = real(*args)
        first = not tries
        tries.append(worst)
        return max(worst, 1.05 * ceiling) if first else worst

    monkeypatch.setattr(mb, "_apply_gain", overshoot_once)
    made = _levels_kept(monkeypatch)
    results = {}
    for margin in (200.0, 0.0):
        monkeypatch.setattr(mb, "LEVEL_KEPT_BELOW_DB", margin)
        tries = []
        out, reduction = mb.true_peak_limit(_on_disk(x), da.disk_array(*x.shape), SR)
        assert len(tries) == 2
        results[margin] = (np.array(out), reduction)
    assert [level.keep == 0.0 for level in made] == [False, False, True]  # measured again in full
    assert results[0.0][1] == results[200.0][1] and np.array_equal(results[0.0][0], results[200.0][0])
    assert np.abs(results[0.0][0][:, 90_000:92_000]).max() < 0.985 * ceiling  # the retry lowered it


def test_silence_and_empty_audio_on_disk():
    silent = da.disk_array(2, 20000)
    assert mb.integrated_lufs(silent, SR) == float("-inf") and mb.true_peak_dbtp(silent) == float("-inf")
    out, rep = mb.master_mix(silent, SR)
    assert out is silent and rep.gain_db == 0.0
    empty = da.disk_array(2, 0)
    assert isinstance(empty, np.ndarray) and empty.shape == (2, 0)


def test_the_block_reverb_is_within_float_rounding_of_the_whole_convolution():
    x = _signal(5 * SR + 11, 0.3)
    x[:, SR:2 * SR] = 0.0  # a silent block: only the carried tail sounds there
    whole = mst.reverb_return(x, "hall", SR)
    blocks = mst.reverb_return_blocks(_on_disk(x), "hall", SR, da.disk_array(*x.shape), block=8192)
    assert float(np.max(np.abs(whole - blocks))) < 10 ** (-100 / 20)


def test_duck_gain_in_blocks_is_the_whole_gain():
    music = _signal(4 * SR + 5, 0.5)
    whole = mst.duck_gain(music, SR, -9.0)
    hop = mst.duck_hop(SR)
    size = hop * 37
    energy = np.concatenate([mst.duck_energy(music[:, a:a + size], SR) for a in range(0, music.shape[1], size)])
    curve = mst.duck_curve(energy, SR, -9.0)
    parts = [mst.duck_gain_of(curve, SR, a, min(a + size, music.shape[1])) for a in range(0, music.shape[1], size)]
    assert np.array_equal(np.concatenate(parts), whole)


def _tone(folder, name, freq, secs, amp=0.3):
    t = np.arange(int(SR * secs)) / SR
    x = amp * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sign(np.sin(2 * np.pi * 2.0 * t)))
    sf.write(folder / name, np.stack([x, 0.7 * x], axis=1).astype(np.float32), SR)
    return name


def _project(folder) -> Project:
    p = Project(name="blocks", sample_rate=SR, video=VideoClip("v.mp4", 5.0, 25.0, 64, 48))
    p.path = folder / "project.json"
    p.add_track(Track("music", TrackKind.AUDIO, audio_path=_tone(folder, "m.wav", 220.0, 6.0), engine="rhythm",
                      settings={"part": "keys"}, mixer=Mixer(pan=0.3)))
    p.add_track(Track("bass", TrackKind.AUDIO, audio_path=_tone(folder, "b.wav", 55.0, 4.0, 0.9), engine="rhythm",
                      settings={"part": "bass"}, offset_s=0.4))
    p.add_track(Track("speech", TrackKind.AUDIO, audio_path=_tone(folder, "s.wav", 700.0, 5.0),
                      mixer=Mixer(gain_db=4.0, duck_db=-9.0, reverb_send_db=-8.0)))
    return p


def _whole_array_render(p: Project, m: mst.Mastering):
    """The render as the whole-array path computed it (studio.render before the disk buffers)."""
    n = render.project_frames(p, SR)
    tracks = p.audible_tracks()
    stems = []
    for t in tracks:
        x = render.render_track_source(t, p, SR, n)
        stage = mst.stage_gain_db(x, SR, mst.track_role(t)) if mst.is_staged(t) else 0.0
        x = render.apply_mixer(x, t.mixer.gain_db + stage, t.mixer.pan)
        stems.append(mst.true_peak_limit(x, SR)[0])
    side = np.sum([x for t, x in zip(tracks, stems) if mst.is_music(t)], axis=0, dtype=np.float32)
    stems = [x * mst.duck_gain(side, SR, t.mixer.duck_db) if t.mixer.duck_db else x for t, x in zip(tracks, stems)]
    bus = np.zeros((2, n), np.float32)
    for t, x in zip(tracks, stems):
        if mst.send_db(t) is not None:
            bus += x * np.float32(10.0 ** (mst.send_db(t) / 20.0))
    ret = mst.reverb_return(bus, mst.project_room(p), SR)
    mix = np.zeros((2, n), np.float32)
    for x in stems:
        mix += x
    mix += ret
    mix, rep = mst.master_mix(mix, SR, m)
    return {t.id: x for t, x in zip(tracks, stems)}, mix, rep


def test_render_on_disk_matches_the_whole_array_render(tmp_path):
    p = _project(tmp_path)
    result = render.render_project(p)
    stems, mix, rep = _whole_array_render(p, mst.Mastering())
    assert isinstance(result.mix, np.memmap) and all(isinstance(x, np.memmap) for x in result.stems.values())
    for tid, x in stems.items():
        assert np.array_equal(np.asarray(result.stems[tid]), x), tid
    assert float(np.max(np.abs(np.asarray(result.mix) - mix))) < 10 ** (-90 / 20)  # the reverb's FFT rounding
    assert abs(result.loudness_lufs - rep.loudness_lufs) < 1e-3 and abs(result.master_gain_db - rep.gain_db) < 1e-3
    assert result.peak_dbfs == pytest.approx(render.peak_dbfs(mix), abs=1e-4)


def test_cached_render_on_disk_and_master_fader(tmp_path):
    p = _project(tmp_path)
    a = render.render_project(p, cache=True)
    b = render.render_project(p, cache=True)
    assert b.cached and b.mix is a.mix and not a.mix.flags.writeable
    faded = render.render_project(dataclasses.replace(p, master_fader_db=-6.0), cache=True)
    assert faded.cached
    assert np.array_equal(np.asarray(faded.mix), (np.asarray(a.mix) * np.float32(10 ** (-6 / 20))))


def test_the_stems_are_handed_over_final_before_the_mix_is_mastered(tmp_path, monkeypatch):
    """``on_stems`` gets the stems once, before the mix is mastered, already as the result holds
    them (the ducked one lowered, cut to a range), the same arrays; on a cache hit at once."""
    p = _project(tmp_path)
    events, real = [], mb.master_mix

    def master(*a, **k):
        events.append("master")
        return real(*a, **k)

    monkeypatch.setattr(mb, "master_mix", master)
    for options in ({}, {"time_range": (1.0, 3.5)}):
        got = []
        result = render.render_project(p, on_stems=lambda s: (events.append("stems"), got.append(
            {k: (v, np.array(v)) for k, v in s.items()})), **options)
        assert events == ["stems", "master"] and len(got) == 1
        events.clear()
        assert got[0].keys() == result.stems.keys()
        for tid, (handed, then) in got[0].items():
            assert handed is result.stems[tid] and np.array_equal(then, np.asarray(result.stems[tid])), tid
    stems, _, _ = _whole_array_render(p, mst.Mastering())
    speech = next(t.id for t in p.tracks if t.name == "speech")
    assert np.array_equal(got[0][speech][1], stems[speech][:, SR:int(3.5 * SR)])  # ducked when handed over
    first = render.render_project(p, cache=True)
    hit = []
    assert render.render_project(p, cache=True, on_stems=hit.append).cached
    assert len(hit) == 1 and all(hit[0][k] is first.stems[k] for k in first.stems)


def _roomed(p: Project) -> Project:
    """``p``'s tracks placed in a room, none ducked (each stem is then its own track's alone)."""
    return dataclasses.replace(p, tracks=[
        dataclasses.replace(t, room="hall", mixer=dataclasses.replace(t.mixer, duck_db=0.0)) for t in p.tracks])


def test_a_stem_in_a_room_is_faded_in_place_of_the_spatializer_result_and_equals_the_whole_array(
        tmp_path, monkeypatch):
    """The fader works in place on the spatializer's own new disk array (one film-length array
    fewer per track); the stems are the whole-array ones of that spatializer's output."""
    from studio import adapters

    monkeypatch.setattr(adapters, "register_all", lambda engines=None: None)
    made: list[tuple[np.ndarray, np.ndarray]] = []  # (the array handed back, a copy of it then)

    def spatializer(audio, track, project, sr):  # a new array, longer than the source (a tail)
        out = da.disk_array(2, audio.shape[1] + 300)
        out[:, 300:] = np.asarray(audio)[::-1] * np.float32(0.8)
        made.append((out, np.array(out)))
        return out

    monkeypatch.setattr(render, "_spatializer", spatializer)
    p = _roomed(_project(tmp_path))
    n = render.project_frames(p, SR)
    result = render.render_project(p)
    assert len(made) == 3
    for t, (_, spat) in zip(p.audible_tracks(), made):
        x = spat[:, :n]
        stage = mst.stage_gain_db(x, SR, mst.track_role(t)) if mst.is_staged(t) else 0.0
        want = mst.true_peak_limit(render.apply_mixer(x, t.mixer.gain_db + stage, t.mixer.pan), SR)[0]
        assert np.array_equal(np.asarray(result.stems[t.id]), want), t.name
    # without a stem limiter the stem is the spatializer's array itself, faded
    made.clear()
    plain = render.render_project(p, mastering=mst.Mastering.off())
    for t, (handed, spat) in zip(p.audible_tracks(), made):
        stem = plain.stems[t.id]
        assert np.may_share_memory(stem, handed) and stem.shape == (2, n)
        assert np.array_equal(np.asarray(stem), render.apply_mixer(spat[:, :n], t.mixer.gain_db, t.mixer.pan))


def test_a_spatializer_that_hands_back_its_source_does_not_have_it_overwritten(tmp_path, monkeypatch):
    """A pass-through spatializer (the engine's renderer may keep its source, e.g. cached) gets a
    new array for the fader: the source it returned is left as it was."""
    from studio import adapters

    monkeypatch.setattr(adapters, "register_all", lambda engines=None: None)
    p = _project(tmp_path)
    kept = _on_disk(_signal(render.project_frames(p, SR), 0.3))
    before = np.array(kept)
    monkeypatch.setattr(render, "render_track_source", lambda *a, **k: kept)
    monkeypatch.setattr(render, "_spatializer", lambda audio, track, project, sr: audio)
    result = render.render_project(_roomed(p), loudness_lufs=None)
    assert np.array_equal(np.asarray(kept), before)
    assert not any(np.may_share_memory(x, kept) for x in result.stems.values())


@pytest.mark.parametrize("bit_depth", ["16", "24", "float32"])
def test_block_quantisation_and_writing_match_the_whole_array(tmp_path, bit_depth):
    x = _signal(30000, 0.4)
    whole = wav.quantise(x, bit_depth, seed=3)
    parts = [wav.quantise(x[:, a:a + 7000], bit_depth, seed=3, start=a, total=x.shape[1])
             for a in range(0, x.shape[1], 7000)]
    assert np.array_equal(np.concatenate(parts), whole)
    wav.write_audio(tmp_path / "a.wav", _on_disk(x), SR, bit_depth=bit_depth, seed=3)
    subtype = {"16": "int16", "24": "int32", "float32": "float32"}[bit_depth]
    back, _ = sf.read(tmp_path / "a.wav", dtype=subtype)
    assert np.array_equal(back, whole if bit_depth != "24" else (whole >> 8) << 8)


def test_a_full_or_read_only_disk_is_a_clear_error(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(StudioError, match="the disk is full.*STUDIO_RENDER_DIR"):
        da.disk_array(2, 1000)
    with pytest.raises(StudioError, match="disk is full"):
        render.render_project(_project(tmp_path))


def test_release_keeps_the_data_and_drops_the_pages():
    x = da.disk_array(2, 1 << 16)
    x[:] = 0.25
    da.release(x)
    assert float(x.sum()) == 0.25 * x.size
    da.release(np.zeros((2, 10), np.float32))  # nothing to do for an ordinary array


def _mapped_pages(x: np.ndarray) -> int:
    """Pages of a disk array's mapping present in this process (``/proc/self/pagemap``)."""
    mm = x._mmap
    base = np.frombuffer(mm, np.uint8).ctypes.data
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(base // da._PAGE * 8)
        entries = np.frombuffer(f.read(len(mm) // da._PAGE * 8), np.uint64)
    return int(((entries >> np.uint64(63)) & np.uint64(1)).sum())


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="Linux only")
def test_walking_a_disk_array_in_blocks_leaves_no_page_mapped():
    """Blocks written and read whatever their edges: nothing stays resident afterwards. A fault
    maps the whole page-cache folio around it (Linux 6.x ext4: up to 2 MiB), so releasing only
    the block's own pages left the edges of every block mapped (a 2-hour stem about 30 MB)."""
    n = 24_000_000  # 183 MB of stereo float32
    x = da.disk_array(2, n + 777)
    for a, b in da.chunks(n, 249_600):  # the stem finishers' blocks: not page-aligned
        da.write(x, a, np.full((2, b - a), 0.5, np.float32))
    written = _mapped_pages(x)
    total = 0.0
    for a, b in da.chunks(n, 249_600):
        total += float(da.read(x, a, b).sum())
    assert total == 0.5 * 2 * n
    assert written <= 16 and _mapped_pages(x) <= 16, (written, _mapped_pages(x))


def test_the_render_folder_is_on_disk_even_where_tmp_is_memory(tmp_path, monkeypatch):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
                      "/dev/vdb1 /mnt/my\\040disk xfs rw 0 0\nproc /proc proc rw 0 0\n")
    assert da.filesystem_type("/tmp/x", str(mounts)) == "tmpfs"
    assert da.filesystem_type("/tmpfoo", str(mounts)) == "ext4"  # a prefix of the name is not a parent
    assert da.filesystem_type("/mnt/my disk/a", str(mounts)) == "xfs"
    assert da.filesystem_type("/x", str(tmp_path / "no-such-table")) is None
    # /tmp in memory: the cache folder instead, made on first use; the user's choice always wins
    monkeypatch.delenv(da.RENDER_DIR_ENV, raising=False)
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    in_memory = str(da.tempfile.gettempdir())
    monkeypatch.setattr(da, "filesystem_type", lambda p: "tmpfs" if str(p) == in_memory else "ext4")
    assert da.render_dir() == str(tmp_path / "cache" / "render") and (tmp_path / "cache" / "render").is_dir()
    x = da.disk_array(2, 1000)
    assert x.shape == (2, 1000) and not any((tmp_path / "cache" / "render").iterdir())  # unlinked at once
    monkeypatch.setenv(da.RENDER_DIR_ENV, str(tmp_path))
    assert da.render_dir() == str(tmp_path)
    monkeypatch.delenv(da.RENDER_DIR_ENV)
    monkeypatch.setattr(da, "filesystem_type", lambda p: "ext4")
    assert da.render_dir() == in_memory


def test_an_export_that_cannot_fit_is_refused_before_the_render(tmp_path, monkeypatch):
    """The files and the render's disk arrays are checked against the free space before the
    render (a film's takes minutes), not only after it; with room enough the export runs."""
    import shutil

    from studio import exporting
    from studio.errors import ExportError

    p = _project(tmp_path)
    n = render.project_frames(p, SR)
    rendered: list[str] = []
    source = render.render_track_source
    monkeypatch.setattr(render, "render_track_source", lambda t, *a, **k: rendered.append(t.name) or source(t, *a, **k))
    files = 4 * wav.estimated_bytes(n, 2, "24")  # three stems and the mix
    arrays = 4 * 2 * n * 4  # the render's: the same, float32, on the same disk here (small_blocks)
    free = [0]
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=free[0]))
    out = dict(stems_dir=tmp_path / "stems", mix_path=tmp_path / "mix.wav")
    free[0] = files + arrays // 2  # the files fit, not with the render's arrays beside them
    with pytest.raises(ExportError, match=r"render keeps about 7\.7 MB of audio on disk \(3 stems and the mix\) "
                                          r"and the export's files 5\.\d MB after it"):
        exporting.export_project(p, **out)
    free[0] = files // 2  # not even the files
    with pytest.raises(ExportError, match="the export needs about"):
        exporting.export_project(p, **out)
    assert rendered == [] and not (tmp_path / "mix.wav").exists()
    free[0] = files + arrays + 1
    exporting.export_project(p, **out)
    assert sorted(rendered) == ["bass", "music", "speech"] and (tmp_path / "mix.wav").is_file()
