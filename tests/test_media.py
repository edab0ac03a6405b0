"""studio.media against synthetic files with known frame times, sizes, rotations and audio."""
from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import videogen  # noqa: E402
from media_fixtures import *  # noqa: E402,F401,F403
from media_fixtures import SCENE_COLOURS, TONES_HZ, Clip  # noqa: E402

from studio import media  # noqa: E402
from studio.errors import JobCancelled, MediaError  # noqa: E402
from studio.jobs import Job  # noqa: E402


def within(seconds: float, fn, *args, **kwargs):
    """Run fn in a daemon thread; fail (instead of hanging the suite) if it takes too long."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"{getattr(fn, '__name__', fn)} did not finish within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def indices(frames) -> list[int]:
    return [videogen.read_index(f.image) for f in frames]


# ----------------------------------------------------------------------------- probe


def test_probe_clip_with_audio(clip_av: Clip):
    info = media.probe(clip_av.path)
    v = info.video
    assert info.has_video and info.has_audio
    assert "mp4" in info.container and info.size_bytes == clip_av.path.stat().st_size
    assert (v.width, v.height, v.coded_width, v.coded_height) == (320, 240, 320, 240)
    assert v.codec == "h264" and v.pix_fmt == "yuv420p" and v.rotation == 0
    assert v.fps == pytest.approx(30.0, abs=0.01)
    assert v.duration_s == pytest.approx(2.0, abs=1 / 30)
    assert v.frame_count == 60 and not v.variable_frame_rate
    (a,) = info.audio
    assert (a.codec, a.sample_rate, a.channels, a.layout) == ("aac", 48000, 2, "stereo")
    assert a.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)


def test_probe_video_without_audio_mkv(clip_noaudio: Clip):
    info = media.probe(clip_noaudio.path)
    assert info.has_video and not info.has_audio and info.audio == ()
    assert "matroska" in info.container
    assert info.video.fps == pytest.approx(30.0, abs=0.01)
    assert info.video.duration_s == pytest.approx(1.0, abs=1 / 30)
    assert not info.video.variable_frame_rate


def test_probe_audio_only(audio_only: Clip):
    info = media.probe(audio_only.path)
    assert info.video is None and not info.has_video and info.has_audio
    (a,) = info.audio
    assert (a.sample_rate, a.channels, a.layout) == (44100, 1, "mono")
    assert info.duration_s == pytest.approx(1.5, abs=0.05)


@pytest.mark.parametrize("name,fps,frames", [("clip_60fps", 60.0, 60), ("clip_23976", 24000 / 1001, 48)])
def test_probe_frame_rates(request, name, fps, frames):
    clip: Clip = request.getfixturevalue(name)
    v = media.probe(clip.path).video
    assert v.fps == pytest.approx(fps, abs=0.005)
    assert v.frame_count == frames
    assert v.duration_s == pytest.approx(clip.duration_s, abs=1 / fps)
    assert not v.variable_frame_rate


def test_probe_vfr(clip_vfr: Clip):
    v = media.probe(clip_vfr.path).video
    assert v.variable_frame_rate
    assert v.frame_count == len(clip_vfr.frame_times_s)
    last = clip_vfr.frame_times_s[-1]
    assert last < v.duration_s <= last + 0.1 + 1e-3
    assert v.fps == pytest.approx(len(clip_vfr.frame_times_s) / v.duration_s, rel=0.02)


def test_probe_rotation_gives_display_size(clip_rotated: Clip):
    v = media.probe(clip_rotated.path).video
    assert v.rotation == 90
    assert (v.coded_width, v.coded_height) == (160, 96)
    assert (v.width, v.height) == (96, 160)
    assert media.analysis_size(v, 80) == (48, 80)


def test_probe_odd_size(clip_odd_size: Clip):
    v = media.probe(clip_odd_size.path).video
    assert (v.width, v.height) == (1921, 1081) and v.codec == "vp9"
    assert media.analysis_size(v) == (160, 90)


def test_analysis_size_keeps_aspect_even_and_never_upscales(clip_av: Clip):
    v = media.probe(clip_av.path).video
    assert media.analysis_size(v) == (160, 120)
    assert media.analysis_size(v, 1000) == (320, 240)
    w, h = media.analysis_size(v, 101)
    assert w % 2 == 0 and h % 2 == 0 and abs(w / h - 4 / 3) < 0.05


# ----------------------------------------------------------------------------- iter_frames


@pytest.mark.parametrize("name", ["clip_av", "clip_noaudio", "clip_vfr", "clip_60fps", "clip_23976"])
def test_iter_frames_times_and_content(request, name):
    clip: Clip = request.getfixturevalue(name)
    frames = list(media.iter_frames(clip.path, size=(80, 60)))
    times = [f.time_s for f in frames]
    assert np.all(np.diff(times) > 0)
    assert times == pytest.approx(list(clip.frame_times_s), abs=1e-3)
    assert indices(frames) == list(range(len(clip.frame_times_s)))
    assert all(f.image.shape == (60, 80, 3) and f.image.dtype == np.uint8 for f in frames)


def test_iter_frames_gray_and_display_size(clip_av: Clip):
    gray = list(media.iter_frames(clip_av.path, size=(64, 48), pixel_format="gray"))
    assert len(gray) == 60 and gray[0].image.shape == (48, 64) and gray[0].image.dtype == np.uint8
    assert indices(gray) == list(range(60))
    full = next(media.iter_frames(clip_av.path))
    assert full.image.shape == (240, 320, 3)


def test_small_and_full_size_colours_agree(clip_cuts: Clip):
    """The plane-view fast path (small) and swscale (full size) give the drawn colours."""
    small = list(media.iter_frames(clip_cuts.path, size=(48, 28)))
    full = list(media.iter_frames(clip_cuts.path))
    gray = list(media.iter_frames(clip_cuts.path, size=(48, 28), pixel_format="gray"))
    for i, t in enumerate(clip_cuts.frame_times_s):
        scene = sum(t >= c - 1e-9 for c in clip_cuts.extra["cut_times_s"])
        want = np.array(SCENE_COLOURS[scene], float)
        assert np.abs(small[i].image[2:8, 2:10].reshape(-1, 3).mean(0) - want).max() < 8
        assert np.abs(full[i].image[10:40, 10:50].reshape(-1, 3).mean(0) - want).max() < 8
        luma = want @ [0.299, 0.587, 0.114]
        assert abs(gray[i].image[2:8, 2:10].mean() - luma) < 6


def test_small_frames_match_shrunk_full_frames(clip_av: Clip):
    """Fast path (plane shrink + YUV matrix, deblocking skipped on non-reference B-frames)
    against full-size swscale RGB shrunk afterwards: the same pictures within rounding."""
    import cv2

    small = list(media.iter_frames(clip_av.path, size=(80, 60)))
    full = list(media.iter_frames(clip_av.path))
    assert len(small) == len(full) == 60
    for s, f in zip(small, full):
        ref = cv2.resize(f.image, (80, 60), interpolation=cv2.INTER_AREA).astype(int)
        diff = np.abs(s.image.astype(int) - ref)
        assert diff.mean() < 1.5 and diff.max() < 8


@pytest.mark.parametrize("src", [(1280, 720), (854, 480), (427, 240), (1920, 1080), (768, 576)])
def test_plane_shrink_is_an_area_average(src):
    """The bilinear halvings against one exact INTER_AREA shrink: to the gray level at a
    power-of-two ratio, within a couple of levels at odd sizes and ratios (a textured plane)."""
    import cv2

    w, h = src
    rng = np.random.default_rng(w)
    plane = cv2.GaussianBlur(rng.integers(0, 256, (h, w + 32), np.uint8), (0, 0), 1.5)[:, :w]  # a padded view
    dst = (160, 120) if (w, h) == (768, 576) else (160, 90)
    got = media._resize(plane, *dst).astype(int)
    assert got.shape == dst[::-1]
    diff = np.abs(got - cv2.resize(np.ascontiguousarray(plane), dst, interpolation=cv2.INTER_AREA).astype(int))
    if w // dst[0] in (2, 4, 8) and w % dst[0] == 0:
        assert diff.max() <= 1
    else:
        assert diff.mean() < 3.0 and diff.max() < 24  # fine noise: the hardest case (2.1-2.3 measured)


def test_non_yuv_frames_take_the_swscale_path(clip_rgb: Clip):
    assert media.probe(clip_rgb.path).video.pix_fmt.startswith("gbr")
    small = list(media.iter_frames(clip_rgb.path, size=(80, 60)))
    gray = list(media.iter_frames(clip_rgb.path, size=(80, 60), pixel_format="gray"))
    assert indices(small) == indices(gray) == list(range(15))
    bg = small[0].image[-6:, :].reshape(-1, 3).mean(0)  # lossless: exact background colour
    assert np.abs(bg - [200, 60, 50]).max() < 3
    assert abs(gray[0].image[-6:, :].mean() - (0.299 * 200 + 0.587 * 60 + 0.114 * 50)) < 4


def test_scene_cuts_at_known_frames(clip_cuts: Clip):
    frames = list(media.iter_frames(clip_cuts.path, size=(32, 18)))
    means = np.array([f.image[:6].reshape(-1, 3).mean(0) for f in frames])
    jumps = np.abs(np.diff(means, axis=0)).sum(1)
    cut_frames = sorted(np.argsort(jumps)[-2:] + 1)
    assert [frames[i].time_s for i in cut_frames] == pytest.approx(list(clip_cuts.extra["cut_times_s"]), abs=1e-3)


def test_rotation_applied(clip_rotated: Clip):
    frames = list(media.iter_frames(clip_rotated.path))
    img = frames[3].image
    assert img.shape == (160, 96, 3)
    assert img[:12, :12, 0].mean() > 180 and img[:12, :12, 1].mean() < 90  # red block top-left
    assert img[-12:, :12, 0].mean() < 180
    assert videogen.read_index(np.rot90(img, k=1)) == 3  # turn back to read the code
    small = next(media.iter_frames(clip_rotated.path, size=(48, 80), pixel_format="gray"))
    assert small.image.shape == (80, 48)


def test_odd_size_decodes(clip_odd_size: Clip):
    frames = list(media.iter_frames(clip_odd_size.path, size=(160, 90)))
    assert indices(frames) == list(range(5))
    full = media.frame_at(clip_odd_size.path, 0.25)
    assert full.image.shape == (1081, 1921, 3) and videogen.read_index(full.image) == 2


@pytest.mark.parametrize("name,rate", [("clip_60fps", 25.0), ("clip_23976", 30.0), ("clip_vfr", 12.5),
                                       ("clip_vfr", 30.0), ("clip_av", 7.0)])
def test_rate_hz_uniform_grid(request, name, rate):
    clip: Clip = request.getfixturevalue(name)
    duration = media.probe(clip.path).video.duration_s
    frames = list(media.iter_frames(clip.path, size=(64, 48), rate_hz=rate))
    assert abs(len(frames) - math.floor(duration * rate)) <= 1
    assert [f.time_s for f in frames] == pytest.approx([k / rate for k in range(len(frames))])
    assert indices(frames) == [clip.index_at(f.time_s) for f in frames]


def test_start_end_range_in_one_keyframe_file(clip_23976: Clip):
    frames = list(media.iter_frames(clip_23976.path, size=(64, 48), start_s=0.8, end_s=1.5))
    want = [i for i, t in enumerate(clip_23976.frame_times_s) if 0.8 <= t < 1.5]
    assert indices(frames) == want
    assert frames[0].time_s == pytest.approx(clip_23976.frame_times_s[want[0]], abs=1e-3)
    ticks = list(media.iter_frames(clip_23976.path, size=(64, 48), start_s=0.8, end_s=1.5, rate_hz=10))
    assert [round(f.time_s, 6) for f in ticks] == [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4]
    assert indices(ticks) == [clip_23976.index_at(f.time_s) for f in ticks]


def test_job_progress_and_cancel(clip_av: Clip):
    seen = []
    job = Job("decode", listener=lambda p: seen.append(p.fraction))
    n = sum(1 for _ in media.iter_frames(clip_av.path, size=(32, 24), job=job))
    assert n == 60 and seen and seen[-1] == 1.0 and seen == sorted(seen)
    job = Job("decode")
    it = media.iter_frames(clip_av.path, size=(32, 24), job=job)
    next(it)
    job.cancel()
    with pytest.raises(JobCancelled):
        for _ in it:
            pass


# ----------------------------------------------------------------------------- frame_at / thumbnails


@pytest.mark.parametrize("name", ["clip_av", "clip_23976", "clip_vfr", "clip_60fps"])
def test_frame_at_is_frame_accurate(request, name):
    clip: Clip = request.getfixturevalue(name)
    times = clip.frame_times_s
    probes = [0.0, times[len(times) // 3], times[-1], 1.23, 0.51, times[5] - 0.001, times[5] + 0.001, 9.0]
    for t in probes:
        fr = media.frame_at(clip.path, t, size=(64, 48))
        want = clip.index_at(t)
        assert videogen.read_index(fr.image) == want, t
        assert fr.time_s == pytest.approx(times[want], abs=1e-3)
    assert media.frame_at(clip.path, 0.5, pixel_format="gray").image.shape == clip.size[::-1]


def test_thumbnails(clip_av: Clip, clip_rotated: Clip):
    want_t = [1.9, 0.0, 1.0, 0.2, 1.0]
    thumbs = media.thumbnails(clip_av.path, want_t, height=72)
    assert [t.image.shape for t in thumbs] == [(72, 96, 3)] * 5
    assert indices(thumbs) == [clip_av.index_at(t) for t in want_t]
    rot = media.thumbnails(clip_rotated.path, [0.1], height=40)[0]
    assert rot.image.shape == (40, 24, 3)
    assert media.thumbnails(clip_av.path, []) == []



def test_iter_thumbnails_streams_in_time_order_without_keeping_frames(clip_av: Clip, monkeypatch):
    """iter_thumbnails gives what thumbnails gives, one (index, frame) at a time in time order,
    and keeps none of them: a caller that drops each frame holds at most one or two pictures
    (issue 23: the Foley engine's thousands of impact frames)."""
    import weakref

    want_t = [1.9, 0.0, 1.0, 0.2, 1.0, 0.55, 1.3]
    alive: list = []
    most = 0
    convert = media._Converter.__call__

    def tracked(self, frame):
        nonlocal most
        img = convert(self, frame)
        alive.append(weakref.ref(img))
        most = max(most, sum(r() is not None for r in alive))
        return img
    monkeypatch.setattr(media._Converter, "__call__", tracked)
    got = []
    for i, fr in media.iter_thumbnails(clip_av.path, want_t, height=72):
        got.append((i, fr.time_s, videogen.read_index(fr.image), fr.image.shape))
        del fr
    assert [i for i, *_ in got] == sorted(range(len(want_t)), key=lambda i: (want_t[i], i))
    assert most <= 2, most
    whole = media.thumbnails(clip_av.path, want_t, height=72)
    assert {i: (t, k, shape) for i, t, k, shape in got} == {
        i: (fr.time_s, videogen.read_index(fr.image), fr.image.shape) for i, fr in enumerate(whole)}
    assert list(media.iter_thumbnails(clip_av.path, [])) == []
    with pytest.raises(ValueError):
        media.iter_thumbnails(clip_av.path, [0.1], height=0)  # at the call, not at the first frame

def _counting(monkeypatch) -> dict:
    """Count the frames the decoder outputs and the seeks, in every _Reader."""
    counts = {"frames": 0, "seeks": 0}
    frames, seek = media._Reader.frames, media._Reader.seek

    def counted_frames(self):
        for item in frames(self):
            counts["frames"] += 1
            yield item

    def counted_seek(self, t):
        counts["seeks"] += 1
        return seek(self, t)

    monkeypatch.setattr(media._Reader, "frames", counted_frames)
    monkeypatch.setattr(media._Reader, "seek", counted_seek)
    return counts


@pytest.mark.parametrize("name", ["clip_av", "clip_23976", "clip_vfr", "clip_60fps"])
def test_thumbnails_one_pass_skipping_unwanted_frames(request, monkeypatch, name):
    """Many times spread over the clip (unsorted, repeated, between frames): one forward decode
    (decoded frames <= frames in the file), unwanted non-reference frames not decoded at all, and
    every thumbnail bit-identical to a decode of every frame."""
    clip: Clip = request.getfixturevalue(name)
    n = len(clip.frame_times_s)
    rng = np.random.default_rng(5)
    want_t = list(rng.uniform(0.0, clip.frame_times_s[-1] + 0.01, max(4, n // 5)))
    want_t += [clip.frame_times_s[n // 2], clip.frame_times_s[n // 2], 0.0, clip.frame_times_s[7] - 1e-4]
    counts = _counting(monkeypatch)
    thumbs = media.thumbnails(clip.path, want_t, height=48)
    assert indices(thumbs) == [clip.index_at(t) for t in want_t]
    assert counts["frames"] <= n + 1  # + the first frame that sizes the thumbnails
    decoded = counts["frames"]
    monkeypatch.setattr(media._Reader, "_set_skip", lambda self, packet: None)  # decode every frame
    full = media.thumbnails(clip.path, want_t, height=48)
    for a, b in zip(thumbs, full):
        assert a.time_s == b.time_s and np.array_equal(a.image, b.image)
    if name in ("clip_av", "clip_23976"):  # B-frames: the non-reference ones need no decoding
        assert decoded < 0.8 * (counts["frames"] - decoded), (decoded, counts)


def test_thumbnails_skip_repairs_a_skipped_target(monkeypatch, media_dir):
    """A frame step far below the real gaps makes the skipping guess wrong: the stretch is decoded
    again without skipping and every thumbnail is still the frame shown at its time."""
    from media_fixtures import _indexed

    rng = np.random.default_rng(8)
    ticks = np.concatenate([[0], np.cumsum(rng.choice([1500, 3000, 6000], 50))])
    times = [int(n) / 90000 for n in ticks]
    path = videogen.write_video(media_dir / "vfr_bframes.mp4", _indexed((160, 120), times),
                                frame_times_s=times, fps=30, size=(160, 120), bframes=2)
    clip_vfr = Clip(path, tuple(times), (160, 120), 0.0)
    want_t = [t + 0.0005 for t in times[3:-3:4]] + [times[10] + 0.02]
    counts = _counting(monkeypatch)
    real_init = media._Picker.__init__

    def tiny_window(self, reader, ts):
        real_init(self, reader, ts)
        if self.window is not None:
            self.window = 1e-4
    monkeypatch.setattr(media._Picker, "__init__", tiny_window)
    thumbs = media.thumbnails(clip_vfr.path, want_t, height=48)
    assert indices(thumbs) == [clip_vfr.index_at(t) for t in want_t]
    assert counts["seeks"] > 2  # sizing rewind, first seek, then at least one repair


# ----------------------------------------------------------------------------- audio


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def test_read_audio(clip_av: Clip):
    audio, sr = media.read_audio(clip_av.path)
    assert sr == 48000 and audio.dtype == np.float32 and audio.shape[0] == 2
    assert audio.shape[1] / sr == pytest.approx(2.0, abs=0.05)
    assert np.abs(audio).max() <= 1.0
    mid = slice(4800, 4800 + 48000)
    assert _peak_hz(audio[0, mid], sr) == pytest.approx(TONES_HZ[0], abs=2)
    assert _peak_hz(audio[1, mid], sr) == pytest.approx(TONES_HZ[1], abs=2)
    mono, sr16 = media.read_audio(clip_av.path, sample_rate=16000, mono=True)
    assert sr16 == 16000 and mono.shape[0] == 1 and mono.dtype == np.float32
    assert mono.shape[1] == pytest.approx(audio.shape[1] / 3, abs=20)
    spec = np.abs(np.fft.rfft(mono[0, 1600:17600]))
    top2 = sorted(np.argsort(spec)[-2:] * sr16 / 16000)  # 16000-sample window: 1 Hz bins
    assert top2 == pytest.approx(list(TONES_HZ), abs=2)


def test_read_audio_start_only(clip_av: Clip):
    """``seconds``: exactly that much of the start, the same samples as the whole stream's start
    (away from the cut, where the resampler's edge differs), decoding stopped early."""
    whole, _ = media.read_audio(clip_av.path, sample_rate=16000, mono=True)
    start, sr = media.read_audio(clip_av.path, sample_rate=16000, mono=True, seconds=0.5)
    assert sr == 16000 and start.shape == (1, 8000)
    assert np.allclose(start[0, :7000], whole[0, :7000], atol=1e-4)
    longer, _ = media.read_audio(clip_av.path, seconds=60.0)  # more than the file has: all of it
    assert longer.shape == media.read_audio(clip_av.path)[0].shape
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="seconds must be a positive number"):
            media.read_audio(clip_av.path, seconds=bad)


def test_read_audio_only_file(audio_only: Clip):
    audio, sr = media.read_audio(audio_only.path)
    assert sr == 44100 and audio.shape[0] == 1
    assert audio.shape[1] / sr == pytest.approx(1.5, abs=0.05)
    with pytest.raises(MediaError, match="no video stream"):
        list(media.iter_frames(audio_only.path))
    with pytest.raises(MediaError, match="no video stream"):
        media.frame_at(audio_only.path, 0.0)


def test_read_audio_without_audio_raises(clip_noaudio: Clip, clip_av: Clip):
    with pytest.raises(MediaError, match="no audio stream"):
        media.read_audio(clip_noaudio.path)
    with pytest.raises(MediaError, match="stream 3 does not exist"):
        media.read_audio(clip_av.path, stream=3)


# ----------------------------------------------------------------------------- broken inputs


def test_truncated_file_yields_what_exists(clip_truncated: Clip):
    frames = within(10, lambda: list(media.iter_frames(clip_truncated.path, size=(64, 48))))
    assert 5 < len(frames) < 60
    assert indices(frames) == list(range(len(frames)))
    last = within(10, media.frame_at, clip_truncated.path, 1.9)
    assert videogen.read_index(last.image) == len(frames) - 1
    audio, sr = within(10, media.read_audio, clip_truncated.path)
    assert 0 < audio.shape[1] < 2 * sr


BAD = ["empty", "text", "random", "garbage_header", "truncated_no_index", "noise_payload", "missing",
       "directory"]
OPS = {
    "probe": lambda p: media.probe(p),
    "iter_frames": lambda p: list(media.iter_frames(p, size=(32, 24))),
    "frame_at": lambda p: media.frame_at(p, 0.5),
    "thumbnails": lambda p: media.thumbnails(p, [0.1, 0.5]),
    "read_audio": lambda p: media.read_audio(p),
    "file_hash": lambda p: media.file_hash(p),
}


@pytest.mark.parametrize("bad", BAD)
def test_bad_inputs_raise_media_error_quickly(bad_files, bad):
    path = bad_files[bad]
    for name, op in OPS.items():
        if name == "file_hash" and bad not in ("missing", "directory"):
            continue  # hashing bytes needs no valid media
        if name == "probe" and bad == "noise_payload":
            continue  # headers are intact: probing works, decoding must fail (below)
        started = time.monotonic()
        with pytest.raises(MediaError) as err:
            within(10, op, path)
        msg = str(err.value)
        assert "\n" not in msg and str(path.name) in msg, (name, msg)
        assert time.monotonic() - started < 5, name


def test_absurd_sizes_and_durations_are_refused(clip_av: Clip, monkeypatch):
    monkeypatch.setattr(media, "MAX_SIDE_PX", 200)
    with pytest.raises(MediaError, match="larger than"):
        next(media.iter_frames(clip_av.path))
    monkeypatch.setattr(media, "MAX_SIDE_PX", 16384)
    monkeypatch.setattr(media, "MAX_DURATION_S", 1.0)
    with pytest.raises(MediaError, match="24 h"):
        media.frame_at(clip_av.path, 0.0)
    with pytest.raises(MediaError, match="24 h"):
        media.read_audio(clip_av.path)


def test_bad_arguments(clip_av: Clip):
    with pytest.raises(ValueError):
        next(media.iter_frames(clip_av.path, pixel_format="bgr24"))
    with pytest.raises(ValueError):
        next(media.iter_frames(clip_av.path, rate_hz=0))
    with pytest.raises(ValueError):
        next(media.iter_frames(clip_av.path, size=(0, 10)))


# ----------------------------------------------------------------------------- hashing


def test_file_hash(tmp_path, clip_av: Clip, clip_60fps: Clip):
    h = media.file_hash(clip_av.path)
    assert h == media.file_hash(clip_av.path) and len(h) == 64
    assert h != media.file_hash(clip_60fps.path)
    big = tmp_path / "big.bin"
    data = bytearray(np.random.default_rng(0).integers(0, 256, 5 << 20, dtype=np.uint8).tobytes())
    big.write_bytes(bytes(data))
    h1 = media.file_hash(big)
    for offset in (10, len(data) // 2, len(data) - 10):  # each sampled region matters
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        big.write_bytes(bytes(changed))
        assert media.file_hash(big) != h1
    big.write_bytes(bytes(data) + b"x")  # size is part of the hash
    assert media.file_hash(big) != h1


# ----------------------------------------------------------------------------- the bundled demo

DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"


@pytest.fixture(scope="module")
def demo():
    import json

    from studio import demo as demo_mod

    if not DEMO.exists():
        pytest.skip("studio/assets/demo.mp4 is not built; run python -m studio.demo")
    truth = json.loads(DEMO.with_name("demo_truth.json").read_text())
    frames = {i: f.image for i, f in enumerate(media.iter_frames(DEMO))}
    return demo_mod, truth, frames


def test_demo_file_matches_spec(demo):
    _, truth, frames = demo
    info = media.probe(DEMO)
    v = info.video
    assert not info.has_audio and info.size_bytes < 2_000_000
    assert (v.codec, v.pix_fmt, v.width, v.height) == ("h264", "yuv420p", 640, 360)
    assert v.fps == pytest.approx(30.0) and 12.0 <= v.duration_s <= 16.0 and len(frames) == v.frame_count
    with open(DEMO, "rb") as fh:  # faststart: the index (moov) comes before the media data
        head = fh.read(4096)
    assert 0 <= head.find(b"moov") < (head.find(b"mdat") if b"mdat" in head else 4096)
    beats = np.array(truth["beat_times_s"])
    assert truth["tempo_bpm"] == 100 and np.allclose(np.diff(beats), 0.6)
    assert truth["downbeat_times_s"] == list(beats[::4])
    assert len(truth["impacts"]) >= 20 and truth["cut_times_s"] == [7.3]


def test_demo_truth_matches_pictures(demo):
    mod, truth, frames = demo
    cut = round(truth["cut_times_s"][0] * 30)
    sky = lambda i: frames[i][5:40, 300:500].reshape(-1, 3).mean(0)  # noqa: E731
    steps = [np.abs(sky(i + 1) - sky(i)).sum() for i in range(len(frames) - 1)]
    assert int(np.argmax(steps)) + 1 == cut  # the only hard palette change is the cut
    # every listed impact shows that ball at the contact point in the nearest frame (a ball at
    # ~900 px/s moves up to 15 px in the half frame between the impact and the nearest frame)
    balls = {b["name"]: b for b in truth["balls"]}
    for imp in truth["impacts"]:
        ball = balls[imp["object"]]
        img = frames[int(round(imp["time_s"] * 30))].astype(int)
        x, y, r = imp["x"] * 640, imp["y"] * 360, ball["radius_px"]
        x0, y0 = int(max(0, x - r - 30)), int(max(0, y - 2 * r - 30))
        win = img[y0 : int(y + 30), x0 : int(x + r + 30)]
        rgb = np.array(ball["rgb"])
        near = (np.abs(win - rgb).sum(-1) < 50) | (np.abs(win - rgb * 0.72).sum(-1) < 50)
        ys, xs = np.nonzero(near)
        assert len(ys) > 20, imp
        assert np.hypot(xs + x0 - x, ys + y0 - y).min() < 17, imp
    # the figure lands on each beat: its head is lowest there, higher half a beat later
    backgrounds = [mod._background(p).astype(int) for p in mod.PALETTES]

    def head_top(i):  # first row (from the top) where the figure covers the centre columns
        diff = np.abs(frames[i][40:300, 110:126].astype(int) - backgrounds[int(i >= cut)][40:300, 110:126])
        rows = np.nonzero((diff.sum(-1) > 60).mean(1) > 0.5)[0]
        return rows[0] if len(rows) else 999

    for b in truth["beat_times_s"][1:-1]:
        on, mid = int(round(b * 30)), int(round((b + 0.3) * 30))
        assert head_top(on) > head_top(mid) + 10, b
