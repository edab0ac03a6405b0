"""Session-scoped media fixtures: tiny synthetic files with known ground truth.

Import them into a test module with ``from media_fixtures import *``. Every clip draws its frame
index as a binary cell code (``videogen.draw_index``) so tests can read which frame they got;
``Clip.frame_times_s`` lists the exact presentation times that were encoded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import videogen

__all__ = [
    "Clip", "media_dir", "clip_av", "clip_noaudio", "audio_only", "clip_truncated", "clip_odd_size",
    "clip_rotated", "clip_rgb", "clip_vfr", "clip_60fps", "clip_23976", "clip_cuts", "bad_files",
    "SCENE_COLOURS", "TONES_HZ",
]

TONES_HZ = (440.0, 660.0)  # left, right channel of the clip with audio
SCENE_COLOURS = [(200, 60, 50), (40, 150, 70), (60, 80, 200)]  # RGB per scene of clip_cuts


@dataclass(frozen=True)
class Clip:
    path: Path
    frame_times_s: tuple[float, ...]  # presentation times as encoded
    size: tuple[int, int]  # coded (w, h)
    fps: float = 0.0  # nominal rate, 0 for variable
    rotation: int = 0
    duration_s: float = 0.0  # end of the last frame
    extra: dict = field(default_factory=dict)

    def index_at(self, t: float) -> int:
        """Index of the frame displayed at time t (latest frame time <= t)."""
        times = np.asarray(self.frame_times_s)
        return int(max(0, np.searchsorted(times, t + 1e-6, side="right") - 1))


def _indexed(size, times, base=(90, 110, 130)):
    """A draw(t) callable: flat background, a moving square, the frame index code."""
    w, h = size
    lookup = {round(float(t), 6): i for i, t in enumerate(times)}

    def draw(t: float) -> np.ndarray:
        i = lookup[round(float(t), 6)]
        img = np.empty((h, w, 3), np.uint8)
        img[:] = base
        x = int((w - w // 5) * (i % 20) / 19)
        img[h // 2 : h // 2 + h // 5, x : x + w // 5] = (240, 220, 60)
        return videogen.draw_index(img, i)

    return draw


def _cfr(duration_s: float, fps: float) -> list[float]:
    return [i / fps for i in range(int(round(duration_s * fps)))]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


def _stereo_tones(duration_s: float, sr: int) -> np.ndarray:
    t = np.arange(int(duration_s * sr)) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in TONES_HZ]).astype(np.float32)


@pytest.fixture(scope="session")
def clip_av(media_dir) -> Clip:
    """2 s, 30 fps, 320x240 H.264 with B-frames, stereo 48 kHz AAC (440 Hz left, 660 Hz right)."""
    times = _cfr(2.0, 30)
    p = videogen.write_video(media_dir / "av.mp4", _indexed((320, 240), times), frame_times_s=times,
                             fps=30, size=(320, 240), audio=_stereo_tones(2.0, 48000),
                             sample_rate=48000, bframes=2, keyint=15)
    return Clip(p, tuple(times), (320, 240), 30.0, duration_s=2.0, extra={"sample_rate": 48000})


@pytest.fixture(scope="session")
def clip_noaudio(media_dir) -> Clip:
    """1 s, 30 fps, 160x120 in Matroska (no per-frame index), no audio stream."""
    times = _cfr(1.0, 30)
    p = videogen.write_video(media_dir / "noaudio.mkv", _indexed((160, 120), times),
                             frame_times_s=times, fps=30, size=(160, 120))
    return Clip(p, tuple(times), (160, 120), 30.0, duration_s=1.0)


@pytest.fixture(scope="session")
def audio_only(media_dir) -> Clip:
    """1.5 s mono 44.1 kHz AAC in .m4a, no video stream."""
    sr = 44100
    t = np.arange(int(1.5 * sr)) / sr
    audio = (0.4 * np.sin(2 * np.pi * 1000.0 * t))[None].astype(np.float32)
    p = videogen.write_audio_only(media_dir / "audio.m4a", audio, sample_rate=sr)
    return Clip(p, (), (0, 0), duration_s=1.5, extra={"sample_rate": sr})


@pytest.fixture(scope="session")
def clip_truncated(media_dir) -> Clip:
    """A 2 s faststart MP4 with audio cut in half: the first ~half of its frames survive."""
    times = _cfr(2.0, 30)
    full = videogen.write_video(media_dir / "full_faststart.mp4", _indexed((160, 120), times),
                                frame_times_s=times, fps=30, size=(160, 120),
                                audio=_stereo_tones(2.0, 48000), faststart=True)
    data = full.read_bytes()
    p = media_dir / "truncated.mp4"
    p.write_bytes(data[: len(data) // 2])
    return Clip(p, tuple(times), (160, 120), 30.0, duration_s=2.0)


@pytest.fixture(scope="session")
def clip_odd_size(media_dir) -> Clip:
    """1921x1081 VP9 (x264 cannot code odd 4:2:0 sizes; VP9 screen recordings do), 5 frames."""
    times = _cfr(0.5, 10)
    p = videogen.write_video(media_dir / "odd.webm", _indexed((1921, 1081), times),
                             frame_times_s=times, fps=10, size=(1921, 1081), codec="libvpx-vp9")
    return Clip(p, tuple(times), (1921, 1081), 10.0, duration_s=0.5)


@pytest.fixture(scope="session")
def clip_rotated(media_dir) -> Clip:
    """160x96 stored landscape with a red block top-left, display matrix: turn 90 deg clockwise."""
    times = _cfr(0.5, 30)
    base = _indexed((160, 96), times)

    def draw(t):
        img = base(t)
        img[-24:, :40] = (230, 30, 30)  # bottom-left in storage -> top-left after turning clockwise
        return img

    p = videogen.write_video(media_dir / "rot90.mp4", draw, frame_times_s=times, fps=30,
                             size=(160, 96), rotation=90)
    return Clip(p, tuple(times), (160, 96), 30.0, rotation=90, duration_s=0.5)


@pytest.fixture(scope="session")
def clip_rgb(media_dir) -> Clip:
    """Lossless RGB H.264 (decodes to planar GBR, not YUV): exercises the swscale path."""
    times = _cfr(0.5, 30)
    p = videogen.write_video(media_dir / "rgb.mkv", _indexed((160, 120), times, base=(200, 60, 50)),
                             frame_times_s=times, fps=30, size=(160, 120), codec="libx264rgb",
                             pix_fmt="rgb24")
    return Clip(p, tuple(times), (160, 120), 30.0, duration_s=0.5)


@pytest.fixture(scope="session")
def clip_vfr(media_dir) -> Clip:
    """Irregular frame times (10-100 ms gaps, seeded), under 2 s, 160x120."""
    rng = np.random.default_rng(3)
    gaps = rng.choice([900, 1800, 3000, 4500, 9000], 80)  # in 1/90000 s units: exact in the file
    ticks = np.concatenate([[0], np.cumsum(gaps)])
    times = [int(n) / 90000 for n in ticks if n < 2 * 90000]
    p = videogen.write_video(media_dir / "vfr.mp4", _indexed((160, 120), times), frame_times_s=times,
                             fps=30, size=(160, 120))
    return Clip(p, tuple(times), (160, 120), 0.0)


@pytest.fixture(scope="session")
def clip_60fps(media_dir) -> Clip:
    times = _cfr(1.0, 60)
    p = videogen.write_video(media_dir / "fps60.mp4", _indexed((160, 120), times),
                             frame_times_s=times, fps=60, size=(160, 120))
    return Clip(p, tuple(times), (160, 120), 60.0, duration_s=1.0)


@pytest.fixture(scope="session")
def clip_23976(media_dir) -> Clip:
    """48 frames at 24000/1001 fps with B-frames and ONE keyframe (seeking must decode forward)."""
    fps = 24000 / 1001
    times = _cfr(48 / fps, fps)
    p = videogen.write_video(media_dir / "fps23976.mp4", _indexed((160, 120), times),
                             frame_times_s=times, fps=fps, size=(160, 120), bframes=3, keyint=1000)
    return Clip(p, tuple(times), (160, 120), fps, duration_s=48 / fps)


@pytest.fixture(scope="session")
def clip_cuts(media_dir) -> Clip:
    """2 s, 30 fps, 192x108: three flat-colour scenes with hard cuts at 0.5 s and 1.2 s."""
    times = _cfr(2.0, 30)
    cuts = (0.5, 1.2)
    w, h = 192, 108

    def draw(t):
        scene = sum(t >= c - 1e-9 for c in cuts)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = SCENE_COLOURS[scene]
        x = int(t * 60) % (w - 20)
        img[h // 2 : h // 2 + 20, x : x + 20] = (250, 250, 250)  # a little motion within scenes
        return img

    p = videogen.write_video(media_dir / "cuts.mp4", draw, frame_times_s=times, fps=30, size=(w, h),
                             crf=18)
    return Clip(p, tuple(times), (w, h), 30.0, duration_s=2.0, extra={"cut_times_s": cuts})


@pytest.fixture(scope="session")
def bad_files(media_dir, clip_av) -> dict[str, Path]:
    """Inputs that must raise MediaError: name -> path."""
    d = media_dir / "bad"
    d.mkdir()
    rng = np.random.default_rng(11)
    out = {}
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["text"] = d / "notes.mp4"
    out["text"].write_text("This is a shopping list, not a video.\n" * 40)
    out["random"] = d / "random.mp4"
    out["random"].write_bytes(rng.integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes())
    data = bytearray(clip_av.path.read_bytes())
    head = bytearray(data)
    head[:4096] = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    out["garbage_header"] = d / "garbage_header.mp4"
    out["garbage_header"].write_bytes(bytes(head))
    out["truncated_no_index"] = d / "cut_before_index.mp4"  # moov at the end: cut loses it
    out["truncated_no_index"].write_bytes(bytes(data[: len(data) // 2]))
    # A valid container whose coded video is noise: opens, demuxes, decodes nothing.
    times = _cfr(1.0, 30)
    fs = videogen.write_video(d / "faststart.mp4", _indexed((160, 120), times), frame_times_s=times,
                              fps=30, size=(160, 120), faststart=True)
    payload = bytearray(fs.read_bytes())
    start = payload.find(b"mdat") + 4
    payload[start + 16 :] = rng.integers(0, 256, len(payload) - start - 16, dtype=np.uint8).tobytes()
    out["noise_payload"] = d / "noise_payload.mp4"
    out["noise_payload"].write_bytes(bytes(payload))
    out["missing"] = d / "does_not_exist.mp4"
    out["directory"] = d
    return out
